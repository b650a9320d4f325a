// The store's reads and local mutations; merging is in merge.cc, deltas in delta.cc,
// tombstone collection in gc.cc.
#include "kv/store/store.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/store/entry.h"
#include "kv/store/hlc.h"
#include "kv/store/state.h"
#include "kv/store/store_internal.h"

namespace kv::store {
namespace {

using internal::CounterComp;
using internal::Entry;
using internal::ErrWrongType;
using internal::Expired;
using internal::Extras;
using internal::ListComp;
using internal::SetComp;
using internal::ToMillis;

constexpr absl::Duration kMaxTtl = absl::Hours(24 * 365 * 100);

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
    : node_(node),
      clock_(clock),
      limits_(limits),
      requests_(limits.dedup_window, RequestLog::kDefaultMaxEntries,
                RequestLog::kDefaultMaxBytes, limits.max_clock_skew) {}

Store::~Store() {
  for (Entry* e : index_) Entry::Destroy(e);
}

// ---- Helpers.

absl::Status Store::CheckKey(absl::string_view key) const {
  if (key.empty() || key.size() > limits_.max_key_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("field 'key' must be a non-empty string of at most ",
                     limits_.max_key_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status Store::CheckValue(absl::string_view key, absl::string_view value) const {
  if (value.size() > limits_.max_value_bytes) {
    return absl::OutOfRangeError(absl::StrCat("field 'value' must be at most ",
                                              limits_.max_value_bytes, " bytes"));
  }
  if (limits_.max_write_bytes > 0 &&
      key.size() + value.size() > limits_.max_write_bytes) {
    return absl::OutOfRangeError(absl::StrCat(
        "fields 'key' and 'value' must take at most ", limits_.max_write_bytes,
        " bytes together (the write's event must fit in one message)"));
  }
  return absl::OkStatus();
}

Store::Kind Store::Visible(const Entry* e) const {
  return VisibleAt(e, ToMillis(clock_->Now()));
}

Store::Kind Store::VisibleAt(const Entry* e, int64_t now_ms) const {
  if (e == nullptr || internal::Expired(e->KeyExpiry(), now_ms)) return Kind::kNone;
  Kind best = Kind::kNone;
  Stamp best_stamp;
  auto consider = [&](Kind kind, const Stamp& s) {
    if (best == Kind::kNone || s > best_stamp) {
      best = kind;
      best_stamp = s;
    }
  };
  if (e->RegisterVisible(now_ms)) {
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
  if (it == index_.end()) return nullptr;
  Touch(*it);
  return *it;
}

void Store::Touch(const Entry* e) const {
  // Entries are never const objects: the store owns them.
  const_cast<Entry*>(e)->flags |= Entry::kReferenced;
}

void Store::Recount(Entry* e, bool gone) {
  const bool shows = !gone && VisibleAt(e, 0) != Kind::kNone;
  const bool counted = e->flags & Entry::kCounted;
  if (shows == counted) return;
  if (shows) {
    e->flags |= Entry::kCounted;
    ++counted_;
  } else {
    e->flags &= ~Entry::kCounted;
    --counted_;
  }
}

absl::StatusOr<const Entry*> Store::FindAs(absl::string_view key, Kind kind) const {
  if (auto s = CheckKey(key); !s.ok()) return s;
  const Entry* e = Find(key);
  Kind visible = Visible(e);
  if (visible != Kind::kNone && visible != kind) {
    static constexpr absl::string_view kNames[] = {"nothing", "string", "counter", "list",
                                                   "set"};
    return ErrWrongType(key, kNames[static_cast<int>(visible)]);
  }
  return visible == Kind::kNone ? nullptr : e;
}

Stamp Store::NextStamp() {
  hlc_ = NextHlc(hlc_, ToMillis(clock_->Now()));
  return {hlc_, node_};
}

Dot Store::NextDot() { return {node_, ++seq_}; }

absl::Status Store::CheckStamps(const KeyState& ks) const {
  const uint64_t hlc = internal::MaxHlc(ks);
  const int64_t now_ms = ToMillis(clock_->Now());
  const int64_t skew_ms = absl::ToInt64Milliseconds(limits_.max_clock_skew);
  if (hlc <= HlcCeiling(now_ms, skew_ms)) return absl::OkStatus();
  return absl::OutOfRangeError(absl::StrCat(
      "key state stamped ", HlcMillis(hlc) - now_ms, " ms ahead of this node's clock (",
      "max_clock_skew ", absl::FormatDuration(limits_.max_clock_skew), ")"));
}

uint64_t Store::NextHlcFloor() const { return NextHlc(hlc_, ToMillis(clock_->Now())); }

Event Store::Emit(Dot dot, KeyState delta) {
  absl::Status merged = Merge(delta, {});  // a new local operation
  // A local delta is well-formed by construction.
  (void)merged;
  vv_[node_] = dot.seq;
  return Event{dot, std::move(delta)};
}

// ---- Local mutations.

absl::StatusOr<Change<bool>> Store::Set(absl::string_view key, absl::string_view value,
                                        std::optional<absl::Duration> ttl) {
  if (auto s = CheckMemory(); !s.ok()) return s;
  if (auto found = FindAs(key, Kind::kRegister); !found.ok()) return found.status();
  if (auto s = CheckValue(key, value); !s.ok()) return s;
  absl::StatusOr<int64_t> expires_ms = ExpiryFor(ttl);  // set replaces the TTL
  if (!expires_ms.ok()) return expires_ms.status();
  const Entry* e = Find(key);
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.reg = RegisterState{stamp, dot.seq, true, std::string(value), *expires_ms};
  // An expired key starts anew: what it held under the register goes.
  if (e != nullptr && Expired(e->KeyExpiry(), ToMillis(clock_->Now()))) {
    AddRemovalOf(e, stamp, dot, &ks, /*keep_register=*/true);
  }
  // The register's TTL is the key's from now on; a TTL component written before
  // loses to it (KeyExpiry), and one written by this operation would win.
  return Change<bool>{true, Emit(dot, std::move(ks))};
}

absl::StatusOr<int64_t> Store::ExpiryFor(std::optional<absl::Duration> ttl) const {
  if (ttl.has_value() && (*ttl <= absl::ZeroDuration() || *ttl > kMaxTtl)) {
    return absl::InvalidArgumentError(
        "field 'expires' must be a positive number of seconds of at most 100 years");
  }
  if (!ttl.has_value() && limits_.default_ttl > absl::ZeroDuration()) {
    ttl = limits_.default_ttl;
  }
  return ttl.has_value() ? ToMillis(clock_->Now() + *ttl) : 0;
}

void Store::WriteTtl(const Entry* e, bool fresh, bool given, int64_t expires_ms,
                     const Stamp& stamp, const Dot& dot, KeyState* ks) const {
  const bool expired = e != nullptr && Expired(e->KeyExpiry(), ToMillis(clock_->Now()));
  if (expired) AddRemovalOf(e, stamp, dot, ks);
  if (!given && !fresh && !expired) return;  // keeps the key's TTL
  // A new key without a TTL needs no component; an expired one needs its old
  // TTL replaced.
  if (expires_ms != 0 || expired || (e != nullptr && e->KeyExpiry() != 0)) {
    ks->ttl = TtlState{stamp, dot.seq, expires_ms};
  }
}

void Store::AddRemovalOf(const Entry* e, const Stamp& stamp, const Dot& dot, KeyState* ks,
                         bool keep_register) const {
  if (!keep_register && e->has_register() && e->live() && !ks->reg) {
    ks->reg = RegisterState{stamp, dot.seq, false, "", 0};
  }
  const Extras* x = e->extras;
  if (x == nullptr) return;
  if (x->counter && x->counter->Live()) {
    if (!ks->counter) ks->counter = CounterState{stamp, dot.seq, {}, {}};
    for (const auto& [node, inc] : x->counter->incs) {
      if (!CounterComp::Live(inc, x->counter->DelOf(node))) continue;
      ks->counter->dels.push_back(CounterPart{node, inc.seq, inc.base, inc.sum, dot});
    }
  }
  if (x->list && !x->list->items.empty()) {
    if (!ks->list) ks->list = ListState{stamp, dot.seq, {}, {}};
    for (const auto& [pos, value] : x->list->items) {
      ks->list->removed.push_back(Removal{Dot{pos.node, pos.seq}, dot});
    }
  }
  if (x->set && !x->set->elems.empty()) {
    if (!ks->set) ks->set = SetState{stamp, dot.seq, {}, {}};
    for (const auto& [value, dots] : x->set->elems) {
      for (const Dot& d : dots) ks->set->removed.push_back(Removal{d, dot});
    }
  }
}

absl::StatusOr<Change<bool>> Store::Del(absl::string_view key) {
  if (auto s = CheckKey(key); !s.ok()) return s;
  const Entry* e = Find(key);
  if (Visible(e) == Kind::kNone) return Change<bool>{false, std::nullopt};
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  AddRemovalOf(e, stamp, dot, &ks);
  // The key's TTL goes with it: a later write starts without one.
  if (e->extras != nullptr && e->extras->ttl) ks.ttl = TtlState{stamp, dot.seq, 0};
  return Change<bool>{true, Emit(dot, std::move(ks))};
}

absl::StatusOr<Change<bool>> Store::Expire(absl::string_view key, absl::Duration ttl) {
  if (auto s = CheckKey(key); !s.ok()) return s;
  if (ttl <= absl::ZeroDuration() || ttl > kMaxTtl) {
    return absl::InvalidArgumentError(
        "field 'expires' must be a positive number of seconds of at most 100 years");
  }
  if (Visible(Find(key)) == Kind::kNone) return Change<bool>{false, std::nullopt};
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.ttl = TtlState{stamp, dot.seq, ToMillis(clock_->Now() + ttl)};
  return Change<bool>{true, Emit(dot, std::move(ks))};
}

absl::StatusOr<Change<bool>> Store::Persist(absl::string_view key) {
  if (auto s = CheckKey(key); !s.ok()) return s;
  const Entry* e = Find(key);
  if (Visible(e) == Kind::kNone || e->KeyExpiry() == 0) {
    return Change<bool>{false, std::nullopt};
  }
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.ttl = TtlState{stamp, dot.seq, 0};
  return Change<bool>{true, Emit(dot, std::move(ks))};
}

absl::StatusOr<KeyTtl> Store::Ttl(absl::string_view key) const {
  if (auto s = CheckKey(key); !s.ok()) return s;
  const Entry* e = Find(key);
  KeyTtl out;
  out.exists = Visible(e) != Kind::kNone;
  if (out.exists && e->KeyExpiry() != 0) {
    out.ttl =
        absl::Milliseconds(e->KeyExpiry()) - absl::Milliseconds(ToMillis(clock_->Now()));
  }
  return out;
}

absl::StatusOr<Change<int64_t>> Store::Add(absl::string_view key, int64_t delta,
                                           std::optional<absl::Duration> ttl) {
  if (auto s = CheckMemory(); !s.ok()) return s;
  return AddAnyway(key, delta, ttl);
}

absl::StatusOr<Change<int64_t>> Store::AddAnyway(absl::string_view key, int64_t delta,
                                                 std::optional<absl::Duration> ttl) {
  // Checked before the operation takes a stamp and a seq: a refusal changes nothing.
  const absl::StatusOr<int64_t> expiry = ExpiryFor(ttl);
  if (!expiry.ok()) return expiry.status();
  auto found = FindAs(key, Kind::kCounter);
  if (!found.ok()) return found.status();
  const Entry* e = Find(key);
  const CounterComp* cc = (e != nullptr && e->extras != nullptr && e->extras->counter)
                              ? &*e->extras->counter
                              : nullptr;
  const int64_t current = *found == nullptr ? 0 : cc->Value();
  int64_t result;
  if (__builtin_add_overflow(current, delta, &result)) {
    return absl::OutOfRangeError(
        absl::StrCat("counter '", key, "' would overflow: ", current, " + ", delta,
                     " does not fit in a signed 64-bit integer"));
  }
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  // Continue this node's epoch, or start a new one when the previous was removed
  // (or the key expired: its contributions are removed below).
  CounterPart mine{node_, dot.seq, dot.seq, delta, Dot{}};
  if (cc != nullptr && *found != nullptr) {
    auto it = cc->incs.find(node_);
    if (it != cc->incs.end() && CounterComp::Live(it->second, cc->DelOf(node_))) {
      mine.base = it->second.base;
      mine.sum = internal::WrapAdd(it->second.sum, delta);
    }
  }
  KeyState ks;
  ks.key = std::string(key);
  ks.counter = CounterState{stamp, dot.seq, {mine}, {}};
  WriteTtl(e, *found == nullptr, ttl.has_value(), *expiry, stamp, dot, &ks);
  Event event = Emit(dot, std::move(ks));
  return Change<int64_t>{Find(key)->extras->counter->Value(), std::move(event)};
}

absl::StatusOr<Change<int64_t>> Store::Push(absl::string_view key,
                                            absl::string_view value,
                                            std::optional<absl::Duration> ttl) {
  if (auto s = CheckMemory(); !s.ok()) return s;
  // Checked before the operation takes a stamp and a seq: a refusal changes nothing.
  const absl::StatusOr<int64_t> expiry = ExpiryFor(ttl);
  if (!expiry.ok()) return expiry.status();
  auto found = FindAs(key, Kind::kList);
  if (!found.ok()) return found.status();
  if (auto s = CheckValue(key, value); !s.ok()) return s;
  const size_t length = *found == nullptr ? 0 : (*found)->extras->list->items.size();
  if (length >= limits_.max_list_items) {
    return absl::OutOfRangeError(absl::StrCat("list '", key, "' is full: at most ",
                                              limits_.max_list_items, " items"));
  }
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.list = ListState{stamp, dot.seq, {ListItem{stamp, dot.seq, std::string(value)}}, {}};
  WriteTtl(Find(key), *found == nullptr, ttl.has_value(), *expiry, stamp, dot, &ks);
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
                                              absl::string_view value,
                                              std::optional<absl::Duration> ttl) {
  if (auto s = CheckMemory(); !s.ok()) return s;
  // Checked before the operation takes a stamp and a seq: a refusal changes nothing.
  const absl::StatusOr<int64_t> expiry = ExpiryFor(ttl);
  if (!expiry.ok()) return expiry.status();
  auto found = FindAs(key, Kind::kSet);
  if (!found.ok()) return found.status();
  if (auto s = CheckValue(key, value); !s.ok()) return s;
  const SetComp* set = *found == nullptr ? nullptr : &*(*found)->extras->set;
  const std::vector<Dot>* old = nullptr;
  if (set != nullptr) {
    auto it = set->elems.find(value);
    if (it != set->elems.end()) old = &it->second;
  }
  if (old == nullptr && set != nullptr && set->elems.size() >= limits_.max_set_items) {
    return absl::OutOfRangeError(absl::StrCat("set '", key, "' is full: at most ",
                                              limits_.max_set_items, " members"));
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
  WriteTtl(Find(key), *found == nullptr, ttl.has_value(), *expiry, stamp, dot, &ks);
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

StoreStats Store::stats() const {
  StoreStats s;
  s.keys = counted_;
  s.tombstones = index_.size() - counted_;
  s.memory_bytes = MemoryBytes();
  s.max_memory_bytes = limits_.max_memory_bytes;
  s.evicted = evicted_;
  s.expired = expired_;
  s.events_applied = events_applied_;
  s.events_duplicate = events_duplicate_;
  s.retired_origins = retired_.size();
  return s;
}

}  // namespace kv::store
