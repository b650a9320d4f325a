// Helpers shared by the store's implementation files (store.cc, read.cc, merge.cc,
// delta.cc, gc.cc); not part of the store's API.
#ifndef KV_STORE_STORE_INTERNAL_H_
#define KV_STORE_STORE_INTERNAL_H_

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/store/digest.h"
#include "kv/store/entry.h"
#include "kv/store/state.h"
#include "kv/store/store.h"

namespace kv::store::internal {

// What a version vector covers and, when `retired` is given, every dot of a
// retired origin. The default covers nothing.
class Coverage {
 public:
  Coverage() = default;
  Coverage(const VersionVector& v, const RetiredOrigins* retired)
      : v_(&v), retired_(retired) {}
  bool Covers(const Dot& d) const {
    return (v_ != nullptr && store::Covers(*v_, d)) ||
           (retired_ != nullptr && retired_->contains(d.node));
  }

 private:
  const VersionVector* v_ = nullptr;
  const RetiredOrigins* retired_ = nullptr;
};

// `t` in Unix milliseconds; times before the epoch give 0.
inline int64_t ToMillis(absl::Time t) {
  return std::max<int64_t>(0, absl::ToUnixMillis(t));
}

// The digest atom of `e`'s register. REQUIRES: e.has_register().
inline Digest RegisterAtom(const Entry& e) {
  return RegisterAtom(e.key(), e.reg_stamp(), e.reg_seq, e.live(), e.value(),
                      e.expires_ms);
}

// The error of an operation on `key` that holds another type, a `holds`.
inline absl::Status ErrWrongType(absl::string_view key, absl::string_view holds) {
  return absl::FailedPreconditionError(
      absl::StrCat("wrong type: key '", key, "' holds a ", holds));
}

// The highest stamp of any component of `ks` (Stamp{} when it has none).
Stamp MaxStamp(const KeyState& ks);
// The highest HLC anywhere in `ks`: its components' stamps and its list items'.
uint64_t MaxHlc(const KeyState& ks);

// The highest HLC of anything `e` holds (containers carry their latest
// operation's stamp, which is at or above their items'): the key's revision.
inline uint64_t MaxHlcOf(const Entry& e) {
  uint64_t m = e.has_register() ? e.reg_hlc : 0;
  if (const Extras* x = e.extras) {
    if (x->counter) m = std::max(m, x->counter->stamp.hlc);
    if (x->list) m = std::max(m, x->list->stamp.hlc);
    if (x->set) m = std::max(m, x->set->stamp.hlc);
    if (x->ttl) m = std::max(m, x->ttl->stamp.hlc);
  }
  return m;
}

// OK when `ks` can be merged: a key within the limit, at least one component, and
// a dot (non-zero node and seq) on every stamp, item and removal. Otherwise
// InvalidArgument, saying what is missing.
absl::Status Validate(const KeyState& ks, const Limits& limits);

// Calls `f(dot)` for every dot `e` holds (register, container stamps, counter
// contributions and removals, list items, set elements, removal records).
template <typename F>
void ForEachDot(const Entry& e, F f) {
  if (e.has_register()) f(e.reg_dot());
  const Extras* x = e.extras;
  if (x == nullptr) return;
  if (x->ttl) f(Dot{x->ttl->stamp.node, x->ttl->seq});
  if (x->counter) {
    f(Dot{x->counter->stamp.node, x->counter->stamp_seq});
    for (const auto& [node, p] : x->counter->incs) f(Dot{node, p.seq});
    for (const auto& [node, p] : x->counter->dels) {
      f(Dot{node, p.seq});
      f(p.by);
    }
  }
  if (x->list) {
    f(Dot{x->list->stamp.node, x->list->stamp_seq});
    for (const auto& [pos, value] : x->list->items) f(Dot{pos.node, pos.seq});
    for (const auto& [item, by] : x->list->removed) {
      f(item);
      f(by);
    }
  }
  if (x->set) {
    f(Dot{x->set->stamp.node, x->set->stamp_seq});
    for (const auto& [dot, elem] : x->set->elem_of) f(dot);
    for (const auto& [item, by] : x->set->removed) {
      f(item);
      f(by);
    }
  }
}

}  // namespace kv::store::internal

namespace kv::store {
inline internal::Coverage Store::Collected() const { return {collected_, &retired_}; }
}  // namespace kv::store

#endif  // KV_STORE_STORE_INTERNAL_H_
