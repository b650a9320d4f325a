// The request log travels with events and with catch-ups: once a replica
// applied a write made with request id X, every replica that has its event
// (by the event message, by a catch-up, or by joining) knows X and its reply.
#include <memory>
#include <optional>
#include <random>
#include <set>
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

// A write with request id `id` on `r`, as the service makes it
// (kv/service/idempotent.h): skipped when `r` knows the id; else an add of 1
// (push = false) or a push of "item" to `key`, recorded with what `r` would
// take back. True when applied.
bool WriteWithId(Replica& r, const std::string& key, const std::string& id,
                 bool push = false) {
  bool applied = false;
  auto c = r.Mutate([&](Store& s) -> absl::StatusOr<store::Change<int64_t>> {
    if (s.requests().Find(id, s.Now()) != nullptr) {
      return store::Change<int64_t>{0, std::nullopt};
    }
    auto change = push ? s.Push(key, "item", std::nullopt) : s.Add(key, 1, std::nullopt);
    if (change.ok() && change->event) {
      store::RequestRecord record{id, absl::StrCat(R"({"value":)", change->result, "}"),
                                  store::HlcMillis(store::EventHlc(*change->event)),
                                  change->event->dot};
      change->event->request = record;
      s.requests().Record(record, s.Now(),
                          store::Withdrawal{key, record.dot, push ? 0 : 1, push});
      applied = true;
    }
    return change;
  });
  // A node catching up (a partition can send it back to a catch-up) refuses.
  EXPECT_TRUE(c.ok() || absl::IsUnavailable(c.status())) << c.status();
  return applied && c.ok();
}

void AddWithId(Replica& r, const std::string& key, const std::string& id) {
  ASSERT_TRUE(WriteWithId(r, key, id));
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

namespace kv::replication {
namespace {

int64_t Counter(Replica& r, const std::string& key) {
  return r.Read([&](const Store& s) -> int64_t {
    auto v = s.Get(key);
    return v.ok() && v->has_value() ? std::stoll(**v) : 0;
  });
}

int64_t Length(Replica& r, const std::string& key) {
  return r.Read([&](const Store& s) -> int64_t {
    auto items = s.Range(key, 0, -1);
    return items.ok() ? static_cast<int64_t>(items->size()) : -1;
  });
}

// Two sides of a partition both apply ids (an owner cut off from the others
// applied it, and a retry applied it again on the other side): once they hear
// of each other, every id counts once, on every replica.
TEST(ReplicaDedup, TwoApplicationsOfAnIdCountOnceWhenTheyMeet) {
  Simulation sim(Options(5));
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  sim.AddNode();  // joins the first
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2))) << sim.Describe();
  sim.Partition(0, 1);
  ASSERT_TRUE(WriteWithId(sim.replica(0), "n", "x"));
  ASSERT_TRUE(WriteWithId(sim.replica(0), "q", "y", /*push=*/true));
  sim.RunFor(absl::Milliseconds(20));
  ASSERT_TRUE(WriteWithId(sim.replica(1), "n", "x"));
  ASSERT_TRUE(WriteWithId(sim.replica(1), "q", "y", /*push=*/true));
  ASSERT_EQ(Counter(sim.replica(1), "n"), 1);
  sim.HealAll();
  sim.RunFor(absl::Seconds(3));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Counter(sim.replica(i), "n"), 1) << i << sim.Describe();
    EXPECT_EQ(Length(sim.replica(i), "q"), 1) << i;
    // Retries are answered the earlier application's reply everywhere.
    EXPECT_EQ(Known(sim.replica(i), "x"), R"({"value":1})") << i;
  }
  // The later application (node 1's) was taken back, by node 1 only.
  EXPECT_EQ(sim.replica(0).stats().withdrawn, 0u);
  EXPECT_EQ(sim.replica(1).stats().withdrawn, 2u);
  EXPECT_TRUE(sim.Divergence().empty()) << sim.Divergence();
}

// Random schedules: three nodes, node 0 cut off from the others while ids are
// written on every node (each applied where it is not known yet), then healed.
// Every counter and list ends counting each id once, on every replica.
TEST(ReplicaDedup, UnderRandomPartitionsEveryIdCountsOnce) {
  for (uint64_t seed = 10; seed < 30; ++seed) {
    Simulation sim(Options(seed));
    // One first replica, then two that join it (no provisional replicas).
    sim.AddNode();
    ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(3))) << seed << sim.Describe();
    for (int i = 1; i < 3; ++i) sim.AddNode();
    ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(3))) << seed << sim.Describe();
    sim.RunFor(absl::Seconds(1));
    std::mt19937_64 gen(seed);  // the schedule is the seed's
    auto uniform = [&gen](int lo, int hi) {
      return std::uniform_int_distribution<int>(lo, hi - 1)(gen);
    };
    sim.Partition(0, 1);
    sim.Partition(0, 2);
    std::set<std::string> adds, pushes;
    for (int i = 0; i < 60; ++i) {
      const int node = uniform(0, 3);
      const int id = uniform(0, 12);
      const bool push = id % 2 == 1;
      if (WriteWithId(sim.replica(node), push ? "q" : "n", absl::StrCat("id", id),
                      push)) {
        (push ? pushes : adds).insert(absl::StrCat("id", id));
      }
      sim.RunFor(absl::Milliseconds(uniform(0, 20)));
      if (i == 40) sim.HealAll();  // some writes meet the others' records first
    }
    sim.HealAll();
    sim.RunFor(absl::Seconds(5));
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(Counter(sim.replica(i), "n"), static_cast<int64_t>(adds.size()))
          << "seed " << seed << " node " << i;
      EXPECT_EQ(Length(sim.replica(i), "q"), static_cast<int64_t>(pushes.size()))
          << "seed " << seed << " node " << i;
    }
    EXPECT_TRUE(sim.Divergence().empty()) << "seed " << seed << sim.Divergence();
  }
}

}  // namespace
}  // namespace kv::replication
