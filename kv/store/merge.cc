// Merging key states into the store: the join of a key's state with a (partial)
// key state, for local operations, peers' events (Apply) and catch-up deltas.
#include <algorithm>
#include <tuple>
#include <type_traits>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/store/digest.h"
#include "kv/store/entry.h"
#include "kv/store/state.h"
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {
namespace internal {

Stamp MaxStamp(const KeyState& ks) {
  Stamp m;
  if (ks.reg) m = std::max(m, ks.reg->stamp);
  if (ks.counter) m = std::max(m, ks.counter->stamp);
  if (ks.list) m = std::max(m, ks.list->stamp);
  if (ks.set) m = std::max(m, ks.set->stamp);
  if (ks.ttl) m = std::max(m, ks.ttl->stamp);
  return m;
}

uint64_t MaxHlc(const KeyState& ks) {
  uint64_t m = MaxStamp(ks).hlc;
  if (ks.list) {
    for (const ListItem& item : ks.list->items) m = std::max(m, item.stamp.hlc);
  }
  return m;
}

absl::Status Validate(const KeyState& ks, const Limits& limits) {
  if (ks.key.empty() || ks.key.size() > limits.max_key_bytes) {
    return absl::InvalidArgumentError("key state has an invalid key");
  }
  if (!ks.reg && !ks.counter && !ks.list && !ks.set && !ks.ttl) {
    return absl::InvalidArgumentError("key state has no component");
  }
  if (ks.ttl && (ks.ttl->stamp.node == 0 || ks.ttl->seq == 0 || ks.ttl->expires_ms < 0)) {
    return absl::InvalidArgumentError("TTL without a dot, or before 1970");
  }
  if (ks.reg && ks.reg->expires_ms < 0) {
    return absl::InvalidArgumentError("register expiring before 1970");
  }
  auto bad_dot = [](const Dot& d) { return d.node == 0 || d.seq == 0; };
  if (ks.reg && (ks.reg->stamp.node == 0 || ks.reg->seq == 0)) {
    return absl::InvalidArgumentError("register without a dot");
  }
  if (ks.counter) {
    if (ks.counter->stamp.node == 0 || ks.counter->stamp_seq == 0) {
      return absl::InvalidArgumentError("counter without a stamp");
    }
    for (const CounterPart& p : ks.counter->incs) {
      if (p.node == 0 || p.seq == 0 || p.base == 0 || p.base > p.seq) {
        return absl::InvalidArgumentError("counter increment without a dot");
      }
    }
    for (const CounterPart& p : ks.counter->dels) {
      if (p.node == 0 || p.seq == 0 || bad_dot(p.by)) {
        return absl::InvalidArgumentError("counter removal without a dot");
      }
    }
  }
  if (ks.list) {
    if (ks.list->stamp.node == 0 || ks.list->stamp_seq == 0) {
      return absl::InvalidArgumentError("list without a stamp");
    }
    for (const ListItem& item : ks.list->items) {
      if (item.stamp.node == 0 || item.seq == 0) {
        return absl::InvalidArgumentError("list item without a dot");
      }
    }
    for (const Removal& r : ks.list->removed) {
      if (bad_dot(r.item) || bad_dot(r.by)) {
        return absl::InvalidArgumentError("list removal without a dot");
      }
    }
  }
  if (ks.set) {
    if (ks.set->stamp.node == 0 || ks.set->stamp_seq == 0) {
      return absl::InvalidArgumentError("set without a stamp");
    }
    for (const SetItem& item : ks.set->items) {
      if (bad_dot(item.dot)) return absl::InvalidArgumentError("set item without a dot");
    }
    for (const Removal& r : ks.set->removed) {
      if (bad_dot(r.item) || bad_dot(r.by)) {
        return absl::InvalidArgumentError("set removal without a dot");
      }
    }
  }
  return absl::OkStatus();
}

namespace {

// Keeps the greater of a container's stamp and an incoming one, moving the
// container's stamp atom (`tag`) in `*digest` along. `In` is a CounterState,
// ListState or SetState; `Comp` the matching CounterComp, ListComp or SetComp.
// A stamp the collected watermark `w` covers is skipped unless the container is new
// (it then needs one; its other atoms are not all covered, see Admits).
template <typename In, typename Comp>
void MergeStamp(absl::string_view key, AtomTag tag, const In& in, Comp* c,
                const Coverage& w, Digest* digest) {
  if (!(in.stamp > c->stamp)) return;
  if (c->stamp.node != 0 && w.Covers(Dot{in.stamp.node, in.stamp_seq})) return;
  if (c->stamp.node != 0) Minus(digest, StampAtom(key, tag, c->stamp, c->stamp_seq));
  c->stamp = in.stamp;
  c->stamp_seq = in.stamp_seq;
  Plus(digest, StampAtom(key, tag, c->stamp, c->stamp_seq));
}

// Joins `in` into `c`, skipping the increments and the stamp `w` covers; `key`
// names the atoms for the digest.
void MergeCounter(absl::string_view key, const CounterState& in, CounterComp* c,
                  const Coverage& w, Digest* digest) {
  MergeStamp(key, kCounterStampAtom, in, c, w, digest);
  for (const CounterPart& p : in.incs) {
    if (w.Covers(Dot{p.node, p.seq})) continue;
    auto [it, inserted] = c->incs.try_emplace(p.node, p);
    if (!inserted) {
      if (p.seq <= it->second.seq) continue;  // an origin's latest increment wins
      Minus(digest, CounterAtom(key, kCounterIncAtom, it->second));
      it->second = p;
    }
    Plus(digest, CounterAtom(key, kCounterIncAtom, p));
  }
  // Removals are not filtered: one can only take away, never bring back, and an
  // origin may have added to the removed epoch concurrently with the removal
  // (before applying it): a replica that collected the removal needs it again
  // (from a peer that kept it) to subtract what it removed.
  for (const CounterPart& p : in.dels) {
    auto [it, inserted] = c->dels.try_emplace(p.node, p);
    if (!inserted) {
      const CounterPart& cur = it->second;
      if (std::tie(p.seq, p.by) <= std::tie(cur.seq, cur.by)) continue;
      Minus(digest, CounterAtom(key, kCounterDelAtom, cur));
      it->second = p;
    }
    Plus(digest, CounterAtom(key, kCounterDelAtom, p));
  }
}

// Records removal `r` in `removed`; returns false when it adds no record (it may
// still replace the removing dot of an existing one).
bool MergeRemoval(absl::string_view key, AtomTag tag, const Removal& r,
                  absl::btree_map<Dot, Dot>* removed, Digest* digest) {
  auto [it, inserted] = removed->try_emplace(r.item, r.by);
  if (!inserted) {
    if (!(it->second < r.by)) return false;
    Minus(digest, RemovalAtom(key, tag, r.item, it->second));
    it->second = r.by;
  }
  Plus(digest, RemovalAtom(key, tag, r.item, r.by));
  return inserted;
}

// Joins `in` into `l`, skipping what `w` covers, accounting the bytes of added and
// removed pieces in `*bytes`.
void MergeList(absl::string_view key, const ListState& in, ListComp* l, const Coverage& w,
               Digest* digest, size_t* bytes) {
  MergeStamp(key, kListStampAtom, in, l, w, digest);
  for (const Removal& r : in.removed) {
    if (w.Covers(r.by)) continue;
    if (!MergeRemoval(key, kListRemovalAtom, r, &l->removed, digest)) continue;
    *bytes += kRemovalBytes;
    auto h = l->hlc_of.find(r.item);
    if (h == l->hlc_of.end()) continue;
    auto item = l->items.find(ListPos{h->second, r.item.node, r.item.seq});
    Minus(digest, ListItemAtom(key, Stamp{item->first.hlc, item->first.node},
                               item->first.seq, item->second));
    *bytes -= ItemBytes(item->second);
    l->items.erase(item);
    l->hlc_of.erase(h);
  }
  for (const ListItem& in_item : in.items) {
    const Dot dot{in_item.stamp.node, in_item.seq};
    if (w.Covers(dot) || l->removed.count(dot) > 0 || l->hlc_of.count(dot) > 0) continue;
    l->items.emplace(ListPos{in_item.stamp.hlc, in_item.stamp.node, in_item.seq},
                     in_item.value);
    l->hlc_of.emplace(dot, in_item.stamp.hlc);
    Plus(digest, ListItemAtom(key, in_item.stamp, in_item.seq, in_item.value));
    *bytes += ItemBytes(in_item.value);
  }
}

// Joins `in` into `s`, skipping what `w` covers, accounting the bytes of added and
// removed pieces in `*bytes`.
void MergeSet(absl::string_view key, const SetState& in, SetComp* s, const Coverage& w,
              Digest* digest, size_t* bytes) {
  MergeStamp(key, kSetStampAtom, in, s, w, digest);
  for (const Removal& r : in.removed) {
    if (w.Covers(r.by)) continue;
    if (!MergeRemoval(key, kSetRemovalAtom, r, &s->removed, digest)) continue;
    *bytes += kRemovalBytes;
    auto where = s->elem_of.find(r.item);
    if (where == s->elem_of.end()) continue;
    auto elem = s->elems.find(*where->second);
    s->elem_of.erase(where);
    auto& dots = elem->second;
    dots.erase(std::find(dots.begin(), dots.end(), r.item));
    Minus(digest, SetItemAtom(key, elem->first, r.item));
    *bytes -= kSetDotBytes;
    if (dots.empty()) {
      *bytes -= ItemBytes(elem->first);
      s->elems.erase(elem);
    }
  }
  for (const SetItem& item : in.items) {
    if (w.Covers(item.dot) || s->removed.count(item.dot) > 0 ||
        s->elem_of.count(item.dot) > 0)
      continue;
    auto [elem, inserted] = s->elems.try_emplace(item.value);
    if (inserted) *bytes += ItemBytes(item.value);
    elem->second.push_back(item.dot);
    s->elem_of.emplace(item.dot, &elem->first);
    Plus(digest, SetItemAtom(key, item.value, item.dot));
    *bytes += kSetDotBytes;
  }
}

// Whether a container absent here must be created for `in`: some atom of it is not
// covered by `w` (a container whose atoms are all covered was collected here).
bool Admits(const CounterState& in, const Coverage& w) {
  if (!w.Covers(Dot{in.stamp.node, in.stamp_seq})) return true;
  for (const CounterPart& p : in.incs) {
    if (!w.Covers(Dot{p.node, p.seq})) return true;
  }
  return !in.dels.empty();  // never filtered (MergeCounter)
}
template <typename In>
bool Admits(const In& in, const Coverage& w) {
  if (!w.Covers(Dot{in.stamp.node, in.stamp_seq})) return true;
  for (const auto& item : in.items) {
    if constexpr (std::is_same_v<In, ListState>) {
      if (!w.Covers(Dot{item.stamp.node, item.seq})) return true;
    } else {
      if (!w.Covers(item.dot)) return true;
    }
  }
  for (const Removal& r : in.removed) {
    if (!w.Covers(r.by)) return true;
  }
  return false;
}

}  // namespace
}  // namespace internal

using internal::Entry;
using internal::Extras;

absl::Status Store::Merge(const KeyState& ks, const internal::Coverage& w) {
  if (auto s = internal::Validate(ks, limits_); !s.ok()) return s;
  auto it = index_.find(ks.key);
  if (it == index_.end()) {
    // Nothing to create when every atom is covered by the collected watermark.
    const bool reg = ks.reg && !w.Covers(Dot{ks.reg->stamp.node, ks.reg->seq});
    const bool ttl = ks.ttl && !w.Covers(Dot{ks.ttl->stamp.node, ks.ttl->seq});
    if (!reg && !ttl && !(ks.counter && internal::Admits(*ks.counter, w)) &&
        !(ks.list && internal::Admits(*ks.list, w)) &&
        !(ks.set && internal::Admits(*ks.set, w))) {
      return absl::OkStatus();
    }
    Entry* e = Entry::Create(ks.key, "");
    memory_bytes_ += e->AllocBytes();
    it = index_.insert(e).first;
  }
  Entry* e = *it;
  if (ks.reg && !w.Covers(Dot{ks.reg->stamp.node, ks.reg->seq}) &&
      (!e->has_register() || ks.reg->stamp > e->reg_stamp())) {
    if (e->has_register()) internal::Minus(&digest_, internal::RegisterAtom(*e));
    memory_bytes_ -= e->AllocBytes();
    e = Entry::WithValue(e, ks.reg->live ? ks.reg->value : "");
    const_cast<Entry*&>(*it) = e;  // same key, so the index order is unchanged
    memory_bytes_ += e->AllocBytes();
    e->SetRegister(*ks.reg);
    internal::Plus(&digest_, internal::RegisterAtom(*e));
  }
  e->flags |= Entry::kReferenced;
  if (ks.ttl && !w.Covers(Dot{ks.ttl->stamp.node, ks.ttl->seq})) {
    if (e->extras == nullptr) memory_bytes_ += e->MutableExtras().bytes;
    Extras& x = *e->extras;
    if (!x.ttl || ks.ttl->stamp > x.ttl->stamp) {
      if (x.ttl) internal::Minus(&digest_, internal::TtlAtom(e->key(), *x.ttl));
      x.ttl = *ks.ttl;
      internal::Plus(&digest_, internal::TtlAtom(e->key(), *x.ttl));
    }
  }
  if (!ks.counter && !ks.list && !ks.set) {
    Recount(e);
    return absl::OkStatus();
  }
  // A component absent here is created only when some atom of it is admitted.
  const Extras* have = e->extras;
  const bool counter = ks.counter && ((have != nullptr && have->counter) ||
                                      internal::Admits(*ks.counter, w));
  const bool list =
      ks.list && ((have != nullptr && have->list) || internal::Admits(*ks.list, w));
  const bool set =
      ks.set && ((have != nullptr && have->set) || internal::Admits(*ks.set, w));
  if (!counter && !list && !set) {
    Recount(e);
    return absl::OkStatus();
  }
  if (e->extras == nullptr) memory_bytes_ += e->MutableExtras().bytes;
  Extras& x = *e->extras;
  const size_t bytes_before = x.bytes;
  if (counter) {
    if (!x.counter) {
      x.counter.emplace();
      x.bytes += sizeof(internal::CounterComp);
    }
    const size_t parts_before = x.counter->incs.size() + x.counter->dels.size();
    internal::MergeCounter(e->key(), *ks.counter, &*x.counter, w, &digest_);
    const size_t parts_after = x.counter->incs.size() + x.counter->dels.size();
    x.bytes += internal::kCounterPartBytes * (parts_after - parts_before);
  }
  if (list) {
    if (!x.list) {
      x.list.emplace();
      x.bytes += sizeof(internal::ListComp);
    }
    internal::MergeList(e->key(), *ks.list, &*x.list, w, &digest_, &x.bytes);
  }
  if (set) {
    if (!x.set) {
      x.set.emplace();
      x.bytes += sizeof(internal::SetComp);
    }
    internal::MergeSet(e->key(), *ks.set, &*x.set, w, &digest_, &x.bytes);
  }
  memory_bytes_ += x.bytes - bytes_before;
  Recount(e);
  return absl::OkStatus();
}

void Store::Observe(const Dot& dot, ApplyResult* result) {
  uint64_t& mark = vv_[dot.node];
  auto& above = above_[dot.node];
  if (dot.seq <= mark || above.count(dot.seq) > 0) {
    result->duplicate = true;
    if (above.empty()) above_.erase(dot.node);
    return;
  }
  result->gap = dot.seq > mark + 1;
  above.insert(dot.seq);
  while (!above.empty() && *above.begin() == mark + 1) {
    ++mark;
    above.erase(above.begin());
  }
  if (above.empty()) above_.erase(dot.node);
}

absl::StatusOr<ApplyResult> Store::Apply(const Event& event) {
  if (event.dot.node == 0 || event.dot.seq == 0) {
    return absl::InvalidArgumentError("event without a dot");
  }
  if (auto s = internal::Validate(event.delta, limits_); !s.ok()) return s;
  if (auto s = CheckStamps(event.delta); !s.ok()) return s;
  // A write made with a request id: a retry of it here is answered, not applied.
  // Its application is the event's operation, whatever the record says.
  if (event.request) {
    RequestRecord record = *event.request;
    record.dot = event.dot;
    requests_.Record(std::move(record), clock_->Now());
  }
  ApplyResult result;
  if (auto r = retired_.find(event.dot.node); r != retired_.end()) {
    if (event.dot.seq <= r->second.seq) {
      result.duplicate = result.retired = true;
      ++events_duplicate_;
      return result;
    }
    result.unretired = Unretire(event.dot.node);
  }
  Observe(event.dot, &result);
  if (result.duplicate) {
    ++events_duplicate_;
    return result;
  }
  hlc_ = std::max(hlc_, internal::MaxStamp(event.delta).hlc);
  absl::Status merged = Merge(event.delta, Collected());  // validated: cannot fail
  (void)merged;
  ++events_applied_;
  return result;
}

bool Store::HasGaps() const { return !above_.empty(); }

}  // namespace kv::store
