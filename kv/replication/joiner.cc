#include "kv/replication/joiner.h"

#include <iterator>

namespace kv::replication {

void Joiner::Heard(store::NodeId peer, absl::Time now) {
  Quiet(now);
  heard_[peer] = now;
  // Peers silent for long are dropped (the map stays as small as the link).
  for (auto it = heard_.begin(); it != heard_.end();) {
    it = now - it->second > options_.exclude_for ? heard_.erase(it) : std::next(it);
  }
}

void Joiner::Failed(store::NodeId peer, absl::Time now) {
  if (peer == 0) return;
  excluded_[peer] = now + options_.exclude_for;
  for (auto it = excluded_.begin(); it != excluded_.end();) {
    it = it->second <= now ? excluded_.erase(it) : std::next(it);
  }
}

bool Joiner::Excluded(store::NodeId peer, absl::Time now) const {
  auto it = excluded_.find(peer);
  return it != excluded_.end() && now < it->second;
}

store::NodeId Joiner::Candidate(absl::Time now) const {
  store::NodeId best = 0;
  absl::Time best_at = absl::InfinitePast();
  for (const auto& [peer, at] : heard_) {
    if (now - at > 3 * options_.heartbeat || Excluded(peer, now)) continue;
    if (best == 0 || at > best_at) {
      best = peer;
      best_at = at;
    }
  }
  return best;
}

}  // namespace kv::replication
