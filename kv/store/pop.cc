// Store: pop, the removal of one list item from an end. An item is removed by
// its dot (not by its value: two equal values are two items), the same kind of
// removal record as list_del's, so a pop merges like one: two replicas popping
// the same item concurrently remove it once, and a concurrent push survives.
// (Which caller wins a pop is the owner's business: kv/service.)
#include <optional>
#include <string>
#include <utility>

#include "kv/store/entry.h"
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {

absl::StatusOr<Change<std::optional<std::string>>> Store::Pop(absl::string_view key,
                                                              ListEnd end) {
  using Popped = Change<std::optional<std::string>>;
  auto found = FindAs(key, Kind::kList);
  if (!found.ok()) return found.status();
  if (*found == nullptr) return Popped{std::nullopt, std::nullopt};
  const internal::ListComp& list = *(*found)->extras->list;
  // A visible list has items (an empty list does not exist).
  const auto& [pos, item] =
      end == ListEnd::kLeft ? *list.items.begin() : *list.items.rbegin();
  const Dot victim{pos.node, pos.seq};
  std::string value = item;  // the item goes with the merge below
  const Stamp stamp = NextStamp();
  const Dot dot = NextDot();
  KeyState ks;
  ks.key = std::string(key);
  ks.list = ListState{stamp, dot.seq, {}, {Removal{victim, dot}}};
  return Popped{std::move(value), Emit(dot, std::move(ks))};
}

}  // namespace kv::store
