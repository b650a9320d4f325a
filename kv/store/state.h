// Plain, copyable descriptions of replicated state: what travels between replicas.
//
// The store keeps its own compact in-memory form; these structs are the exchange
// format between the store and the codec (events and catch-up deltas). A KeyState is
// a *state* of one key, possibly partial: applying an event or a delta is always a
// merge (join) of such states, which is what makes replication order-insensitive.
//
// Identities:
//   NodeId  a random non-zero 64-bit id, fresh for every process start.
//   Dot     (node, seq): the seq-th operation of one node; never reused.
//   Stamp   (hlc, node): hybrid-logical-clock time of an operation, totally ordered
//           (hlc first, node id breaks ties). Per node, stamps grow with seq.
#ifndef KV_STORE_STATE_H_
#define KV_STORE_STATE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace kv::store {

using NodeId = uint64_t;

struct Dot {
  NodeId node = 0;
  uint64_t seq = 0;

  friend bool operator==(const Dot& a, const Dot& b) {
    return a.node == b.node && a.seq == b.seq;
  }
  friend bool operator!=(const Dot& a, const Dot& b) { return !(a == b); }
  friend bool operator<(const Dot& a, const Dot& b) {
    return std::tie(a.node, a.seq) < std::tie(b.node, b.seq);
  }
  template <typename H>
  friend H AbslHashValue(H h, const Dot& d) {
    return H::combine(std::move(h), d.node, d.seq);
  }
};

struct Stamp {
  uint64_t hlc = 0;
  NodeId node = 0;

  friend bool operator==(const Stamp& a, const Stamp& b) {
    return a.hlc == b.hlc && a.node == b.node;
  }
  friend bool operator!=(const Stamp& a, const Stamp& b) { return !(a == b); }
  friend bool operator<(const Stamp& a, const Stamp& b) {
    return std::tie(a.hlc, a.node) < std::tie(b.hlc, b.node);
  }
  friend bool operator>(const Stamp& a, const Stamp& b) { return b < a; }
};

// A removed item (list item or set element dot) and the operation that removed it.
struct Removal {
  Dot item;
  Dot by;

  friend bool operator==(const Removal& a, const Removal& b) {
    return a.item == b.item && a.by == b.by;
  }
  friend bool operator<(const Removal& a, const Removal& b) {
    return std::tie(a.item, a.by) < std::tie(b.item, b.by);
  }
};

// Last-writer-wins register: the winning `set` or `del` (live == false).
struct RegisterState {
  Stamp stamp;
  uint64_t seq = 0;  // the winning write's dot is (stamp.node, seq)
  bool live = false;
  std::string value;
  int64_t expires_ms = 0;  // absolute Unix time in ms; 0 = never
};

// One origin's counter contribution. Increments of an origin are cumulative within
// an epoch: `sum` is what the origin added from its operation `base` up to its
// operation `seq` (its latest increment of this key). An origin starts a new epoch
// (base = seq of the increment) when its previous contribution was entirely
// deleted, so a replica that has collected the old epoch and one that has not
// agree on the value.
// For removals (`dels`): the contribution a `del` observed (seq, base, sum),
// removed by operation `by`.
struct CounterPart {
  NodeId node = 0;
  uint64_t seq = 0;
  uint64_t base = 0;
  int64_t sum = 0;
  Dot by;  // dels only: the removing operation

  friend bool operator==(const CounterPart& a, const CounterPart& b) {
    return a.node == b.node && a.seq == b.seq && a.base == b.base && a.sum == b.sum &&
           a.by == b.by;
  }
};

// The key's TTL, as set by `expire`, `persist`, a `del`, or a write carrying
// `expires` on a counter, list or set: last writer wins. A `set` carries its TTL
// in its register; the later-stamped of the two is the key's.
struct TtlState {
  Stamp stamp;
  uint64_t seq = 0;        // the writing operation's dot is (stamp.node, seq)
  int64_t expires_ms = 0;  // absolute Unix time in ms; 0 = never
};

// Containers (counter, list, set) carry the stamp of the latest operation on them,
// with that operation's seq (its dot is (stamp.node, stamp_seq)); it decides which
// type a key shows when types were created concurrently.
struct CounterState {
  Stamp stamp;
  uint64_t stamp_seq = 0;
  std::vector<CounterPart> incs;
  std::vector<CounterPart> dels;
};

struct ListItem {
  Stamp stamp;  // of the push; items are ordered by (stamp.hlc, stamp.node, seq)
  uint64_t seq = 0;
  std::string value;
};

struct ListState {
  Stamp stamp;
  uint64_t stamp_seq = 0;
  std::vector<ListItem> items;
  std::vector<Removal> removed;
};

struct SetItem {
  std::string value;
  Dot dot;
};

struct SetState {
  Stamp stamp;
  uint64_t stamp_seq = 0;
  std::vector<SetItem> items;
  std::vector<Removal> removed;
};

// The state (or a partial state: a delta) of one key. Absent components are unknown
// to the sender, not deleted.
struct KeyState {
  std::string key;
  std::optional<RegisterState> reg;
  std::optional<CounterState> counter;
  std::optional<ListState> list;
  std::optional<SetState> set;
  std::optional<TtlState> ttl;
};

// For every origin, the highest seq up to which all its operations were applied.
using VersionVector = std::map<NodeId, uint64_t>;

// True when `v` has applied `d`.
inline bool Covers(const VersionVector& v, const Dot& d) {
  auto it = v.find(d.node);
  return it != v.end() && d.seq <= it->second;
}

// A write made with a client's request id (the Nats-Msg-Id header) and the
// reply it got: what a retry of the id is answered (RequestLog). It travels
// with the write's event and with catch-ups, so every replica knows the id.
struct RequestRecord {
  std::string id;
  std::string reply;
  int64_t applied_ms = 0;  // when it was applied: the write's HLC wall time, unix ms
  // The write's operation (its event's dot). Two records of one id with
  // different dots are two applications of it (RequestLog::Record).
  Dot dot;
};

// One local mutation, as published to the other replicas.
struct Event {
  Dot dot;
  KeyState delta;
  // Set when the mutation was a request carrying an id (Nats-Msg-Id).
  std::optional<RequestRecord> request = std::nullopt;
};

// The HLC stamp of the operation an event carries (the highest stamp in it).
inline uint64_t EventHlc(const Event& e) {
  uint64_t hlc = 0;
  const KeyState& d = e.delta;
  if (d.reg && d.reg->stamp.hlc > hlc) hlc = d.reg->stamp.hlc;
  if (d.counter && d.counter->stamp.hlc > hlc) hlc = d.counter->stamp.hlc;
  if (d.list && d.list->stamp.hlc > hlc) hlc = d.list->stamp.hlc;
  if (d.set && d.set->stamp.hlc > hlc) hlc = d.set->stamp.hlc;
  if (d.ttl && d.ttl->stamp.hlc > hlc) hlc = d.ttl->stamp.hlc;
  return hlc;
}

// A catch-up answer: every key state holding an operation above the requester's
// vector; once merged, the requester has applied everything up to `vv`.
struct Delta {
  VersionVector vv;
  std::vector<KeyState> entries;
};

// 128-bit order-independent digest of a store's state.
struct Digest {
  uint64_t a = 0;
  uint64_t b = 0;

  friend bool operator==(const Digest& x, const Digest& y) {
    return x.a == y.a && x.b == y.b;
  }
  friend bool operator!=(const Digest& x, const Digest& y) { return !(x == y); }
};

}  // namespace kv::store

#endif  // KV_STORE_STATE_H_
