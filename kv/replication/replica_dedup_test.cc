// The request log travels with events and with catch-ups: once a replica
// applied a write made with request id X, every replica that has its event
// (by the event message, by a catch-up, or by joining) knows X and its reply.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/replication/replica.h"
#include "kv/replication/sim/simulation.h"
#include "kv/store/hlc.h"
#include "kv/store/store.h"

namespace kv::replication {
namespace {

using sim::Simulation;
using sim::SimulationOptions;
using store::Store;

SimulationOptions Options(uint64_t seed) {
  SimulationOptions o = sim::FastOptions(seed);
  o.replica.limits.dedup_window = absl::Minutes(2);
  return o;
}

// An add of 1 to `key` made with request id `id` on `r`, recorded as the
// service does (kv/service/idempotent.h).
void AddWithId(Replica& r, const std::string& key, const std::string& id) {
  auto c = r.Mutate([&](Store& s) {
    auto change = s.Add(key, 1, std::nullopt);
    if (change.ok() && change->event) {
      store::RequestRecord record{id, absl::StrCat(R"({"value":)", change->result, "}"),
                                  store::HlcMillis(store::EventHlc(*change->event))};
      change->event->request = record;
      s.requests().Record(record, s.Now());
    }
    return change;
  });
  ASSERT_TRUE(c.ok()) << c.status();
}

// The reply replica `r` recorded for `id` ("" when it knows none).
std::string Known(Replica& r, const std::string& id) {
  return r.Read([&](const Store& s) {
    const store::RequestRecord* rec = s.requests().Find(id, s.Now());
    return rec == nullptr ? std::string() : rec->reply;
  });
}

TEST(ReplicaDedup, TheIdTravelsWithTheEvent) {
  Simulation sim(Options(1));
  for (int i = 0; i < 2; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  AddWithId(sim.replica(0), "n", "x");
  EXPECT_EQ(Known(sim.replica(0), "x"), R"({"value":1})");
  sim.RunFor(absl::Milliseconds(50));
  EXPECT_EQ(Known(sim.replica(1), "x"), R"({"value":1})");
  EXPECT_EQ(Known(sim.replica(1), "y"), "");
}

TEST(ReplicaDedup, TheIdTravelsWithACatchUp) {
  Simulation sim(Options(2));
  for (int i = 0; i < 2; ++i) sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  // Node 1 misses the event; the heartbeats then lead it to catch up.
  sim.Partition(0, 1);
  AddWithId(sim.replica(0), "n", "x");
  sim.RunFor(absl::Milliseconds(50));
  EXPECT_EQ(Known(sim.replica(1), "x"), "");
  sim.HealAll();
  sim.RunFor(absl::Seconds(2));
  EXPECT_EQ(Known(sim.replica(1), "x"), R"({"value":1})") << sim.Describe();
  EXPECT_GT(sim.replica(1).stats().catchups, 0u);
}

TEST(ReplicaDedup, AJoinerGetsTheLiveIds) {
  Simulation sim(Options(3));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << sim.Describe();
  for (int i = 0; i < 30; ++i) AddWithId(sim.replica(0), "n", absl::StrCat("id", i));
  sim.RunFor(absl::Seconds(1));
  const int joiner = sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << sim.Describe();
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(Known(sim.replica(joiner), absl::StrCat("id", i)),
              absl::StrCat(R"({"value":)", i + 1, "}"))
        << i;
  }
  // Past the window, they are gone everywhere.
  sim.RunFor(absl::Minutes(2));
  EXPECT_EQ(Known(sim.replica(joiner), "id29"), "");
  EXPECT_EQ(Known(sim.replica(0), "id29"), "");
}

// A catch-up's last chunk carries what fits of the log, newest first.
TEST(ReplicaDedup, AJoinerGetsTheNewestIdsThatFitInTheLastChunk) {
  Simulation sim(Options(4));  // a 6 KiB max payload
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << sim.Describe();
  const std::string pad(100, 'p');
  for (int i = 0; i < 200; ++i) {
    AddWithId(sim.replica(0), "n", absl::StrCat(pad, i));
    sim.RunFor(absl::Milliseconds(1));  // each a millisecond newer
  }
  sim.RunFor(absl::Seconds(1));
  const int joiner = sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(5))) << sim.Describe();
  EXPECT_NE(Known(sim.replica(joiner), absl::StrCat(pad, 199)), "");
  EXPECT_EQ(Known(sim.replica(joiner), absl::StrCat(pad, 0)), "");
  EXPECT_TRUE(sim.Divergence().empty()) << sim.Divergence();
}

}  // namespace
}  // namespace kv::replication
