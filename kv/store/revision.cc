// Store: key revisions and key summaries (reads that do not mark the key as
// used: the eviction hand is not disturbed by them).
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {

using internal::Entry;
using internal::Extras;

uint64_t Store::Revision(absl::string_view key) const {
  auto it = index_.find(key);
  if (it == index_.end() || Visible(*it) == Kind::kNone) return 0;
  return internal::MaxHlcOf(**it);
}

KeySummary Store::Summarize(absl::string_view key) const {
  KeySummary out;
  auto it = index_.find(key);
  if (it == index_.end()) return out;
  const Entry* e = *it;
  const Extras* x = e->extras;
  switch (Visible(e)) {
    case Kind::kNone:
      return out;
    case Kind::kRegister:
      out.type = KeySummary::Type::kString;
      out.value = std::string(e->value());
      break;
    case Kind::kCounter:
      out.type = KeySummary::Type::kCounter;
      out.count = x->counter->Value();
      break;
    case Kind::kList:
      out.type = KeySummary::Type::kList;
      out.count = static_cast<int64_t>(x->list->items.size());
      break;
    case Kind::kSet:
      out.type = KeySummary::Type::kSet;
      out.count = static_cast<int64_t>(x->set->elems.size());
      break;
  }
  out.revision = internal::MaxHlcOf(*e);
  return out;
}

}  // namespace kv::store
