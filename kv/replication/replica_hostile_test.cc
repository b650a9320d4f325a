// Replicas over the simulated network against a peer that is not trusted: it
// forges heartbeats of a node that does not exist, and floods catch-up requests.
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/codec/binary.h"
#include "kv/replication/replica.h"
#include "kv/replication/sim/simulation.h"
#include "kv/store/store.h"

namespace kv::replication {
namespace {

using sim::Simulation;
using sim::SimulationOptions;
using store::Store;

constexpr int kAttacker = 99;  // a host of the simulated network, no replica
constexpr store::NodeId kFake = 0xfa4e;

std::string Hex(store::NodeId node) { return absl::StrFormat("%016x", node); }

SimulationOptions Options(uint64_t seed) {
  SimulationOptions o = sim::FastOptions(seed);
  o.max_payload = 1 << 20;
  o.replica.divergence_grace = ReplicaOptions().divergence_grace;
  o.replica.gap_grace = ReplicaOptions().gap_grace;
  o.replica.limits.max_value_bytes = ReplicaOptions().limits.max_value_bytes;
  return o;
}

bool Set(Replica& r, const std::string& key, const std::string& value) {
  return r.Mutate([&](Store& s) { return s.Set(key, value, std::nullopt); }).ok();
}

// Forged heartbeats of a node that never published an event nor answered a
// catch-up, claiming a vector far ahead, a watermark nobody applied, a member
// nobody heard and a real replica as departed: the replicas neither lag in
// their stats, nor reset, nor stop waiting for each other, nor stop collecting
// tombstones.
TEST(ReplicaHostile, ForgedHeartbeatsOfAnUnknownNodeCountForNothing) {
  Simulation sim(Options(1));
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << sim.Describe();
  Replica& a = sim.replica(0);
  Replica& b = sim.replica(1);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Set(a, absl::StrCat("k", i), "v"));
  sim.RunFor(absl::Seconds(1));
  std::unique_ptr<Bus> evil = sim.network().Connect(kAttacker);
  for (int round = 0; round < 40; ++round) {  // 4 s
    codec::Heartbeat hb;
    hb.node = kFake;
    hb.vv = a.stats().vv;
    hb.vv[kFake] = 1000000;
    hb.vv[a.node()] += 1000;
    hb.hlc = 1;
    hb.collected = {{kFake, 999999}, {a.node(), 1}};
    hb.members = {0xabcdef};   // never heard: would stop collection
    hb.departed = {b.node()};  // would stop A waiting for B
    ASSERT_TRUE(evil->Publish("_kv.default.hb", "", codec::EncodeHeartbeat(hb)).ok());
    if (round == 5) {
      for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(a.Mutate([&](Store& s) { return s.Del(absl::StrCat("k", i)); }).ok());
      }
    }
    sim.RunFor(absl::Milliseconds(100));
    ASSERT_EQ(a.stats().lag, 0u) << "round " << round;
    ASSERT_EQ(b.stats().lag, 0u) << "round " << round;
  }
  for (int n : {0, 1}) {
    const ReplicaStats s = sim.replica(n).stats();
    EXPECT_EQ(s.stale_resets, 0u) << sim.Log(n);
    EXPECT_EQ(s.peers, 1u);
    EXPECT_EQ(s.tombstones_collected, 10u) << sim.Log(n);
    EXPECT_EQ(s.keys, 10u);
  }
  EXPECT_EQ(a.stats().digest, b.stats().digest);
}

// 1,000 catch-up requests for everything (from one node id, then from 1,000),
// all at once: a bounded number is served, the rest refused, and the bytes sent
// stay within that bound.
TEST(ReplicaHostile, CatchUpRequestFloodIsRateLimited) {
  for (bool many_ids : {false, true}) {
    SCOPED_TRACE(many_ids ? "many ids" : "one id");
    Simulation sim(Options(2));
    sim.AddNode();
    ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << sim.Describe();
    Replica& a = sim.replica(0);
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(Set(a, absl::StrCat("k", i), std::string(500, 'x')));
    }
    std::unique_ptr<Bus> evil = sim.network().Connect(kAttacker);
    uint64_t bytes = 0, chunks = 0;
    auto sub = evil->Subscribe("_INBOX.evil.>", "", [&](const Message& m) {
      bytes += m.data.size();
      ++chunks;
    });
    ASSERT_TRUE(sub.ok());
    const std::string subject = absl::StrCat("_kv.default.sync.", Hex(a.node()));
    // One catch-up, to measure it.
    ASSERT_TRUE(
        evil->Publish(subject, "_INBOX.evil.0", codec::EncodeSyncRequest({1, false, {}}))
            .ok());
    sim.RunFor(absl::Seconds(2));
    const uint64_t one = bytes;
    ASSERT_GT(one, 25000u);
    bytes = 0;
    const ReplicaStats before = a.stats();
    for (int i = 0; i < 1000; ++i) {
      const store::NodeId from = many_ids ? 1000 + i : 7;
      ASSERT_TRUE(evil->Publish(subject, absl::StrCat("_INBOX.evil.", i + 1),
                                codec::EncodeSyncRequest({from, false, {}}))
                      .ok());
    }
    sim.RunFor(absl::Seconds(1));
    const ReplicaStats after = a.stats();
    const uint64_t served = after.catchups_served - before.catchups_served;
    const uint64_t refused = after.catchups_refused - before.catchups_refused;
    EXPECT_EQ(served + refused, 1000u);
    // The burst (16) and one second at 8/s.
    EXPECT_LE(served, 16u + 8u + 1u);
    EXPECT_LE(bytes, (16 + 8 + 1) * one);
    // Still serving.
    EXPECT_TRUE(Set(a, "after", "x"));
  }
}

// Writes under 4,200 forged origins (each a legal write): a node's vector stops
// taking new origins at kMaxVectorOrigins (the rest are refused, counted), so its
// heartbeats and chunks still decode at its peers, and the replicas converge.
TEST(ReplicaHostile, VectorsStopAtTheMostOriginsAMessageMayCarry) {
  Simulation sim(Options(3));
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << sim.Describe();
  std::unique_ptr<Bus> evil = sim.network().Connect(kAttacker);
  constexpr int kOrigins = 4200;
  for (int i = 0; i < kOrigins; ++i) {
    Store origin(1000000 + i, sim.network().clock(), store::Limits());
    auto change = origin.Set(absl::StrCat("fake", i % 10), "x", std::nullopt);
    ASSERT_TRUE(change.ok() && change->event);
    ASSERT_TRUE(
        evil->Publish("_kv.default.events", "", codec::EncodeEvents({*change->event}))
            .ok());
  }
  sim.RunFor(absl::Seconds(3));
  for (int n : {0, 1}) {
    const ReplicaStats s = sim.replica(n).stats();
    EXPECT_LE(s.vv.size(), codec::kMaxVectorOrigins);
    // Room is kept for the replica's own origin.
    EXPECT_EQ(s.events_refused, kOrigins - (codec::kMaxVectorOrigins - 1));
    EXPECT_EQ(s.bad_messages, 0u);  // every heartbeat decoded
    EXPECT_EQ(s.lag, 0u);
  }
  // A replica that never wrote still can.
  ASSERT_TRUE(Set(sim.replica(0), "after", "y"));
  sim.RunFor(absl::Seconds(1));
  EXPECT_EQ(sim.replica(0).stats().digest, sim.replica(1).stats().digest);
  EXPECT_EQ(sim.replica(0).stats().vv, sim.replica(1).stats().vv);
  EXPECT_EQ(sim.replica(0).stats().vv.size(), codec::kMaxVectorOrigins);
  EXPECT_EQ(sim.replica(1).stats().bad_messages, 0u);
}

}  // namespace
}  // namespace kv::replication
