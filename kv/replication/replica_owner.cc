// Replica: who decides the operations that need one winner (ownership.h,
// docs/ownership.md).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/replication/replica.h"

namespace kv::replication {

OwnershipOptions Replica::OwnershipFor(const ReplicaOptions& options) {
  OwnershipOptions o = options.ownership;
  // A member's heartbeat grants lease - clock_bound: three heartbeats, however
  // short the heartbeat (with a lease of three heartbeats alone, a 100 ms
  // heartbeat left 50 ms in which a node could decide).
  if (o.lease == absl::ZeroDuration()) o.lease = 3 * options.heartbeat + o.clock_bound;
  // A decision is confirmed within `delivery` or answered 504 (ConfirmWindow):
  // at least a second, so that a loaded link confirms in time.
  if (o.delivery == absl::ZeroDuration()) {
    o.delivery = std::max(options.heartbeat, absl::Seconds(1));
  }
  return o;
}

Verdict Replica::Owner(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  return OwnerLocked(key, clock_->Now());
}

absl::Duration Replica::ConfirmWindow() const { return OwnershipFor(options_).delivery; }

Replica::Quorum Replica::QuorumNow() const {
  absl::MutexLock lock(&mu_);
  if (!options_.enabled) return Quorum{{node()}, 1};
  return Quorum{ownership_->view(), peers_->Members(clock_->Now()).size() + 1};
}

Verdict Replica::OwnerLocked(absl::string_view key, absl::Time now) const {
  if (!options_.enabled) return Verdict{Verdict::kDecide, node(), ""};
  if (!ready()) {
    return Verdict{Verdict::kUnavailable, 0, "this node is catching up with its peers"};
  }
  return ownership_->Decide(key, peers_->Members(now).size() + 1, store_->vv(), now);
}

absl::Status Replica::MayDecide(absl::string_view key) const {
  const Verdict v = OwnerLocked(key, clock_->Now());
  switch (v.kind) {
    case Verdict::kDecide:
      return absl::OkStatus();
    case Verdict::kForward: {
      absl::Status s = absl::UnavailableError(
          absl::StrFormat("node %016x decides this key; forwarding", v.owner));
      s.SetPayload(kForwardPayload, absl::Cord(absl::StrFormat("%016x", v.owner)));
      return s;
    }
    case Verdict::kUnavailable:
      break;
  }
  return absl::UnavailableError(
      absl::StrCat("no node may decide this key now: ", v.why, "; retry shortly"));
}

void Replica::HeardView(const codec::Heartbeat& hb, absl::Time now) {
  ViewReport report{hb.view, absl::FromUnixMillis(hb.view_since_ms),
                    absl::FromUnixMillis(hb.sent_ms), hb.vv};
  const bool from_future = report.sent > now + OwnershipFor(options_).clock_bound;
  if (!ownership_->Record(hb.node, std::move(report), now) && from_future) {
    ++counters_.bad_messages;  // its lease would outlast what the others grant
  }
  RefreshView(now);
}

void Replica::RefreshView(absl::Time now) {
  if (!ownership_->Refresh(now)) return;
  Log(absl::StrCat("live nodes now ", ownership_->view().size(),
                   " (owners move once every node agrees)"));
  PublishHeartbeat(now);  // the others learn of it at once
  next_heartbeat_ = now + options_.heartbeat;
}

}  // namespace kv::replication
