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

// The last millisecond a stamp can hold: 2^47 - 1 (the year 6429), so that every
// stamp stays below 2^63, far from wrapping.
inline constexpr int64_t kHlcMaxMillis = (int64_t{1} << 47) - 1;
// The highest stamp: NextHlc saturates there instead of wrapping.
inline constexpr uint64_t kMaxHlc =
    (static_cast<uint64_t>(kHlcMaxMillis) << kHlcLogicalBits) | 0xffff;

// The smallest stamp of millisecond `ms` (logical counter 0); `ms` is clamped to
// [0, kHlcMaxMillis].
inline constexpr uint64_t HlcFromMillis(int64_t ms) {
  return static_cast<uint64_t>(std::clamp<int64_t>(ms, 0, kHlcMaxMillis))
         << kHlcLogicalBits;
}

// The physical part of `hlc`, in Unix milliseconds.
inline constexpr int64_t HlcMillis(uint64_t hlc) {
  return static_cast<int64_t>(hlc >> kHlcLogicalBits);
}

// The stamp that follows `last` when the physical clock reads `now_ms`:
// max(HlcFromMillis(now_ms), last + 1), at most kMaxHlc. Above `last` unless
// `last` >= kMaxHlc. That cannot happen on a node: its stamp only grows by
// its own operations (one step each above the physical time, which stays
// below kHlcMaxMillis until the year 6429) and by peers' stamps, which a store
// refuses beyond HlcCeiling (Limits::max_clock_skew ahead of its clock); 2^62
// local operations would be needed to climb from there to kMaxHlc.
inline constexpr uint64_t NextHlc(uint64_t last, int64_t now_ms) {
  return last >= kMaxHlc ? kMaxHlc : std::max(last + 1, HlcFromMillis(now_ms));
}

// The highest stamp a peer's operation may carry when the local physical clock
// reads `now_ms` and peers' clocks may run at most `skew_ms` ahead: the last
// stamp of millisecond now_ms + skew_ms (at most kMaxHlc).
inline constexpr uint64_t HlcCeiling(int64_t now_ms, int64_t skew_ms) {
  const int64_t now = std::clamp<int64_t>(now_ms, 0, kHlcMaxMillis);
  const int64_t skew = std::clamp<int64_t>(skew_ms, 0, kHlcMaxMillis);
  return HlcFromMillis(now + skew) | 0xffff;
}

}  // namespace kv::store

#endif  // KV_STORE_HLC_H_
