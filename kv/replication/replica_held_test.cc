// Held mutations (MutationContext::hold): the events of several writes leave as
// one message at FlushHeld, in seq order, and the peers apply them; their change
// notifications are not held (the observer publishes them on its own).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/codec/binary.h"
#include "kv/replication/replica.h"
#include "kv/replication/sim/simulation.h"
#include "kv/store/store.h"

namespace kv::replication {
namespace {

using sim::Simulation;
using store::Store;

// What a publisher was handed, in order.
struct Captured {
  std::vector<std::pair<std::string, std::string>> messages;
  EventPublisher publisher() {
    return [this](absl::string_view subject, absl::string_view data) {
      messages.emplace_back(subject, data);
      return absl::OkStatus();
    };
  }
  // The seqs of each events message, in order.
  std::vector<std::vector<uint64_t>> EventSeqs() const {
    std::vector<std::vector<uint64_t>> out;
    for (const auto& [subject, data] : messages) {
      if (!absl::EndsWith(subject, ".events")) continue;
      auto events = codec::DecodeEvents(data);
      EXPECT_TRUE(events.ok()) << events.status();
      out.emplace_back();
      for (const store::Event& e : *events) out.back().push_back(e.dot.seq);
    }
    return out;
  }
};

// With `notes`: the keys of the changes the observer is told of, in order.
sim::SimulationOptions Options(std::vector<std::string>* notes = nullptr) {
  sim::SimulationOptions o = sim::FastOptions(7);
  o.replica.on_change = [notes](const Store&, const store::Event& event,
                                absl::string_view) {
    if (notes != nullptr) notes->push_back(event.delta.key);
  };
  return o;
}

absl::StatusOr<bool> Set(Replica& r, const std::string& key, const std::string& value,
                         MutationContext* context) {
  return r.Mutate([&](Store& s) { return s.Set(key, value, std::nullopt); }, context);
}

TEST(ReplicaHeld, EventsOfHeldWritesLeaveAsOneMessage) {
  std::vector<std::string> told;
  Simulation sim(Options(&told));
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  Replica& r = sim.replica(0);
  Captured captured;
  for (int i = 0; i < 3; ++i) {
    MutationContext context;
    context.hold = true;
    context.publish = captured.publisher();
    ASSERT_TRUE(Set(r, absl::StrCat("k", i), "v", &context).ok());
    ASSERT_TRUE(context.dot.has_value());
    EXPECT_EQ(context.dot->seq, static_cast<uint64_t>(i + 1));
  }
  EXPECT_TRUE(captured.messages.empty()) << "held output left before FlushHeld";
  EXPECT_EQ(r.stats().events_out, 0u);
  // The observer heard of each change, in seq order, as it was made.
  EXPECT_EQ(told, (std::vector<std::string>{"k0", "k1", "k2"}));

  r.FlushHeld(captured.publisher());
  ASSERT_EQ(captured.messages.size(), 1u);
  EXPECT_EQ(captured.EventSeqs(), (std::vector<std::vector<uint64_t>>{{1, 2, 3}}));
  EXPECT_EQ(r.stats().events_out, 3u);
  r.FlushHeld(captured.publisher());  // nothing more
  EXPECT_EQ(captured.messages.size(), 1u);
}

TEST(ReplicaHeld, PeersApplyAFlushedBatch) {
  Simulation sim(Options());
  sim.AddNode();
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  for (int i = 0; i < 5; ++i) {
    MutationContext context;  // no publisher: FlushHeld's goes to the bus
    context.hold = true;
    ASSERT_TRUE(Set(sim.replica(0), absl::StrCat("k", i), "v", &context).ok());
  }
  sim.RunFor(absl::Milliseconds(50));
  EXPECT_EQ(sim.replica(1).stats().events_in, 0u);
  sim.replica(0).FlushHeld(EventPublisher());
  sim.RunFor(absl::Milliseconds(50));
  EXPECT_EQ(sim.replica(1).stats().events_in, 5u);
  EXPECT_EQ(sim.replica(1).stats().gaps, 0u);
  EXPECT_TRUE(sim.Divergence().empty()) << sim.Divergence();
}

// A write published at once (a lone request, a one-winner decision) after held
// ones: the held events leave first, on the bus's connection, which carries
// their held replies after them.
TEST(ReplicaHeld, AWritePublishedAtOnceFlushesTheHeldOnesFirst) {
  Simulation sim(Options());
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  Replica& r = sim.replica(0);
  Captured captured;
  for (int i = 0; i < 2; ++i) {
    MutationContext context;
    context.hold = true;
    context.publish = captured.publisher();
    ASSERT_TRUE(Set(r, absl::StrCat("k", i), "v", &context).ok());
  }
  const uint64_t out_before = r.stats().events_out;
  MutationContext now;
  now.publish = captured.publisher();
  ASSERT_TRUE(Set(r, "k2", "v", &now).ok());
  // The held ones left first, on the bus (the connection their held replies
  // follow on), then this one through its publisher.
  EXPECT_EQ(r.stats().events_out, out_before + 3);
  EXPECT_EQ(captured.EventSeqs(), (std::vector<std::vector<uint64_t>>{{3}}));
  ASSERT_EQ(captured.messages.size(), 1u);
}

// Held output is bounded: messages stay within the max payload, and past
// kMaxHeldBytes what is held leaves at once through the write's publisher.
TEST(ReplicaHeld, HeldOutputIsBoundedInBytes) {
  Simulation sim(Options());
  sim.AddNode();
  ASSERT_TRUE(sim.RunUntilReady(absl::Seconds(2)));
  Replica& r = sim.replica(0);
  Captured captured;
  const std::string value(1000, 'v');
  int writes = 0;
  while (captured.messages.empty() && writes < 1000) {
    MutationContext context;
    context.hold = true;
    context.publish = captured.publisher();
    ASSERT_TRUE(Set(r, absl::StrCat("k", writes++), value, &context).ok());
  }
  ASSERT_FALSE(captured.messages.empty()) << "nothing left after " << writes << " writes";
  // About kMaxHeldBytes were held before the replica published them.
  EXPECT_GE(writes * 1000, static_cast<int>(Replica::kMaxHeldBytes) / 2);
  EXPECT_LE(writes * 1000, static_cast<int>(Replica::kMaxHeldBytes));
  uint64_t next = 1;
  for (const auto& seqs : captured.EventSeqs()) {
    for (uint64_t seq : seqs) EXPECT_EQ(seq, next++);
  }
  EXPECT_EQ(next, static_cast<uint64_t>(writes) + 1);
  for (const auto& [subject, data] : captured.messages) {
    EXPECT_LE(data.size(), 6u * 1024) << subject;
  }
}

}  // namespace
}  // namespace kv::replication
