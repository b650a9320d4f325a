// The replica of one link on this node: its store, and the replication that keeps
// it equal to the other nodes' replicas of the link (DESIGN.md, "Replication").
//
// Subjects (internal; clients need no access):
//   _kv.<link>.events       every node publishes its change events, subscribes all
//   _kv.<link>.hb           heartbeats: node id, vector, digest, HLC
//   _kv.<link>.sync.<node>  catch-up requests addressed to one node
//   _kv.<link>.sync.any     catch-up for joining nodes (queue group: any ready node)
//
// Protocol:
//   * Each local mutation is applied to the store and its event published at once,
//     in seq order (under the replica lock).
//   * A received event is merged (idempotent, any order). A seq above vv+1 shows a
//     loss: catch up from the origin (or another peer that has it).
//   * Heartbeats every `heartbeat`: a peer that still has operations we lack a full
//     heartbeat later (lost tail events), or whose digest differs although the
//     vectors are equal for longer than `divergence_grace` (anti-entropy), is asked
//     for what we lack.
//   * Catch-up: the requester sends its vector; the peer answers with the delta
//     above it in numbered chunks under the NATS max payload; the requester merges
//     every chunk and takes the peer's vector only when all chunks arrived.
//   * Joining: a new replica asks any ready peer for everything and answers 503
//     until it is caught up (retrying for as long as it takes); when no ready
//     peer exists it is the first, and ready.
//   * Tombstones are collected every `gc_interval`, only once every replica seen in
//     the last `forget_after` has applied them and no operation stamped below them
//     can still arrive (Store::CollectGarbage; the HLC floor comes from the peers'
//     heartbeats: a heartbeat says "my operations after seq s will be stamped at
//     or above h", so once every replica applied s, nothing of that origin below
//     h can still arrive).
//
// Thread safety: thread-safe. nats.c callbacks and one housekeeping thread run
// concurrently with the service's calls; all state is under `mu_`.
#ifndef KV_REPLICATION_REPLICA_H_
#define KV_REPLICATION_REPLICA_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nats/nats.h>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kv/codec/binary.h"
#include "kv/store/clock.h"
#include "kv/store/store.h"

namespace kv::replication {

struct ReplicaOptions {
  std::string link = "default";
  // Off: a standalone cache (no subscriptions, no events), ready at once.
  bool enabled = true;
  store::Limits limits;
  absl::Duration heartbeat = absl::Seconds(1);
  // A catch-up fails when no chunk arrived for this long.
  absl::Duration sync_timeout = absl::Seconds(5);
  absl::Duration join_timeout = absl::Seconds(2);  // per attempt to find a peer
  absl::Duration divergence_grace = absl::Seconds(10);
  absl::Duration gc_interval = absl::Seconds(30);
  absl::Duration forget_after = absl::Minutes(10);
  // Delta chunks stay under this many bytes (and under the server's max payload).
  size_t max_chunk_bytes = 512 * 1024;
  // Fault injection for tests: the fraction of received event messages dropped
  // as if the network lost them (0 in production).
  double drop_events = 0;
  // One line per event that matters (peer seen, catch-up, errors). Thread-safe.
  std::function<void(absl::string_view)> log;
};

// Figures for STATS and tests.
struct ReplicaStats {
  std::string link;
  std::string node;  // hex
  bool ready = false;
  size_t keys = 0;
  size_t memory_bytes = 0;
  store::VersionVector vv;
  store::Digest digest;
  size_t peers = 0;  // heard from within 3 heartbeats
  // Highest number of operations any live peer has that we lack.
  uint64_t lag = 0;
  uint64_t events_out = 0;
  uint64_t events_in = 0;
  uint64_t events_duplicate = 0;
  uint64_t gaps = 0;
  uint64_t catchups = 0;        // completed catch-ups (as requester)
  uint64_t catchups_served = 0;
  uint64_t bad_messages = 0;    // undecodable or invalid peer messages
  uint64_t tombstones_collected = 0;
  // Replication lag of the events applied: from the operation's HLC time at
  // its origin to its application here, in milliseconds (the HLC's physical
  // part has millisecond resolution; across machines it includes clock skew).
  struct LagHistogram {
    static constexpr int kBuckets = 1001;  // 0..999 ms, then ">= 1 s"
    std::vector<uint64_t> counts = std::vector<uint64_t>(kBuckets);
    uint64_t total = 0;
    uint64_t max_ms = 0;
    void Add(uint64_t ms);
    // The smallest bucket below which `q` of the samples lie (1000 = ">= 1 s").
    uint64_t Quantile(double q) const;
  } apply_lag;
};

class Replica {
 public:
  // Creates the replica and, when enabled, subscribes and starts joining: the
  // replica is not ready until it caught up with a peer or found none. `nc` and
  // `clock` must outlive the replica.
  static absl::StatusOr<std::unique_ptr<Replica>> Start(natsConnection* nc,
                                                        store::Clock* clock,
                                                        ReplicaOptions options);
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;
  ~Replica();

  // Stops replication (unsubscribes, ends the housekeeping thread). Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& link() const { return options_.link; }
  const store::Limits& limits() const { return options_.limits; }
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // Runs a read on the store.
  template <typename F>
  auto Read(F&& f) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return f(static_cast<const store::Store&>(*store_));
  }

  // Runs a local mutation `f(Store&) -> StatusOr<Change<T>>` and publishes the
  // event it produced. Returns the change's result.
  template <typename F>
  auto Mutate(F&& f) ABSL_LOCKS_EXCLUDED(mu_)
      -> absl::StatusOr<decltype(f(std::declval<store::Store&>())->result)> {
    absl::MutexLock lock(&mu_);
    auto change = f(*store_);
    if (!change.ok()) return change.status();
    if (change->event) PublishEvent(*change->event);
    return std::move(change->result);
  }

  ReplicaStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Peer {
    store::VersionVector vv;
    store::VersionVector previous_vv;  // from the heartbeat before
    store::Digest digest;
    absl::Time last_seen;
    absl::Time mismatch_since = absl::InfiniteFuture();
    // (own seq, hlc) of recent heartbeats, oldest first: "my operations after
    // seq will be stamped at or above hlc".
    std::deque<std::pair<uint64_t, uint64_t>> marks;
  };
  struct Sync {
    store::NodeId peer = 0;
    natsSubscription* sub = nullptr;
    std::string inbox;
    absl::Time deadline;
    uint32_t parts = 0;     // chunks received
    bool full = false;      // asked for everything (anti-entropy)
  };

  Replica(natsConnection* nc, store::Clock* clock, ReplicaOptions options);

  absl::Status Subscribe();
  void Housekeeping();
  void Join();

  // nats.c callbacks.
  static void OnEvents(natsConnection*, natsSubscription*, natsMsg*, void*);
  static void OnHeartbeat(natsConnection*, natsSubscription*, natsMsg*, void*);
  static void OnSyncRequest(natsConnection*, natsSubscription*, natsMsg*, void*);
  static void OnChunk(natsConnection*, natsSubscription*, natsMsg*, void*);

  void HandleEvents(absl::string_view data) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleHeartbeat(absl::string_view data) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleSyncRequest(natsMsg* msg) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleChunk(natsSubscription* sub, absl::string_view data)
      ABSL_LOCKS_EXCLUDED(mu_);

  void PublishEvent(const store::Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishHeartbeat() ABSL_LOCKS_EXCLUDED(mu_);
  // Sets up a catch-up (its inbox) unless one is running; false if not started.
  bool BeginSync(store::NodeId peer, bool full) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a catch-up from `peer` unless one is running. `full` asks for all.
  void StartSync(store::NodeId peer, bool full) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndSync(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CollectGarbage() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the delta above `vv` to `reply_to` in chunks.
  void ServeSync(const codec::SyncRequest& request) ABSL_LOCKS_EXCLUDED(mu_);
  void Log(absl::string_view line) const;
  std::string Subject(absl::string_view suffix) const;

  natsConnection* const nc_;
  store::Clock* const clock_;
  const ReplicaOptions options_;
  const store::NodeId node_;
  const std::string node_hex_;
  std::atomic<bool> ready_{false};

  mutable absl::Mutex mu_;
  std::unique_ptr<store::Store> store_ ABSL_GUARDED_BY(mu_);
  std::map<store::NodeId, Peer> peers_ ABSL_GUARDED_BY(mu_);
  std::optional<Sync> sync_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_gc_ ABSL_GUARDED_BY(mu_);
  ReplicaStats counters_ ABSL_GUARDED_BY(mu_);

  // Subscriptions, created in Start and destroyed in Stop.
  std::vector<natsSubscription*> subs_;
  natsSubscription* any_sub_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread housekeeping_;
  absl::BitGen drop_gen_ ABSL_GUARDED_BY(mu_);
};

// A fresh random node id (never 0).
store::NodeId NewNodeId();

}  // namespace kv::replication

#endif  // KV_REPLICATION_REPLICA_H_
