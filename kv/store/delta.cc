// Key states above a version vector: exporting entries, catch-up deltas (whole or
// in pages) and merging them.
#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kv/store/entry.h"
#include "kv/store/state.h"
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {
namespace {

using internal::Entry;
using internal::Extras;

// The full state of `e`, as exchanged between replicas.
KeyState ExportEntry(const Entry& e) {
  KeyState ks;
  ks.key = std::string(e.key());
  if (e.has_register()) {
    ks.reg = RegisterState{e.reg_stamp(), e.reg_seq, e.live(), std::string(e.value()),
                           e.expires_ms};
  }
  const Extras* x = e.extras;
  if (x == nullptr) return ks;
  ks.ttl = x->ttl;
  if (x->counter) {
    CounterState cs;
    cs.stamp = x->counter->stamp;
    cs.stamp_seq = x->counter->stamp_seq;
    for (const auto& [node, p] : x->counter->incs) cs.incs.push_back(p);
    for (const auto& [node, p] : x->counter->dels) cs.dels.push_back(p);
    ks.counter = std::move(cs);
  }
  if (x->list) {
    ListState ls;
    ls.stamp = x->list->stamp;
    ls.stamp_seq = x->list->stamp_seq;
    for (const auto& [pos, value] : x->list->items) {
      ls.items.push_back(ListItem{Stamp{pos.hlc, pos.node}, pos.seq, value});
    }
    for (const auto& [item, by] : x->list->removed) ls.removed.push_back({item, by});
    ks.list = std::move(ls);
  }
  if (x->set) {
    SetState ss;
    ss.stamp = x->set->stamp;
    ss.stamp_seq = x->set->stamp_seq;
    for (const auto& [value, dots] : x->set->elems) {
      std::vector<Dot> sorted = dots;
      std::sort(sorted.begin(), sorted.end());
      for (const Dot& d : sorted) ss.items.push_back(SetItem{value, d});
    }
    for (const auto& [item, by] : x->set->removed) ss.removed.push_back({item, by});
    ks.set = std::move(ss);
  }
  return ks;
}

// True when `e` holds an operation that `v` does not cover.
bool HoldsAbove(const Entry& e, const internal::Coverage& v) {
  if (e.has_register() && !v.Covers(e.reg_dot())) return true;
  const Extras* x = e.extras;
  if (x == nullptr) return false;
  if (x->ttl && !v.Covers(Dot{x->ttl->stamp.node, x->ttl->seq})) return true;
  auto removal_above = [&](const absl::btree_map<Dot, Dot>& removed) {
    for (const auto& [item, by] : removed) {
      if (!v.Covers(by) || !v.Covers(item)) return true;
    }
    return false;
  };
  if (x->counter) {
    if (!v.Covers(Dot{x->counter->stamp.node, x->counter->stamp_seq})) return true;
    for (const auto& [node, p] : x->counter->incs) {
      if (!v.Covers(Dot{node, p.seq})) return true;
    }
    for (const auto& [node, p] : x->counter->dels) {
      if (!v.Covers(p.by)) return true;
    }
  }
  if (x->list) {
    if (!v.Covers(Dot{x->list->stamp.node, x->list->stamp_seq})) return true;
    for (const auto& [pos, value] : x->list->items) {
      if (!v.Covers(Dot{pos.node, pos.seq})) return true;
    }
    if (removal_above(x->list->removed)) return true;
  }
  if (x->set) {
    if (!v.Covers(Dot{x->set->stamp.node, x->set->stamp_seq})) return true;
    for (const auto& [dot, elem] : x->set->elem_of) {
      if (!v.Covers(dot)) return true;
    }
    if (removal_above(x->set->removed)) return true;
  }
  return false;
}

}  // namespace

std::optional<KeyState> Store::Export(absl::string_view key) const {
  const Entry* e = Find(key);
  if (e == nullptr) return std::nullopt;
  return ExportEntry(*e);
}

Delta Store::DeltaAbove(const VersionVector& v, bool full) const {
  Delta delta;
  delta.vv = vv_;
  const internal::Coverage covered(v, full ? nullptr : &retired_);
  for (const Entry* e : index_) {
    if (HoldsAbove(*e, covered)) delta.entries.push_back(ExportEntry(*e));
  }
  return delta;
}

std::vector<KeyState> Store::DeltaPage(const VersionVector& v, absl::string_view after,
                                       size_t max_scan, std::string* next,
                                       bool full) const {
  std::vector<KeyState> page;
  const internal::Coverage covered(v, full ? nullptr : &retired_);
  // Position first: `after` may view `*next`, which is rewritten below.
  auto it = after.empty() ? index_.begin() : index_.upper_bound(after);
  next->clear();
  for (size_t scanned = 0; it != index_.end(); ++it, ++scanned) {
    if (scanned == max_scan) {
      const absl::string_view last = (*std::prev(it))->key();
      next->assign(last.data(), last.size());
      break;
    }
    if (HoldsAbove(**it, covered)) page.push_back(ExportEntry(**it));
  }
  return page;
}

absl::Status Store::MergeDelta(const Delta& delta) {
  return MergeFiltered(delta, Collected());
}

absl::Status Store::MergeCopy(const Delta& delta) { return MergeFiltered(delta, {}); }

absl::Status Store::MergeFiltered(const Delta& delta, const internal::Coverage& w) {
  for (const KeyState& ks : delta.entries) {
    if (auto s = internal::Validate(ks, limits_); !s.ok()) return s;
    if (auto s = CheckStamps(ks); !s.ok()) return s;
    hlc_ = std::max(hlc_, internal::MaxStamp(ks).hlc);
    absl::Status merged = Merge(ks, w);  // validated above, cannot fail
    (void)merged;
  }
  for (const auto& [node, seq] : delta.vv) {
    if (node == 0 || IsRetired(node)) continue;
    uint64_t& mark = vv_[node];
    mark = std::max(mark, seq);
    auto above = above_.find(node);
    if (above == above_.end()) continue;
    auto& seqs = above->second;
    seqs.erase(seqs.begin(), seqs.upper_bound(mark));
    while (!seqs.empty() && *seqs.begin() == mark + 1) {
      ++mark;
      seqs.erase(seqs.begin());
    }
    if (seqs.empty()) above_.erase(above);
  }
  return absl::OkStatus();
}

}  // namespace kv::store
