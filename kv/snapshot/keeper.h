// kvd's snapshots (--data_dir): loads each link's snapshot at start and saves
// each link's replica every --snapshot_interval and once at stop
// (docs/replication.md, "Warm restarts").
#ifndef KV_SNAPSHOT_KEEPER_H_
#define KV_SNAPSHOT_KEEPER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kv/log/logger.h"
#include "kv/replication/replica.h"
#include "kv/snapshot/snapshot.h"
#include "kv/store/clock.h"
#include "kv/store/store.h"

namespace kv::snapshot {

struct KeeperOptions {
  std::string dir;
  // Between two periodic saves; zero: only at stop (SaveAll).
  absl::Duration interval = absl::Minutes(5);
  // One line per load or save (`link`, the line). Thread-safe.
  std::function<void(absl::string_view link, absl::string_view line)> log;
  LoadOptions load;
};

// Thread safety: thread-safe.
class Keeper {
 public:
  // Creates `dir` when missing (not its parents) and locks it (flock on
  // `dir`/lock) for this process: FailedPrecondition when another process holds
  // it; the file system's error otherwise.
  static absl::StatusOr<std::unique_ptr<Keeper>> Open(KeeperOptions options);
  Keeper(const Keeper&) = delete;
  Keeper& operator=(const Keeper&) = delete;
  // Stops the periodic saves (a save in progress completes first).
  ~Keeper();

  // What ReplicaOptions::restore takes for `link`: loads `dir`/<link>.snap into
  // a store for the replica's node id with `clock` and `limits`. No file: null
  // (a new replica). A corrupt or unreadable one: logged and null, never a
  // crash. `clock` must outlive the stores.
  std::function<std::unique_ptr<store::Store>(store::NodeId)> Restorer(
      const std::string& link, store::Clock* clock, const store::Limits& limits) const;

  // Saves each of `replicas` every interval from now on (those ready), and at
  // SaveAll. Call once. The replicas must outlive the keeper, or SaveAll.
  void Start(const std::vector<std::unique_ptr<replication::Replica>>& replicas)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Stops the periodic saves, then saves every replica added that is ready
  // (kvd: after the drain and Replica::Stop, when nothing changes any more).
  // A replica not ready (still joining) keeps its previous file. Returns the
  // first error (each is logged).
  absl::Status SaveAll() ABSL_LOCKS_EXCLUDED(mu_);

  // The saves done so far (successful), for tests.
  int saves() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Keeper(KeeperOptions options, int lock_fd);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  void StopThread() ABSL_LOCKS_EXCLUDED(mu_);
  // Saves one replica (when ready); logs the outcome.
  absl::Status SaveOne(replication::Replica* replica) ABSL_LOCKS_EXCLUDED(mu_);
  void Log(absl::string_view link, absl::string_view line) const;

  const KeeperOptions options_;
  const int lock_fd_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<replication::Replica*> replicas_ ABSL_GUARDED_BY(mu_);
  int saves_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// The keeper the flags --data_dir and --snapshot_interval ask for: null
// without --data_dir. InvalidArgument (naming the flag) for an interval that is
// negative, between 0 and 100ms, or over 24h; Open's errors otherwise.
// Its lines go to `logger` (kv::log::GuessLevel's level).
absl::StatusOr<std::unique_ptr<Keeper>> KeeperFromFlags(log::Logger* logger);

}  // namespace kv::snapshot

#endif  // KV_SNAPSHOT_KEEPER_H_
