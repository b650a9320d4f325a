// Store::Revision and Store::Summarize.
#include <optional>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/store.h"

namespace kv::store {
namespace {

TEST(StoreRevision, GrowsWithEveryWriteAndIsZeroWhenAbsent) {
  FakeClock clock;
  Store s(1, &clock);
  EXPECT_EQ(s.Revision("k"), 0u);
  ASSERT_TRUE(s.Set("k", "v", std::nullopt).ok());
  const uint64_t r1 = s.Revision("k");
  EXPECT_GT(r1, 0u);
  ASSERT_TRUE(s.Set("k", "v", std::nullopt).ok());  // same value: still a write
  const uint64_t r2 = s.Revision("k");
  EXPECT_GT(r2, r1);
  ASSERT_TRUE(s.Expire("k", absl::Seconds(10)).ok());
  const uint64_t r3 = s.Revision("k");
  EXPECT_GT(r3, r2);
  ASSERT_TRUE(s.Persist("k").ok());
  EXPECT_GT(s.Revision("k"), r3);
  ASSERT_TRUE(s.Del("k").ok());
  EXPECT_EQ(s.Revision("k"), 0u);
  ASSERT_TRUE(s.Set("t", "v", absl::Seconds(1)).ok());
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ(s.Revision("t"), 0u);  // expired
}

TEST(StoreRevision, SameOnReplicasThatAppliedTheSameEvents) {
  FakeClock clock;
  Store a(1, &clock), b(2, &clock);
  auto push = a.Push("l", "x");
  ASSERT_TRUE(push.ok());
  ASSERT_TRUE(b.Apply(*push->event).ok());
  auto push2 = b.Push("l", "y");
  ASSERT_TRUE(push2.ok());
  ASSERT_TRUE(a.Apply(*push2->event).ok());
  EXPECT_EQ(a.Revision("l"), b.Revision("l"));
  EXPECT_GT(a.Revision("l"), 0u);
}

TEST(StoreRevision, SummarizeEachType) {
  FakeClock clock;
  Store s(1, &clock);
  ASSERT_TRUE(s.Set("r", "hello", std::nullopt).ok());
  ASSERT_TRUE(s.Add("c", 5).ok());
  ASSERT_TRUE(s.Push("l", "a").ok());
  ASSERT_TRUE(s.Push("l", "b").ok());
  ASSERT_TRUE(s.SetAdd("s", "x").ok());
  KeySummary r = s.Summarize("r");
  EXPECT_EQ(r.type, KeySummary::Type::kString);
  EXPECT_EQ(r.value, "hello");
  EXPECT_EQ(r.revision, s.Revision("r"));
  EXPECT_EQ(s.Summarize("c").count, 5);
  EXPECT_EQ(s.Summarize("l").type, KeySummary::Type::kList);
  EXPECT_EQ(s.Summarize("l").count, 2);
  EXPECT_EQ(s.Summarize("s").count, 1);
  EXPECT_EQ(s.Summarize("missing").type, KeySummary::Type::kNone);
  EXPECT_EQ(s.Summarize("missing").revision, 0u);
}

}  // namespace
}  // namespace kv::store
