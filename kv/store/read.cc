// Store: local reads (get, exists, range, set queries, key pages), each bounded
// in items and in reply bytes (Limits).
#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kv/store/entry.h"
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {

using internal::Entry;
using internal::ErrWrongType;
using internal::SetComp;

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

size_t Store::RemovalCount(absl::string_view key) const {
  const Entry* e = Find(key);
  if (Visible(e) == Kind::kNone) return 0;
  KeyState ks;  // what Del would emit, without its values
  AddRemovalOf(e, Stamp{}, Dot{}, &ks);
  return (ks.reg ? 1 : 0) + (ks.counter ? ks.counter->dels.size() : 0) +
         (ks.list ? ks.list->removed.size() : 0) + (ks.set ? ks.set->removed.size() : 0);
}

namespace {

// Reply bytes an item takes: its bytes plus quotes and a separator.
size_t ReplyBytes(absl::string_view item) { return item.size() + 3; }

absl::Status OverReplyBudget(absl::string_view what, size_t budget,
                             absl::string_view ask) {
  return absl::OutOfRangeError(absl::StrCat(what, " holds more than ", budget,
                                            " bytes, the most one reply carries; ", ask));
}

// The distinct keys of `keys`, in their first order.
std::vector<absl::string_view> Distinct(const std::vector<std::string>& keys) {
  std::vector<absl::string_view> out;
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& k : keys) {
    if (seen.insert(k).second) out.push_back(k);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> Store::Range(absl::string_view key,
                                                      int64_t start, int64_t stop) const {
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
    return absl::OutOfRangeError(absl::StrCat("range would return ", stop - start + 1,
                                              " values; at most ", limits_.max_range,
                                              " per request"));
  }
  auto it = items.begin();
  std::advance(it, start);
  size_t bytes = 0;
  for (int64_t i = start; i <= stop; ++i, ++it) {
    bytes += ReplyBytes(it->second);
    if (limits_.max_reply_bytes != 0 && bytes > limits_.max_reply_bytes) {
      return OverReplyBudget(
          absl::StrCat("range ", start, "..", stop, " of key '", key, "'"),
          limits_.max_reply_bytes, "ask for a narrower range");
    }
    out.push_back(it->second);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Store::SetQuery(absl::string_view key) const {
  auto found = FindAs(key, Kind::kSet);
  if (!found.ok()) return found.status();
  std::vector<std::string> out;
  if (*found == nullptr) return out;
  size_t bytes = 0;
  for (const auto& [value, dots] : (*found)->extras->set->elems) {
    bytes += ReplyBytes(value);
    if (limits_.max_reply_bytes != 0 && bytes > limits_.max_reply_bytes) {
      return OverReplyBudget(absl::StrCat("set '", key, "'"), limits_.max_reply_bytes,
                             "read it with set_intersection against smaller sets");
    }
    out.push_back(value);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Store::SetUnion(
    const std::vector<std::string>& keys) const {
  if (keys.size() > limits_.max_keys_per_query) {
    return absl::OutOfRangeError(absl::StrCat("field 'keys' must list at most ",
                                              limits_.max_keys_per_query, " keys"));
  }
  // Distinct members, bounded in bytes before anything is copied.
  absl::btree_set<absl::string_view> members;
  size_t bytes = 0;
  for (absl::string_view key : Distinct(keys)) {
    auto found = FindAs(key, Kind::kSet);
    if (!found.ok()) return found.status();
    if (*found == nullptr) continue;
    for (const auto& [value, dots] : (*found)->extras->set->elems) {
      if (!members.insert(value).second) continue;
      bytes += ReplyBytes(value);
      if (limits_.max_reply_bytes != 0 && bytes > limits_.max_reply_bytes) {
        return OverReplyBudget("the union", limits_.max_reply_bytes,
                               "ask for the union of fewer or smaller sets");
      }
    }
  }
  return std::vector<std::string>(members.begin(), members.end());
}

absl::StatusOr<std::vector<std::string>> Store::SetIntersection(
    const std::vector<std::string>& keys) const {
  if (keys.size() > limits_.max_keys_per_query) {
    return absl::OutOfRangeError(absl::StrCat("field 'keys' must list at most ",
                                              limits_.max_keys_per_query, " keys"));
  }
  std::vector<const SetComp*> sets;
  for (absl::string_view key : Distinct(keys)) {
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
  const size_t probes = sets[0]->elems.size() * (sets.size() - 1);
  if (probes > limits_.max_intersection_probes) {
    return absl::OutOfRangeError(absl::StrCat(
        "the intersection would probe ", probes, " members, at most ",
        limits_.max_intersection_probes, " per request; ask for fewer or smaller sets"));
  }
  size_t bytes = 0;
  for (const auto& [value, dots] : sets[0]->elems) {
    bool everywhere = true;
    for (size_t i = 1; i < sets.size() && everywhere; ++i) {
      everywhere = sets[i]->elems.count(value) > 0;
    }
    if (!everywhere) continue;
    bytes += ReplyBytes(value);
    if (limits_.max_reply_bytes != 0 && bytes > limits_.max_reply_bytes) {
      return OverReplyBudget("the intersection", limits_.max_reply_bytes,
                             "ask for the intersection of fewer or smaller sets");
    }
    out.push_back(value);
  }
  return out;
}

absl::StatusOr<KeysPage> Store::Keys(absl::string_view prefix, size_t limit,
                                     absl::string_view cursor) const {
  if (limit == 0) limit = limits_.max_page;
  if (limit > limits_.max_page) {
    return absl::OutOfRangeError(
        absl::StrCat("field 'limit' must be between 1 and ", limits_.max_page));
  }
  KeysPage page;
  auto it = (cursor.empty() || cursor < prefix) ? index_.lower_bound(prefix)
                                                : index_.upper_bound(cursor);
  size_t bytes = 0;
  for (; it != index_.end() && absl::StartsWith((*it)->key(), prefix); ++it) {
    if (Visible(*it) == Kind::kNone) continue;
    bytes += ReplyBytes((*it)->key());
    // A page ends at `limit` keys or at the byte budget (with at least one key,
    // which max_key_bytes keeps under the budget).
    if (page.keys.size() == limit ||
        (limits_.max_reply_bytes != 0 && bytes > limits_.max_reply_bytes &&
         !page.keys.empty())) {
      page.cursor = page.keys.back();
      break;
    }
    page.keys.emplace_back((*it)->key());
  }
  return page;
}

}  // namespace kv::store
