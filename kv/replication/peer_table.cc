#include "kv/replication/peer_table.h"

#include <algorithm>
#include <limits>
#include <set>

namespace kv::replication {

using store::NodeId;
using store::VersionVector;

uint64_t At(const VersionVector& v, NodeId node) {
  auto it = v.find(node);
  return it == v.end() ? 0 : it->second;
}

uint64_t Missing(const VersionVector& ours, const VersionVector& theirs) {
  uint64_t missing = 0;
  for (const auto& [node, seq] : theirs) {
    const uint64_t have = At(ours, node);
    if (seq > have) missing += seq - have;
  }
  return missing;
}

bool SameVector(const VersionVector& a, const VersionVector& b) {
  return Missing(a, b) == 0 && Missing(b, a) == 0;
}

bool PeerTable::Record(const codec::Heartbeat& hb, absl::Time now) {
  if (hb.goodbye) {
    departed_[hb.node] = now;
    peers_.erase(hb.node);
    listed_.erase(hb.node);
    return false;
  }
  // A late heartbeat (delayed past the goodbye) must not bring it back.
  if (IsDeparted(hb.node, now)) return false;
  auto [it, inserted] = peers_.try_emplace(hb.node);
  Peer& peer = it->second;
  const bool seen =
      inserted || peer.lost || now - peer.last_seen > 3 * options_.heartbeat;
  peer.lost = false;
  peer.previous_vv = inserted ? hb.vv : std::move(peer.vv);
  peer.vv = hb.vv;
  peer.digest = hb.digest;
  peer.collected = hb.collected;
  peer.members = hb.members;
  peer.departed = hb.departed;
  peer.last_seen = now;
  peer.marks.emplace_back(At(hb.vv, hb.node), hb.hlc);
  if (peer.marks.size() > kMaxMarks) peer.marks.pop_front();
  return seen;
}

std::vector<std::pair<NodeId, absl::Duration>> PeerTable::TakeLost(absl::Time now) {
  std::vector<std::pair<NodeId, absl::Duration>> lost;
  for (auto& [id, peer] : peers_) {
    if (id == self_ || peer.lost || Live(peer, now)) continue;
    peer.lost = true;
    lost.emplace_back(id, now - peer.last_seen);
  }
  return lost;
}

void PeerTable::RecordSelf(const VersionVector& vv, uint64_t hlc, absl::Time now) {
  Peer& self = peers_[self_];
  self.vv = vv;
  self.last_seen = now;
  self.marks.emplace_back(At(vv, self_), hlc);
  if (self.marks.size() > kMaxMarks) self.marks.pop_front();
}

void PeerTable::AddListed(const std::vector<NodeId>& members, absl::Time now) {
  for (NodeId node : members) {
    if (node != self_ && node != 0) listed_[node] = now;
  }
}

bool PeerTable::IsDeparted(NodeId node, absl::Time now) const {
  auto d = departed_.find(node);
  if (d != departed_.end() && now - d->second <= options_.forget_after) return true;
  for (const auto& [id, peer] : peers_) {
    if (id == self_ || now - peer.last_seen > options_.forget_after) continue;
    if (std::find(peer.departed.begin(), peer.departed.end(), node) !=
        peer.departed.end()) {
      return true;
    }
  }
  return false;
}

std::vector<NodeId> PeerTable::Members(absl::Time now) const {
  std::vector<NodeId> members;
  for (const auto& [id, peer] : peers_) {
    if (members.size() == codec::kMaxListedNodes) break;
    if (id == self_ || now - peer.last_seen > options_.forget_after) continue;
    if (!IsDeparted(id, now)) members.push_back(id);
  }
  return members;
}

std::vector<NodeId> PeerTable::Departed(absl::Time now) const {
  std::vector<NodeId> departed;
  for (const auto& [id, at] : departed_) {
    if (departed.size() == codec::kMaxListedNodes) break;
    if (now - at <= options_.forget_after) departed.push_back(id);
  }
  return departed;
}

bool PeerTable::Usable(NodeId node, const VersionVector& our_collected) const {
  auto it = peers_.find(node);
  return node != self_ && it != peers_.end() && CoversAll(it->second.vv, our_collected);
}

bool PeerTable::StaleAgainst(const codec::Heartbeat& hb, const VersionVector& ours,
                             const VersionVector& our_collected) const {
  if (CoversAll(ours, hb.collected)) return false;
  const bool mutual = !CoversAll(hb.vv, our_collected);
  return !mutual || hb.node > self_;
}

NodeId PeerTable::StalePeer(const VersionVector& ours, const VersionVector& our_collected,
                            absl::Time now) const {
  for (const auto& [id, peer] : peers_) {
    if (id == self_ || now - peer.last_seen > options_.forget_after) continue;
    codec::Heartbeat hb;
    hb.node = id;
    hb.vv = peer.vv;
    hb.collected = peer.collected;
    if (StaleAgainst(hb, ours, our_collected)) return id;
  }
  return 0;
}

CatchUp PeerTable::Decide(NodeId node, const VersionVector& ours,
                          const VersionVector& our_collected,
                          const store::Digest& our_digest, absl::Time now) {
  auto it = peers_.find(node);
  if (it == peers_.end()) return CatchUp::kNone;
  Peer& peer = it->second;
  if (!CoversAll(peer.vv, our_collected)) {
    // It lacks records we collected: its state would bring them back.
    peer.mismatch_since = absl::InfiniteFuture();
    return CatchUp::kNone;
  }
  if (Missing(ours, peer.previous_vv) > 0) {
    // Still lacking, a heartbeat later, what the peer had then: lost events.
    peer.mismatch_since = absl::InfiniteFuture();
    return CatchUp::kMissing;
  }
  if (SameVector(ours, peer.vv) && SameVector(our_collected, peer.collected) &&
      our_digest != peer.digest) {
    if (peer.mismatch_since == absl::InfiniteFuture()) {
      peer.mismatch_since = now;
    } else if (now - peer.mismatch_since > options_.divergence_grace) {
      peer.mismatch_since = absl::InfiniteFuture();
      return CatchUp::kFull;
    }
    return CatchUp::kNone;
  }
  peer.mismatch_since = absl::InfiniteFuture();
  return CatchUp::kNone;
}

GcBounds PeerTable::Collect(const VersionVector& ours, absl::Time now) {
  GcBounds bounds;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->first != self_ && now - it->second.last_seen > options_.forget_after) {
      bounds.forgotten.push_back(it->first);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto* times : {&departed_, &listed_}) {
    for (auto it = times->begin(); it != times->end();) {
      it = now - it->second > options_.forget_after ? times->erase(it) : std::next(it);
    }
  }
  // Whom to wait for.
  std::set<NodeId> waited = {self_};
  for (const auto& [id, peer] : peers_) {
    waited.insert(id);
    waited.insert(peer.members.begin(), peer.members.end());
  }
  for (const auto& [id, at] : listed_) waited.insert(id);
  std::vector<const Peer*> known;
  for (NodeId id : waited) {
    if (id == 0 || (id != self_ && IsDeparted(id, now))) continue;
    bounds.waited.push_back(id);
    auto it = peers_.find(id);
    if (it != peers_.end()) {
      known.push_back(&it->second);
    } else if (id != self_) {
      bounds.complete = false;  // never heard: its vector is unknown
    }
  }
  bounds.stable = ours;
  for (auto& [node, seq] : bounds.stable) {
    for (const Peer* p : known) seq = std::min(seq, At(p->vv, node));
  }
  if (known.empty()) return bounds;
  uint64_t floor = std::numeric_limits<uint64_t>::max();
  for (auto it = peers_.begin(); it != peers_.end(); ++it) {
    if (std::find(known.begin(), known.end(), &it->second) == known.end()) continue;
    uint64_t best = 0;
    for (const auto& [seq, hlc] : it->second.marks) {
      if (seq <= At(bounds.stable, it->first)) best = std::max(best, hlc);
    }
    floor = std::min(floor, best);
  }
  bounds.hlc_floor = floor;
  return bounds;
}

size_t PeerTable::LivePeers(absl::Time now) const {
  size_t n = 0;
  for (const auto& [node, peer] : peers_) {
    if (node != self_ && Live(peer, now)) ++n;
  }
  return n;
}

uint64_t PeerTable::Lag(const VersionVector& ours, absl::Time now) const {
  uint64_t lag = 0;
  for (const auto& [node, peer] : peers_) {
    if (node != self_ && Live(peer, now)) lag = std::max(lag, Missing(ours, peer.vv));
  }
  return lag;
}

}  // namespace kv::replication
