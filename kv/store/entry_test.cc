#include "kv/store/entry.h"

#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"
#include "kv/store/state.h"

namespace kv::store::internal {
namespace {

// Frees an entry at the end of a test.
struct Owned {
  explicit Owned(Entry* e) : e(e) {}
  ~Owned() { Entry::Destroy(e); }
  Entry* e;
};

// The header is paid once per key: keep it from growing unnoticed.
TEST(Entry, HeaderIsAtMostFiftySixBytes) { EXPECT_LE(sizeof(Entry), 56u); }

TEST(Entry, HoldsKeyAndValueInOneAllocation) {
  Owned o(Entry::Create("key", "value"));
  EXPECT_EQ(o.e->key(), "key");
  EXPECT_EQ(o.e->value(), "value");
  EXPECT_EQ(o.e->AllocBytes(), HeapChunk(sizeof(Entry) + 3 + 5));
  EXPECT_EQ(o.e->HeapBytes(), o.e->AllocBytes());
  EXPECT_FALSE(o.e->has_register());
  EXPECT_TRUE(o.e->Empty());
}

TEST(Entry, BinaryKeysAndValues) {
  const std::string key("a\0b", 3), value("\0\xff\0", 3);
  Owned o(Entry::Create(key, value));
  EXPECT_EQ(o.e->key(), key);
  EXPECT_EQ(o.e->value(), value);
}

TEST(Entry, WithValueKeepsRegisterAndExtras) {
  Entry* e = Entry::Create("k", "old");
  e->SetRegister(RegisterState{Stamp{7, 2}, 3, true, "", 1234});
  e->MutableExtras().bytes = 10;
  Extras* extras = e->extras;
  // Same size: reused in place.
  e = Entry::WithValue(e, "new");
  // Another size: a new allocation with the same fields.
  Owned o(Entry::WithValue(e, "a longer value"));
  EXPECT_EQ(o.e->key(), "k");
  EXPECT_EQ(o.e->value(), "a longer value");
  EXPECT_EQ(o.e->reg_stamp(), (Stamp{7, 2}));
  EXPECT_EQ(o.e->reg_dot(), (Dot{2, 3}));
  EXPECT_TRUE(o.e->live());
  EXPECT_EQ(o.e->expires_ms, 1234);
  EXPECT_EQ(o.e->extras, extras);
  EXPECT_EQ(o.e->HeapBytes(), o.e->AllocBytes() + 10);
}

TEST(Entry, RegisterVisibleUntilExpiry) {
  Owned o(Entry::Create("k", "v"));
  EXPECT_FALSE(o.e->RegisterVisible(0));
  o.e->SetRegister(RegisterState{Stamp{1, 1}, 1, true, "v", 100});
  EXPECT_TRUE(o.e->RegisterVisible(99));
  EXPECT_FALSE(o.e->RegisterVisible(100));
  o.e->SetRegister(RegisterState{Stamp{2, 1}, 2, false, "", 100});
  EXPECT_TRUE(o.e->has_register());
  EXPECT_FALSE(o.e->RegisterVisible(0));
  EXPECT_EQ(o.e->expires_ms, 0);  // a tombstone does not expire
  o.e->ClearRegister();
  EXPECT_FALSE(o.e->has_register());
  EXPECT_EQ(o.e->reg_dot(), Dot{});
  EXPECT_TRUE(o.e->Empty());
}

TEST(Entry, EmptyOnlyWithoutRegisterAndComponents) {
  Owned o(Entry::Create("k", ""));
  o.e->MutableExtras();
  EXPECT_TRUE(o.e->Empty());
  o.e->extras->set.emplace();
  EXPECT_FALSE(o.e->Empty());
}

TEST(CounterComp, SumsLiveContributions) {
  CounterComp c;
  EXPECT_FALSE(c.Live());
  EXPECT_EQ(c.Value(), 0);
  c.incs[1] = CounterPart{1, 4, 1, 10, Dot{}};
  c.incs[2] = CounterPart{2, 2, 1, -3, Dot{}};
  EXPECT_TRUE(c.Live());
  EXPECT_EQ(c.Value(), 7);
}

TEST(CounterComp, RemovalOfTheLatestIncrementHidesTheOrigin) {
  CounterComp c;
  c.incs[1] = CounterPart{1, 4, 1, 10, Dot{}};
  c.dels[1] = CounterPart{1, 4, 1, 10, Dot{2, 9}};
  EXPECT_FALSE(c.Live());
  EXPECT_EQ(c.Value(), 0);
}

TEST(CounterComp, RemovalInTheSameEpochIsSubtracted) {
  CounterComp c;
  c.incs[1] = CounterPart{1, 6, 1, 15, Dot{}};
  c.dels[1] = CounterPart{1, 4, 1, 10, Dot{2, 9}};
  EXPECT_TRUE(c.Live());
  EXPECT_EQ(c.Value(), 5);
}

TEST(CounterComp, RemovalOfAnOlderEpochNoLongerCounts) {
  CounterComp c;
  c.incs[1] = CounterPart{1, 6, 6, 2, Dot{}};
  c.dels[1] = CounterPart{1, 4, 1, 10, Dot{2, 9}};
  EXPECT_EQ(c.Value(), 2);
}

TEST(CounterComp, SumsWrapInsteadOfOverflowing) {
  CounterComp c;
  c.incs[1] = CounterPart{1, 1, 1, std::numeric_limits<int64_t>::max(), Dot{}};
  c.incs[2] = CounterPart{2, 1, 1, 1, Dot{}};
  EXPECT_EQ(c.Value(), std::numeric_limits<int64_t>::min());
}

TEST(ListPos, OrdersByHlcThenNodeThenSeq) {
  EXPECT_TRUE((ListPos{1, 9, 9} < ListPos{2, 0, 0}));
  EXPECT_TRUE((ListPos{1, 1, 9} < ListPos{1, 2, 0}));
  EXPECT_TRUE((ListPos{1, 1, 1} < ListPos{1, 1, 2}));
  EXPECT_FALSE((ListPos{1, 1, 1} < ListPos{1, 1, 1}));
}

}  // namespace
}  // namespace kv::store::internal
