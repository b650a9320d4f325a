// The replica of one link on this node: its store, and the replication that keeps
// it equal to the other nodes' replicas of the link (docs/replication.md).
//
// Subjects (internal; clients need no access):
//   _kv.<link>.events       every node publishes its change events, subscribes all
//   _kv.<link>.hb           heartbeats: node id, vector, digest, HLC
//   _kv.<link>.sync.<node>  catch-up requests addressed to one node
//   _kv.<link>.sync.any     catch-up for joining nodes (queue group: any ready node)
// Catch-up answers go to the request's reply subject, an inbox of the requester
// ("<inbox>.<n>", one per catch-up): the chunks, a join's acknowledgement and the
// server's "no responders". No subject travels in a payload.
//
// Protocol (docs/replication.md): local events are published in seq order;
// received ones merge in any order, a gap open past `gap_grace` is caught up;
// heartbeats carry vectors, digests, views (ownership.h) and HLC marks, and count
// only from proven peers; catch-ups and joins stream deltas in chunks (Joiner).
//
// Time comes from the injected clock only; the replica has no thread and never
// blocks on the network. Messages are handled as the bus delivers them; Tick()
// does the timed work (heartbeats, join attempts, timeouts, GC) and must be called
// at the time it returns and at least every kMaxTickInterval (ReplicaDriver does
// that in production, sim::Simulation in tests).
//
// Thread safety: thread-safe. Bus callbacks, Tick and the service's calls run
// concurrently; all state is under `mu_`.
#ifndef KV_REPLICATION_REPLICA_H_
#define KV_REPLICATION_REPLICA_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kv/codec/binary.h"
#include "kv/codec/events_builder.h"
#include "kv/replication/bus.h"
#include "kv/replication/chunker.h"
#include "kv/replication/joiner.h"
#include "kv/replication/peer_table.h"
#include "kv/replication/replica_options.h"
#include "kv/replication/replica_stats.h"
#include "kv/replication/serve_limiter.h"
#include "kv/store/clock.h"
#include "kv/store/store.h"

namespace kv::replication {

// The longest time between two calls of Replica::Tick.
inline constexpr absl::Duration kMaxTickInterval = absl::Milliseconds(100);

class Replica {
 public:
  // The most keys one local write makes a full store evict.
  static constexpr int kMaxEvictionsPerWrite = 1024;
  // Held output (MutationContext::hold): the most bytes of one events message,
  // and of everything held, before it is published.
  static constexpr size_t kMaxHeldMessageBytes = 64 * 1024;
  static constexpr size_t kMaxHeldBytes = 256 * 1024;

  // T for a mutation `F` returning StatusOr<Change<T>>.
  template <typename F>
  using MutationResult =
      decltype(std::declval<std::invoke_result_t<F&, store::Store&>>()->result);
  // What a batch `F` (see MutateBatch) returns: a StatusOr.
  template <typename F>
  using BatchResult = std::invoke_result_t<F&, store::Store&, std::vector<store::Event>*>;

  // Creates the replica and, when enabled, subscribes; the first Tick starts
  // joining: the replica is not ready until it caught up with a peer or found
  // none (its connection must be up: the silence counts from now).
  // InvalidArgument when first_replica_silence is under two heartbeats,
  // Unavailable when a subscription fails. `bus` and `clock` must outlive the
  // replica.
  static absl::StatusOr<std::unique_ptr<Replica>> Start(Bus* bus, store::Clock* clock,
                                                        ReplicaOptions options);
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;
  ~Replica();

  // Stops replication: a ready replica says goodbye (the others stop waiting for
  // it before collecting), then unsubscribes (waiting for the bus callbacks in
  // progress); later messages and ticks do nothing. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // The bus's connection is up again after a loss (the subscriptions are
  // restored): a ready replica heartbeats at once, so that nodes joining
  // meanwhile hear it; a joining one counts its silence from now.
  void OnReconnected() ABSL_LOCKS_EXCLUDED(mu_);

  // Does the work that is due at the clock's current time: join attempts and
  // their timeouts, catch-up timeouts, heartbeats, garbage collection. Returns
  // when it is next due (InfiniteFuture once stopped or when disabled).
  absl::Time Tick() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& link() const { return options_.link; }
  // Whether replication is on (ReplicaOptions::enabled).
  bool replicating() const { return options_.enabled; }
  const store::Limits& limits() const { return options_.limits; }
  // This replica's node id; a new one after a stale reset.
  store::NodeId node() const { return node_.load(std::memory_order_acquire); }
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // Runs a read on the store.
  template <typename F>
  auto Read(F&& f) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return f(static_cast<const store::Store&>(*store_));
  }

  // Runs a local mutation `f(Store&) -> StatusOr<Change<T>>` and publishes the
  // event it produced, through `context->publish` when set (else the bus);
  // sets `context->dot` to the event's dot. Returns the change's result.
  // Unavailable when not ready (joining, or rejoining after a stale reset: the
  // store may still be replaced).
  template <typename F>
  absl::StatusOr<MutationResult<F>> Mutate(F&& f, MutationContext* context = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!ready()) return absl::UnavailableError("not ready: catching up with peers");
    if (context != nullptr && context->owned_key) {
      if (absl::Status s = MayDecide(*context->owned_key); !s.ok()) return s;
    }
    const size_t memory_before = store_->MemoryBytes();
    auto change = f(*store_);
    if (!change.ok()) return change.status();
    if (context != nullptr && context->owned_key)
      context->own_seq = At(store_->vv(), node());
    if (change->event) {
      const Output out = OutputOf(context);
      PublishEvents({*change->event}, out);
      if (context != nullptr) context->dot = change->event->dot;
      NotifyChange(*change->event, context != nullptr ? context->op : "");
      const size_t memory_after = store_->MemoryBytes();
      EvictOverLimit(out,
                     memory_after > memory_before ? memory_after - memory_before : 0);
      if (out.hold && held_bytes_ >= kMaxHeldBytes) FlushHeldLocked(*out.publish);
    }
    return std::move(change->result);
  }

  // Runs several local mutations as one: `f(Store&, std::vector<store::Event>*
  // events) -> StatusOr<T>` under one lock (no request nor peer event runs in
  // between), appending the event of each store mutation to `events`; then
  // publishes every event appended as ONE events message (codec::EncodeEvents:
  // the peers apply them under one lock too), through `context->publish` when
  // set, and sets `context->dot` to the last event's dot. The events appended
  // are published even when `f` fails (they were applied), so `f` should
  // validate everything before its first mutation; a failure then changes
  // nothing. `f` must keep the message under the max payload (an oversized
  // one is counted in publish_errors, and the peers repair it by catch-up).
  // Unavailable when not ready.
  template <typename F>
  BatchResult<F> MutateBatch(F&& f, MutationContext* context = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!ready()) return absl::UnavailableError("not ready: catching up with peers");
    std::vector<store::Event> events;
    const size_t memory_before = store_->MemoryBytes();
    auto result = f(*store_, &events);
    if (!events.empty()) {
      const Output out = OutputOf(context);
      PublishEvents(events, out);
      if (context != nullptr) context->dot = events.back().dot;
      for (const store::Event& event : events) {
        NotifyChange(event, context != nullptr ? context->op : "");
      }
      const size_t memory_after = store_->MemoryBytes();
      EvictOverLimit(out,
                     memory_after > memory_before ? memory_after - memory_before : 0);
      if (out.hold && held_bytes_ >= kMaxHeldBytes) FlushHeldLocked(*out.publish);
    }
    return result;
  }

  // Publishes what held mutations (MutationContext::hold) left, through
  // `publish`: their events in seq order, as few events messages as fit in
  // kMaxHeldMessageBytes and the max payload (a batch's events stay in one
  // message). micro's RouterConfig::before_held_replies calls it, so they
  // precede the held replies on their connection.
  void FlushHeld(const EventPublisher& publish) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until every event message this node had received when called has
  // been applied (or dropped as invalid), for at most `timeout`: a request
  // that the server delivered after an event does not run ahead of it. True
  // when done (at once when replication is off), false on timeout. Cheap when
  // nothing is queued. Must not be called from a bus callback of this replica,
  // nor concurrently with Stop().
  bool AwaitEventsReceived(absl::Duration timeout) const;

  // Waits until this replica applied every operation `position` names (its
  // vector covers it: for each origin, every seq up to the given one), for at
  // most `timeout`. True when it has; false on timeout, and at once when the
  // position names an origin this replica never heard of (neither an
  // operation nor a heartbeat of it).
  bool AwaitApplied(const store::VersionVector& position, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);

  ReplicaStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Whether this node may decide an operation on `key` that needs one winner
  // now, or which node may (docs/ownership.md). A standalone replica always
  // decides.
  Verdict Owner(absl::string_view key) const ABSL_LOCKS_EXCLUDED(mu_);
  // This node's view (itself and the live peers, sorted) and the number of the
  // link's known nodes (docs/ownership.md); a standalone replica: itself, 1.
  struct Quorum {
    std::vector<store::NodeId> view;
    size_t known = 1;
  };
  Quorum QuorumNow() const ABSL_LOCKS_EXCLUDED(mu_);
  // How long an owner waits for a majority to confirm a decision: the
  // ownership rule's `delivery` (docs/ownership.md, condition 5), no longer.
  absl::Duration ConfirmWindow() const;

 private:
  // The catch-up in progress (at most one).
  struct Sync {
    Sync() {}  // (clang: usable in std::optional before Replica is complete)
    store::NodeId peer = 0;  // 0: not known yet (a join)
    std::string inbox;       // where the chunks come
    absl::Time deadline;     // fails when no chunk came by then
    ChunkAssembler chunks;
    // Joins only: whether a peer took the request, and until when one may;
    // when the request went out.
    bool join = false;
    bool acknowledged = false;
    bool copying = false;  // a chunk came: the store was made new for the copy
    bool probe = false;    // asks an unproven node to prove itself
    // A provisional replica's probe: the operations the node claimed this
    // replica lacks (Demote once it answers).
    uint64_t demote = 0;
    absl::Time ack_deadline;
    absl::Time sent;
    // The origins retired when it began: their operations in the chunks were
    // skipped, so their seqs in the peer's vector are not taken.
    store::VersionVector retired;
  };

  // A gap in an origin's seqs, waiting for the grace to end.
  struct OpenGap {
    uint64_t seq = 0;  // the highest seq seen above the gap
    absl::Time since;  // when it was first seen
  };
  // An AwaitApplied() in progress.
  struct CoverWait {
    const Replica* replica;
    const store::VersionVector* position;
  };

  Replica(Bus* bus, store::Clock* clock, ReplicaOptions options);

  // True when the store's vector covers `w->position` (an absl::Condition;
  // runs with mu_ held).
  static bool Covered(CoverWait* w) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  absl::Status Subscribe();

  // Bus callbacks.
  void HandleEvents(const Message& msg) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleHeartbeat(const Message& msg) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleSyncRequest(const Message& msg) ABSL_LOCKS_EXCLUDED(mu_);
  // Chunks and join answers: everything on this replica's inbox.
  void HandleInbox(const Message& msg) ABSL_LOCKS_EXCLUDED(mu_);

  void HandleChunk(absl::string_view data) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleJoinAnswer(const Message& msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the serving limits let a catch-up for `requester` start (counts a
  // refusal). True: ServeSync must follow.
  bool AdmitSync(store::NodeId requester) ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the delta above `request.vv` to `reply` (the request's reply subject)
  // in chunks, reading the store in pages (letting other calls in between).
  // REQUIRES: AdmitSync said yes for request.from.
  void ServeSync(const codec::SyncRequest& request, absl::string_view reply)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Join attempts and their timeouts; returns when next due (replica_join.cc).
  absl::Time TickJoin(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a join attempt from `peer` (0: any ready peer, on sync.any). REQUIRES:
  // no catch-up runs.
  void StartJoin(store::NodeId peer, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A heartbeat of `peer` while not ready: join from it unless an attempt that
  // a peer took is running.
  void HeardWhileJoining(store::NodeId peer, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A ready replica heard `hb` of a node not proven real (PeerTable): probes it
  // (a catch-up request) at most every probe interval, unless a catch-up runs.
  void HeardUnproven(const codec::Heartbeat& hb, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A provisional first replica learned from `peer`'s heartbeat that the peer
  // has `missing` operations it lacks: not ready until caught up from it.
  void Demote(store::NodeId peer, uint64_t missing, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Logs why the join attempt in progress failed, and stops asking its peer.
  void JoinFailed(absl::string_view why, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Where a change's event goes: held (MutationContext::hold,
  // replication on), or published at once through `publish` (null: the bus).
  struct Output {
    const EventPublisher* publish;  // never null; may hold an empty function
    bool hold;
  };
  Output OutputOf(const MutationContext* context) const {
    if (context == nullptr) return Output{&to_bus_, false};
    // A decision's owner waits for its confirmation: its event leaves at once.
    return Output{&context->publish,
                  context->hold && options_.enabled && !context->owned_key};
  }
  // Takes back this node's applications of request ids that lost to earlier
  // ones (store::RequestLog::TakeWithdrawals), publishing the withdrawals.
  void WithdrawLost() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells options_.on_change of a change.
  void NotifyChange(const store::Event& event, absl::string_view op)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes `events` (not empty) as one message, or holds them; a message
  // published at once first flushes what is held (seq order).
  void PublishEvents(const std::vector<store::Event>& events, const Output& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes encoded events (`count` of them, the first of seq `first_seq`)
  // through `publish` when set, else the bus.
  void PublishEncoded(absl::string_view bytes, size_t count, uint64_t first_seq,
                      const EventPublisher& publish) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FlushHeld with the lock held.
  void FlushHeldLocked(const EventPublisher& publish) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the gaps that closed; starts a catch-up for one whose grace ended.
  // Returns when the next grace ends (InfiniteFuture when none is open).
  absl::Time TickGaps(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishHeartbeat(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets up a catch-up from `peer` (its inbox) unless one is running; false
  // if not started.
  bool BeginSync(store::NodeId peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a catch-up from `peer` unless one is running. `full` asks for all.
  void StartSync(store::NodeId peer, bool full) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndSync(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The heartbeat this replica would send now (goodbye: leaving for good).
  codec::Heartbeat MakeHeartbeat(absl::Time now, bool goodbye)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Subscribes to this node id's catch-up requests (sync.<node>).
  absl::Status SubscribeSync() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // This replica is stale (`why`): says goodbye for its node id, takes a new id
  // and an empty store, and starts joining again.
  void Reset(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why a restored replica's state is stale against a peer's collected
  // watermark and retired origins (the peer collected, or retired, operations
  // the snapshot lacks); nullopt when it is not (replica_restore.cc).
  std::optional<std::string> SnapshotStale(const store::VersionVector& collected,
                                           const store::VersionVector& retired) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A restored replica's state is stale (`why`): a replica that never served
  // starts again from an empty store under its node id (the join in progress,
  // which asked above the old vector, is dropped and the next one starts at
  // once); one that served (provisional) resets (Reset).
  void DiscardSnapshot(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Construction: takes the store options_.restore returns, if any.
  void Restore() ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // A restored replica merged with `peer`: no longer restored. Of the peer's
  // `retired` (a join's), adopts those its vector holds exactly up to their
  // final seq (it merged the peer's full state of them).
  void SnapshotMerged(store::NodeId peer, const store::VersionVector& retired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unsubscribes the subscriptions a reset replaced (never from a callback).
  void DropClosedSubscriptions() ABSL_LOCKS_EXCLUDED(mu_);
  // Becomes ready: logs `line`, subscribes to sync.any, sends a heartbeat.
  void SetReady(absl::string_view line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CollectGarbage(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells on_change of the keys of `expired` (reclaimed by this collection)
  // this replica announces: those it wrote last, and those whose last writer
  // is not among `waited` when it is the lowest id there.
  void AnnounceExpired(const std::vector<store::ExpiredKey>& expired,
                       const std::vector<store::NodeId>& waited)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tick without replication: alone, everything held is stable, so tombstones
  // and expired keys are collected every gc_interval. Returns the next tick.
  absl::Time CollectAlone(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // While the store is over its memory limit (and its policy evicts), evicts
  // keys (replicated deletes, published like the write's event) until it freed
  // `own_bytes` (what this node's write added: every node evicts for its own
  // writes, so three writing replicas do not evict three times too much), or
  // until under the limit when more than an eighth over it (peers with another
  // limit, writes in flight); at most kMaxEvictionsPerWrite per call.
  void EvictOverLimit(const Output& out, size_t own_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Retires the origins that are gone and that every replica of `waited` (whom
  // collection waits for) applied entirely (docs/replication.md, "Retired
  // origins").
  void RetireOrigins(const std::vector<store::NodeId>& waited, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why this replica is stale against `hb`'s sender, which retired an origin
  // that is gone here too at a seq above this replica's: it lacks operations
  // nobody will send any more. nullopt when it is not.
  std::optional<std::string> RetiredElsewhere(const codec::Heartbeat& hb,
                                              absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes a peer's vector `v` against the origins this replica retired: an
  // origin of which `v` holds more than its retired seq was not gone and is
  // un-retired (Store::Unretire; its entry stays when `keep_above`); the others
  // are removed from `v` (the peer may not have retired them yet). Without
  // `may_unretire` (an unproven sender), nothing is un-retired.
  void ReconcileRetired(store::VersionVector* v, bool keep_above, bool may_unretire)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // options.ownership with its defaults filled in from the heartbeat.
  static OwnershipOptions OwnershipFor(const ReplicaOptions& options);
  // Owner(key) as a status: OK to decide; Unavailable with kForwardPayload
  // naming the owner; Unavailable saying why nobody may decide now.
  absl::Status MayDecide(absl::string_view key) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Verdict OwnerLocked(absl::string_view key, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records a proven peer's view report (its heartbeat) and refreshes this
  // node's view; a changed view is announced at once.
  void HeardView(const codec::Heartbeat& hb, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Refreshes this node's view; announces a change at once.
  void RefreshView(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Log(absl::string_view line) const;
  std::string Subject(absl::string_view suffix) const;

  // Constant after Start.
  Bus* const bus_;
  store::Clock* const clock_;
  const ReplicaOptions options_;
  std::string inbox_;            // prefix of this replica's catch-up inboxes
  const EventPublisher to_bus_;  // empty: Output to the bus

  // Changes (under mu_) only when a stale replica resets; read without the lock.
  std::atomic<store::NodeId> node_;

  // Set (under mu_) once caught up; read without the lock.
  std::atomic<bool> ready_{false};

  // Subscriptions made in Start, destroyed in Stop (not from callbacks).
  std::unique_ptr<Subscription> events_sub_;
  std::unique_ptr<Subscription> hb_sub_;
  std::unique_ptr<Subscription> inbox_sub_;

  mutable absl::Mutex mu_;
  std::unique_ptr<store::Store> store_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<PeerTable> peers_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Ownership> ownership_ ABSL_GUARDED_BY(mu_);
  // Counts stale resets: a catch-up being served stops when it changes.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  // sync.<node>: replaced on a reset; the replaced ones (and sync.any's) wait in
  // closed_subs_ until the next Tick (or Stop) destroys them outside the lock.
  std::unique_ptr<Subscription> sync_sub_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Subscription>> closed_subs_ ABSL_GUARDED_BY(mu_);
  std::optional<Sync> sync_ ABSL_GUARDED_BY(mu_);
  std::map<store::NodeId, OpenGap> gaps_ ABSL_GUARDED_BY(mu_);
  // Gone origins this replica is ready to retire, with their marks (its
  // heartbeats' `retiring`); recomputed at every collection.
  store::VersionVector vouched_ ABSL_GUARDED_BY(mu_);
  uint64_t syncs_started_ ABSL_GUARDED_BY(mu_) = 0;
  int join_attempts_ ABSL_GUARDED_BY(mu_) = 0;
  Joiner joiner_ ABSL_GUARDED_BY(mu_);
  // Ready at least once (then it serves catch-ups even while demoted).
  bool ever_ready_ ABSL_GUARDED_BY(mu_) = false;
  // Became the first replica and has not merged with a peer since.
  bool provisional_ ABSL_GUARDED_BY(mu_) = false;
  // Started from a snapshot (ReplicaOptions::restore) and has not merged with
  // a peer since: joins by merging, and the stale rules apply even while
  // provisional.
  bool restored_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_join_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_heartbeat_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_gc_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<Subscription> any_sub_ ABSL_GUARDED_BY(mu_);
  ReplicaStats counters_ ABSL_GUARDED_BY(mu_);
  // What held mutations left (FlushHeld), as bytes in buffers that keep their
  // capacity (holding copies of events across requests fragments the heap: a
  // tenth more memory per key): the first held_messages_ events messages, in
  // seq order; the bytes held in all.
  std::vector<codec::EventsBuilder> held_events_ ABSL_GUARDED_BY(mu_);
  size_t held_messages_ ABSL_GUARDED_BY(mu_) = 0;
  size_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  ServeLimiter serving_ ABSL_GUARDED_BY(mu_);
  absl::BitGen drop_gen_ ABSL_GUARDED_BY(mu_);
};

// A fresh random node id (never 0).
store::NodeId NewNodeId();

}  // namespace kv::replication

#endif  // KV_REPLICATION_REPLICA_H_
