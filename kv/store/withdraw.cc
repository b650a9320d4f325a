// Store: taking back this node's own application of a request id once an
// earlier application of the same id is known (RequestLog, "Two applications
// of one id"). The withdrawal is an ordinary local operation (an add of the
// opposite amount, the removal of the pushed item), so it replicates and
// merges like any other; only the node that made the application withdraws
// it, so it is withdrawn once.
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include "kv/store/entry.h"
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {

absl::StatusOr<Change<bool>> Store::Withdraw(const Withdrawal& w) {
  const Change<bool> nothing{false, std::nullopt};
  if (w.dot.node != node_) return nothing;
  if (w.pushed) {
    auto found = FindAs(w.key, Kind::kList);
    if (!found.ok() || *found == nullptr) return nothing;
    // Gone already (popped, deleted, cleared): nothing left to take back.
    if (!(*found)->extras->list->hlc_of.contains(w.dot)) return nothing;
    const Stamp stamp = NextStamp();
    const Dot dot = NextDot();
    KeyState ks;
    ks.key = w.key;
    ks.list = ListState{stamp, dot.seq, {}, {Removal{w.dot, dot}}};
    return Change<bool>{true, Emit(dot, std::move(ks))};
  }
  if (w.added == 0 || w.added == std::numeric_limits<int64_t>::min()) return nothing;
  auto found = FindAs(w.key, Kind::kCounter);
  if (!found.ok() || *found == nullptr) return nothing;
  // The add is still counted when this node's live contribution covers it: its
  // epoch began at or before the add, and no removal observed it since.
  const internal::CounterComp& cc = *(*found)->extras->counter;
  auto mine = cc.incs.find(node_);
  if (mine == cc.incs.end() || mine->second.base > w.dot.seq ||
      mine->second.seq < w.dot.seq ||
      !internal::CounterComp::Live(mine->second, cc.DelOf(node_))) {
    return nothing;
  }
  auto taken = AddAnyway(w.key, -w.added, std::nullopt);
  if (!taken.ok()) return taken.status();
  return Change<bool>{true, std::move(taken->event)};
}

}  // namespace kv::store
