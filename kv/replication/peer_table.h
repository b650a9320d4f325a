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
  // An unproven node is probed (asked for a catch-up) at most this often.
  absl::Duration probe_interval = absl::Seconds(10);
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

// A peer is not trusted: anyone may publish a heartbeat under any node id. A
// heartbeat counts (for lag, catch-up decisions, stale resets, whom collection
// waits for, the members this replica lists) only once its sender is proven
// real: it published an event this replica applied, or answered a catch-up of
// this replica with a chunk (Prove), or a proven peer lists it as a member, or
// the peer a join copied listed it (AddListed). A proof lasts while the node
// keeps heartbeating, and forget_after after it went silent. The table holds at
// most kMaxPeers other replicas: a new node's heartbeat when full is ignored
// (counted), unless the node is proven and an unproven one can make room; fakes
// never evict a proven peer.
//
// Thread safety: not thread-safe; the replica serialises calls. Pure: time is
// passed in.
class PeerTable {
 public:
  static constexpr size_t kMaxMarks = 64;
  // Other replicas recorded at most.
  static constexpr size_t kMaxPeers = 256;
  // Proofs, probes and goodbyes remembered at most (each).
  static constexpr size_t kMaxRemembered = codec::kMaxVectorOrigins;

  PeerTable(store::NodeId self, PeerTableOptions options)
      : self_(self), options_(options) {}
  PeerTable(const PeerTable&) = delete;
  PeerTable& operator=(const PeerTable&) = delete;

  // Records a heartbeat of another replica (not `self`, not node 0). Returns
  // true when the peer is new or was silent for more than 3 heartbeats (worth a
  // log line). A goodbye (or any heartbeat of a replica that said goodbye)
  // forgets the replica for good.
  // A heartbeat of a node not in the table when it holds kMaxPeers others is
  // ignored (see the class comment), as is a goodbye of a node neither in the
  // table nor proven; both count in ignored().
  bool Record(const codec::Heartbeat& hb, absl::Time now);

  // `node` proved real at `now`: this replica applied an event of it, or it
  // answered a catch-up with a chunk. Ignored (not counted) when
  // kMaxRemembered proofs are held already.
  void Prove(store::NodeId node, absl::Time now);
  // Whether `node`'s heartbeats count (see the class comment). This replica is.
  bool Proven(store::NodeId node, absl::Time now) const;
  // Whether to probe the unproven `node` now with a catch-up request (only a
  // real replica answers it, which proves it): false when proven, probed within
  // probe_interval, or kMaxRemembered recent probes are held. True records the
  // probe.
  bool Probe(store::NodeId node, absl::Time now);
  // Heartbeats ignored by the bounds above.
  uint64_t ignored() const { return ignored_; }

  // Replicas a joiner must wait for (from its catch-up's last chunk): they count
  // as listed by a peer for forget_after.
  void AddListed(const std::vector<store::NodeId>& members, absl::Time now);

  // What this replica lists in its heartbeats: the replicas it heard directly
  // within forget_after (not itself, not departed), and those it heard say
  // goodbye within forget_after; at most codec::kMaxListedNodes each.
  std::vector<store::NodeId> Members(absl::Time now) const;
  std::vector<store::NodeId> Departed(absl::Time now) const;

  // Whether this replica may catch up from `peer`: heard, proven, and its last
  // vector covers `our_collected` (otherwise it has not applied records this
  // replica collected, and its state would bring them back).
  bool Usable(store::NodeId peer, const store::VersionVector& our_collected,
              absl::Time now) const;

  // Whether this replica, with vector `ours` and watermark `our_collected`, must
  // discard its state because of the heartbeat `hb`: the sender collected records
  // this replica never applied (hb.collected not covered by `ours`). When each
  // collected what the other lacks, only the one with the lower node id resets.
  bool StaleAgainst(const codec::Heartbeat& hb, const store::VersionVector& ours,
                    const store::VersionVector& our_collected) const;
  // The first known proven peer (heard within forget_after) against whose last
  // heartbeat StaleAgainst holds; 0 when none.
  store::NodeId StalePeer(const store::VersionVector& ours,
                          const store::VersionVector& our_collected,
                          absl::Time now) const;

  // Records this replica's own heartbeat (its vector and HLC mark).
  void RecordSelf(const store::VersionVector& vv, uint64_t hlc, absl::Time now);

  // Compares a peer just recorded with this replica's vector, watermark and
  // digest, and keeps the divergence timer. Call after Record, only once ready.
  // Never calls for a catch-up from a peer that is not Usable (unproven
  // included); digests are
  // compared only when the vectors and the watermarks are equal.
  CatchUp Decide(store::NodeId peer, const store::VersionVector& ours,
                 const store::VersionVector& our_collected,
                 const store::Digest& our_digest, absl::Time now);

  // Forgets the peers silent for longer than forget_after, then returns what
  // every replica waited for has applied. Waited for: this replica, every proven
  // peer heard within forget_after, every replica those peers list as members (and
  // those AddListed gave), minus every replica that said goodbye or that a peer
  // lists as departed.
  //   stable: the element-wise minimum of `ours` and their vectors;
  //   hlc_floor: per replica, the highest HLC mark whose own seq is in `stable`;
  //   the minimum of those (0 when nobody is known).
  //   complete: false when a replica waited for was never heard.
  GcBounds Collect(const store::VersionVector& ours, absl::Time now);

  // Whether every replica of `waited` but this one last said (in its heartbeat)
  // that it is ready to retire `origin` at exactly `seq` (it applied it up to
  // there and holds nothing above), or that it retired it at `seq`; false when
  // one of them was never heard. With `waited` the replicas
  // collection waits for, true means `origin` may be retired (docs/replication.md,
  // "Retired origins").
  bool AllApplied(store::NodeId origin, uint64_t seq,
                  const std::vector<store::NodeId>& waited) const;
  // Whether `node` left: it said goodbye (directly, or a proven peer lists it as
  // departed) within forget_after, or it is not proven (not heard, nor listed,
  // for forget_after). Never this replica.
  bool Gone(store::NodeId node, absl::Time now) const {
    return node != self_ && (IsDeparted(node, now) || !Proven(node, now));
  }
  // Drops a retired `origin` from every vector recorded, so that comparisons
  // with this replica's vector (which no longer names it) ignore it.
  void ForgetOrigin(store::NodeId origin);

  // Proven replicas heard from within 3 heartbeats (not this one).
  size_t LivePeers(absl::Time now) const;
  // The peers that left the live set (not heard for 3 heartbeats) since the
  // last call, each with the time since it was last heard: each peer once per
  // silence (Record brings it back). A peer that said goodbye is not lost.
  std::vector<std::pair<store::NodeId, absl::Duration>> TakeLost(absl::Time now);
  // The most operations any live proven peer has that `ours` lacks.
  uint64_t Lag(const store::VersionVector& ours, absl::Time now) const;
  // Whether `node` is in the table (for tests).
  bool Knows(store::NodeId node) const { return peers_.count(node) > 0; }

 private:
  struct Peer {
    store::VersionVector vv;
    store::VersionVector previous_vv;  // from the heartbeat before
    store::Digest digest;
    store::VersionVector collected;
    std::vector<store::NodeId> members;   // as its last heartbeat listed them, sorted
    std::vector<store::NodeId> departed;  // as its last heartbeat listed them, sorted
    store::VersionVector retired;         // as its last heartbeat listed them
    store::VersionVector retiring;        // as its last heartbeat listed them
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

  // Said goodbye (directly, or listed by a peer proven directly) within
  // forget_after.
  bool IsDeparted(store::NodeId node, absl::Time now) const;
  // Proven by a proof of its own or by the join list (not by a listing peer).
  bool ProvenDirectly(store::NodeId node, absl::Time now) const;
  // Room for the new node `node` (evicting the unproven peer heard least
  // recently if `node` is proven and the table is full); false when none.
  bool MakeRoom(store::NodeId node, absl::Time now);

  const store::NodeId self_;
  const PeerTableOptions options_;
  std::map<store::NodeId, Peer> peers_;  // this replica included once it beat
  // Replicas heard saying goodbye, and when.
  std::map<store::NodeId, absl::Time> departed_;
  // Replicas listed by the peer a join copied (AddListed), and when.
  std::map<store::NodeId, absl::Time> listed_;
  // Nodes proven directly (Prove), and when last.
  std::map<store::NodeId, absl::Time> proven_;
  // Unproven nodes probed, and when.
  std::map<store::NodeId, absl::Time> probes_;
  uint64_t ignored_ = 0;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_PEER_TABLE_H_
