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
SimulationOptions Options(uint64_t seed) { return sim::FastOptions(seed); }

// Every node (but those stopped) ready, with equal vectors, digests and key
// states.
::testing::AssertionResult Converged(Simulation& sim) {
  const std::string divergence = sim.Divergence();
  if (divergence.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << divergence;
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
  EXPECT_TRUE(absl::StrContains(sim.Log(0), "ready: first replica of the link"))
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

TEST(Replica, LoneNodeIsTheFirstReplicaOnlyAfterTheSilence) {
  Simulation sim(Options(16));
  sim.AddNode();
  sim.RunFor(absl::Milliseconds(290));  // first_replica_silence is 300 ms
  EXPECT_FALSE(sim.replica(0).ready()) << sim.Log(0);
  ASSERT_TRUE(sim.RunUntilReady(absl::Milliseconds(100))) << sim.Log(0);
  EXPECT_TRUE(absl::StrContains(
      sim.Log(0),
      "ready: first replica of the link (no peer heard for 300ms and no "
      "ready peer answers)"))
      << sim.Log(0);
}

TEST(Replica, FirstReplicaSilenceIsAtLeastTwoHeartbeats) {
  sim::Network net(1, 4096);
  std::unique_ptr<Bus> bus = net.Connect(0);
  ReplicaOptions o;
  o.heartbeat = absl::Seconds(1);
  o.first_replica_silence = absl::Milliseconds(1999);
  auto r = Replica::Start(bus.get(), net.clock(), o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  o.first_replica_silence = absl::Seconds(2);
  EXPECT_TRUE(Replica::Start(bus.get(), net.clock(), o).ok());
}

// The existing node's connection is down (its server restarted) when a node
// starts: the new node hears nobody and "no responders", but waits out the
// silence, and joins from the existing node as soon as it is back (it
// heartbeats on reconnecting). It never serves an empty store.
TEST(Replica, JoinerWaitsForAPeerThatIsReconnecting) {
  Simulation sim(Options(17));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("k", i), "v"));
  sim.Disconnect(0);
  sim.AddNode();
  auto served_empty = [&] {
    return sim.replica(1).ready() && Get(sim.replica(1), "k7") == std::nullopt;
  };
  for (int step = 0; step < 25; ++step) {  // 250 ms: less than the silence
    sim.RunFor(absl::Milliseconds(10));
    ASSERT_FALSE(served_empty()) << sim.Describe();
  }
  EXPECT_FALSE(sim.replica(1).ready());
  sim.Reconnect(0);
  for (int step = 0; step < 100 && !sim.replica(1).ready(); ++step) {
    sim.RunFor(absl::Milliseconds(10));
    ASSERT_FALSE(served_empty()) << sim.Describe();
  }
  ASSERT_TRUE(sim.replica(1).ready()) << sim.Describe();
  const std::string peer = Hex(sim.replica(0).node());
  EXPECT_TRUE(absl::StrContains(sim.Log(1), absl::StrCat("asking peer ", peer)))
      << sim.Log(1);
  EXPECT_TRUE(absl::StrContains(sim.Log(1), absl::StrCat("ready: caught up with ", peer)))
      << sim.Log(1);
  EXPECT_FALSE(absl::StrContains(sim.Log(1), "first replica")) << sim.Log(1);
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
}

// The existing node stays away longer than the silence: the new node becomes
// the (provisional) first replica. When the existing node comes back with data
// the new one lacks, the new one answers 503 until it caught up, then serves
// the data; the writes it took meanwhile reach the other node.
TEST(Replica, ProvisionalFirstReplicaCatchesUpWithAPeerThatAppears) {
  Simulation sim(Options(18));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("k", i), "v"));
  sim.Disconnect(0);
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1))) << sim.Describe();
  EXPECT_TRUE(absl::StrContains(sim.Log(1), "first replica of the link")) << sim.Log(1);
  ASSERT_TRUE(Set(sim.replica(1), "new", "x"));
  sim.Reconnect(0);
  // 503 from the first chunk of its answer (the peer proved real) until caught up.
  bool went_unready = false;
  for (int step = 0; step < 1000; ++step) {
    sim.RunFor(absl::Milliseconds(1));
    went_unready = went_unready || !sim.replica(1).ready();
    if (went_unready && sim.replica(1).ready()) break;
  }
  EXPECT_TRUE(went_unready) << sim.Describe();
  ASSERT_TRUE(sim.replica(1).ready()) << sim.Describe();
  EXPECT_EQ(Get(sim.replica(1), "k7"), "v");
  const std::string peer = Hex(sim.replica(0).node());
  EXPECT_TRUE(absl::StrContains(
      sim.Log(1),
      absl::StrCat("provisional first replica: peer ", peer,
                   " has 50 "
                   "operations this replica lacks; not ready until caught up")))
      << sim.Log(1);
  EXPECT_TRUE(
      absl::StrContains(sim.Log(1), absl::StrCat("ready again: caught up with ", peer)))
      << sim.Log(1);
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
  EXPECT_EQ(Get(sim.replica(0), "new"), "x");
}

// The ready peer that takes the join request cannot deliver its catch-up (its
// chunks to the joiner are lost): the joiner gives up on it, says why, and
// joins from the other peer it heard.
TEST(Replica, JoinerGivesUpOnABrokenPeerAndTriesAnother) {
  Simulation sim(Options(19));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("k", i), std::string(100, 'x')));
  }
  sim.RunFor(absl::Milliseconds(500));
  ASSERT_TRUE(Converged(sim));
  sim.network().set_filter([&](const sim::Envelope& e) {
    if (e.to_host == 1 && absl::EndsWith(e.subject, ".sync.any")) return true;
    // Node 0 acknowledges the join (its node id, 16 hex digits), but its chunks
    // (same subject) are lost.
    return e.to_host == 2 && e.from_host == 0 && absl::StartsWith(e.subject, "_INBOX.") &&
           e.data.size() != 16;
  });
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(3))) << sim.Describe();
  const std::string broken = Hex(sim.replica(0).node());
  const std::string good = Hex(sim.replica(1).node());
  EXPECT_TRUE(absl::StrContains(
      sim.Log(2), absl::StrCat("catch-up from peer ", broken,
                               " ended: join attempt 1 failed (catch-up incomplete); "
                               "not asking it again for 1.2s; retrying with peer ",
                               good)))
      << sim.Log(2);
  EXPECT_TRUE(absl::StrContains(sim.Log(2), absl::StrCat("ready: caught up with ", good)))
      << sim.Log(2);
  EXPECT_EQ(Get(sim.replica(2), "k7"), std::string(100, 'x'));
  sim.network().set_filter(nullptr);
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
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

// Under a 4 KiB max payload (kvd's value limit: the payload less the key limit,
// the event's encoding and the chunk margin), writes of maximal keys and values
// replicate by events and a joiner gets them in chunks: nothing exceeds the
// max payload and everyone converges.
TEST(Replica, MaxSizeWritesReplicateAndJoinUnderA4KiBPayload) {
  SimulationOptions o = Options(21);
  o.max_payload = 4096;
  store::Limits& limits = o.replica.limits;
  limits.max_key_bytes = 1024;
  limits.max_write_bytes = 4096 - codec::MaxEventOverhead() - 256;
  limits.max_value_bytes = limits.max_write_bytes - limits.max_key_bytes;
  Simulation sim(o);
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  const std::string value(limits.max_value_bytes, 'v');
  for (int i = 0; i < 6; ++i) {
    Replica& r = sim.replica(i % 2);
    const std::string key = absl::StrCat(i, std::string(limits.max_key_bytes - 2, 'k'));
    ASSERT_TRUE(Set(r, absl::StrCat("r", key), value));
    for (const char* kind : {"l", "s"}) {
      auto done = r.Mutate([&](Store& s) {
        const std::string k = absl::StrCat(kind, key);
        const std::string v = absl::StrCat(i, value.substr(1));
        return *kind == 'l' ? s.Push(k, v) : s.SetAdd(k, v);
      });
      ASSERT_TRUE(done.ok()) << done.status();
    }
    // One byte more is refused before anything changes.
    auto refused = r.Mutate([&](Store& s) { return s.Set("r" + key, value + "v", {}); });
    EXPECT_TRUE(absl::IsOutOfRange(refused.status())) << refused.status();
  }
  sim.RunFor(absl::Milliseconds(500));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(3))) << sim.Describe();
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(sim));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sim.replica(i).stats().publish_errors, 0u) << i;
    EXPECT_EQ(sim.replica(i).stats().keys, 18u) << i;
  }
}

// What cannot be published is counted and logged: an event over the max
// payload (a value limit set too large), then the catch-up chunk that would
// carry it (the catch-up stops with an error on the serving side).
TEST(Replica, WhatCannotBePublishedIsCountedAndLogged) {
  SimulationOptions o = Options(22);
  o.max_payload = 4096;
  o.replica.limits.max_value_bytes = 8000;
  Simulation sim(o);
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  ASSERT_TRUE(Set(sim.replica(0), "small", "v"));
  ASSERT_TRUE(Set(sim.replica(0), "big", std::string(5000, 'v')));
  sim.RunFor(absl::Milliseconds(500));
  const ReplicaStats s = sim.replica(0).stats();
  EXPECT_EQ(s.publish_errors, 1u);
  EXPECT_GE(s.catchups_failed, 1u);
  EXPECT_TRUE(absl::StrContains(sim.Log(0), "cannot publish event 2")) << sim.Log(0);
  EXPECT_TRUE(absl::StrContains(sim.Log(0), "failed after 0 chunks: key 'big'"))
      << sim.Log(0);
  EXPECT_EQ(Get(sim.replica(1), "small"), "v");
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
  o.replica.first_replica_silence = absl::Seconds(2);  // at least two heartbeats
  o.max_tick_interval = absl::Milliseconds(5);
  return o;
}

TEST(Replica, LostEventIsRecoveredThroughTheGapAfterTheGrace) {
  Simulation sim(GapOptions(6));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(10)));
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
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(10)));
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
  // Operations hit `keys` keys of each type.
  explicit Workload(uint64_t seed, int keys = 4) : rng_(seed), keys_(keys) {}

  // One random operation on a random ready, running node (none when there is
  // no such node).
  void Step(Simulation& sim);
  // Keys with adds acknowledged by nodes restarted since are left out (a
  // killed process may take unreplicated writes with it), as are keys a del
  // touched.
  void Restarted(int node, Simulation& sim) {
    for (const std::string& k : acked_by_[node]) tainted_.insert(k);
    acked_by_[node].clear();
    // Its deletes too, unless another node applied them.
    for (auto it = deleted_.begin(); it != deleted_.end();) {
      bool elsewhere = false;
      for (size_t i = 0; i < sim.size() && it->second.first == node; ++i) {
        if (static_cast<int>(i) == node || sim.Stopped(static_cast<int>(i))) continue;
        elsewhere =
            elsewhere || sim.replica(static_cast<int>(i)).Read([&](const Store& s) {
              return store::Covers(s.vv(), it->second.second);
            });
      }
      it = it->second.first == node && !elsewhere ? deleted_.erase(it) : std::next(it);
    }
  }
  // Every counter equals the sum of its acknowledged adds on every node.
  ::testing::AssertionResult CountersHold(Simulation& sim) const;
  // No key whose acknowledged del had observed every earlier write to it, and
  // that nobody wrote since, is visible on any running node.
  ::testing::AssertionResult DeletesHold(Simulation& sim) const;
  uint64_t ops() const { return ops_; }
  size_t deletes_tracked() const { return deleted_.size(); }

 private:
  uint64_t Below(uint64_t n) { return rng_() % n; }
  // Runs mutation `f` on `r` and records its dot as a write of `key`; a `del`
  // whose node had applied every earlier write of `key` is tracked.
  template <typename F>
  bool Run(Replica& r, int node, const std::string& key, bool del, F f);

  std::mt19937_64 rng_;
  const int keys_;
  std::map<std::string, int64_t> acked_;
  std::map<int, std::set<std::string>> acked_by_;
  std::set<std::string> tainted_;
  std::map<std::string, std::vector<store::Dot>> writes_;  // every write, per key
  // Tracked deletes (no write since): key -> (node, dot).
  std::map<std::string, std::pair<int, store::Dot>> deleted_;
  uint64_t ops_ = 0;
};

template <typename F>
bool Workload::Run(Replica& r, int node, const std::string& key, bool del, F f) {
  std::optional<store::Dot> dot;
  bool observed_all = false;
  const bool ok = r.Mutate([&](Store& s) {
                     observed_all = true;
                     for (const store::Dot& d : writes_[key]) {
                       observed_all = observed_all && store::Covers(s.vv(), d);
                     }
                     auto c = f(s);
                     if (c.ok() && c->event) dot = c->event->dot;
                     return c;
                   }).ok();
  if (!dot) return ok;
  writes_[key].push_back(*dot);
  if (del && observed_all) {
    deleted_[key] = {node, *dot};
  } else {
    deleted_.erase(key);
  }
  return ok;
}

void Workload::Step(Simulation& sim) {
  std::vector<int> up;
  for (size_t i = 0; i < sim.size(); ++i) {
    if (sim.replica(static_cast<int>(i)).ready() && !sim.Paused(static_cast<int>(i)) &&
        !sim.Stopped(static_cast<int>(i))) {
      up.push_back(static_cast<int>(i));
    }
  }
  if (up.empty()) return;
  const int node = up[Below(up.size())];
  Replica& r = sim.replica(node);
  const std::string n = absl::StrCat(Below(keys_));
  const std::string value = absl::StrCat("v", Below(1000));
  ++ops_;
  switch (Below(10)) {
    case 0: {
      std::optional<absl::Duration> ttl;
      if (Below(3) == 0) ttl = absl::Milliseconds(50 + Below(2000));
      Run(r, node, "r" + n, false, [&](Store& s) { return s.Set("r" + n, value, ttl); });
      break;
    }
    case 1: {
      const std::string key = std::string(1, "rcls"[Below(4)]) + n;
      if (Run(r, node, key, true, [&](Store& s) { return s.Del(key); }) &&
          key[0] == 'c') {
        tainted_.insert(key);
      }
      break;
    }
    case 2:
    case 3: {
      const int64_t delta = static_cast<int64_t>(Below(19)) - 9;
      if (delta == 0) break;
      if (Run(r, node, "c" + n, false, [&](Store& s) { return s.Add("c" + n, delta); })) {
        acked_["c" + n] += delta;
        acked_by_[node].insert("c" + n);
      }
      break;
    }
    case 4:
      Run(r, node, "l" + n, false,
          [&](Store& s) { return s.Push("l" + n, value.substr(0, 2)); });
      break;
    case 5:
      Run(r, node, "l" + n, false,
          [&](Store& s) { return s.ListDel("l" + n, value.substr(0, 2)); });
      break;
    case 6:
      Run(r, node, "l" + n, false, [&](Store& s) { return s.Clear("l" + n); });
      break;
    case 7:
    case 8:
      Run(r, node, "s" + n, false,
          [&](Store& s) { return s.SetAdd("s" + n, value.substr(0, 2)); });
      break;
    default:
      Run(r, node, "s" + n, false,
          [&](Store& s) { return s.SetRemove("s" + n, value.substr(0, 2)); });
      break;
  }
}

::testing::AssertionResult Workload::DeletesHold(Simulation& sim) const {
  for (const auto& tracked : deleted_) {
    const std::string& key = tracked.first;
    for (size_t i = 0; i < sim.size(); ++i) {
      if (sim.Stopped(static_cast<int>(i))) continue;
      Replica& r = sim.replica(static_cast<int>(i));
      const bool visible =
          r.Read([&](const Store& s) { return s.Exists(key).value_or(false); });
      if (visible) {
        return ::testing::AssertionFailure()
               << "key " << key << " was deleted (acknowledged, after every write to it) "
               << "but is visible on node " << i << ":\n"
               << sim::StateText(r);
      }
    }
  }
  return ::testing::AssertionSuccess();
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

// A peer that stops being heard (3 heartbeats) is logged as lost once, not at
// every tick, and as seen again when it comes back.
TEST(Replica, LostPeerIsLoggedOnceAndSeenAgain) {
  Simulation sim(Options(31));
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  const std::string peer = Hex(sim.replica(1).node());
  auto count = [&](const std::string& text) {
    const std::string log = sim.Log(0);
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos;
         at = log.find(text, at + 1)) {
      ++n;
    }
    return n;
  };
  const std::string lost = absl::StrCat("peer ", peer, " lost (not heard for ");
  const std::string seen = absl::StrCat("peer ", peer, " seen");
  EXPECT_EQ(count(lost), 0u) << sim.Log(0);
  const size_t seen_before = count(seen);
  sim.Pause(1);
  sim.RunFor(absl::Seconds(2));  // 20 heartbeats
  EXPECT_EQ(count(lost), 1u) << sim.Log(0);
  sim.Resume(1);
  sim.RunFor(absl::Milliseconds(500));
  EXPECT_EQ(count(seen), seen_before + 1) << sim.Log(0);
  EXPECT_EQ(count(lost), 1u) << sim.Log(0);
}

// A catch-up request is answered on the message's reply subject; one without
// a reply subject is counted as bad and not served.
TEST(Replica, SyncRequestIsAnsweredOnItsReplySubject) {
  Simulation sim(Options(32));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(1)));
  ASSERT_TRUE(Set(sim.replica(0), "k", "v"));
  std::unique_ptr<Bus> raw = sim.network().Connect(100);
  std::vector<std::string> answers;
  auto sub = raw->Subscribe("_INBOX.raw.>", "", [&](const Message& m) {
    answers.push_back(std::string(m.data));
  });
  ASSERT_TRUE(sub.ok()) << sub.status();
  const std::string subject =
      absl::StrCat("_kv.default.sync.", Hex(sim.replica(0).node()));
  const std::string request =
      codec::EncodeSyncRequest(codec::SyncRequest{0x77, false, {}});
  ASSERT_TRUE(raw->Publish(subject, "", request).ok());
  sim.RunFor(absl::Milliseconds(100));
  EXPECT_TRUE(answers.empty());
  EXPECT_EQ(sim.replica(0).stats().bad_messages, 1u);
  EXPECT_EQ(sim.replica(0).stats().catchups_served, 0u);
  ASSERT_TRUE(raw->Publish(subject, "_INBOX.raw.1", request).ok());
  sim.RunFor(absl::Milliseconds(100));
  ASSERT_EQ(answers.size(), 1u);
  auto chunk = codec::DecodeDeltaChunk(answers[0]);
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_TRUE(chunk->last);
  ASSERT_EQ(chunk->delta.entries.size(), 1u);
  EXPECT_EQ(chunk->delta.entries[0].key, "k");
  // A subject that would inject protocol is refused by the bus.
  EXPECT_EQ(raw->Publish(subject, "_INBOX.x 0\r\n\r\nUNSUB 1", request).code(),
            absl::StatusCode::kInvalidArgument);
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
  w.Restarted(1, sim);
  EXPECT_NE(sim.replica(1).node(), old_id);
  EXPECT_FALSE(sim.replica(1).ready());
  Write(sim, w, absl::Seconds(1));
  // The old process said goodbye: neither waits for the old id.
  sim.RunFor(absl::Seconds(6));
  ASSERT_TRUE(Converged(sim));
  EXPECT_TRUE(w.CountersHold(sim));
  // The old id is gone and everyone applied all of it: it is retired, and no
  // longer in any vector.
  for (int i : {0, 1}) {
    EXPECT_EQ(sim.replica(i).stats().vv.count(old_id), 0u) << i;
    EXPECT_EQ(sim.replica(i).stats().retired_origins, 1u) << i;
  }
}

// After a restart the old process said goodbye: the survivor stops waiting for
// the old id at once, so both collect the same tombstones and their digests
// agree (before goodbyes, the survivor waited for the dead id until forget_after
// while the new node collected, and they asked each other for everything every
// divergence_grace).
TEST(Replica, RestartCausesNoFullCatchUps) {
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

// A node that leaves cleanly says goodbye: the others collect at once and agree.
TEST(Replica, CleanLeaveCausesNoFullCatchUps) {
  Simulation sim(Options(16));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("k", i), "v"));
  sim.RunFor(absl::Seconds(1));
  sim.Stop(2);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(sim.replica(1)
                    .Mutate([&](Store& s) { return s.Del(absl::StrCat("k", i)); })
                    .ok());
  }
  sim.RunFor(absl::Seconds(4));  // less than forget_after (5 s)
  for (int i : {0, 1}) {
    EXPECT_TRUE(absl::StrContains(sim.Log(i), " said goodbye")) << sim.Log(i);
    EXPECT_FALSE(absl::StrContains(sim.Log(i), "full catch-up")) << sim.Describe();
    EXPECT_EQ(sim.replica(i).stats().keys, 0u) << sim.Describe();
  }
  EXPECT_TRUE(Converged(sim));
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

// A batch of mutations leaves as one events message, which the peer applies
// whole; a batch whose function fails after a mutation still publishes it.
TEST(Replica, BatchMutationsLeaveAsOneEventsMessage) {
  Simulation sim(Options(41));
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  std::unique_ptr<Bus> watcher = sim.network().Connect(99);
  std::vector<size_t> messages;  // events per message
  auto sub = watcher->Subscribe("_kv.default.events", "", [&](const Message& m) {
    auto events = codec::DecodeEvents(m.data);
    messages.push_back(events.ok() ? events->size() : 0);
  });
  ASSERT_TRUE(sub.ok());
  const uint64_t in_before = sim.replica(1).stats().events_in;
  MutationContext context;
  auto n = sim.replica(0).MutateBatch(
      [](Store& s, std::vector<store::Event>* events) -> absl::StatusOr<int> {
        for (const char* key : {"a", "b", "c"}) {
          auto change = s.Set(key, "v", std::nullopt);
          if (!change.ok()) return change.status();
          events->push_back(*std::move(change->event));
        }
        return 3;
      },
      &context);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3);
  ASSERT_TRUE(context.dot.has_value());
  EXPECT_EQ(context.dot->node, sim.replica(0).node());
  sim.RunFor(absl::Milliseconds(50));
  EXPECT_EQ(messages, std::vector<size_t>{3});
  EXPECT_EQ(sim.replica(1).stats().events_in - in_before, 3u);
  EXPECT_EQ(Get(sim.replica(1), "c"), "v");

  // Fails after one mutation: that one is published all the same.
  auto failed = sim.replica(0).MutateBatch(
      [](Store& s, std::vector<store::Event>* events) -> absl::StatusOr<int> {
        auto change = s.Set("d", "v", std::nullopt);
        if (!change.ok()) return change.status();
        events->push_back(*std::move(change->event));
        return absl::FailedPreconditionError("later entry");
      });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  sim.RunFor(absl::Milliseconds(50));
  EXPECT_EQ(messages, (std::vector<size_t>{3, 1}));
  EXPECT_EQ(Get(sim.replica(1), "d"), "v");
  EXPECT_TRUE(Converged(sim));
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
// Acknowledged deletes never come back (the fault audit's scenario).

// kvd's timings (heartbeat 1 s, forget_after 10 min, divergence_grace 10 s) with
// the audit's --gc_interval=2s.
SimulationOptions AuditOptions(uint64_t seed) {
  SimulationOptions o;
  o.seed = seed;
  o.max_payload = 64 * 1024;
  o.replica.gc_interval = absl::Seconds(2);
  o.max_tick_interval = absl::Milliseconds(500);  // fewer idle ticks: faster
  return o;
}

const std::vector<std::string>& AuditKeys() {
  static const auto* keys = [] {
    auto* k = new std::vector<std::string>{"list", "set", "counter"};
    for (int i = 0; i < 50; ++i) k->push_back(absl::StrCat("k", i));
    return k;
  }();
  return *keys;
}

// How many of the audit's deleted keys `r` shows.
int Readable(Replica& r) {
  return r.Read([](const Store& s) {
    int n = 0;
    for (const std::string& key : AuditKeys()) n += s.Exists(key).value_or(false);
    return n;
  });
}

// Nodes A, B and P hold 53 keys; P is cut off; every key is deleted on A
// (acknowledged); J joins while P is away (J never hears P); A and B leave
// cleanly (with `leave`); P comes back after `away`. No node that applied the
// deletes ever shows a deleted key again, P shows none once it heard the others,
// and all converge. `*resets` receives P's stale resets.
::testing::AssertionResult DeletesHold(absl::Duration away, bool leave,
                                       uint64_t* resets) {
  Simulation sim(AuditOptions(21));
  for (int i = 0; i < 3; ++i) sim.AddNode();
  const int a = 0, b = 1, p = 2;
  if (!sim.RunUntilReady(absl::Seconds(10))) {
    return ::testing::AssertionFailure() << "not ready\n" << sim.Describe();
  }
  Replica& ra = sim.replica(a);
  for (int i = 0; i < 50; ++i) Set(ra, absl::StrCat("k", i), "v");
  (void)ra.Mutate([](Store& s) { return s.Push("list", "x"); });
  (void)ra.Mutate([](Store& s) { return s.SetAdd("set", "m"); });
  (void)ra.Mutate([](Store& s) { return s.Add("counter", 5); });
  sim.RunFor(absl::Seconds(3));
  if (Readable(sim.replica(p)) != 53) {
    return ::testing::AssertionFailure() << "P lacks keys\n" << sim.Describe();
  }
  sim.Partition(p, a);
  sim.Partition(p, b);
  const absl::Time back = sim.now() + away;
  for (const std::string& key : AuditKeys()) {
    if (!ra.Mutate([&](Store& s) { return s.Del(key); }).ok()) {
      return ::testing::AssertionFailure() << "del " << key << " failed";
    }
  }
  sim.RunFor(absl::Seconds(2));
  const int j = sim.AddNode();
  sim.Partition(p, j);
  if (!sim.RunUntilReady(absl::Seconds(10))) {
    return ::testing::AssertionFailure() << "J not ready\n" << sim.Describe();
  }
  if (leave) {
    sim.RunFor(absl::Seconds(5));
    sim.Stop(a);
    sim.Stop(b);
  }
  auto check = [&](bool p_too) -> ::testing::AssertionResult {
    for (int n : {a, b, j, p}) {
      if (sim.Stopped(n) || (n == p && !p_too)) continue;
      if (const int shown = Readable(sim.replica(n)); shown > 0) {
        return ::testing::AssertionFailure()
               << "node " << n << " shows " << shown << " deleted keys at "
               << absl::FormatTime("%H:%M:%E3S", sim.now(), absl::UTCTimeZone()) << "\n"
               << sim.Describe();
      }
    }
    return ::testing::AssertionSuccess();
  };
  while (sim.now() < back) {
    sim.RunFor(absl::Milliseconds(500));
    if (auto r = check(false); !r) return r;
  }
  sim.HealAll();
  const absl::Time healed = sim.now();
  while (sim.now() < healed + absl::Seconds(30)) {
    sim.RunFor(absl::Milliseconds(200));
    if (auto r = check(sim.now() > healed + absl::Seconds(3)); !r) return r;
  }
  *resets = sim.replica(p).stats().stale_resets;
  return Converged(sim);
}

// The audit: P away 30 s (less than forget_after), J never heard it, A and B
// leave cleanly before P returns. J waits for P (A and B listed it), so the
// tombstones are still there when P returns and catches up.
TEST(Replica, DeletesHoldWhenAJoinerNeverHeardTheAbsentNode) {
  uint64_t resets = 0;
  EXPECT_TRUE(DeletesHold(absl::Seconds(30), /*leave=*/true, &resets));
  EXPECT_EQ(resets, 0u);
}

TEST(Replica, DeletesHoldWhenTheOthersStay) {
  uint64_t resets = 0;
  EXPECT_TRUE(DeletesHold(absl::Seconds(30), /*leave=*/false, &resets));
  EXPECT_EQ(resets, 0u);
}

// Away longer than forget_after: the others forget P and collect; P finds itself
// stale, discards its state and rejoins under a new node id.
TEST(Replica, DeletesHoldAfterAPartitionLongerThanForgetAfter) {
  for (bool leave : {false, true}) {
    SCOPED_TRACE(leave ? "A and B leave" : "A and B stay");
    uint64_t resets = 0;
    EXPECT_TRUE(DeletesHold(absl::Seconds(640), leave, &resets));
    EXPECT_EQ(resets, 1u);
  }
}

// ---------------------------------------------------------------------------
// Random schedules.

// One random schedule: 2 to 5 nodes (some joining late), random operations
// with lossy, duplicating, reordering delivery, pauses, restarts, lost
// connections and partitions shorter than forget_after, clocks off by up to half
// a second in half of the schedules; then a quiet time without faults, longer
// than forget_after (restarted nodes' old ids are forgotten everywhere). With
// `long_partitions`, partitions last up to three times forget_after (so that
// the cut-off nodes are forgotten and come back stale) and the schedule runs
// longer. Every acknowledged delete must hold (Workload::DeletesHold).
::testing::AssertionResult RandomSchedule(uint64_t seed, bool long_partitions = false) {
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
  // More keys with long partitions: a delete is less often followed by a write.
  Workload w(seed, long_partitions ? 16 : 4);
  std::map<int, absl::Time> resume_at;  // paused node -> when
  absl::Time heal_at = absl::InfiniteFuture();
  std::map<int, absl::Time> reconnect_at;  // disconnected node -> when
  const absl::Time end = sim.now() + absl::Seconds(long_partitions ? 7 : 2);
  const int64_t max_cut_ms = long_partitions ? 6000 : 900;
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
      w.Restarted(victim, sim);
    }
    if (chance(0.004) && heal_at == absl::InfiniteFuture() && n > 1) {
      if (long_partitions && chance(0.5)) {
        for (int other = 0; other < n; ++other) sim.Partition(victim, other);
      } else {
        sim.Partition(victim, static_cast<int>(below(n)));
      }
      heal_at = sim.now() + absl::Milliseconds(100 + below(max_cut_ms));
    }
    for (auto it = resume_at.begin(); it != resume_at.end();) {
      if (sim.now() >= it->second) {
        sim.Resume(it->first);
        it = resume_at.erase(it);
      } else {
        ++it;
      }
    }
    if (chance(0.003) && reconnect_at.empty()) {
      sim.Disconnect(victim);
      reconnect_at[victim] = sim.now() + absl::Milliseconds(100 + below(900));
    }
    for (auto it = reconnect_at.begin(); it != reconnect_at.end();) {
      if (sim.now() >= it->second) {
        sim.Reconnect(it->first);
        it = reconnect_at.erase(it);
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
  for (const auto& [node, at] : reconnect_at) sim.Reconnect(node);
  sim.HealAll();
  sim.network().set_faults(sim::Faults());
  sim.RunFor(absl::Seconds(5));
  ::testing::AssertionResult converged = Converged(sim);
  if (!converged) {
    return converged << "\nseed " << seed << " (KV_SIM_SEED=" << seed << ")";
  }
  // A stale replica's reset loses its unreplicated writes, as a restart does.
  for (size_t i = 0; i < sim.size(); ++i) {
    if (sim.replica(static_cast<int>(i)).stats().stale_resets > 0) {
      w.Restarted(static_cast<int>(i), sim);
    }
  }
  ::testing::AssertionResult counters = w.CountersHold(sim);
  if (!counters) {
    return counters << "\nseed " << seed << " (KV_SIM_SEED=" << seed << ")\n"
                    << sim.Describe();
  }
  ::testing::AssertionResult deletes = w.DeletesHold(sim);
  if (!deletes) {
    return deletes << "\nseed " << seed << " (KV_SIM_SEED=" << seed << ")\n"
                   << sim.Describe();
  }
  return ::testing::AssertionSuccess();
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// Partitions longer than forget_after: cut-off nodes are forgotten, the others
// collect, and the returning nodes find themselves stale and rejoin. No
// acknowledged delete comes back. KV_SIM_LONG_SEED=<n> replays one.
TEST(Replica, RandomLongPartitionsNeverResurrectDeletes) {
  if (const char* one = std::getenv("KV_SIM_LONG_SEED"); one != nullptr && *one) {
    EXPECT_TRUE(RandomSchedule(std::strtoull(one, nullptr, 10), true));
    return;
  }
  const uint64_t seeds = EnvOr("KV_SIM_LONG_SEEDS", 8);
  int failures = 0;
  for (uint64_t seed = 1; seed <= seeds && failures < 3; ++seed) {
    ::testing::AssertionResult r = RandomSchedule(seed, true);
    if (!r) ++failures;
    EXPECT_TRUE(r);
  }
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
