// Warm restarts over the simulated network (docs/replication.md, "Warm
// restarts"): a replica restored from a snapshot file merges with its peers
// (keeping what only it held), unless the peers collected what the snapshot
// lacks, in which case it discards it and joins as a new replica.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/replication/replica.h"
#include "kv/replication/sim/simulation.h"
#include "kv/snapshot/snapshot.h"
#include "kv/store/store.h"

namespace kv::snapshot {
namespace {

using replication::Replica;
using replication::sim::Simulation;
using replication::sim::SimulationOptions;
using store::Store;
using Restore = std::function<std::unique_ptr<Store>(store::NodeId)>;

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
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

// Saves node `i`'s replica to `path` (as kvd does) and returns what loads it.
Restore SaveNode(Simulation& sim, int i, const std::string& path) {
  Replica& r = sim.replica(i);
  auto saved = Save(path, [&r](const std::function<void(const Store&)>& f) {
    r.Read([&](const Store& s) { f(s); });
    return absl::OkStatus();
  });
  EXPECT_TRUE(saved.ok()) << saved.status();
  store::Clock* clock = sim.network().clock();
  const store::Limits limits = sim.replica(i).limits();
  return [path, clock, limits](store::NodeId node) -> std::unique_ptr<Store> {
    auto loaded = Load(path, node, clock, limits);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded.ok() ? std::move(loaded->store) : nullptr;
  };
}

SimulationOptions Options(uint64_t seed) {
  SimulationOptions o = replication::sim::FastOptions(seed);
  o.max_payload = 64 * 1024;
  return o;
}

// Every node stopped (each saved at stop) and started again from its file: the
// data is there, on every node, and they converge.
TEST(WarmRestart, EveryNodeStoppedAndStartedAgainKeepsTheData) {
  Simulation sim(Options(1));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  for (int k = 0; k < 50; ++k) {
    ASSERT_TRUE(Set(sim.replica(k % 3), absl::StrCat("k", k), "v"));
  }
  sim.RunFor(absl::Milliseconds(300));
  ASSERT_TRUE(Del(sim.replica(0), "k7"));
  sim.RunFor(absl::Seconds(1));
  ASSERT_TRUE(Converged(sim));
  Restore restore[3];
  for (int i = 0; i < 3; ++i) {
    sim.Stop(i);
    restore[i] = SaveNode(sim, i, TempPath(absl::StrCat("all", i, ".snap")));
  }
  for (int i = 0; i < 3; ++i) sim.Restart(i, restore[i]);
  // Not ready until caught up or alone: 503 meanwhile.
  EXPECT_FALSE(sim.replica(0).ready());
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << sim.Describe();
  sim.RunFor(absl::Seconds(2));
  ASSERT_TRUE(Converged(sim));
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 50; ++k) {
      EXPECT_EQ(Exists(sim.replica(i), absl::StrCat("k", k)), k != 7) << i << " k" << k;
    }
    EXPECT_EQ(sim.replica(i).stats().stale_resets, 0u) << i;
    EXPECT_FALSE(absl::StrContains(sim.Log(i), "snapshot stale")) << sim.Log(i);
  }
}

// A node restored from an older state merges: it catches up what it missed and
// keeps the writes only it held (a copy would lose them).
TEST(WarmRestart, RestoredNodeMergesWithItsPeers) {
  SimulationOptions o = Options(2);
  o.replica.gc_interval = absl::Seconds(30);  // no collection meanwhile
  Simulation sim(o);
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  ASSERT_TRUE(Set(sim.replica(0), "before", "v"));
  sim.RunFor(absl::Milliseconds(300));
  // Node 2 is cut off, writes what nobody else sees, is saved and stops.
  sim.Partition(2, 0);
  sim.Partition(2, 1);
  ASSERT_TRUE(Set(sim.replica(2), "only-on-2", "v"));
  sim.RunFor(absl::Milliseconds(100));
  const store::NodeId old_id = sim.replica(2).node();
  Restore restore = SaveNode(sim, 2, TempPath("merge.snap"));
  sim.Stop(2);
  ASSERT_TRUE(Set(sim.replica(0), "after", "v"));  // missed by the snapshot
  ASSERT_TRUE(Del(sim.replica(1), "before"));
  sim.HealAll();
  sim.RunFor(absl::Milliseconds(300));
  sim.Restart(2, restore);
  EXPECT_NE(sim.replica(2).node(), old_id);  // node ids are never reused
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << sim.Describe();
  sim.RunFor(absl::Seconds(2));
  ASSERT_TRUE(Converged(sim));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Exists(sim.replica(i), "only-on-2")) << i << "\n" << sim.Describe();
    EXPECT_TRUE(Exists(sim.replica(i), "after")) << i;
    EXPECT_FALSE(Exists(sim.replica(i), "before")) << i;
  }
  EXPECT_TRUE(absl::StrContains(sim.Log(2), "merged the snapshot")) << sim.Log(2);
  EXPECT_EQ(sim.replica(2).stats().stale_resets, 0u);
}

// A node whose snapshot is older than what its peers collected (they deleted
// and collected meanwhile) discards it and joins as a new replica: the deletes
// hold.
TEST(WarmRestart, StaleSnapshotIsDiscarded) {
  Simulation sim(Options(3));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("k", k), "v"));
  }
  sim.RunFor(absl::Milliseconds(500));
  sim.Stop(2);  // says goodbye: the others collect without it
  Restore restore = SaveNode(sim, 2, TempPath("stale.snap"));
  for (int k = 0; k < 10; ++k) ASSERT_TRUE(Del(sim.replica(0), absl::StrCat("k", k)));
  ASSERT_TRUE(Set(sim.replica(1), "later", "v"));
  sim.RunFor(absl::Seconds(2));  // several collections
  sim.Restart(2, restore);
  for (int step = 0; step < 50; ++step) {
    sim.RunFor(absl::Milliseconds(100));
    if (!sim.replica(2).ready()) continue;
    for (int k = 0; k < 10; ++k) {
      ASSERT_FALSE(Exists(sim.replica(2), absl::StrCat("k", k))) << sim.Describe();
    }
  }
  ASSERT_TRUE(Converged(sim));
  EXPECT_TRUE(Exists(sim.replica(2), "later"));
  EXPECT_TRUE(absl::StrContains(sim.Log(2), "snapshot stale")) << sim.Log(2);
  for (int i = 0; i < 2; ++i) {
    for (int k = 0; k < 10; ++k)
      EXPECT_FALSE(Exists(sim.replica(i), absl::StrCat("k", k)));
  }
}

// A node alone with its snapshot (no peer answers) serves it once the
// first-replica silence is over, and merges with a peer that turns up later.
TEST(WarmRestart, AloneServesItsSnapshotAfterTheSilence) {
  Simulation sim(Options(4));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  ASSERT_TRUE(Set(sim.replica(0), "kept", "v"));
  sim.Stop(0);
  Restore restore = SaveNode(sim, 0, TempPath("alone.snap"));
  sim.Restart(0, restore);
  sim.RunFor(absl::Milliseconds(200));  // under the 300 ms silence
  EXPECT_FALSE(sim.replica(0).ready());
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  EXPECT_TRUE(Exists(sim.replica(0), "kept"));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(3))) << sim.Describe();
  sim.RunFor(absl::Seconds(1));
  ASSERT_TRUE(Converged(sim));
  EXPECT_TRUE(Exists(sim.replica(1), "kept"));
}

}  // namespace
}  // namespace kv::snapshot
