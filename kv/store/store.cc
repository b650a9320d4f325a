#include "kv/store/store.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <new>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kv/store/digest.h"
#include "kv/store/entry.h"
#include "kv/store/hlc.h"

namespace kv::store {
namespace {

using internal::AtomTag;
using internal::CounterAtom;
using internal::CounterComp;
using internal::Entry;
using internal::Extras;
using internal::ItemBytes;
using internal::kCounterDelAtom;
using internal::kCounterIncAtom;
using internal::kCounterPartBytes;
using internal::kCounterStampAtom;
using internal::kListRemovalAtom;
using internal::kListStampAtom;
using internal::kRemovalBytes;
using internal::kSetDotBytes;
using internal::kSetRemovalAtom;
using internal::kSetStampAtom;
using internal::ListComp;
using internal::ListItemAtom;
using internal::ListPos;
using internal::Minus;
using internal::Plus;
using internal::RemovalAtom;
using internal::SetComp;
using internal::SetItemAtom;
using internal::StampAtom;
using internal::WrapAdd;

constexpr absl::Duration kMaxTtl = absl::Hours(24 * 365 * 100);

int64_t ToMillis(absl::Time t) {
  return std::max<int64_t>(0, absl::ToUnixMillis(t));
}

Stamp MaxStamp(const KeyState& ks) {
  Stamp m;
  if (ks.reg) m = std::max(m, ks.reg->stamp);
  if (ks.counter) m = std::max(m, ks.counter->stamp);
  if (ks.list) m = std::max(m, ks.list->stamp);
  if (ks.set) m = std::max(m, ks.set->stamp);
  return m;
}

absl::Status ErrWrongType(absl::string_view key, absl::string_view holds) {
  return absl::FailedPreconditionError(
      absl::StrCat("wrong type: key '", key, "' holds a ", holds));
}

Digest RegisterAtom(const Entry& e) {
  return internal::RegisterAtom(e.key(), e.reg_stamp(), e.reg_seq, e.live(), e.value(),
                                e.expires_ms);
}

}  // namespace

bool Store::EntryLess::operator()(const Entry* a, const Entry* b) const {
  return a->key() < b->key();
}
bool Store::EntryLess::operator()(const Entry* a, absl::string_view b) const {
  return a->key() < b;
}
bool Store::EntryLess::operator()(absl::string_view a, const Entry* b) const {
  return a < b->key();
}

Store::Store(NodeId node, Clock* clock, Limits limits)
    : node_(node), clock_(clock), limits_(limits) {}

Store::~Store() {
  for (Entry* e : index_) Entry::Destroy(e);
}

// ---- Helpers.

absl::Status Store::CheckKey(absl::string_view key) const {
  if (key.empty() || key.size() > limits_.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field 'key' must be a non-empty string of at most ",
        limits_.max_key_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status Store::CheckValue(absl::string_view value) const {
  if (value.size() > limits_.max_value_bytes) {
    return absl::OutOfRangeError(absl::StrCat(
        "field 'value' must be at most ", limits_.max_value_bytes, " bytes"));
  }
  return absl::OkStatus();
}

Store::Kind Store::Visible(const Entry* e) const {
  if (e == nullptr) return Kind::kNone;
  Kind best = Kind::kNone;
  Stamp best_stamp;
  auto consider = [&](Kind kind, const Stamp& s) {
    if (best == Kind::kNone || s > best_stamp) {
      best = kind;
      best_stamp = s;
    }
  };
  if (e->RegisterVisible(ToMillis(clock_->Now()))) {
    consider(Kind::kRegister, e->reg_stamp());
  }
  if (const Extras* x = e->extras) {
    if (x->counter && x->counter->Live()) consider(Kind::kCounter, x->counter->stamp);
    if (x->list && !x->list->items.empty()) consider(Kind::kList, x->list->stamp);
    if (x->set && !x->set->elems.empty()) consider(Kind::kSet, x->set->stamp);
  }
  return best;
}

const Entry* Store::Find(absl::string_view key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : *it;
}

absl::StatusOr<const Entry*> Store::FindAs(absl::string_view key,
                                           Kind kind) const {
  if (auto s = CheckKey(key); !s.ok()) return s;
  const Entry* e = Find(key);
  Kind visible = Visible(e);
  if (visible != Kind::kNone && visible != kind) {
    static constexpr absl::string_view kNames[] = {"nothing", "string", "counter",
                                                   "list", "set"};
    return ErrWrongType(key, kNames[static_cast<int>(visible)]);
  }
  return visible == Kind::kNone ? nullptr : e;
}

Stamp Store::NextStamp() {
  hlc_ = NextHlc(hlc_, ToMillis(clock_->Now()));
  return {hlc_, node_};
}

Dot Store::NextDot() { return {node_, ++seq_}; }

uint64_t Store::NextHlcFloor() const {
  return NextHlc(hlc_, ToMillis(clock_->Now()));
}

Event Store::Emit(Dot dot, KeyState delta) {
  absl::Status merged = Merge(delta);
  // A local delta is well-formed by construction.
  (void)merged;
  vv_[node_] = dot.seq;
  return Event{dot, std::move(delta)};
}

// ---- Reads.

absl::StatusOr<std::optional<std::string>> Store::Get(absl::string_view key) const {
  if (auto s = CheckKey(key); !s.ok()) return s;
  const Entry* e = Find(key);
  switch (Visible(e)) {
    case Kind::kNone:
      return std::optional<std::string>();
    case Kind::kRegister:
      return std::optional<std::string>(std::string(e->value()));
    case Kind::kCounter:
      return std::optional<std::string>(absl::StrCat(e->extras->counter->Value()));
    case Kind::kList:
      return ErrWrongType(key, "list");
    case Kind::kSet:
      return ErrWrongType(key, "set");
  }
  return std::optional<std::string>();
}

absl::StatusOr<bool> Store::Exists(absl::string_view key) const {
  if (auto s = CheckKey(key); !s.ok()) return s;
  return Visible(Find(key)) != Kind::kNone;
}

absl::StatusOr<std::vector<std::string>> Store::Range(absl::string_view key,
                                                      int64_t start,
                                                      int64_t stop) const {
  auto found = FindAs(key, Kind::kList);
  if (!found.ok()) return found.status();
  std::vector<std::string> out;
  if (*found == nullptr) return out;
  const auto& items = (*found)->extras->list->items;
  const int64_t n = static_cast<int64_t>(items.size());
  if (start < 0) start = std::max<int64_t>(0, n + start);
  if (stop < 0) stop = n + stop;
  stop = std::min(stop, n - 1);
  if (start > stop) return out;
  if (static_cast<uint64_t>(stop - start + 1) > limits_.max_range) {
    return absl::OutOfRangeError(absl::StrCat(
        "range would return ", stop - start + 1, " values; at most ",
        limits_.max_range, " per request"));
  }
  auto it = items.begin();
  std::advance(it, start);
  out.reserve(stop - start + 1);
  for (int64_t i = start; i <= stop; ++i, ++it) out.push_back(it->second);
  return out;
}

absl::StatusOr<std::vector<std::string>> Store::SetQuery(
    absl::string_view key) const {
  auto found = FindAs(key, Kind::kSet);
  if (!found.ok()) return found.status();
  std::vector<std::string> out;
  if (*found == nullptr) return out;
  for (const auto& [value, dots] : (*found)->extras->set->elems) out.push_back(value);
  return out;
}

absl::StatusOr<std::vector<std::string>> Store::SetUnion(
    const std::vector<std::string>& keys) const {
  if (keys.size() > limits_.max_keys_per_query) {
    return absl::OutOfRangeError(absl::StrCat(
        "field 'keys' must list at most ", limits_.max_keys_per_query, " keys"));
  }
  std::vector<std::string> out;
  for (const std::string& key : keys) {
    auto found = FindAs(key, Kind::kSet);
    if (!found.ok()) return found.status();
    if (*found == nullptr) continue;
    for (const auto& [value, dots] : (*found)->extras->set->elems) out.push_back(value);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::StatusOr<std::vector<std::string>> Store::SetIntersection(
    const std::vector<std::string>& keys) const {
  if (keys.size() > limits_.max_keys_per_query) {
    return absl::OutOfRangeError(absl::StrCat(
        "field 'keys' must list at most ", limits_.max_keys_per_query, " keys"));
  }
  std::vector<const SetComp*> sets;
  for (const std::string& key : keys) {
    auto found = FindAs(key, Kind::kSet);
    if (!found.ok()) return found.status();
    sets.push_back(*found == nullptr ? nullptr : &*(*found)->extras->set);
  }
  std::vector<std::string> out;
  if (sets.empty() || std::find(sets.begin(), sets.end(), nullptr) != sets.end()) {
    return out;
  }
  // Walk the smallest set, probe the others.
  std::sort(sets.begin(), sets.end(), [](const SetComp* a, const SetComp* b) {
    return a->elems.size() < b->elems.size();
  });
  for (const auto& [value, dots] : sets[0]->elems) {
    bool everywhere = true;
    for (size_t i = 1; i < sets.size() && everywhere; ++i) {
      everywhere = sets[i]->elems.count(value) > 0;
    }
    if (everywhere) out.push_back(value);
  }
  return out;
}

absl::StatusOr<KeysPage> Store::Keys(absl::string_view prefix, size_t limit,
                                     absl::string_view cursor) const {
  if (limit == 0) limit = limits_.max_page;
  if (limit > limits_.max_page) {
    return absl::OutOfRangeError(absl::StrCat(
        "field 'limit' must be between 1 and ", limits_.max_page));
  }
  KeysPage page;
  auto it = (cursor.empty() || cursor < prefix) ? index_.lower_bound(prefix)
                                                : index_.upper_bound(cursor);
  for (; it != index_.end() && absl::StartsWith((*it)->key(), prefix); ++it) {
    if (Visible(*it) == Kind::kNone) continue;
    if (page.keys.size() == limit) {
      page.cursor = page.keys.back();
      break;
    }
    page.keys.emplace_back((*it)->key());
  }
  return page;
}

// ---- Local mutations.

absl::StatusOr<Change<bool>> Store::Set(absl::string_view key,
                                        absl::string_view value,
                                        std::optional<absl::Duration> ttl) {
  if (auto found = FindAs(key, Kind::kRegister); !found.ok()) return found.status();
  if (auto s = CheckValue(value); !s.ok()) return s;
  int64_t expires_ms = 0;
  if (ttl.has_value()) {
    if (*ttl <= absl::ZeroDuration() || *ttl > kMaxTtl) {
      return absl::InvalidArgumentError(
          "field 'expires' must be a positive number of seconds of at most "
          "100 years");
    }
    expires_ms = ToMillis(clock_->Now() + *ttl);
  }
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.reg = RegisterState{stamp, dot.seq, true, std::string(value), expires_ms};
  return Change<bool>{true, Emit(dot, std::move(ks))};
}

absl::StatusOr<Change<bool>> Store::Del(absl::string_view key) {
  if (auto s = CheckKey(key); !s.ok()) return s;
  const Entry* e = Find(key);
  if (Visible(e) == Kind::kNone) return Change<bool>{false, std::nullopt};
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  if (e->has_register() && e->live()) {
    ks.reg = RegisterState{stamp, dot.seq, false, "", 0};
  }
  if (const Extras* x = e->extras) {
    if (x->counter && x->counter->Live()) {
      CounterState cs;
      cs.stamp = stamp;
      cs.stamp_seq = dot.seq;
      for (const auto& [node, inc] : x->counter->incs) {
        if (!CounterComp::Live(inc, x->counter->DelOf(node))) continue;
        cs.dels.push_back(CounterPart{node, inc.seq, inc.base, inc.sum, dot});
      }
      ks.counter = std::move(cs);
    }
    if (x->list && !x->list->items.empty()) {
      ListState ls;
      ls.stamp = stamp;
      ls.stamp_seq = dot.seq;
      for (const auto& [pos, value] : x->list->items) {
        ls.removed.push_back(Removal{Dot{pos.node, pos.seq}, dot});
      }
      ks.list = std::move(ls);
    }
    if (x->set && !x->set->elems.empty()) {
      SetState ss;
      ss.stamp = stamp;
      ss.stamp_seq = dot.seq;
      for (const auto& [value, dots] : x->set->elems) {
        for (const Dot& d : dots) ss.removed.push_back(Removal{d, dot});
      }
      ks.set = std::move(ss);
    }
  }
  return Change<bool>{true, Emit(dot, std::move(ks))};
}

absl::StatusOr<Change<int64_t>> Store::Add(absl::string_view key, int64_t delta) {
  auto found = FindAs(key, Kind::kCounter);
  if (!found.ok()) return found.status();
  const Entry* e = Find(key);
  const CounterComp* cc =
      (e != nullptr && e->extras != nullptr && e->extras->counter)
          ? &*e->extras->counter
          : nullptr;
  const int64_t current = *found == nullptr ? 0 : cc->Value();
  int64_t result;
  if (__builtin_add_overflow(current, delta, &result)) {
    return absl::OutOfRangeError(absl::StrCat(
        "counter '", key, "' would overflow: ", current, " + ", delta,
        " does not fit in a signed 64-bit integer"));
  }
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  // Continue this node's epoch, or start a new one when the previous was removed.
  CounterPart mine{node_, dot.seq, dot.seq, delta, Dot{}};
  if (cc != nullptr) {
    auto it = cc->incs.find(node_);
    if (it != cc->incs.end() && CounterComp::Live(it->second, cc->DelOf(node_))) {
      mine.base = it->second.base;
      mine.sum = WrapAdd(it->second.sum, delta);
    }
  }
  KeyState ks;
  ks.key = std::string(key);
  ks.counter = CounterState{stamp, dot.seq, {mine}, {}};
  Event event = Emit(dot, std::move(ks));
  return Change<int64_t>{Find(key)->extras->counter->Value(), std::move(event)};
}

absl::StatusOr<Change<int64_t>> Store::Push(absl::string_view key,
                                            absl::string_view value) {
  auto found = FindAs(key, Kind::kList);
  if (!found.ok()) return found.status();
  if (auto s = CheckValue(value); !s.ok()) return s;
  const size_t length = *found == nullptr ? 0 : (*found)->extras->list->items.size();
  if (length >= limits_.max_list_items) {
    return absl::OutOfRangeError(absl::StrCat(
        "list '", key, "' is full: at most ", limits_.max_list_items, " items"));
  }
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.list = ListState{stamp, dot.seq, {ListItem{stamp, dot.seq, std::string(value)}}, {}};
  Event event = Emit(dot, std::move(ks));
  return Change<int64_t>{static_cast<int64_t>(Find(key)->extras->list->items.size()),
                         std::move(event)};
}

absl::StatusOr<Change<int64_t>> Store::ListDel(absl::string_view key,
                                               absl::string_view value) {
  auto found = FindAs(key, Kind::kList);
  if (!found.ok()) return found.status();
  if (*found == nullptr) return Change<int64_t>{0, std::nullopt};
  const ListComp& list = *(*found)->extras->list;
  std::vector<Dot> victims;
  for (const auto& [pos, item] : list.items) {
    if (item == value) victims.push_back(Dot{pos.node, pos.seq});
  }
  if (victims.empty()) {
    return Change<int64_t>{static_cast<int64_t>(list.items.size()), std::nullopt};
  }
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.list = ListState{stamp, dot.seq, {}, {}};
  for (const Dot& d : victims) ks.list->removed.push_back(Removal{d, dot});
  Event event = Emit(dot, std::move(ks));
  return Change<int64_t>{static_cast<int64_t>(Find(key)->extras->list->items.size()),
                         std::move(event)};
}

absl::StatusOr<Change<bool>> Store::Clear(absl::string_view key) {
  auto found = FindAs(key, Kind::kList);
  if (!found.ok()) return found.status();
  if (*found == nullptr) return Change<bool>{false, std::nullopt};
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.list = ListState{stamp, dot.seq, {}, {}};
  for (const auto& [pos, item] : (*found)->extras->list->items) {
    ks.list->removed.push_back(Removal{Dot{pos.node, pos.seq}, dot});
  }
  return Change<bool>{true, Emit(dot, std::move(ks))};
}

absl::StatusOr<Change<int64_t>> Store::SetAdd(absl::string_view key,
                                              absl::string_view value) {
  auto found = FindAs(key, Kind::kSet);
  if (!found.ok()) return found.status();
  if (auto s = CheckValue(value); !s.ok()) return s;
  const SetComp* set = *found == nullptr ? nullptr : &*(*found)->extras->set;
  const std::vector<Dot>* old = nullptr;
  if (set != nullptr) {
    auto it = set->elems.find(value);
    if (it != set->elems.end()) old = &it->second;
  }
  if (old == nullptr && set != nullptr && set->elems.size() >= limits_.max_set_items) {
    return absl::OutOfRangeError(absl::StrCat(
        "set '", key, "' is full: at most ", limits_.max_set_items, " members"));
  }
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.set = SetState{stamp, dot.seq, {SetItem{std::string(value), dot}}, {}};
  // Re-adding replaces the element's dots, so a concurrent remove of the old ones
  // cannot take the element away (add wins).
  if (old != nullptr) {
    for (const Dot& d : *old) ks.set->removed.push_back(Removal{d, dot});
  }
  Event event = Emit(dot, std::move(ks));
  return Change<int64_t>{static_cast<int64_t>(Find(key)->extras->set->elems.size()),
                         std::move(event)};
}

absl::StatusOr<Change<int64_t>> Store::SetRemove(absl::string_view key,
                                                 absl::string_view value) {
  auto found = FindAs(key, Kind::kSet);
  if (!found.ok()) return found.status();
  if (*found == nullptr) return Change<int64_t>{0, std::nullopt};
  const SetComp& set = *(*found)->extras->set;
  auto it = set.elems.find(value);
  if (it == set.elems.end()) {
    return Change<int64_t>{static_cast<int64_t>(set.elems.size()), std::nullopt};
  }
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.set = SetState{stamp, dot.seq, {}, {}};
  for (const Dot& d : it->second) ks.set->removed.push_back(Removal{d, dot});
  Event event = Emit(dot, std::move(ks));
  const Entry* e = Find(key);
  const size_t size = e->extras->set ? e->extras->set->elems.size() : 0;
  return Change<int64_t>{static_cast<int64_t>(size), std::move(event)};
}

// ---- Merge: the join of a key's state with a (partial) key state.

namespace {

absl::Status Validate(const KeyState& ks, const Limits& limits) {
  if (ks.key.empty() || ks.key.size() > limits.max_key_bytes) {
    return absl::InvalidArgumentError("key state has an invalid key");
  }
  if (!ks.reg && !ks.counter && !ks.list && !ks.set) {
    return absl::InvalidArgumentError("key state has no component");
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

// Joins `in` into `c`; `key` names the atoms for the digest.
void MergeCounter(absl::string_view key, const CounterState& in, CounterComp* c,
                  Digest* digest) {
  if (in.stamp > c->stamp) {
    if (c->stamp.node != 0) {
      Minus(digest, StampAtom(key, kCounterStampAtom, c->stamp, c->stamp_seq));
    }
    c->stamp = in.stamp;
    c->stamp_seq = in.stamp_seq;
    Plus(digest, StampAtom(key, kCounterStampAtom, c->stamp, c->stamp_seq));
  }
  for (const CounterPart& p : in.incs) {
    auto [it, inserted] = c->incs.try_emplace(p.node, p);
    if (!inserted) {
      if (p.seq <= it->second.seq) continue;  // an origin's latest increment wins
      Minus(digest, CounterAtom(key, kCounterIncAtom, it->second));
      it->second = p;
    }
    Plus(digest, CounterAtom(key, kCounterIncAtom, p));
  }
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

// Records removal `r` in `removed`; returns false when it adds nothing.
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

size_t MergeList(absl::string_view key, const ListState& in, ListComp* l,
                 Digest* digest, size_t* bytes) {
  if (in.stamp > l->stamp) {
    if (l->stamp.node != 0) {
      Minus(digest, StampAtom(key, kListStampAtom, l->stamp, l->stamp_seq));
    }
    l->stamp = in.stamp;
    l->stamp_seq = in.stamp_seq;
    Plus(digest, StampAtom(key, kListStampAtom, l->stamp, l->stamp_seq));
  }
  size_t changed = 0;
  for (const Removal& r : in.removed) {
    if (!MergeRemoval(key, kListRemovalAtom, r, &l->removed, digest)) continue;
    *bytes += kRemovalBytes;
    ++changed;
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
    if (l->removed.count(dot) > 0 || l->hlc_of.count(dot) > 0) continue;
    l->items.emplace(ListPos{in_item.stamp.hlc, in_item.stamp.node, in_item.seq},
                     in_item.value);
    l->hlc_of.emplace(dot, in_item.stamp.hlc);
    Plus(digest, ListItemAtom(key, in_item.stamp, in_item.seq, in_item.value));
    *bytes += ItemBytes(in_item.value);
    ++changed;
  }
  return changed;
}

void MergeSet(absl::string_view key, const SetState& in, SetComp* s,
              Digest* digest, size_t* bytes) {
  if (in.stamp > s->stamp) {
    if (s->stamp.node != 0) {
      Minus(digest, StampAtom(key, kSetStampAtom, s->stamp, s->stamp_seq));
    }
    s->stamp = in.stamp;
    s->stamp_seq = in.stamp_seq;
    Plus(digest, StampAtom(key, kSetStampAtom, s->stamp, s->stamp_seq));
  }
  for (const Removal& r : in.removed) {
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
    if (s->removed.count(item.dot) > 0 || s->elem_of.count(item.dot) > 0) continue;
    auto [elem, inserted] = s->elems.try_emplace(item.value);
    if (inserted) *bytes += ItemBytes(item.value);
    elem->second.push_back(item.dot);
    s->elem_of.emplace(item.dot, &elem->first);
    Plus(digest, SetItemAtom(key, item.value, item.dot));
    *bytes += kSetDotBytes;
  }
}

}  // namespace

absl::Status Store::Merge(const KeyState& ks) {
  if (auto s = Validate(ks, limits_); !s.ok()) return s;
  auto it = index_.find(ks.key);
  if (it == index_.end()) {
    Entry* e = Entry::Create(ks.key, "");
    memory_bytes_ += e->AllocBytes();
    it = index_.insert(e).first;
  }
  Entry* e = *it;
  if (ks.reg && (!e->has_register() || ks.reg->stamp > e->reg_stamp())) {
    if (e->has_register()) Minus(&digest_, RegisterAtom(*e));
    memory_bytes_ -= e->AllocBytes();
    e = Entry::WithValue(e, ks.reg->live ? ks.reg->value : "");
    const_cast<Entry*&>(*it) = e;  // same key, so the index order is unchanged
    memory_bytes_ += e->AllocBytes();
    e->SetRegister(*ks.reg);
    Plus(&digest_, RegisterAtom(*e));
  }
  if (!ks.counter && !ks.list && !ks.set) return absl::OkStatus();
  Extras& x = e->MutableExtras();
  const size_t bytes_before = x.bytes;
  if (ks.counter) {
    if (!x.counter) {
      x.counter.emplace();
      x.bytes += sizeof(CounterComp);
    }
    const size_t parts_before = x.counter->incs.size() + x.counter->dels.size();
    MergeCounter(e->key(), *ks.counter, &*x.counter, &digest_);
    const size_t parts_after = x.counter->incs.size() + x.counter->dels.size();
    x.bytes += kCounterPartBytes * (parts_after - parts_before);
  }
  if (ks.list) {
    if (!x.list) {
      x.list.emplace();
      x.bytes += sizeof(ListComp);
    }
    MergeList(e->key(), *ks.list, &*x.list, &digest_, &x.bytes);
  }
  if (ks.set) {
    if (!x.set) {
      x.set.emplace();
      x.bytes += sizeof(SetComp);
    }
    MergeSet(e->key(), *ks.set, &*x.set, &digest_, &x.bytes);
  }
  memory_bytes_ += x.bytes - bytes_before;
  return absl::OkStatus();
}

// ---- Replication.

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
  if (auto s = Validate(event.delta, limits_); !s.ok()) return s;
  ApplyResult result;
  Observe(event.dot, &result);
  if (result.duplicate) {
    ++events_duplicate_;
    return result;
  }
  hlc_ = std::max(hlc_, MaxStamp(event.delta).hlc);
  absl::Status merged = Merge(event.delta);  // validated above, cannot fail
  (void)merged;
  ++events_applied_;
  return result;
}

bool Store::HasGaps() const { return !above_.empty(); }

std::optional<KeyState> Store::Export(absl::string_view key) const {
  const Entry* e = Find(key);
  if (e == nullptr) return std::nullopt;
  return ExportEntry(*e);
}

KeyState Store::ExportEntry(const Entry& entry) const {
  const Entry* e = &entry;
  KeyState ks;
  ks.key = std::string(e->key());
  if (e->has_register()) {
    ks.reg = RegisterState{e->reg_stamp(), e->reg_seq, e->live(),
                           std::string(e->value()), e->expires_ms};
  }
  if (const Extras* x = e->extras) {
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
  }
  return ks;
}

namespace {

// True when `e` holds an operation that `v` has not applied.
bool HoldsAbove(const Entry& e, const VersionVector& v) {
  if (e.has_register() && !Covers(v, e.reg_dot())) return true;
  const Extras* x = e.extras;
  if (x == nullptr) return false;
  auto removal_above = [&](const absl::btree_map<Dot, Dot>& removed) {
    for (const auto& [item, by] : removed) {
      if (!Covers(v, by) || !Covers(v, item)) return true;
    }
    return false;
  };
  if (x->counter) {
    if (!Covers(v, Dot{x->counter->stamp.node, x->counter->stamp_seq})) return true;
    for (const auto& [node, p] : x->counter->incs) {
      if (!Covers(v, Dot{node, p.seq})) return true;
    }
    for (const auto& [node, p] : x->counter->dels) {
      if (!Covers(v, p.by)) return true;
    }
  }
  if (x->list) {
    if (!Covers(v, Dot{x->list->stamp.node, x->list->stamp_seq})) return true;
    for (const auto& [pos, value] : x->list->items) {
      if (!Covers(v, Dot{pos.node, pos.seq})) return true;
    }
    if (removal_above(x->list->removed)) return true;
  }
  if (x->set) {
    if (!Covers(v, Dot{x->set->stamp.node, x->set->stamp_seq})) return true;
    for (const auto& [dot, elem] : x->set->elem_of) {
      if (!Covers(v, dot)) return true;
    }
    if (removal_above(x->set->removed)) return true;
  }
  return false;
}

}  // namespace

Delta Store::DeltaAbove(const VersionVector& v) const {
  Delta delta;
  delta.vv = vv_;
  for (const Entry* e : index_) {
    if (HoldsAbove(*e, v)) delta.entries.push_back(ExportEntry(*e));
  }
  return delta;
}

std::vector<KeyState> Store::DeltaPage(const VersionVector& v, absl::string_view after,
                                       size_t max_scan, std::string* next) const {
  std::vector<KeyState> page;
  // Position first: `after` may view `*next`, which is rewritten below.
  auto it = after.empty() ? index_.begin() : index_.upper_bound(after);
  next->clear();
  for (size_t scanned = 0; it != index_.end(); ++it, ++scanned) {
    if (scanned == max_scan) {
      next->assign((*std::prev(it))->key().data(), (*std::prev(it))->key().size());
      break;
    }
    if (HoldsAbove(**it, v)) page.push_back(ExportEntry(**it));
  }
  return page;
}

absl::Status Store::MergeDelta(const Delta& delta) {
  for (const KeyState& ks : delta.entries) {
    if (auto s = Validate(ks, limits_); !s.ok()) return s;
    hlc_ = std::max(hlc_, MaxStamp(ks).hlc);
    absl::Status merged = Merge(ks);
    (void)merged;
  }
  for (const auto& [node, seq] : delta.vv) {
    if (node == 0) continue;
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

// ---- Garbage collection (see the contract in store.h).

size_t Store::CollectGarbage(const VersionVector& stable, uint64_t hlc_floor,
                             absl::Duration grace) {
  const int64_t purge_before = ToMillis(clock_->Now() - grace);
  size_t dropped = 0;
  for (auto it = index_.begin(); it != index_.end();) {
    Entry* e = *it;
    if (e->has_register() &&
        (!e->live() || (e->expires_ms != 0 && e->expires_ms < purge_before)) &&
        Covers(stable, e->reg_dot()) && e->reg_hlc < hlc_floor) {
      Minus(&digest_, RegisterAtom(*e));
      memory_bytes_ -= e->AllocBytes();
      e = Entry::WithValue(e, "");
      const_cast<Entry*&>(*it) = e;
      memory_bytes_ += e->AllocBytes();
      e->ClearRegister();
      ++dropped;
    }
    const absl::string_view key = e->key();  // after any reallocation above
    if (Extras* x = e->extras) {
      const size_t bytes_before = x->bytes;
      auto drop_removals = [&](absl::btree_map<Dot, Dot>* removed, AtomTag tag) {
        for (auto r = removed->begin(); r != removed->end();) {
          if (Covers(stable, r->first) && Covers(stable, r->second)) {
            Minus(&digest_, RemovalAtom(key, tag, r->first, r->second));
            x->bytes -= kRemovalBytes;
            r = removed->erase(r);
            ++dropped;
          } else {
            ++r;
          }
        }
      };
      if (x->counter) {
        CounterComp& c = *x->counter;
        for (auto d = c.dels.begin(); d != c.dels.end();) {
          auto inc = c.incs.find(d->first);
          const bool has_inc = inc != c.incs.end();
          // A removal of an older epoch: the origin has moved on.
          const bool stale = has_inc && d->second.base < inc->second.base &&
                             d->second.seq < inc->second.seq;
          const bool all_deleted = !has_inc || inc->second.seq <= d->second.seq;
          const bool stable_del = Covers(stable, Dot{d->first, d->second.seq}) &&
                                  Covers(stable, d->second.by);
          const bool stable_inc =
              !has_inc || Covers(stable, Dot{inc->first, inc->second.seq});
          if (stale && stable_del) {
            Minus(&digest_, CounterAtom(key, kCounterDelAtom, d->second));
            d = c.dels.erase(d);
            x->bytes -= kCounterPartBytes;
            ++dropped;
          } else if (all_deleted && stable_inc && stable_del) {
            if (has_inc) {
              Minus(&digest_, CounterAtom(key, kCounterIncAtom, inc->second));
              c.incs.erase(inc);
              x->bytes -= kCounterPartBytes;
            }
            Minus(&digest_, CounterAtom(key, kCounterDelAtom, d->second));
            d = c.dels.erase(d);
            x->bytes -= kCounterPartBytes;
            ++dropped;
          } else {
            ++d;
          }
        }
        if (c.incs.empty() && c.dels.empty() && c.stamp.hlc < hlc_floor) {
          Minus(&digest_, StampAtom(key, kCounterStampAtom, c.stamp, c.stamp_seq));
          x->bytes -= sizeof(CounterComp);
          x->counter.reset();
        }
      }
      if (x->list) {
        drop_removals(&x->list->removed, kListRemovalAtom);
        if (x->list->items.empty() && x->list->removed.empty() &&
            x->list->stamp.hlc < hlc_floor) {
          Minus(&digest_, StampAtom(key, kListStampAtom, x->list->stamp, x->list->stamp_seq));
          x->bytes -= sizeof(ListComp);
          x->list.reset();
        }
      }
      if (x->set) {
        drop_removals(&x->set->removed, kSetRemovalAtom);
        if (x->set->elems.empty() && x->set->removed.empty() &&
            x->set->stamp.hlc < hlc_floor) {
          Minus(&digest_, StampAtom(key, kSetStampAtom, x->set->stamp, x->set->stamp_seq));
          x->bytes -= sizeof(SetComp);
          x->set.reset();
        }
      }
      memory_bytes_ -= bytes_before - x->bytes;
    }
    if (e->Empty()) {
      memory_bytes_ -= e->HeapBytes();
      it = index_.erase(it);
      Entry::Destroy(e);
    } else {
      ++it;
    }
  }
  return dropped;
}

StoreStats Store::stats() const {
  StoreStats s;
  s.keys = index_.size();
  // Entries plus the ordered index (about 1.5 pointers per key in B-tree nodes).
  s.memory_bytes = memory_bytes_ + index_.size() * sizeof(Entry*) * 3 / 2;
  s.events_applied = events_applied_;
  s.events_duplicate = events_duplicate_;
  return s;
}

}  // namespace kv::store
