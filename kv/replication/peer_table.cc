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
    if (peers_.count(hb.node) == 0 && !Proven(hb.node, now)) {
      ++ignored_;  // nobody waits for it: nothing to stop
      return false;
    }
    if (departed_.size() < kMaxRemembered || departed_.count(hb.node) > 0) {
      departed_[hb.node] = now;
    }
    peers_.erase(hb.node);
    listed_.erase(hb.node);
    proven_.erase(hb.node);
    return false;
  }
  // A late heartbeat (delayed past the goodbye) must not bring it back.
  if (IsDeparted(hb.node, now)) return false;
  const bool inserted = peers_.count(hb.node) == 0;
  if (inserted && !MakeRoom(hb.node, now)) {
    ++ignored_;
    return false;
  }
  Peer& peer = peers_[hb.node];
  const bool seen =
      inserted || peer.lost || now - peer.last_seen > 3 * options_.heartbeat;
  peer.lost = false;
  peer.previous_vv = inserted ? hb.vv : std::move(peer.vv);
  peer.vv = hb.vv;
  peer.digest = hb.digest;
  peer.collected = hb.collected;
  peer.members = hb.members;
  std::sort(peer.members.begin(), peer.members.end());
  peer.departed = hb.departed;
  std::sort(peer.departed.begin(), peer.departed.end());
  peer.retired = hb.retired;
  peer.retiring = hb.retiring;
  peer.last_seen = now;
  peer.marks.emplace_back(At(hb.vv, hb.node), hb.hlc);
  if (peer.marks.size() > kMaxMarks) peer.marks.pop_front();
  // A proof lasts while the node keeps beating.
  auto proof = proven_.find(hb.node);
  if (proof != proven_.end()) proof->second = now;
  return seen;
}

bool PeerTable::AllApplied(NodeId origin, uint64_t seq,
                           const std::vector<NodeId>& waited) const {
  for (NodeId node : waited) {
    if (node == self_) continue;
    auto it = peers_.find(node);
    if (it == peers_.end()) return false;
    const Peer& peer = it->second;
    auto retired = peer.retired.find(origin);
    auto retiring = peer.retiring.find(origin);
    const bool agrees = (retired != peer.retired.end() && retired->second == seq) ||
                        (retiring != peer.retiring.end() && retiring->second == seq);
    if (!agrees) return false;
  }
  return true;
}

void PeerTable::ForgetOrigin(NodeId origin) {
  for (auto& [id, peer] : peers_) {
    peer.vv.erase(origin);
    peer.previous_vv.erase(origin);
    peer.collected.erase(origin);
  }
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

bool PeerTable::MakeRoom(NodeId node, absl::Time now) {
  const size_t others = peers_.size() - peers_.count(self_);
  if (others < kMaxPeers) return true;
  if (!Proven(node, now)) return false;
  auto victim = peers_.end();
  for (auto it = peers_.begin(); it != peers_.end(); ++it) {
    if (it->first == self_ || Proven(it->first, now)) continue;
    if (victim == peers_.end() || it->second.last_seen < victim->second.last_seen) {
      victim = it;
    }
  }
  if (victim == peers_.end()) return false;  // never evict a proven peer
  peers_.erase(victim);
  return true;
}

void PeerTable::Prove(NodeId node, absl::Time now) {
  if (node == self_ || node == 0) return;
  auto it = proven_.find(node);
  if (it != proven_.end()) {
    it->second = now;
    return;
  }
  if (proven_.size() >= kMaxRemembered) {
    for (auto p = proven_.begin(); p != proven_.end();) {
      p = now - p->second > options_.forget_after ? proven_.erase(p) : std::next(p);
    }
    if (proven_.size() >= kMaxRemembered) return;
  }
  proven_[node] = now;
  probes_.erase(node);
}

bool PeerTable::ProvenDirectly(NodeId node, absl::Time now) const {
  if (node == self_ || listed_.count(node) > 0) return true;
  auto it = proven_.find(node);
  return it != proven_.end() && now - it->second <= options_.forget_after;
}

bool PeerTable::Proven(NodeId node, absl::Time now) const {
  if (ProvenDirectly(node, now)) return true;
  for (const auto& [id, peer] : peers_) {
    if (id == self_ || now - peer.last_seen > options_.forget_after) continue;
    if (!ProvenDirectly(id, now)) continue;
    if (std::binary_search(peer.members.begin(), peer.members.end(), node)) return true;
  }
  return false;
}

bool PeerTable::Probe(NodeId node, absl::Time now) {
  if (node == self_ || node == 0 || Proven(node, now)) return false;
  auto it = probes_.find(node);
  if (it != probes_.end()) {
    if (now - it->second < options_.probe_interval) return false;
    it->second = now;
    return true;
  }
  if (probes_.size() >= kMaxRemembered) {
    for (auto p = probes_.begin(); p != probes_.end();) {
      p = now - p->second >= options_.probe_interval ? probes_.erase(p) : std::next(p);
    }
    if (probes_.size() >= kMaxRemembered) return false;
  }
  probes_[node] = now;
  return true;
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
    if (node == self_ || node == 0) continue;
    if (listed_.size() < kMaxRemembered || listed_.count(node) > 0) listed_[node] = now;
  }
}

bool PeerTable::IsDeparted(NodeId node, absl::Time now) const {
  auto d = departed_.find(node);
  if (d != departed_.end() && now - d->second <= options_.forget_after) return true;
  for (const auto& [id, peer] : peers_) {
    if (id == self_ || now - peer.last_seen > options_.forget_after) continue;
    // A fake's list would stop the wait for anyone.
    if (!ProvenDirectly(id, now)) continue;
    if (std::binary_search(peer.departed.begin(), peer.departed.end(), node)) {
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
    if (Proven(id, now) && !IsDeparted(id, now)) members.push_back(id);
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

bool PeerTable::Usable(NodeId node, const VersionVector& our_collected,
                       absl::Time now) const {
  auto it = peers_.find(node);
  return node != self_ && it != peers_.end() && Proven(node, now) &&
         CoversAll(it->second.vv, our_collected);
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
    if (!Proven(id, now)) continue;
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
  if (!Proven(node, now)) {
    peer.mismatch_since = absl::InfiniteFuture();
    return CatchUp::kNone;
  }
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
  for (auto it = proven_.begin(); it != proven_.end();) {
    it = now - it->second > options_.forget_after ? proven_.erase(it) : std::next(it);
  }
  for (auto it = probes_.begin(); it != probes_.end();) {
    it = now - it->second >= options_.probe_interval ? probes_.erase(it) : std::next(it);
  }
  for (auto* times : {&departed_, &listed_}) {
    for (auto it = times->begin(); it != times->end();) {
      it = now - it->second > options_.forget_after ? times->erase(it) : std::next(it);
    }
  }
  // Whom to wait for.
  std::set<NodeId> waited = {self_};
  for (const auto& [id, peer] : peers_) {
    if (!Proven(id, now)) continue;  // not yet: see the class comment
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
    if (node != self_ && Live(peer, now) && Proven(node, now)) ++n;
  }
  return n;
}

uint64_t PeerTable::Lag(const VersionVector& ours, absl::Time now) const {
  uint64_t lag = 0;
  for (const auto& [node, peer] : peers_) {
    if (node != self_ && Live(peer, now) && Proven(node, now)) {
      lag = std::max(lag, Missing(ours, peer.vv));
    }
  }
  return lag;
}

}  // namespace kv::replication
