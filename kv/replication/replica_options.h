// The options of a Replica (replica.h) and how a local mutation's event leaves.
#ifndef KV_REPLICATION_REPLICA_OPTIONS_H_
#define KV_REPLICATION_REPLICA_OPTIONS_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/replication/ownership.h"
#include "kv/replication/serve_limiter.h"
#include "kv/store/state.h"
#include "kv/store/store.h"

namespace kv::replication {

// Publishes an event's bytes on `subject` (no reply subject).
using EventPublisher =
    std::function<absl::Status(absl::string_view subject, absl::string_view data)>;

// Called for each change this node makes: a local write's event (once per
// event of a batch), an eviction's or a withdrawal's, under the replica's lock
// and in seq order, with the store after the change and the op
// (MutationContext::op; "evict", "withdraw"): change notifications
// (kv/service/changes.h), which the observer publishes where it chooses (kvd: a
// connection of their own, so an origin's notifications keep their order; they
// may precede a held event by up to a burst). Also for each key that expired and that
// this node announces (op "expired"; the event holds the key only, with the
// dot (this node, 0): no operation): see Replica::CollectGarbage. Must not
// call back into the replica.
using ChangeObserver = std::function<void(
    const store::Store& store, const store::Event& event, absl::string_view op)>;

struct ReplicaOptions {
  std::string link = "default";
  // Off: a standalone cache (no subscriptions, no events), ready at once.
  bool enabled = true;
  // This replica's node id; 0 = a fresh random one (NewNodeId).
  store::NodeId node = 0;
  // Where a stale replica's new node id comes from (never 0); empty: NewNodeId.
  // Tests make it deterministic.
  std::function<store::NodeId()> new_node_id;
  store::Limits limits;
  absl::Duration heartbeat = absl::Seconds(1);
  // A catch-up fails when no chunk arrived for this long.
  absl::Duration sync_timeout = absl::Seconds(5);
  absl::Duration join_timeout = absl::Seconds(2);  // per attempt to find a peer
  // A joining replica that hears no peer for this long after its connection came
  // up is the first replica of the link. At least two heartbeats (Start checks):
  // existing replicas heartbeat as soon as they are reconnected.
  absl::Duration first_replica_silence = absl::Seconds(3);
  absl::Duration divergence_grace = absl::Seconds(10);
  // A gap in an origin's seqs starts a catch-up only if still open this much
  // later (events of one origin may come a few ms out of order).
  absl::Duration gap_grace = absl::Milliseconds(100);
  absl::Duration gc_interval = absl::Seconds(30);
  // An expired key is reclaimed (and its expiry announced) once it expired this
  // long ago (Store::CollectGarbage's grace; tests shorten it).
  absl::Duration expiry_grace = absl::Minutes(1);
  absl::Duration forget_after = absl::Minutes(10);
  // Delta chunks stay under this many bytes (and under the bus's max payload).
  size_t max_chunk_bytes = 512 * 1024;
  // How many catch-ups this replica serves, and how fast; requests beyond are
  // refused (unanswered; counted in catchups_refused).
  ServeLimits serve;
  // Fault injection for tests: the fraction of received event messages dropped
  // as if the network lost them (0 in production).
  double drop_events = 0;
  // One line per event that matters (peer seen, catch-up, errors). Thread-safe.
  std::function<void(absl::string_view)> log;
  // Warm restart (docs/replication.md, "Warm restarts"): called once, at
  // construction, with this replica's node id; returns the store to start from
  // (a loaded snapshot, built for that node id; its vector names the saving
  // process's id), or null to start empty. A restored replica still answers
  // 503 until it caught up, but merges: it asks for what its vector lacks and
  // keeps its state, unless a peer collected or retired operations the
  // snapshot lacks (then it discards the state and joins as a new replica).
  std::function<std::unique_ptr<store::Store>(store::NodeId node)> restore;
  // Told of every change this node makes (null: nobody). Called also when
  // replication is off.
  ChangeObserver on_change;
  // Who decides the operations that need one winner (docs/ownership.md). A
  // zero lease is three heartbeats plus the clock bound; a zero delivery, one heartbeat
  // or 1 s, whichever is longer.
  OwnershipOptions ownership{absl::ZeroDuration(), absl::Milliseconds(250),
                             absl::ZeroDuration()};
};

// The payload of the Unavailable status of an operation that its key's owner
// must decide, when this node is not the owner: the owner's node id, 16 hex
// digits (the service forwards the request there).
inline constexpr absl::string_view kForwardPayload = "natskv/forward-to";

// How a local mutation's event leaves, and what the mutation reports back.
struct MutationContext {
  // Publishes the event instead of the bus, e.g. on the connection that will
  // carry the request's reply, before the reply (null: the bus).
  EventPublisher publish;
  // Set to the event's dot when the mutation produced an event.
  std::optional<store::Dot> dot;
  // The API op that made the change ("set", "mset", ...), for on_change.
  std::string op;
  // Set for an operation that must have one winner: Mutate runs it only when
  // this node may decide this key now (Replica::Owner), under the same lock.
  std::optional<std::string> owned_key;
  // With owned_key: this node's own seq when Mutate decided (what a decision
  // that changed nothing was decided on).
  uint64_t own_seq = 0;
  // The request's reply is held for the end of a burst (micro::Request::held):
  // the replica holds the event and its change notifications with those of
  // the burst's other writes, and publishes them at Replica::FlushHeld (the
  // events of several writes as one message, then the notifications), which
  // the caller runs before the reply leaves. Past kMaxHeldBytes the replica
  // publishes what it holds at once through `publish`, which must then write
  // ahead of every held reply (on their connection).
  bool hold = false;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_REPLICA_OPTIONS_H_
