#include "micro/histogram.h"

#include "gtest/gtest.h"

namespace micro {
namespace {

TEST(LatencyHistogram, BoundsAscend) {
  for (size_t i = 1; i < LatencyHistogram::kBounds; ++i) {
    EXPECT_LT(LatencyHistogram::kBoundsNs[i - 1], LatencyHistogram::kBoundsNs[i]);
  }
}

TEST(LatencyHistogram, ABoundBelongsToItsBucket) {
  LatencyHistogram h;
  h.Add(0);          // bucket 0 (<= 50us)
  h.Add(50'000);     // bucket 0, on the bound
  h.Add(50'001);     // bucket 1
  h.Add(1'000'000);  // 1ms: bucket 4
  h.Add(-5);         // as 0
  EXPECT_EQ(h.counts()[0], 3u);
  EXPECT_EQ(h.counts()[1], 1u);
  EXPECT_EQ(h.counts()[4], 1u);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.sum_ns(), 0 + 50'000 + 50'001 + 1'000'000);
}

TEST(LatencyHistogram, AboveTheLastBoundGoesToTheLastBucket) {
  LatencyHistogram h;
  h.Add(10'000'000'000);  // 10s: the last bound
  h.Add(60'000'000'000);  // a minute
  EXPECT_EQ(h.counts()[LatencyHistogram::kBounds - 1], 1u);
  EXPECT_EQ(h.counts()[LatencyHistogram::kBounds], 1u);
}

}  // namespace
}  // namespace micro
