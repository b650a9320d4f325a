#include "kv/replication/peer_table.h"

#include <algorithm>
#include <limits>

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
  auto [it, inserted] = peers_.try_emplace(hb.node);
  Peer& peer = it->second;
  const bool seen = inserted || now - peer.last_seen > 3 * options_.heartbeat;
  peer.previous_vv = inserted ? hb.vv : std::move(peer.vv);
  peer.vv = hb.vv;
  peer.digest = hb.digest;
  peer.last_seen = now;
  peer.marks.emplace_back(At(hb.vv, hb.node), hb.hlc);
  if (peer.marks.size() > kMaxMarks) peer.marks.pop_front();
  return seen;
}

void PeerTable::RecordSelf(const VersionVector& vv, uint64_t hlc, absl::Time now) {
  Peer& self = peers_[self_];
  self.vv = vv;
  self.last_seen = now;
  self.marks.emplace_back(At(vv, self_), hlc);
  if (self.marks.size() > kMaxMarks) self.marks.pop_front();
}

CatchUp PeerTable::Decide(NodeId node, const VersionVector& ours,
                          const store::Digest& our_digest, absl::Time now) {
  auto it = peers_.find(node);
  if (it == peers_.end()) return CatchUp::kNone;
  Peer& peer = it->second;
  if (Missing(ours, peer.previous_vv) > 0) {
    // Still lacking, a heartbeat later, what the peer had then: lost events.
    peer.mismatch_since = absl::InfiniteFuture();
    return CatchUp::kMissing;
  }
  if (SameVector(ours, peer.vv) && our_digest != peer.digest) {
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
  std::vector<const std::pair<const NodeId, Peer>*> live;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->first != self_ && now - it->second.last_seen > options_.forget_after) {
      bounds.forgotten.push_back(it->first);
      it = peers_.erase(it);
    } else {
      live.push_back(&*it);
      ++it;
    }
  }
  bounds.stable = ours;
  for (auto& [node, seq] : bounds.stable) {
    for (const auto* p : live) seq = std::min(seq, At(p->second.vv, node));
  }
  if (live.empty()) return bounds;
  uint64_t floor = std::numeric_limits<uint64_t>::max();
  for (const auto* p : live) {
    uint64_t best = 0;
    for (const auto& [seq, hlc] : p->second.marks) {
      if (seq <= At(bounds.stable, p->first)) best = std::max(best, hlc);
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
