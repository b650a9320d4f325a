// The memory limit across replicas: the node taking a write evicts (replicated
// deletes), every replica stays near the limit, and they converge.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/replication/replica.h"
#include "kv/replication/sim/simulation.h"
#include "kv/store/store.h"

namespace kv::replication {
namespace {

using sim::Simulation;
using sim::SimulationOptions;
using store::Store;

constexpr size_t kLimit = 256 * 1024;

SimulationOptions Options(uint64_t seed, store::Eviction eviction) {
  SimulationOptions o = sim::FastOptions(seed);
  o.replica.limits.max_memory_bytes = kLimit;
  o.replica.limits.eviction = eviction;
  return o;
}

::testing::AssertionResult Converged(Simulation& sim) {
  const std::string divergence = sim.Divergence();
  if (divergence.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << divergence;
}

// Writes three times the limit through all three nodes: every replica stays
// within the limit plus what the writes in flight and the tombstones awaiting
// collection take, keys are evicted, and the replicas end equal.
TEST(ReplicaEvict, ThreeTimesTheLimitStaysBoundedAndConverges) {
  Simulation sim(Options(1, store::Eviction::kAllKeysLru));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  const std::string value(200, 'v');
  size_t written = 0;
  size_t peak = 0;
  for (int i = 0; written < 3 * kLimit; ++i) {
    Replica& r = sim.replica(i % 3);
    auto c = r.Mutate(
        [&](Store& s) { return s.Set(absl::StrCat("key", i), value, std::nullopt); });
    ASSERT_TRUE(c.ok()) << c.status();
    written += value.size() + 10;
    if (i % 20 == 0) sim.RunFor(absl::Milliseconds(10));
    for (int n = 0; n < 3; ++n)
      peak = std::max(peak, sim.replica(n).stats().memory_bytes);
  }
  sim.RunFor(absl::Seconds(3));
  ASSERT_TRUE(Converged(sim));
  uint64_t evicted = 0;
  for (int n = 0; n < 3; ++n) {
    const ReplicaStats s = sim.replica(n).stats();
    evicted += s.evicted;
    EXPECT_LE(s.memory_bytes, kLimit) << n;
    EXPECT_GT(s.keys, 0u) << n;
  }
  EXPECT_GT(evicted, 0u);
  std::printf("limit %zu B, written %zu B, peak %zu B, evicted %llu keys\n", kLimit,
              written, peak, static_cast<unsigned long long>(evicted));
  // In flight: a node may apply its peers' writes before their evictions.
  EXPECT_LE(peak, kLimit + kLimit / 4) << "peak " << peak;
}

// noeviction: writes past the limit are refused on the node that takes them
// (507 in kvd); reads and deletes keep working; nothing is evicted.
TEST(ReplicaEvict, NoEvictionRefusesWritesPastTheLimit) {
  Simulation sim(Options(2, store::Eviction::kNoEviction));
  for (int i = 0; i < 2; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  const std::string value(200, 'v');
  absl::Status refused;
  int i = 0;
  for (; i < 10000 && refused.ok(); ++i) {
    auto c = sim.replica(0).Mutate(
        [&](Store& s) { return s.Set(absl::StrCat("key", i), value, std::nullopt); });
    if (!c.ok()) refused = c.status();
  }
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.GetPayload(store::kInsufficientStorage).has_value()) << refused;
  sim.RunFor(absl::Seconds(1));
  ASSERT_TRUE(Converged(sim));
  auto read = sim.replica(1).Read([](const Store& s) { return s.Get("key0"); });
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->has_value());
  EXPECT_TRUE(sim.replica(0).Mutate([](Store& s) { return s.Del("key0"); }).ok());
  for (int n = 0; n < 2; ++n) EXPECT_EQ(sim.replica(n).stats().evicted, 0u);
}

}  // namespace
}  // namespace kv::replication
