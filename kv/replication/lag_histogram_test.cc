#include <cstdint>

#include "gtest/gtest.h"
#include "kv/replication/replica_stats.h"

namespace kv::replication {
namespace {

using LagHistogram = ReplicaStats::LagHistogram;

TEST(LagHistogram, QuantilesOfKnownSamples) {
  LagHistogram h;
  EXPECT_EQ(h.Quantile(0.5), 0u);  // empty
  for (uint64_t ms = 1; ms <= 100; ++ms) h.Add(ms);
  EXPECT_EQ(h.total, 100u);
  EXPECT_EQ(h.Quantile(0.5), 50u);
  EXPECT_EQ(h.Quantile(0.99), 99u);
  EXPECT_EQ(h.Quantile(1.0), 100u);
  EXPECT_EQ(h.max_ms, 100u);
}

TEST(LagHistogram, LongLagsShareTheLastBucket) {
  LagHistogram h;
  h.Add(5);
  h.Add(250000);
  EXPECT_EQ(h.Quantile(1.0), 1000u);  // ">= 1 s"
  EXPECT_EQ(h.max_ms, 250000u);
}

}  // namespace
}  // namespace kv::replication
