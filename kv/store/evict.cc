// The memory limit: Store::OverMemoryLimit, CheckMemory and Evict (see their
// contracts in store.h and docs/merge-rules.md, "Memory limit and eviction").
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "kv/store/entry.h"
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {
namespace {

using internal::Entry;

// Unmarked keys with a TTL compared by kVolatileTtl for each eviction.
constexpr int kTtlSample = 16;
// Keys one eviction looks at, at most.
constexpr size_t kMaxScan = 4096;

}  // namespace

size_t Store::MemoryBytes() const {
  // The ordered index: about 1.5 pointers per key in B-tree nodes.
  return memory_bytes_ + index_.size() * sizeof(Entry*) * 3 / 2;
}

bool Store::OverMemoryLimit(size_t slack) const {
  return limits_.max_memory_bytes > 0 && limits_.eviction != Eviction::kNoEviction &&
         MemoryBytes() > limits_.max_memory_bytes + slack;
}

absl::Status Store::CheckMemory(size_t adding) const {
  if (limits_.max_memory_bytes == 0 || limits_.eviction != Eviction::kNoEviction ||
      MemoryBytes() + adding < limits_.max_memory_bytes) {
    return absl::OkStatus();
  }
  absl::Status s = absl::ResourceExhaustedError(absl::StrCat(
      "the store holds ", MemoryBytes(), " bytes, its memory limit is ",
      limits_.max_memory_bytes, " bytes (--max_memory, --eviction=noeviction): ",
      "delete keys or raise the limit; reads and deletes still work"));
  s.SetPayload(kInsufficientStorage, absl::Cord("507"));
  return s;
}

absl::StatusOr<Change<bool>> Store::Evict() {
  const bool volatile_ttl = limits_.eviction == Eviction::kVolatileTtl;
  const int64_t now_ms = internal::ToMillis(clock_->Now());
  // Two rounds at most (the first may only unmark), and at most kMaxScan keys:
  // past them the first candidate passed is taken, marked or not, so that one
  // write never scans a large store (mostly tombstones, or few keys with a TTL).
  const size_t steps = std::min(2 * index_.size(), kMaxScan);
  auto it = index_.upper_bound(clock_hand_);
  Entry* chosen = nullptr;
  Entry* passed = nullptr;  // the first candidate the hand unmarked
  int sampled = 0;
  for (size_t step = 0; step < steps; ++step, ++it) {
    if (it == index_.end()) it = index_.begin();
    Entry* e = *it;
    if (VisibleAt(e, now_ms) == Kind::kNone) continue;
    const bool has_ttl = e->KeyExpiry() != 0;
    if (volatile_ttl && !has_ttl) continue;
    if (e->flags & Entry::kReferenced) {
      if (passed == nullptr) passed = e;
      e->flags &= ~Entry::kReferenced;
      continue;
    }
    if (!volatile_ttl) {
      chosen = e;
      break;
    }
    if (chosen == nullptr || e->KeyExpiry() < chosen->KeyExpiry()) chosen = e;
    if (++sampled == kTtlSample) break;
  }
  if (chosen == nullptr) chosen = passed;
  if (chosen == nullptr) {
    return absl::NotFoundError(volatile_ttl ? "no key with a TTL to evict"
                                            : "no key to evict");
  }
  clock_hand_.assign(chosen->key().data(), chosen->key().size());
  absl::StatusOr<Change<bool>> change = Del(clock_hand_);
  if (change.ok() && change->result) ++evicted_;
  return change;
}

}  // namespace kv::store
