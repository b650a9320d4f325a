#include "kv/store/hlc.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace kv::store {
namespace {

TEST(Hlc, MillisRoundTrip) {
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{1700000000123}}) {
    EXPECT_EQ(HlcMillis(HlcFromMillis(ms)), ms);
  }
}

TEST(Hlc, PhysicalPartIsAboveSixteenLogicalBits) {
  EXPECT_EQ(HlcFromMillis(1), uint64_t{1} << 16);
  EXPECT_EQ(HlcFromMillis(1700000000000), uint64_t{1700000000000} << 16);
  // The logical counter does not change the physical part.
  EXPECT_EQ(HlcMillis(HlcFromMillis(42) + 0xffff), 42);
  EXPECT_EQ(HlcMillis(HlcFromMillis(42) + 0x10000), 43);
}

TEST(Hlc, NextFollowsThePhysicalClock) {
  const uint64_t last = HlcFromMillis(1000) + 5;
  EXPECT_EQ(NextHlc(last, 2000), HlcFromMillis(2000));
}

TEST(Hlc, NextCountsLogicallyWhenTheClockStandsStillOrGoesBack) {
  const uint64_t last = HlcFromMillis(1000) + 5;
  EXPECT_EQ(NextHlc(last, 1000), last + 1);
  EXPECT_EQ(NextHlc(last, 999), last + 1);
  EXPECT_EQ(NextHlc(0, 0), 1u);
}

TEST(Hlc, NextIsAlwaysAboveLast) {
  uint64_t hlc = 0;
  for (int64_t ms : {5, 5, 3, 9, 9, 1}) {
    const uint64_t next = NextHlc(hlc, ms);
    EXPECT_GT(next, hlc);
    hlc = next;
  }
  EXPECT_EQ(hlc, HlcFromMillis(9) + 2);
}

TEST(Hlc, NextSaturatesInsteadOfWrapping) {
  EXPECT_LT(kMaxHlc, uint64_t{1} << 63);
  EXPECT_EQ(NextHlc(kMaxHlc - 1, 0), kMaxHlc);
  EXPECT_EQ(NextHlc(kMaxHlc, 0), kMaxHlc);
  EXPECT_EQ(NextHlc(~uint64_t{0}, 1700000000000), kMaxHlc);
  EXPECT_EQ(HlcFromMillis(int64_t{1} << 60), HlcFromMillis(kHlcMaxMillis));
  EXPECT_EQ(HlcFromMillis(-5), 0u);
}

TEST(Hlc, CeilingIsTheLastStampOfNowPlusSkew) {
  EXPECT_EQ(HlcCeiling(1000, 60000), HlcFromMillis(61000) + 0xffff);
  EXPECT_EQ(HlcMillis(HlcCeiling(1000, 60000) + 1), 61001);
  // Saturates: an infinite skew never wraps.
  EXPECT_EQ(HlcCeiling(1700000000000, std::numeric_limits<int64_t>::max()), kMaxHlc);
}

}  // namespace
}  // namespace kv::store
