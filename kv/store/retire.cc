// Retired origins: Store::Retire, AdoptRetired, Retired and ForgetRetired (see their
// contracts in store.h and docs/replication.md, "Retired origins").
#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "kv/store/entry.h"
#include "kv/store/state.h"
#include "kv/store/store.h"

namespace kv::store {
namespace {

using internal::Entry;
using internal::Extras;

// Calls `f(node)` for the origin of every dot `e` holds (register, container
// stamps, counter contributions and removals, list items, set elements, removal
// records).
template <typename F>
void ForEachOrigin(const Entry& e, F f) {
  if (e.has_register()) f(e.reg_dot().node);
  const Extras* x = e.extras;
  if (x == nullptr) return;
  if (x->counter) {
    f(x->counter->stamp.node);
    for (const auto& [node, p] : x->counter->incs) f(node);
    for (const auto& [node, p] : x->counter->dels) {
      f(node);
      f(p.by.node);
    }
  }
  if (x->list) {
    f(x->list->stamp.node);
    for (const auto& [pos, value] : x->list->items) f(pos.node);
    for (const auto& [item, by] : x->list->removed) {
      f(item.node);
      f(by.node);
    }
  }
  if (x->set) {
    f(x->set->stamp.node);
    for (const auto& [dot, elem] : x->set->elem_of) f(dot.node);
    for (const auto& [item, by] : x->set->removed) {
      f(item.node);
      f(by.node);
    }
  }
}

}  // namespace

bool Store::Retire(NodeId origin) {
  auto mark = vv_.find(origin);
  if (origin == node_ || mark == vv_.end() || above_.contains(origin) ||
      retired_.size() >= kMaxRetired) {
    return false;
  }
  retired_[origin] = RetiredOrigin{mark->second, clock_->Now()};
  vv_.erase(mark);
  collected_.erase(origin);
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

size_t Store::ForgetRetired(absl::Duration min_age) {
  const absl::Time before = clock_->Now() - min_age;
  absl::flat_hash_set<NodeId> old;
  for (const auto& [origin, r] : retired_) {
    if (r.since < before) old.insert(origin);
  }
  if (old.empty()) return 0;
  for (const Entry* e : index_) {
    ForEachOrigin(*e, [&old](NodeId node) { old.erase(node); });
    if (old.empty()) return 0;
  }
  for (NodeId origin : old) retired_.erase(origin);
  return old.size();
}

}  // namespace kv::store
