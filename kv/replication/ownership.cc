#include "kv/replication/ownership.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/replication/peer_table.h"
#include "kv/store/hash.h"

namespace kv::replication {

using store::NodeId;

namespace {

std::string Hex(NodeId node) { return absl::StrFormat("%016x", node); }

}  // namespace

Ownership::Ownership(NodeId self, OwnershipOptions options, absl::Time now)
    : self_(self), options_(options), view_{self}, view_since_(now) {}

NodeId Ownership::OwnerOf(absl::string_view key, const std::vector<NodeId>& view) {
  NodeId best = 0;
  uint64_t best_hash = 0;
  for (NodeId member : view) {
    const uint64_t h = store::internal::Hasher(member).Add(key).value();
    if (best == 0 || h > best_hash || (h == best_hash && member > best)) {
      best = member;
      best_hash = h;
    }
  }
  return best;
}

bool Ownership::Record(NodeId peer, ViewReport report, absl::Time now) {
  if (peer == self_ || report.sent > now + options_.clock_bound) return false;
  Peer& p = peers_[peer];
  if (p.received != absl::Time() && report.sent <= p.last.sent) return false;
  p.received = now;
  p.last = std::move(report);
  // A candidate anchor: it names this node's view, and was sent after every
  // decision of an earlier view reached it.
  const bool anchor_valid = p.anchor && p.anchor->view == view_ &&
                            p.anchor->view_since == p.last.view_since &&
                            p.anchor->sent >= SettledAt() + options_.delivery;
  if (!anchor_valid) {
    p.anchor.reset();
    if (p.last.view == view_ && p.last.sent >= SettledAt() + options_.delivery) {
      p.anchor = p.last;
    }
  }
  return true;
}

bool Ownership::Refresh(absl::Time now) {
  // A peer silent for two leases is out of every view: forget its reports (a
  // restarted node comes back under a new id; the map stays bounded).
  for (auto it = peers_.begin(); it != peers_.end();) {
    it =
        now - it->second.received > 2 * options_.lease ? peers_.erase(it) : std::next(it);
  }
  std::vector<NodeId> view{self_};
  for (const auto& [id, p] : peers_) {
    if (now - p.received <= options_.lease &&
        now - p.last.sent <= options_.lease + options_.clock_bound) {
      view.push_back(id);
    }
  }
  std::sort(view.begin(), view.end());
  if (view == view_) return false;
  view_ = std::move(view);
  view_since_ = now;
  return true;
}

absl::Time Ownership::SettledAt() const {
  absl::Time latest = view_since_;
  for (NodeId member : view_) {
    if (member == self_) continue;
    auto it = peers_.find(member);
    if (it != peers_.end() && it->second.last.view == view_) {
      latest = std::max(latest, it->second.last.view_since);
    }
  }
  return latest + options_.lease + options_.clock_bound;
}

Verdict Ownership::Decide(absl::string_view key, size_t known,
                          const store::VersionVector& ours, absl::Time now) const {
  Verdict v;
  const NodeId owner = OwnerOf(key, view_);
  if (owner != self_) {
    v.kind = Verdict::kForward;
    v.owner = owner;
    return v;
  }
  known = std::max(known, view_.size());
  if (2 * view_.size() <= known) {
    v.why = absl::StrCat("this node sees ", view_.size(), " of the link's ", known,
                         " known nodes, not a majority");
    return v;
  }
  for (NodeId member : view_) {
    if (member == self_) continue;
    auto it = peers_.find(member);
    if (it == peers_.end() || it->second.last.view != view_) {
      v.why = absl::StrCat("the link's nodes do not agree yet on who is live (",
                           Hex(member), " sees another set)");
      return v;
    }
    if (now - it->second.last.sent > options_.lease - options_.clock_bound) {
      v.why = absl::StrCat("node ", Hex(member), " has not been heard for ",
                           absl::FormatDuration(now - it->second.last.sent));
      return v;
    }
  }
  const absl::Time settled = SettledAt();
  if (now < settled) {
    v.why = absl::StrCat("owners are moving after a change of live nodes (settled in ",
                         absl::FormatDuration(settled - now), ")");
    return v;
  }
  for (NodeId member : view_) {
    if (member == self_) continue;
    const Peer& p = peers_.at(member);
    if (!p.anchor || p.anchor->view != view_ ||
        p.anchor->view_since != p.last.view_since ||
        p.anchor->sent < settled + options_.delivery) {
      v.why = absl::StrCat("owners are moving: waiting for node ", Hex(member),
                           "'s report after the change");
      return v;
    }
    if (!CoversAll(ours, p.anchor->vv)) {
      v.why = absl::StrCat("this node is catching up with what node ", Hex(member),
                           " decided before owners moved");
      return v;
    }
  }
  v.kind = Verdict::kDecide;
  v.owner = self_;
  return v;
}

}  // namespace kv::replication
