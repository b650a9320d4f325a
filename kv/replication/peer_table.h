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
// True when `v` covers every seq of `w`.
inline bool CoversAll(const store::VersionVector& v, const store::VersionVector& w) {
  return Missing(v, w) == 0;
}

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
  // False when some replica waited for has never been heard (its vector and HLC
  // marks are unknown): collect nothing this round.
  bool complete = true;
  store::VersionVector stable;
  uint64_t hlc_floor = 0;
  std::vector<store::NodeId> forgotten;  // peers dropped for their silence
  std::vector<store::NodeId> waited;     // replicas waited for (this one included)
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
  // log line). A goodbye (or any heartbeat of a replica that said goodbye)
  // forgets the replica for good.
  bool Record(const codec::Heartbeat& hb, absl::Time now);

  // Replicas a joiner must wait for (from its catch-up's last chunk): they count
  // as listed by a peer for forget_after.
  void AddListed(const std::vector<store::NodeId>& members, absl::Time now);

  // What this replica lists in its heartbeats: the replicas it heard directly
  // within forget_after (not itself, not departed), and those it heard say
  // goodbye within forget_after; at most codec::kMaxListedNodes each.
  std::vector<store::NodeId> Members(absl::Time now) const;
  std::vector<store::NodeId> Departed(absl::Time now) const;

  // Whether this replica may catch up from `peer`: heard, and its last vector
  // covers `our_collected` (otherwise it has not applied records this replica
  // collected, and its state would bring them back).
  bool Usable(store::NodeId peer, const store::VersionVector& our_collected) const;

  // Whether this replica, with vector `ours` and watermark `our_collected`, must
  // discard its state because of the heartbeat `hb`: the sender collected records
  // this replica never applied (hb.collected not covered by `ours`). When each
  // collected what the other lacks, only the one with the lower node id resets.
  bool StaleAgainst(const codec::Heartbeat& hb, const store::VersionVector& ours,
                    const store::VersionVector& our_collected) const;
  // The first known live peer (heard within forget_after) against whose last
  // heartbeat StaleAgainst holds; 0 when none.
  store::NodeId StalePeer(const store::VersionVector& ours,
                          const store::VersionVector& our_collected,
                          absl::Time now) const;

  // Records this replica's own heartbeat (its vector and HLC mark).
  void RecordSelf(const store::VersionVector& vv, uint64_t hlc, absl::Time now);

  // Compares a peer just recorded with this replica's vector, watermark and
  // digest, and keeps the divergence timer. Call after Record, only once ready.
  // Never calls for a catch-up from a peer that is not Usable; digests are
  // compared only when the vectors and the watermarks are equal.
  CatchUp Decide(store::NodeId peer, const store::VersionVector& ours,
                 const store::VersionVector& our_collected,
                 const store::Digest& our_digest, absl::Time now);

  // Forgets the peers silent for longer than forget_after, then returns what
  // every replica waited for has applied. Waited for: this replica, every peer
  // heard within forget_after, every replica those peers list as members (and
  // those AddListed gave), minus every replica that said goodbye or that a peer
  // lists as departed.
  //   stable: the element-wise minimum of `ours` and their vectors;
  //   hlc_floor: per replica, the highest HLC mark whose own seq is in `stable`;
  //   the minimum of those (0 when nobody is known).
  //   complete: false when a replica waited for was never heard.
  GcBounds Collect(const store::VersionVector& ours, absl::Time now);

  // Replicas heard from within 3 heartbeats (not this one).
  size_t LivePeers(absl::Time now) const;
  // The peers that left the live set (not heard for 3 heartbeats) since the
  // last call, each with the time since it was last heard: each peer once per
  // silence (Record brings it back). A peer that said goodbye is not lost.
  std::vector<std::pair<store::NodeId, absl::Duration>> TakeLost(absl::Time now);
  // The most operations any live peer has that `ours` lacks.
  uint64_t Lag(const store::VersionVector& ours, absl::Time now) const;
  // Whether `node` is in the table (for tests).
  bool Knows(store::NodeId node) const { return peers_.count(node) > 0; }

 private:
  struct Peer {
    store::VersionVector vv;
    store::VersionVector previous_vv;  // from the heartbeat before
    store::Digest digest;
    store::VersionVector collected;
    std::vector<store::NodeId> members;   // as its last heartbeat listed them
    std::vector<store::NodeId> departed;  // as its last heartbeat listed them
    absl::Time last_seen;
    bool lost = false;  // reported by TakeLost since last_seen
    absl::Time mismatch_since = absl::InfiniteFuture();
    // (own seq, hlc) of recent heartbeats, oldest first: "my operations after
    // seq will be stamped at or above hlc".
    std::deque<std::pair<uint64_t, uint64_t>> marks;
  };

  bool Live(const Peer& p, absl::Time now) const {
    return now - p.last_seen <= 3 * options_.heartbeat;
  }

  // Said goodbye (directly or listed by a live peer) within forget_after.
  bool IsDeparted(store::NodeId node, absl::Time now) const;

  const store::NodeId self_;
  const PeerTableOptions options_;
  std::map<store::NodeId, Peer> peers_;  // this replica included once it beat
  // Replicas heard saying goodbye, and when.
  std::map<store::NodeId, absl::Time> departed_;
  // Replicas listed by the peer a join copied (AddListed), and when.
  std::map<store::NodeId, absl::Time> listed_;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_PEER_TABLE_H_
