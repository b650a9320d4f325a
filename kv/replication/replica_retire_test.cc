// Origin retirement over the simulated network (docs/replication.md, "Retired
// origins"): node ids are new for every process, so restarts must not grow
// every vector for good, and retiring must never bring a delete back or lose a
// write of an origin that was not gone.
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/match.h"
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

// Heartbeats list every retired origin: room for 1,000 of them.
SimulationOptions Options(uint64_t seed) {
  SimulationOptions o = sim::FastOptions(seed);
  o.max_payload = 64 * 1024;
  return o;
}

::testing::AssertionResult Converged(Simulation& sim) {
  const std::string divergence = sim.Divergence();
  if (divergence.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << divergence;
}

bool Set(Replica& r, const std::string& key, const std::string& value) {
  return r.Mutate([&](Store& s) { return s.Set(key, value, std::nullopt); }).ok();
}

bool Del(Replica& r, const std::string& key) {
  return r.Mutate([&](Store& s) { return s.Del(key); }).ok();
}

bool Exists(Replica& r, const std::string& key) {
  auto e = r.Read([&](const Store& s) { return s.Exists(key); });
  return e.ok() && *e;
}

// Node ids are new for every process: a node restarted again and again (each
// process writing) leaves vectors that name the live nodes only, on every
// replica, and the data of every process stays.
TEST(ReplicaRetire, RestartedManyTimesLeavesAVectorOfTheLiveNodes) {
  constexpr int kRestarts = 1000;
  Simulation sim(Options(1));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  for (int i = 0; i < kRestarts; ++i) {
    sim.Restart(2);
    ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << i << "\n" << sim.Describe();
    ASSERT_TRUE(Set(sim.replica(2), absl::StrCat("k", i), "v"));
    ASSERT_TRUE(Set(sim.replica(i % 2), absl::StrCat("k", i), "w"));  // overwrite some
    sim.RunFor(absl::Milliseconds(100));
  }
  sim.RunFor(absl::Seconds(2));  // a few collections
  ASSERT_TRUE(Converged(sim));
  for (int i = 0; i < 3; ++i) {
    const ReplicaStats s = sim.replica(i).stats();
    // Every origin a vector names is a live node (the last process of node 2 may
    // have written nothing yet, so at most 3).
    EXPECT_LE(s.vv.size(), 3u) << i;
    for (const auto& [origin, seq] : s.vv) {
      EXPECT_TRUE(origin == sim.replica(0).node() || origin == sim.replica(1).node() ||
                  origin == sim.replica(2).node())
          << i << ": " << std::hex << origin;
    }
    EXPECT_LE(s.retired_origins, Store::kMaxRetired) << i;
    EXPECT_GE(s.retired_origins, static_cast<size_t>(kRestarts) - 1) << i;
  }
  for (int i = 0; i < kRestarts; ++i) {
    ASSERT_TRUE(Exists(sim.replica(0), absl::StrCat("k", i))) << i;
  }
}

// A node killed without a goodbye is waited for until forgotten, then retired.
TEST(ReplicaRetire, KilledNodeIsRetiredOnceForgotten) {
  Simulation sim(Options(2));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  ASSERT_TRUE(Set(sim.replica(2), "from-2", "v"));
  sim.RunFor(absl::Milliseconds(300));
  const store::NodeId killed = sim.replica(2).node();
  sim.Kill(2);
  sim.RunFor(absl::Seconds(3));  // less than forget_after (5 s)
  for (int i : {0, 1}) EXPECT_EQ(sim.replica(i).stats().vv.count(killed), 1u) << i;
  sim.RunFor(absl::Seconds(4));
  ASSERT_TRUE(Converged(sim));
  for (int i : {0, 1}) {
    EXPECT_EQ(sim.replica(i).stats().vv.count(killed), 0u) << i;
    EXPECT_EQ(sim.replica(i).stats().origins_retired, 1u) << i;
    EXPECT_TRUE(Exists(sim.replica(i), "from-2")) << i;
  }
}

// A node cut off for longer than forget_after retires the others' origins (it
// cannot tell them from dead ones) and they retire its own. When the partition
// heals, the others' vectors show their origins were not gone: they come back
// on the cut-off node, which then finds itself stale (the others collected
// deletes it never applied) and rejoins; the deletes stay deleted.
TEST(ReplicaRetire, OriginsThatComeBackAreUnretiredAndDeletesHold) {
  Simulation sim(Options(3));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("k", k), "v"));
  }
  ASSERT_TRUE(Set(sim.replica(2), "before", "v"));
  sim.RunFor(absl::Milliseconds(500));
  ASSERT_TRUE(Exists(sim.replica(2), "k0"));
  ASSERT_TRUE(Exists(sim.replica(0), "before"));
  sim.Partition(2, 0);
  sim.Partition(2, 1);
  for (int k = 0; k < 10; ++k) ASSERT_TRUE(Del(sim.replica(0), absl::StrCat("k", k)));
  ASSERT_TRUE(Set(sim.replica(1), "majority", "v"));
  sim.RunFor(absl::Seconds(8));  // forget_after, then collections on both sides
  EXPECT_GE(sim.replica(0).stats().origins_retired, 1u) << sim.Describe();
  EXPECT_GE(sim.replica(2).stats().origins_retired, 1u) << sim.Describe();
  sim.HealAll();
  for (int step = 0; step < 40; ++step) {
    sim.RunFor(absl::Milliseconds(100));
    for (int i = 0; i < 3; ++i) {
      // The cut-off node shows what it held until it finds itself stale.
      if (!sim.replica(i).ready() ||
          (i == 2 && sim.replica(2).stats().stale_resets == 0)) {
        continue;
      }
      for (int k = 0; k < 10; ++k) {
        ASSERT_FALSE(Exists(sim.replica(i), absl::StrCat("k", k)))
            << "node " << i << " shows deleted k" << k << "\n"
            << sim.Describe();
      }
    }
  }
  ASSERT_TRUE(Converged(sim));
  EXPECT_EQ(sim.replica(2).stats().stale_resets, 1u) << sim.Describe();
  EXPECT_GE(sim.replica(2).stats().origins_unretired, 1u) << sim.Describe();
  EXPECT_TRUE(Exists(sim.replica(2), "majority"));
  EXPECT_TRUE(Exists(sim.replica(2), "before"));
}

}  // namespace
}  // namespace kv::replication
