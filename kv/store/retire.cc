// Retired origins: Store::Vouch, Retire, Unretire, AdoptRetired, Retired and
// ForgetOldestRetired (see their
// contracts in store.h and docs/replication.md, "Retired origins").
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "kv/store/entry.h"
#include "kv/store/state.h"
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {
namespace {

using internal::Entry;
using internal::ForEachDot;

}  // namespace

bool Store::Retire(NodeId origin) {
  auto mark = vv_.find(origin);
  if (origin == node_ || mark == vv_.end() || above_.contains(origin)) return false;
  if (retired_.size() >= kMaxRetired && !ForgetOldestRetired()) return false;
  retired_[origin] = RetiredOrigin{mark->second, clock_->Now()};
  vv_.erase(mark);
  collected_.erase(origin);
  return true;
}

VersionVector Store::Vouch(const std::vector<NodeId>& origins) const {
  VersionVector marks;
  for (NodeId origin : origins) {
    auto mark = vv_.find(origin);
    if (origin == node_ || mark == vv_.end() || above_.contains(origin)) continue;
    marks.insert(*mark);
  }
  if (marks.empty()) return marks;
  VersionVector above;  // origins with a dot above their mark
  for (const Entry* e : index_) {
    ForEachDot(*e, [&](const Dot& d) {
      auto mark = marks.find(d.node);
      if (mark != marks.end() && d.seq > mark->second) above.insert(*mark);
    });
  }
  for (const auto& [origin, seq] : above) marks.erase(origin);
  return marks;
}

bool Store::Unretire(NodeId origin) {
  auto it = retired_.find(origin);
  if (it == retired_.end()) return false;
  // Everything up to its seq was applied, and collected, by every replica
  // (Retire follows the collection that raised the watermark to it).
  vv_[origin] = it->second.seq;
  collected_[origin] = it->second.seq;
  retired_.erase(it);
  return true;
}

size_t Store::AdoptRetired(const VersionVector& retired) {
  size_t adopted = 0;
  const absl::Time now = clock_->Now();
  for (const auto& [origin, seq] : retired) {
    if (origin == 0 || origin == node_ || IsRetired(origin)) continue;
    if (retired_.size() >= kMaxRetired) break;
    retired_[origin] = RetiredOrigin{seq, now};
    vv_.erase(origin);
    collected_.erase(origin);
    above_.erase(origin);
    ++adopted;
  }
  return adopted;
}

VersionVector Store::Retired(absl::Time since) const {
  VersionVector out;
  for (const auto& [origin, r] : retired_) {
    if (r.since >= since) out[origin] = r.seq;
  }
  return out;
}

bool Store::ForgetOldestRetired() {
  absl::flat_hash_set<NodeId> unnamed;
  for (const auto& [origin, r] : retired_) unnamed.insert(origin);
  for (const Entry* e : index_) {
    ForEachDot(*e, [&unnamed](const Dot& d) { unnamed.erase(d.node); });
    if (unnamed.empty()) return false;
  }
  auto oldest = retired_.end();
  for (auto it = retired_.begin(); it != retired_.end(); ++it) {
    if (!unnamed.contains(it->first)) continue;
    if (oldest == retired_.end() || std::tie(it->second.since, it->first) <
                                        std::tie(oldest->second.since, oldest->first)) {
      oldest = it;
    }
  }
  retired_.erase(oldest);
  return true;
}

}  // namespace kv::store
