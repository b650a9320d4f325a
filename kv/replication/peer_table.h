// What a replica knows of the other replicas of its link, from their
// heartbeats, and the decisions taken from it: whom to catch up from, which
// tombstones every replica has applied, how far behind this replica is.
#ifndef KV_REPLICATION_PEER_TABLE_H_
#define KV_REPLICATION_PEER_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "kv/codec/binary.h"
#include "kv/store/state.h"

namespace kv::replication {

// vv[node], 0 when absent.
uint64_t At(const store::VersionVector& v, store::NodeId node);
// Operations `theirs` has that `ours` lacks (0 when `ours` covers `theirs`).
uint64_t Missing(const store::VersionVector& ours, const store::VersionVector& theirs);
// Equal as vectors (an absent origin counts as 0).
bool SameVector(const store::VersionVector& a, const store::VersionVector& b);

struct PeerTableOptions {
  absl::Duration heartbeat = absl::Seconds(1);
  absl::Duration divergence_grace = absl::Seconds(10);
  absl::Duration forget_after = absl::Minutes(10);
};

// What a peer's heartbeat calls for.
enum class CatchUp {
  kNone,
  kMissing,  // the peer had, a heartbeat ago, operations we still lack
  kFull,     // equal vectors, different digests for longer than the grace
};

// Tombstone collection bounds (Store::CollectGarbage).
struct GcBounds {
  store::VersionVector stable;
  uint64_t hlc_floor = 0;
  std::vector<store::NodeId> forgotten;  // peers dropped for their silence
};

// Thread safety: not thread-safe; the replica serialises calls. Pure: time is
// passed in.
class PeerTable {
 public:
  static constexpr size_t kMaxMarks = 64;

  PeerTable(store::NodeId self, PeerTableOptions options)
      : self_(self), options_(options) {}
  PeerTable(const PeerTable&) = delete;
  PeerTable& operator=(const PeerTable&) = delete;

  // Records a heartbeat of another replica (not `self`, not node 0). Returns
  // true when the peer is new or was silent for more than 3 heartbeats (worth a
  // log line).
  bool Record(const codec::Heartbeat& hb, absl::Time now);

  // Records this replica's own heartbeat (its vector and HLC mark).
  void RecordSelf(const store::VersionVector& vv, uint64_t hlc, absl::Time now);

  // Compares a peer just recorded with this replica's vector and digest, and
  // keeps the divergence timer. Call after Record, only once ready.
  CatchUp Decide(store::NodeId peer, const store::VersionVector& ours,
                 const store::Digest& our_digest, absl::Time now);

  // Forgets the peers silent for longer than forget_after, then returns what
  // every remaining replica (this one included) has applied:
  //   stable: the element-wise minimum of `ours` and the live vectors;
  //   hlc_floor: per live replica, the highest HLC mark whose own seq is in
  //   `stable`; the minimum of those (0 when nobody is known).
  GcBounds Collect(const store::VersionVector& ours, absl::Time now);

  // Replicas heard from within 3 heartbeats (not this one).
  size_t LivePeers(absl::Time now) const;
  // The most operations any live peer has that `ours` lacks.
  uint64_t Lag(const store::VersionVector& ours, absl::Time now) const;
  // Whether `node` is in the table (for tests).
  bool Knows(store::NodeId node) const { return peers_.count(node) > 0; }

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

  bool Live(const Peer& p, absl::Time now) const {
    return now - p.last_seen <= 3 * options_.heartbeat;
  }

  const store::NodeId self_;
  const PeerTableOptions options_;
  std::map<store::NodeId, Peer> peers_;  // this replica included once it beat
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_PEER_TABLE_H_
