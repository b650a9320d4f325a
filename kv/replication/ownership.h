// Who decides the operations that must have at most one winner (conditional
// writes, pops, writes carrying Nats-Msg-Id), and when: a key's owner, chosen
// by rendezvous hashing over a view of the link's live nodes that every member
// reports, held for a lease. The rule, its assumptions and its failure cases
// are in docs/ownership.md.
#ifndef KV_REPLICATION_OWNERSHIP_H_
#define KV_REPLICATION_OWNERSHIP_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/store/state.h"

namespace kv::replication {

struct OwnershipOptions {
  // How long a member's report of a view lets the others decide in that view,
  // counted from the report's send time; a member silent this long leaves the
  // view. At least two heartbeats.
  absl::Duration lease = absl::Seconds(3);
  // The clocks of the link's nodes agree within this (an assumption: NTP).
  absl::Duration clock_bound = absl::Milliseconds(250);
  // An event a node published before replying reaches every live member
  // within this (an assumption).
  absl::Duration delivery = absl::Seconds(1);
};

// What a node's heartbeat says of ownership.
struct ViewReport {
  std::vector<store::NodeId> view;  // sorted; the sender included
  absl::Time view_since;            // when the sender adopted `view` (its clock)
  absl::Time sent;                  // when it sent the report (its clock)
  store::VersionVector vv;          // what it had applied when it sent it
};

// What to do with an operation that needs its key's owner.
struct Verdict {
  enum Kind { kDecide, kForward, kUnavailable };
  Kind kind = kUnavailable;
  store::NodeId owner = 0;  // kForward: where to
  std::string why;          // kUnavailable: for the 503
};

// A node may decide key k at time t when (docs/ownership.md):
//  1. its view V (itself and the members whose reports are fresh) holds a
//     majority of the link's known nodes;
//  2. k's owner in V is this node;
//  3. every other member's last report names V and was sent within
//     lease - clock_bound;
//  4. every member (this one included) adopted V at least lease + clock_bound
//     before t, so no report naming another view still grants anyone (T_end);
//  5. this node has applied, from every other member, what its first report
//     sent at or after T_end + delivery showed: every decision taken in an
//     earlier view.
//
// Thread safety: not thread-safe; the replica serialises calls. Pure: time is
// passed in.
class Ownership {
 public:
  Ownership(store::NodeId self, OwnershipOptions options, absl::Time now);

  // The owner of `key` among `view` (non-empty): the member with the highest
  // hash of (member, key). The same on every node.
  static store::NodeId OwnerOf(absl::string_view key,
                               const std::vector<store::NodeId>& view);

  // Records a proven peer's report, received at `now`. A report sent more than
  // clock_bound ahead of `now` is refused (false): its lease would outlast
  // what the others grant. So is one not newer than the peer's last.
  bool Record(store::NodeId peer, ViewReport report, absl::Time now);
  // Forgets a peer (it said goodbye, or it is forgotten).
  void Forget(store::NodeId peer) { peers_.erase(peer); }

  // Recomputes this node's view: itself and every peer whose last report was
  // sent (by its clock, within clock_bound) and received within the lease.
  // True when the view changed (worth a heartbeat at once). Forgets the peers
  // silent for two leases.
  bool Refresh(absl::Time now);

  const std::vector<store::NodeId>& view() const { return view_; }
  // Peers whose reports are held (for tests).
  size_t peers() const { return peers_.size(); }
  absl::Time view_since() const { return view_since_; }

  // Whether this node may decide an operation on `key` now (see the class
  // comment), with `known` the link's known nodes (this one included) and
  // `ours` this node's vector.
  Verdict Decide(absl::string_view key, size_t known, const store::VersionVector& ours,
                 absl::Time now) const;

 private:
  struct Peer {
    ViewReport last;
    absl::Time received;
    // The first report naming this node's view that was sent at or after the
    // view's T_end + delivery (condition 5), when one came.
    std::optional<ViewReport> anchor;
  };

  // T_end of this node's view: the latest adoption of it by any member whose
  // last report names it, plus lease + clock_bound.
  absl::Time SettledAt() const;

  const store::NodeId self_;
  const OwnershipOptions options_;
  std::vector<store::NodeId> view_;
  absl::Time view_since_;
  std::map<store::NodeId, Peer> peers_;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_OWNERSHIP_H_
