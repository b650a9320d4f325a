#include "kv/snapshot/keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

ABSL_FLAG(std::string, data_dir, "",
          "directory for snapshots of each link's replica (one file per link), "
          "saved at stop and every --snapshot_interval and loaded at start; "
          "empty: off");
ABSL_FLAG(absl::Duration, snapshot_interval, absl::Minutes(5),
          "with --data_dir, how often each link's replica is saved; 0 = only "
          "at stop");

namespace kv::snapshot {
namespace {

std::string Hex(store::NodeId node) { return absl::StrFormat("%016x", node); }

std::string Millis(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Milliseconds(d), " ms");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Keeper>> Keeper::Open(KeeperOptions options) {
  const std::string& dir = options.dir;
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create data directory ", dir));
  }
  const std::string lock = absl::StrCat(dir, "/lock");
  const int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", lock));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    close(fd);
    if (e == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data directory ", dir, " is in use by another kvd (", lock, " is locked)"));
    }
    return absl::ErrnoToStatus(e, absl::StrCat("cannot lock ", lock));
  }
  return std::unique_ptr<Keeper>(new Keeper(std::move(options), fd));
}

Keeper::Keeper(KeeperOptions options, int lock_fd)
    : options_(std::move(options)), lock_fd_(lock_fd) {}

Keeper::~Keeper() {
  StopThread();
  close(lock_fd_);  // releases the lock
}

void Keeper::Log(absl::string_view link, absl::string_view line) const {
  if (options_.log) options_.log(link, line);
}

std::function<std::unique_ptr<store::Store>(store::NodeId)> Keeper::Restorer(
    const std::string& link, store::Clock* clock, const store::Limits& limits) const {
  return
      [this, link, clock, limits](store::NodeId node) -> std::unique_ptr<store::Store> {
        const std::string path = PathFor(options_.dir, link);
        const absl::Time start = absl::Now();
        absl::StatusOr<Loaded> loaded = Load(path, node, clock, limits, options_.load);
        if (absl::IsNotFound(loaded.status())) {
          Log(link, absl::StrCat("no snapshot ", path, ": joining as a new replica"));
          return nullptr;
        }
        if (!loaded.ok()) {
          Log(link, absl::StrCat("cannot load snapshot (", loaded.status().message(),
                                 "); ignored: joining as a new replica"));
          return nullptr;
        }
        Log(link, absl::StrCat("loaded snapshot ", path, " of node ",
                               Hex(loaded->saved_by), ": ", loaded->keys, " keys, ",
                               loaded->bytes, " bytes in ", Millis(absl::Now() - start),
                               "; catching up with peers above it"));
        return std::move(loaded->store);
      };
}

void Keeper::Start(const std::vector<std::unique_ptr<replication::Replica>>& replicas) {
  {
    absl::MutexLock lock(&mu_);
    for (const auto& r : replicas) replicas_.push_back(r.get());
  }
  if (options_.interval > absl::ZeroDuration() && !thread_.joinable()) {
    thread_ = std::thread([this] { Run(); });
  }
}

int Keeper::saves() const {
  absl::MutexLock lock(&mu_);
  return saves_;
}

absl::Status Keeper::SaveOne(replication::Replica* replica) {
  if (!replica->ready()) return absl::OkStatus();  // keeps the previous file
  const std::string path = PathFor(options_.dir, replica->link());
  const store::NodeId node = replica->node();
  StoreReader read = [replica, node](const std::function<void(const store::Store&)>& f) {
    return replica->Read([&](const store::Store& s) {
      // A stale reset replaced the store: its pages would mix two states.
      if (s.node() != node) return absl::AbortedError("the replica was reset meanwhile");
      f(s);
      return absl::OkStatus();
    });
  };
  const absl::Time start = absl::Now();
  absl::StatusOr<SaveStats> saved = Save(path, read);
  if (!saved.ok()) {
    Log(replica->link(),
        absl::StrCat("cannot save snapshot: ", saved.status().message()));
    return saved.status();
  }
  Log(replica->link(),
      absl::StrCat("snapshot saved to ", path, ": ", saved->keys, " keys, ", saved->bytes,
                   " bytes in ", Millis(absl::Now() - start)));
  absl::MutexLock lock(&mu_);
  ++saves_;
  return absl::OkStatus();
}

void Keeper::Run() {
  absl::Time next = absl::Now() + options_.interval;
  while (true) {
    std::vector<replication::Replica*> replicas;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && absl::Now() < next) {
        mu_.AwaitWithDeadline(absl::Condition(&stopping_), next);
      }
      if (stopping_) return;
      replicas = replicas_;
    }
    for (replication::Replica* r : replicas) (void)SaveOne(r);
    next = absl::Now() + options_.interval;
  }
}

void Keeper::StopThread() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status Keeper::SaveAll() {
  StopThread();
  std::vector<replication::Replica*> replicas;
  {
    absl::MutexLock lock(&mu_);
    replicas = replicas_;
  }
  absl::Status first;
  for (replication::Replica* r : replicas) first.Update(SaveOne(r));
  return first;
}

absl::StatusOr<std::unique_ptr<Keeper>> KeeperFromFlags(log::Logger* logger) {
  KeeperOptions options;
  options.dir = absl::GetFlag(FLAGS_data_dir);
  options.interval = absl::GetFlag(FLAGS_snapshot_interval);
  options.log = [logger](absl::string_view link, absl::string_view line) {
    logger->Log(log::GuessLevel(line), link, line);
  };
  const absl::Duration i = options.interval;
  if (i < absl::ZeroDuration() || i > absl::Hours(24) ||
      (i > absl::ZeroDuration() && i < absl::Milliseconds(100))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--snapshot_interval=", absl::FormatDuration(i),
                     " is out of range: use 0 (only at stop) or 100ms to 24h"));
  }
  if (options.dir.empty()) return std::unique_ptr<Keeper>();
  return Keeper::Open(std::move(options));
}

}  // namespace kv::snapshot
