// Replicas of one link in one process over the simulated network
// (sim::Simulation): joins, lost messages, pauses, restarts, partitions, GC and
// random schedules, each checked for convergence: every replica ready, with
// the same vector, digest and key states, and no acknowledged increment lost.
//
// Random schedules print their seed on failure; KV_SIM_SEED=<n> replays one,
// KV_SIM_SEEDS=<count> runs more (or fewer) than the default.
#include "kv/replication/replica.h"

#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/codec/binary.h"
#include "kv/replication/sim/simulation.h"
#include "kv/store/store.h"

namespace kv::replication {
namespace {

using sim::Simulation;
using sim::SimulationOptions;
using store::Store;

std::string Hex(store::NodeId node) { return absl::StrFormat("%016x", node); }

// Timings scaled down ten times from the defaults; 6 KiB payloads, so that
// catch-ups come in many chunks.
SimulationOptions Options(uint64_t seed) {
  SimulationOptions o;
  o.seed = seed;
  o.max_payload = 6 * 1024;
  o.replica.heartbeat = absl::Milliseconds(100);
  o.replica.sync_timeout = absl::Milliseconds(500);
  o.replica.join_timeout = absl::Milliseconds(200);
  o.replica.divergence_grace = absl::Seconds(1);
  o.replica.gap_grace = absl::Milliseconds(10);
  o.replica.gc_interval = absl::Milliseconds(300);
  o.replica.forget_after = absl::Seconds(5);
  o.replica.limits.max_value_bytes = 1024;
  return o;
}

// Every node ready, with equal vectors, digests and key states.
::testing::AssertionResult Converged(Simulation& sim) {
  std::string first;
  for (size_t i = 0; i < sim.size(); ++i) {
    Replica& r = sim.replica(static_cast<int>(i));
    if (!r.ready()) {
      return ::testing::AssertionFailure() << "node " << i << " not ready\n"
                                           << sim.Describe();
    }
    const std::string state = sim::StateText(r);
    if (i == 0) {
      first = state;
    } else if (state != first) {
      return ::testing::AssertionFailure()
             << "node " << i << " differs from node 0\n--- node 0:\n"
             << first << "--- node " << i << ":\n"
             << state << sim.Describe();
    }
  }
  if (sim.network().oversized() > 0) {
    return ::testing::AssertionFailure()
           << sim.network().oversized() << " messages above the max payload";
  }
  return ::testing::AssertionSuccess();
}

std::optional<std::string> Get(Replica& r, const std::string& key) {
  auto v = r.Read([&](const Store& s) { return s.Get(key); });
  return v.ok() ? *v : std::nullopt;
}

bool Set(Replica& r, const std::string& key, const std::string& value,
         std::optional<absl::Duration> ttl = std::nullopt) {
  return r.Mutate([&](Store& s) { return s.Set(key, value, ttl); }).ok();
}

// ---------------------------------------------------------------------------
// Joining.

TEST(Replica, FirstNodeIsReadyAloneAndJoinersLearnTheirPeer) {
  Simulation sim(Options(1));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  EXPECT_TRUE(absl::StrContains(sim.Log(0), "ready: no peer answers, first replica"))
      << sim.Log(0);
  ASSERT_TRUE(Set(sim.replica(0), "k", "v"));
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  for (int i : {1, 2}) {
    EXPECT_TRUE(absl::StrContains(sim.Log(i), "ready: caught up with ")) << sim.Log(i);
    EXPECT_FALSE(absl::StrContains(sim.Log(i), "0000000000000000")) << sim.Log(i);
  }
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
  EXPECT_EQ(Get(sim.replica(2), "k"), "v");
  EXPECT_EQ(sim.replica(2).stats().peers, 2u);
}

TEST(Replica, StandaloneIsReadyAndSilent) {
  SimulationOptions o = Options(1);
  o.replica.enabled = false;
  Simulation sim(o);
  sim.AddNode();
  sim.AddNode();
  EXPECT_TRUE(sim.replica(0).ready());
  ASSERT_TRUE(Set(sim.replica(0), "k", "v"));
  sim.RunFor(absl::Seconds(1));
  EXPECT_EQ(sim.network().delivered(), 0u);
  EXPECT_EQ(Get(sim.replica(1), "k"), std::nullopt);
}

TEST(Replica, JoinWithDataComesInChunksUnderTheMaxPayload) {
  Simulation sim(Options(2));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  for (int i = 0; i < 400; ++i) {
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("key-", i), std::string(200, 'x')));
  }
  // One key larger than a chunk: split into partial states.
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(sim.replica(0)
                    .Mutate([&](Store& s) {
                      return s.Push("big", absl::StrCat(i, std::string(100, 'y')));
                    })
                    .ok());
  }
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  const std::string log = sim.Log(1);
  const std::string peer = Hex(sim.replica(0).node());
  EXPECT_TRUE(absl::StrContains(
      log, absl::StrCat("ready: caught up with ", peer, " (401 keys, ")))
      << log;
  EXPECT_TRUE(absl::StrContains(sim.Log(0), "401 keys in ")) << sim.Log(0);
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
}

// A joiner answers nothing before its catch-up arrived, even while events
// (which reveal "gaps" in its empty vector) keep coming.
TEST(Replica, JoinerIsNotReadyBeforeCatchingUpUnderWrites) {
  Simulation sim(Options(3));
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(Set(sim.replica(i % 2), absl::StrCat("pre-", i), "v"));
  }
  for (int join = 0; join < 5; ++join) {
    const int j = sim.AddNode();
    bool ready = false;
    for (int step = 0; step < 300 && !ready; ++step) {
      for (int w = 0; w < 3; ++w) {
        const int on = static_cast<int>(rng() % 2);
        ASSERT_TRUE(
            sim.replica(on)
                .Mutate([&](Store& s) { return s.Add(absl::StrCat("c", rng() % 8), 1); })
                .ok());
      }
      sim.RunFor(absl::Milliseconds(5));
      ready = sim.replica(j).ready();
    }
    ASSERT_TRUE(ready) << sim.Describe();
    EXPECT_TRUE(absl::StrContains(sim.Log(j), "ready: caught up with")) << sim.Log(j);
    sim.Pause(j);  // out of the way: a paused node is not asked to write
  }
  for (int j = 2; j < 7; ++j) sim.Resume(j);
  sim.RunFor(absl::Seconds(3));
  EXPECT_TRUE(Converged(sim));
}

TEST(Replica, JoinRetriesUntilAPeerAnswers) {
  Simulation sim(Options(4));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  ASSERT_TRUE(Set(sim.replica(0), "k", "v"));
  sim.AddNode();
  sim.Partition(0, 1);  // the ready peer takes the request but cannot answer
  sim.RunFor(absl::Seconds(1));
  EXPECT_FALSE(sim.replica(1).ready());
  EXPECT_TRUE(absl::StrContains(sim.Log(1), "join attempt 1 failed (Timeout); retrying"))
      << sim.Log(1);
  // The next attempt a join_timeout after the last one failed.
  EXPECT_TRUE(absl::StrContains(sim.Log(1), "join attempt 2 failed")) << sim.Log(1);
  sim.HealAll();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1))) << sim.Describe();
  EXPECT_EQ(Get(sim.replica(1), "k"), "v");
}

TEST(Replica, LostChunkFailsTheJoinAttemptAndTheNextOneSucceeds) {
  Simulation sim(Options(5));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("key-", i), std::string(200, 'x')));
  }
  bool dropped = false;
  sim.network().set_filter([&](const sim::Envelope& e) {
    if (dropped || e.to_host != 1 || !absl::StartsWith(e.subject, "_INBOX.")) {
      return false;
    }
    auto chunk = codec::DecodeDeltaChunk(e.data);
    if (!chunk.ok() || chunk->part != 1) return false;
    dropped = true;
    return true;
  });
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  EXPECT_TRUE(dropped);
  EXPECT_TRUE(absl::StrContains(sim.Log(1), "ended: lost 1 chunks")) << sim.Log(1);
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
}

// ---------------------------------------------------------------------------
// Lost events.

// Gap tests: a 50 ms grace, ticks every 5 ms and heartbeats too rare to help.
SimulationOptions GapOptions(uint64_t seed) {
  SimulationOptions o = Options(seed);
  o.replica.gap_grace = absl::Milliseconds(50);
  o.replica.heartbeat = absl::Seconds(1);
  o.max_tick_interval = absl::Milliseconds(5);
  return o;
}

TEST(Replica, LostEventIsRecoveredThroughTheGapAfterTheGrace) {
  Simulation sim(GapOptions(6));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  sim.RunFor(absl::Milliseconds(100));
  const ReplicaStats before = sim.replica(2).stats();
  bool drop = true;
  sim.network().set_filter([&](const sim::Envelope& e) {
    return drop && e.to_host == 2 && absl::EndsWith(e.subject, ".events");
  });
  ASSERT_TRUE(Set(sim.replica(0), "a", "1"));
  sim.RunFor(absl::Milliseconds(20));
  drop = false;
  ASSERT_TRUE(Set(sim.replica(0), "b", "2"));
  sim.RunFor(absl::Milliseconds(30));  // the gap is seen, the grace not over
  EXPECT_EQ(sim.replica(2).stats().catchups, before.catchups);
  EXPECT_EQ(Get(sim.replica(2), "a"), std::nullopt);
  sim.RunFor(absl::Milliseconds(50));  // grace over; still no heartbeat
  const ReplicaStats s = sim.replica(2).stats();
  EXPECT_EQ(s.gaps, before.gaps + 1);
  EXPECT_EQ(s.catchups, before.catchups + 1);
  EXPECT_EQ(Get(sim.replica(2), "a"), "1");
  sim.RunFor(absl::Seconds(2));
  EXPECT_TRUE(Converged(sim));
}

// Events of one origin may come out of order (a node publishes each on the
// connection of its request's reply): a gap that closes within the grace
// costs no catch-up.
TEST(Replica, ReorderedEventWithinTheGraceStartsNoCatchUp) {
  Simulation sim(GapOptions(16));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  sim.RunFor(absl::Milliseconds(100));
  const ReplicaStats before = sim.replica(2).stats();
  std::string held;  // the first event to node 2, delivered late below
  sim.network().set_filter([&](const sim::Envelope& e) {
    if (!held.empty() || e.to_host != 2 || !absl::EndsWith(e.subject, ".events")) {
      return false;
    }
    held = e.data;
    return true;
  });
  ASSERT_TRUE(Set(sim.replica(0), "a", "1"));
  ASSERT_TRUE(Set(sim.replica(0), "b", "2"));
  sim.RunFor(absl::Milliseconds(20));
  ASSERT_FALSE(held.empty());
  EXPECT_EQ(Get(sim.replica(2), "b"), "2");  // applied past the gap
  // The held event arrives, as if on node 0's other connection.
  std::unique_ptr<Bus> other = sim.network().Connect(0);
  ASSERT_TRUE(other->Publish("_kv.default.events", "", held).ok());
  sim.RunFor(absl::Milliseconds(200));
  const ReplicaStats s = sim.replica(2).stats();
  EXPECT_EQ(s.gaps, before.gaps);
  EXPECT_EQ(s.catchups, before.catchups);
  EXPECT_EQ(Get(sim.replica(2), "a"), "1");
  EXPECT_TRUE(Converged(sim));
}

// The sim delivers a message by calling its handler: nothing received waits.
TEST(Replica, AwaitEventsReceivedReturnsAtOnceInTheSimulation) {
  Simulation sim(Options(17));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  EXPECT_TRUE(sim.replica(0).AwaitEventsReceived(absl::ZeroDuration()));
}

// A position is awaited until the vector covers it; an unknown one times out.
TEST(Replica, AwaitAppliedWaitsForThePosition) {
  Simulation sim(Options(18));
  for (int i = 0; i < 2; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  MutationContext context;
  ASSERT_TRUE(
      sim.replica(0)
          .Mutate([](Store& s) { return s.Set("k", "v", std::nullopt); }, &context)
          .ok());
  ASSERT_TRUE(context.dot.has_value());
  EXPECT_EQ(context.dot->node, sim.replica(0).node());
  const store::VersionVector position = {{context.dot->node, context.dot->seq}};
  EXPECT_TRUE(sim.replica(0).AwaitApplied(position, absl::ZeroDuration()));
  EXPECT_FALSE(sim.replica(1).AwaitApplied(position, absl::Milliseconds(1)));
  sim.RunFor(absl::Milliseconds(20));
  EXPECT_TRUE(sim.replica(1).AwaitApplied(position, absl::ZeroDuration()));
  // An origin nobody heard of fails at once (no wait of the caller).
  EXPECT_FALSE(sim.replica(1).AwaitApplied({{12345, 1}}, absl::Hours(1)));
}

// A mutation's event goes out through the context's publisher, not the bus.
TEST(Replica, MutationEventLeavesThroughTheContextPublisher) {
  Simulation sim(Options(19));
  for (int i = 0; i < 2; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  std::unique_ptr<Bus> reply_connection = sim.network().Connect(0);
  std::vector<std::string> subjects;
  MutationContext context;
  context.publish = [&](absl::string_view subject, absl::string_view data) {
    subjects.emplace_back(subject);
    return reply_connection->Publish(subject, "", data);
  };
  ASSERT_TRUE(
      sim.replica(0)
          .Mutate([](Store& s) { return s.Set("k", "v", std::nullopt); }, &context)
          .ok());
  EXPECT_EQ(subjects, std::vector<std::string>{"_kv.default.events"});
  sim.RunFor(absl::Milliseconds(20));
  EXPECT_EQ(Get(sim.replica(1), "k"), "v");
}

TEST(Replica, LostTailIsRecoveredByHeartbeats) {
  Simulation sim(Options(7));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  sim.RunFor(absl::Seconds(1));
  const ReplicaStats before = sim.replica(2).stats();
  sim.network().set_filter([&](const sim::Envelope& e) {
    return e.to_host == 2 && absl::EndsWith(e.subject, ".events");
  });
  ASSERT_TRUE(Set(sim.replica(0), "tail", "last"));
  sim.RunFor(absl::Milliseconds(50));
  EXPECT_EQ(Get(sim.replica(2), "tail"), std::nullopt);
  sim.RunFor(absl::Milliseconds(500));  // a few heartbeats
  const ReplicaStats after = sim.replica(2).stats();
  EXPECT_EQ(after.gaps, before.gaps);
  EXPECT_EQ(after.events_in, before.events_in);
  EXPECT_EQ(after.catchups, before.catchups + 1);
  EXPECT_EQ(Get(sim.replica(2), "tail"), "last");
  EXPECT_TRUE(Converged(sim));
}

// kvd's --test_drop_events: received events dropped at random.
TEST(Replica, DroppedEventsOptionIsRecoveredFrom) {
  SimulationOptions o = Options(14);
  o.replica.drop_events = 0.3;
  Simulation sim(o);
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(Set(sim.replica(i % 3), absl::StrCat("k", i % 50), absl::StrCat(i)));
    sim.RunFor(absl::Milliseconds(2));
  }
  sim.RunFor(absl::Seconds(2));
  EXPECT_TRUE(Converged(sim));
  uint64_t gaps = 0;
  for (int i = 0; i < 3; ++i) gaps += sim.replica(i).stats().gaps;
  EXPECT_GT(gaps, 0u);
}

// ---------------------------------------------------------------------------
// Pauses, restarts, partitions.

// Random mutations on the ready, running nodes of `sim`.
class Workload {
 public:
  explicit Workload(uint64_t seed) : rng_(seed) {}

  // One random operation on a random ready, running node (none when there is
  // no such node).
  void Step(Simulation& sim);
  // Keys with adds acknowledged by nodes restarted since are left out (a
  // killed process may take unreplicated writes with it), as are keys a del
  // touched.
  void Restarted(int node) {
    for (const std::string& k : acked_by_[node]) tainted_.insert(k);
    acked_by_[node].clear();
  }
  // Every counter equals the sum of its acknowledged adds on every node.
  ::testing::AssertionResult CountersHold(Simulation& sim) const;
  uint64_t ops() const { return ops_; }

 private:
  uint64_t Below(uint64_t n) { return rng_() % n; }

  std::mt19937_64 rng_;
  std::map<std::string, int64_t> acked_;
  std::map<int, std::set<std::string>> acked_by_;
  std::set<std::string> tainted_;
  uint64_t ops_ = 0;
};

void Workload::Step(Simulation& sim) {
  std::vector<int> up;
  for (size_t i = 0; i < sim.size(); ++i) {
    if (sim.replica(static_cast<int>(i)).ready() && !sim.Paused(static_cast<int>(i))) {
      up.push_back(static_cast<int>(i));
    }
  }
  if (up.empty()) return;
  const int node = up[Below(up.size())];
  Replica& r = sim.replica(node);
  const std::string n = absl::StrCat(Below(4));
  const std::string value = absl::StrCat("v", Below(1000));
  ++ops_;
  switch (Below(10)) {
    case 0: {
      std::optional<absl::Duration> ttl;
      if (Below(3) == 0) ttl = absl::Milliseconds(50 + Below(2000));
      (void)r.Mutate([&](Store& s) { return s.Set("r" + n, value, ttl); });
      break;
    }
    case 1: {
      const std::string key = std::string(1, "rcls"[Below(4)]) + n;
      if (r.Mutate([&](Store& s) { return s.Del(key); }).ok() && key[0] == 'c') {
        tainted_.insert(key);
      }
      break;
    }
    case 2:
    case 3: {
      const int64_t delta = static_cast<int64_t>(Below(19)) - 9;
      if (delta == 0) break;
      if (r.Mutate([&](Store& s) { return s.Add("c" + n, delta); }).ok()) {
        acked_["c" + n] += delta;
        acked_by_[node].insert("c" + n);
      }
      break;
    }
    case 4:
      (void)r.Mutate([&](Store& s) { return s.Push("l" + n, value.substr(0, 2)); });
      break;
    case 5:
      (void)r.Mutate([&](Store& s) { return s.ListDel("l" + n, value.substr(0, 2)); });
      break;
    case 6:
      (void)r.Mutate([&](Store& s) { return s.Clear("l" + n); });
      break;
    case 7:
    case 8:
      (void)r.Mutate([&](Store& s) { return s.SetAdd("s" + n, value.substr(0, 2)); });
      break;
    default:
      (void)r.Mutate([&](Store& s) { return s.SetRemove("s" + n, value.substr(0, 2)); });
      break;
  }
}

::testing::AssertionResult Workload::CountersHold(Simulation& sim) const {
  for (const auto& [key, sum] : acked_) {
    if (tainted_.count(key) > 0) continue;
    for (size_t i = 0; i < sim.size(); ++i) {
      const auto got = Get(sim.replica(static_cast<int>(i)), key);
      if (got != absl::StrCat(sum)) {
        return ::testing::AssertionFailure()
               << "counter " << key << " on node " << i << " is "
               << got.value_or("<absent>") << ", acknowledged adds sum to " << sum;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Runs `w` on `sim` for `d`, one operation every `every`.
void Write(Simulation& sim, Workload& w, absl::Duration d,
           absl::Duration every = absl::Milliseconds(5)) {
  for (absl::Duration t; t < d; t += every) {
    w.Step(sim);
    sim.RunFor(every);
  }
}

TEST(Replica, PausedNodeCatchesUp) {
  Simulation sim(Options(8));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  Workload w(8);
  Write(sim, w, absl::Seconds(1));
  sim.Pause(2);
  Write(sim, w, absl::Seconds(3));
  sim.Resume(2);
  Write(sim, w, absl::Seconds(1));
  sim.RunFor(absl::Seconds(3));
  EXPECT_TRUE(Converged(sim));
  EXPECT_TRUE(w.CountersHold(sim));
}

TEST(Replica, RestartedNodeTakesANewIdAndRejoins) {
  Simulation sim(Options(9));
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  Workload w(9);
  Write(sim, w, absl::Seconds(1));
  const store::NodeId old_id = sim.replica(1).node();
  sim.Restart(1);
  w.Restarted(1);
  EXPECT_NE(sim.replica(1).node(), old_id);
  EXPECT_FALSE(sim.replica(1).ready());
  Write(sim, w, absl::Seconds(1));
  // The survivor keeps tombstones that the new node, which never heard of the
  // old id, collects at once: their digests differ (with equal vectors) until
  // the survivor forgets the old id (forget_after).
  sim.RunFor(absl::Seconds(6));
  ASSERT_TRUE(Converged(sim));
  EXPECT_TRUE(w.CountersHold(sim));
  for (int i : {0, 1}) EXPECT_GT(sim.replica(i).stats().vv.count(old_id), 0u);
}

// Known behaviour, kept out of the default run (the coordinator decides):
// after a restart, the survivors' stable vector stays held back by the dead
// node's last heartbeat until forget_after, while the new node, which never
// heard of it, collects the tombstones of later deletes at once. Their vectors
// are then equal and their digests differ, so every divergence_grace one asks
// the other for everything, until forget_after (10 minutes by default).
// Run with --gtest_also_run_disabled_tests.
TEST(Replica, DISABLED_RestartCausesNoFullCatchUps) {
  Simulation sim(Options(15));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  ASSERT_TRUE(Set(sim.replica(0), "a", "1"));
  sim.RunFor(absl::Seconds(1));
  sim.Restart(1);
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("k", i), "v"));
  }
  sim.RunFor(absl::Milliseconds(200));
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(sim.replica(0)
                    .Mutate([&](Store& s) { return s.Del(absl::StrCat("k", i)); })
                    .ok());
  }
  sim.RunFor(absl::Seconds(4));  // less than forget_after (5 s)
  for (int i : {0, 1}) {
    EXPECT_FALSE(absl::StrContains(sim.Log(i), "full catch-up")) << sim.Describe();
  }
}

TEST(Replica, PartitionHeals) {
  Simulation sim(Options(10));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  Workload w(10);
  sim.Partition(0, 1);
  sim.Partition(0, 2);
  Write(sim, w, absl::Seconds(3));
  sim.HealAll();
  sim.RunFor(absl::Seconds(3));
  EXPECT_TRUE(Converged(sim));
  EXPECT_TRUE(w.CountersHold(sim));
}

TEST(Replica, DuplicatesDelaysAndReordersConverge) {
  Simulation sim(Options(11));
  for (int i = 0; i < 4; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  sim::Faults f;
  f.duplicate = 0.3;
  f.reorder = 0.3;
  f.max_delay = absl::Milliseconds(20);
  sim.network().set_faults(f);
  Workload w(11);
  Write(sim, w, absl::Seconds(3));
  sim.network().set_faults(sim::Faults());
  sim.RunFor(absl::Seconds(3));
  EXPECT_TRUE(Converged(sim));
  EXPECT_TRUE(w.CountersHold(sim));
  uint64_t duplicates = 0;
  for (int i = 0; i < 4; ++i) duplicates += sim.replica(i).stats().events_duplicate;
  EXPECT_GT(duplicates, 0u);
}

// ---------------------------------------------------------------------------
// Tombstones and expiry.

// Tombstones go on every replica once all applied them; the writes they
// removed, delivered again long after (as delayed duplicates), bring nothing
// back.
TEST(Replica, TombstonesAreCollectedEverywhereWithoutResurrection) {
  Simulation sim(Options(12));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  std::set<std::string> events;  // every event message, as sent
  sim.network().set_filter([&](const sim::Envelope& e) {
    if (absl::EndsWith(e.subject, ".events")) events.insert(e.data);
    return false;
  });
  for (int i = 0; i < 30; ++i) {
    Replica& r = sim.replica(i % 3);
    const std::string n = absl::StrCat(i);
    ASSERT_TRUE(Set(r, "k" + n, "v"));
    ASSERT_TRUE(r.Mutate([&](Store& s) { return s.Add("n" + n, i + 1); }).ok());
    ASSERT_TRUE(r.Mutate([&](Store& s) { return s.Push("l" + n, "x"); }).ok());
    ASSERT_TRUE(r.Mutate([&](Store& s) { return s.SetAdd("s" + n, "m"); }).ok());
  }
  sim.RunFor(absl::Milliseconds(500));
  ASSERT_TRUE(Converged(sim));
  sim.network().set_filter(nullptr);
  for (int i = 0; i < 30; ++i) {
    Replica& r = sim.replica((i + 1) % 3);
    const std::string n = absl::StrCat(i);
    for (const std::string& key : {"k" + n, "n" + n}) {
      ASSERT_TRUE(r.Mutate([&](Store& s) { return s.Del(key); }).ok());
    }
    ASSERT_TRUE(r.Mutate([&](Store& s) { return s.Clear("l" + n); }).ok());
    ASSERT_TRUE(r.Mutate([&](Store& s) { return s.SetRemove("s" + n, "m"); }).ok());
  }
  sim.RunFor(absl::Seconds(2));
  ASSERT_TRUE(Converged(sim));
  for (int i = 0; i < 3; ++i) {
    const ReplicaStats s = sim.replica(i).stats();
    EXPECT_EQ(s.keys, 0u) << sim.Describe();
    EXPECT_GE(s.tombstones_collected, 120u) << sim.Describe();
  }
  // The old writes again, from a connection of a fourth host.
  std::unique_ptr<Bus> replay = sim.network().Connect(3);
  for (const std::string& data : events) {
    ASSERT_TRUE(replay->Publish("_kv.default.events", "", data).ok());
  }
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sim.replica(i).stats().keys, 0u) << sim.Describe();
    EXPECT_EQ(Get(sim.replica(i), "k1"), std::nullopt);
  }
  // Writing the keys again works and replicates.
  ASSERT_TRUE(Set(sim.replica(0), "k1", "again"));
  ASSERT_TRUE(sim.replica(1).Mutate([](Store& s) { return s.Add("n1", 4); }).ok());
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
  EXPECT_EQ(Get(sim.replica(2), "k1"), "again");
  EXPECT_EQ(Get(sim.replica(2), "n1"), "4");
}

TEST(Replica, ExpiredEntriesKeepReplicasEqual) {
  Simulation sim(Options(13));
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Set(sim.replica(i % 2), absl::StrCat("t", i), "x", absl::Seconds(1)));
    ASSERT_TRUE(Set(sim.replica(i % 2), absl::StrCat("p", i), "y"));
  }
  sim.RunFor(absl::Seconds(2));
  EXPECT_TRUE(Converged(sim));
  EXPECT_EQ(Get(sim.replica(0), "t0"), std::nullopt);
  EXPECT_EQ(Get(sim.replica(1), "p0"), "y");
  sim.RunFor(absl::Minutes(2));  // expired registers are purged
  EXPECT_TRUE(Converged(sim));
  ASSERT_TRUE(Set(sim.replica(1), "t0", "again"));
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
  EXPECT_EQ(Get(sim.replica(0), "t0"), "again");
}

// ---------------------------------------------------------------------------
// Random schedules.

// One random schedule: 2 to 5 nodes (some joining late), random operations
// with lossy, duplicating, reordering delivery, pauses, restarts and
// partitions shorter than forget_after (so the design guarantees that no
// tombstone is collected too early), clocks off by up to half a second in half
// of the schedules; then a quiet time without faults, longer
// than forget_after (restarted nodes' old ids are forgotten everywhere).
::testing::AssertionResult RandomSchedule(uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x5eed);
  auto below = [&](uint64_t n) { return rng() % n; };
  auto chance = [&](double p) { return std::uniform_real_distribution<>(0, 1)(rng) < p; };
  SimulationOptions options = Options(seed);
  options.replica.forget_after = absl::Seconds(2);
  if (chance(0.5)) options.max_clock_skew = absl::Milliseconds(below(500));
  Simulation sim(options);
  const int nodes = 2 + static_cast<int>(below(4));
  const int late = static_cast<int>(below(2));
  for (int i = 0; i < nodes - late; ++i) sim.AddNode();
  sim::Faults f;
  const double drops[] = {0, 0, 0.05, 0.2};
  f.drop = drops[below(4)];
  f.duplicate = chance(0.3) ? 0.05 : 0;
  f.reorder = chance(0.3) ? 0.05 : 0;
  f.max_delay = absl::Milliseconds(1 + below(20));
  sim.network().set_faults(f);
  Workload w(seed);
  std::map<int, absl::Time> resume_at;  // paused node -> when
  absl::Time heal_at = absl::InfiniteFuture();
  const absl::Time end = sim.now() + absl::Seconds(2);
  while (sim.now() < end) {
    const int ops = static_cast<int>(below(4));
    for (int i = 0; i < ops; ++i) w.Step(sim);
    const int n = static_cast<int>(sim.size());
    const int victim = static_cast<int>(below(n));
    if (static_cast<int>(sim.size()) < nodes && chance(0.01)) sim.AddNode();
    if (chance(0.005) && resume_at.empty() && n > 1) {
      sim.Pause(victim);
      resume_at[victim] = sim.now() + absl::Milliseconds(100 + below(900));
    }
    if (chance(0.003)) {
      sim.Restart(victim);
      w.Restarted(victim);
    }
    if (chance(0.004) && heal_at == absl::InfiniteFuture() && n > 1) {
      sim.Partition(victim, static_cast<int>(below(n)));
      heal_at = sim.now() + absl::Milliseconds(100 + below(900));
    }
    for (auto it = resume_at.begin(); it != resume_at.end();) {
      if (sim.now() >= it->second) {
        sim.Resume(it->first);
        it = resume_at.erase(it);
      } else {
        ++it;
      }
    }
    if (sim.now() >= heal_at) {
      sim.HealAll();
      heal_at = absl::InfiniteFuture();
    }
    sim.RunFor(absl::Milliseconds(1 + below(20)));
  }
  while (static_cast<int>(sim.size()) < nodes) sim.AddNode();
  for (const auto& [node, at] : resume_at) sim.Resume(node);
  sim.HealAll();
  sim.network().set_faults(sim::Faults());
  sim.RunFor(absl::Seconds(5));
  ::testing::AssertionResult converged = Converged(sim);
  if (!converged) {
    return converged << "\nseed " << seed << " (KV_SIM_SEED=" << seed << ")";
  }
  ::testing::AssertionResult counters = w.CountersHold(sim);
  if (!counters) {
    return counters << "\nseed " << seed << " (KV_SIM_SEED=" << seed << ")\n"
                    << sim.Describe();
  }
  return ::testing::AssertionSuccess();
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(Replica, RandomSchedulesConverge) {
  if (const char* one = std::getenv("KV_SIM_SEED"); one != nullptr && *one) {
    EXPECT_TRUE(RandomSchedule(std::strtoull(one, nullptr, 10)));
    return;
  }
  const uint64_t seeds = EnvOr("KV_SIM_SEEDS", 200);
  int failures = 0;
  for (uint64_t seed = 1; seed <= seeds && failures < 3; ++seed) {
    ::testing::AssertionResult r = RandomSchedule(seed);
    if (!r) ++failures;
    EXPECT_TRUE(r);
  }
}

}  // namespace
}  // namespace kv::replication
