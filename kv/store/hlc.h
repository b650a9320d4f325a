// Hybrid-logical-clock stamps: the `hlc` of a Stamp (state.h).
//
// A stamp is the physical time in Unix milliseconds shifted left by 16 bits, plus a
// 16-bit logical counter in the low bits. A node's next stamp is the larger of the
// current physical time and its last stamp (made or received) plus one, so stamps
// grow on every node even when its wall clock goes back, and they stay close to
// wall-clock time while the clocks of the replicas roughly agree.
#ifndef KV_STORE_HLC_H_
#define KV_STORE_HLC_H_

#include <algorithm>
#include <cstdint>

namespace kv::store {

// Bits of the logical counter below the physical milliseconds.
inline constexpr int kHlcLogicalBits = 16;

// The smallest stamp of millisecond `ms` (logical counter 0).
// REQUIRES: 0 <= ms < 2^48.
inline constexpr uint64_t HlcFromMillis(int64_t ms) {
  return static_cast<uint64_t>(ms) << kHlcLogicalBits;
}

// The physical part of `hlc`, in Unix milliseconds.
inline constexpr int64_t HlcMillis(uint64_t hlc) {
  return static_cast<int64_t>(hlc >> kHlcLogicalBits);
}

// The stamp that follows `last` when the physical clock reads `now_ms`:
// max(HlcFromMillis(now_ms), last + 1). Always above `last`.
inline constexpr uint64_t NextHlc(uint64_t last, int64_t now_ms) {
  return std::max(last + 1, HlcFromMillis(now_ms));
}

}  // namespace kv::store

#endif  // KV_STORE_HLC_H_
