#include "tools/kvbench_load.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace kv::tools {
namespace {

constexpr absl::Duration kTick = absl::Milliseconds(20);
constexpr int64_t kDrainTimeoutMs = 2000;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::Status NatsError(absl::string_view what, natsStatus s) {
  return absl::UnavailableError(absl::StrCat(what, ": ", natsStatus_GetText(s)));
}

bool IsErrorReply(natsMsg* msg, ReplyCheck check) {
  const char* value = nullptr;
  if (natsMsg_IsNoResponders(msg)) return true;
  if (check == ReplyCheck::kService) {
    return natsMsgHeader_Get(msg, "Nats-Service-Error-Code", &value) == NATS_OK;
  }
  // nats.c keeps a header line's status ("NATS/1.0 404 ...") as "Status".
  const bool status = natsMsgHeader_Get(msg, "Status", &value) == NATS_OK;
  const char* data = natsMsg_GetData(msg);
  return JetStreamReplyFailed(
      status && value != nullptr ? value : "",
      data == nullptr ? "" : absl::string_view(data, natsMsg_GetDataLength(msg)));
}

// The <seq> of a reply subject <inbox>.<seq>.
uint64_t SeqOf(const char* subject) {
  const char* dot = subject == nullptr ? nullptr : std::strrchr(subject, '.');
  return dot == nullptr ? 0 : std::strtoull(dot + 1, nullptr, 10);
}

// One run of the load generator; lives until its subscription has drained.
//
// Thread safety: replies arrive on a nats.c thread while Run() ticks on the
// caller's; all run state is guarded by mu_.
class LoadRun {
 public:
  LoadRun(natsConnection* nc, const LoadOptions& options) : nc_(nc), options_(options) {}
  LoadRun(const LoadRun&) = delete;
  LoadRun& operator=(const LoadRun&) = delete;
  ~LoadRun() {
    natsSubscription_Destroy(sub_);
    natsInbox_Destroy(inbox_);
  }

  absl::StatusOr<LoadResult> Run() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  static void OnReply(natsConnection* nc, natsSubscription* sub, natsMsg* msg,
                      void* closure);
  void HandleReply(natsMsg* msg) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Subscribe();
  void Drain();
  // Publishes the next request.
  void IssueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WantMoreLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts requests older than the timeout as errors and replaces them.
  void ExpireLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves between warm-up, measuring and stopping; true once the run is over.
  bool AdvanceLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProgressLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction (inbox_ and sub_ after Subscribe()).
  natsConnection* const nc_;
  const LoadOptions& options_;
  natsInbox* inbox_ = nullptr;
  natsSubscription* sub_ = nullptr;
  int64_t started_ = 0;

  absl::Mutex mu_;
  std::unordered_map<uint64_t, int64_t> pending_ ABSL_GUARDED_BY(mu_);  // seq -> sent
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool measuring_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t window_start_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t window_end_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t finished_ ABSL_GUARDED_BY(mu_) = 0;  // replies + timeouts, every phase
  natsStatus publish_error_ ABSL_GUARDED_BY(mu_) = NATS_OK;
  int64_t last_progress_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t finished_at_last_progress_ ABSL_GUARDED_BY(mu_) = 0;
  LoadResult result_ ABSL_GUARDED_BY(mu_);
};

void LoadRun::OnReply(natsConnection* nc, natsSubscription* sub, natsMsg* msg,
                      void* closure) {
  (void)nc;
  (void)sub;
  static_cast<LoadRun*>(closure)->HandleReply(msg);
}

void LoadRun::HandleReply(natsMsg* msg) {
  const int64_t now = NowNanos();
  const uint64_t seq = SeqOf(natsMsg_GetSubject(msg));
  const bool no_responders = natsMsg_IsNoResponders(msg);
  const bool failed = IsErrorReply(msg, options_.check);
  natsMsg_Destroy(msg);
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;  // answered after its timeout
  const int64_t sent = it->second;
  pending_.erase(it);
  ++finished_;
  if (no_responders) ++result_.no_responders;
  if (measuring_) {
    ++result_.requests;
    if (failed) ++result_.errors;
    result_.latencies.Record(now - sent);
  }
  if (WantMoreLocked()) IssueLocked();
}

bool LoadRun::WantMoreLocked() const {
  return !stopping_ && publish_error_ == NATS_OK &&
         (options_.total == 0 || next_seq_ < options_.total);
}

void LoadRun::IssueLocked() {
  const uint64_t seq = next_seq_++;
  const WorkItem item = options_.next(seq);
  char reply[128];
  std::snprintf(reply, sizeof(reply), "%s.%llu", inbox_,
                static_cast<unsigned long long>(seq));
  pending_[seq] = NowNanos();
  const std::string& subject =
      item.subject != nullptr ? *item.subject : options_.subjects[item.op];
  const natsStatus s =
      natsConnection_PublishRequest(nc_, subject.c_str(), reply, item.body->data(),
                                    static_cast<int>(item.body->size()));
  if (s != NATS_OK) {
    pending_.erase(seq);
    publish_error_ = s;
  }
}

void LoadRun::ExpireLocked(int64_t now) {
  const int64_t limit = absl::ToInt64Nanoseconds(options_.timeout);
  int expired = 0;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second < limit) {
      ++it;
      continue;
    }
    it = pending_.erase(it);
    ++finished_;
    ++expired;
    if (measuring_) ++result_.errors;
  }
  for (int i = 0; i < expired && WantMoreLocked(); ++i) IssueLocked();
}

bool LoadRun::AdvanceLocked(int64_t now) {
  if (options_.total > 0) {
    return finished_ >= options_.total || (!WantMoreLocked() && pending_.empty());
  }
  if (!measuring_ && !stopping_ &&
      now - started_ >= absl::ToInt64Nanoseconds(options_.warmup)) {
    measuring_ = true;
    window_start_ = now;
  }
  if (measuring_ && now - window_start_ >= absl::ToInt64Nanoseconds(options_.duration)) {
    measuring_ = false;
    stopping_ = true;
    window_end_ = now;
  }
  return stopping_;
}

void LoadRun::ProgressLocked(int64_t now) {
  if (options_.progress_label.empty() || now - last_progress_ < 1000000000) return;
  const double rate = (finished_ - finished_at_last_progress_) * 1e9 /
                      std::max<int64_t>(1, now - last_progress_);
  const char* phase = options_.total > 0 ? "" : measuring_ ? " measuring" : " warm-up";
  std::fprintf(stderr, "kvbench: %s%s %.0fs: %llu requests, %.0f req/s\n",
               options_.progress_label.c_str(), phase, (now - started_) / 1e9,
               static_cast<unsigned long long>(finished_), rate);
  last_progress_ = now;
  finished_at_last_progress_ = finished_;
}

absl::Status LoadRun::Subscribe() {
  natsStatus s = natsInbox_Create(&inbox_);
  if (s != NATS_OK) return NatsError("cannot create an inbox", s);
  const std::string wildcard = absl::StrCat(inbox_, ".*");
  s = natsConnection_Subscribe(&sub_, nc_, wildcard.c_str(), OnReply, this);
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub_, -1, -1);
  if (s == NATS_OK) s = natsConnection_Flush(nc_);
  if (s != NATS_OK) return NatsError("cannot subscribe to the reply inbox", s);
  return absl::OkStatus();
}

// Stops the subscription and waits until no callback runs any more.
void LoadRun::Drain() {
  if (natsSubscription_Drain(sub_) == NATS_OK) {
    natsSubscription_WaitForDrainCompletion(sub_, kDrainTimeoutMs);
  } else {
    natsSubscription_Unsubscribe(sub_);
  }
}

absl::StatusOr<LoadResult> LoadRun::Run() {
  if (absl::Status s = Subscribe(); !s.ok()) return s;
  started_ = NowNanos();
  {
    absl::MutexLock lock(&mu_);
    last_progress_ = started_;
    measuring_ = options_.total > 0 || options_.warmup <= absl::ZeroDuration();
    window_start_ = started_;
    for (int i = 0; i < options_.inflight && WantMoreLocked(); ++i) IssueLocked();
  }
  while (true) {
    absl::SleepFor(kTick);
    const int64_t now = NowNanos();
    absl::MutexLock lock(&mu_);
    ExpireLocked(now);
    ProgressLocked(now);
    if (publish_error_ != NATS_OK) break;
    if (AdvanceLocked(now)) break;
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    measuring_ = false;
    if (window_end_ == 0) window_end_ = NowNanos();
  }
  Drain();
  absl::MutexLock lock(&mu_);
  if (publish_error_ != NATS_OK) return NatsError("publishing failed", publish_error_);
  result_.seconds = (window_end_ - window_start_) / 1e9;
  return std::move(result_);
}

}  // namespace

absl::StatusOr<LoadResult> RunLoad(natsConnection* nc, const LoadOptions& options) {
  auto run = std::make_unique<LoadRun>(nc, options);
  return run->Run();
}

absl::Status Probe(natsConnection* nc, const std::string& subject,
                   const std::string& body, absl::Duration timeout) {
  natsMsg* reply = nullptr;
  const natsStatus s = natsConnection_Request(&reply, nc, subject.c_str(), body.data(),
                                              static_cast<int>(body.size()),
                                              absl::ToInt64Milliseconds(timeout));
  natsMsg_Destroy(reply);
  if (s == NATS_NO_RESPONDERS) {
    return absl::NotFoundError(absl::StrCat("no responders on ", subject));
  }
  if (s != NATS_OK) return NatsError(absl::StrCat("no reply on ", subject), s);
  return absl::OkStatus();
}

}  // namespace kv::tools
