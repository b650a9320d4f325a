#include "kv/memory_flags.h"

#include "absl/flags/flag.h"
#include "gtest/gtest.h"

namespace kv {
namespace {

TEST(MemoryFlags, ParsesSizesWithSuffixes) {
  EXPECT_EQ(*ParseBytes("0"), 0u);
  EXPECT_EQ(*ParseBytes("1048576"), 1048576u);
  EXPECT_EQ(*ParseBytes("512KiB"), 512u << 10);
  EXPECT_EQ(*ParseBytes("64MiB"), 64u << 20);
  EXPECT_EQ(*ParseBytes("2gib"), 2ull << 30);
  EXPECT_EQ(*ParseBytes("1TiB"), 1ull << 40);
  EXPECT_EQ(*ParseBytes("3MB"), 3000000u);
  EXPECT_EQ(*ParseBytes(" 100B "), 100u);
  for (const char* bad : {"", "MiB", "-1", "1.5GiB", "12 apples", "99999999999TiB"}) {
    EXPECT_FALSE(ParseBytes(bad).ok()) << bad;
  }
}

TEST(MemoryFlags, ParsesPolicies) {
  EXPECT_EQ(*ParseEviction("allkeys-lru"), store::Eviction::kAllKeysLru);
  EXPECT_EQ(*ParseEviction("volatile-ttl"), store::Eviction::kVolatileTtl);
  EXPECT_EQ(*ParseEviction("noeviction"), store::Eviction::kNoEviction);
  EXPECT_FALSE(ParseEviction("lru").ok());
}

TEST(MemoryFlags, DedupWindowDefaultsToTwoMinutesAndIsBounded) {
  store::Limits limits;
  ASSERT_TRUE(ApplyMemoryFlags(&limits).ok());
  EXPECT_EQ(limits.dedup_window, absl::Minutes(2));
  absl::SetFlag(&FLAGS_dedup_window, absl::ZeroDuration());
  ASSERT_TRUE(ApplyMemoryFlags(&limits).ok());
  EXPECT_EQ(limits.dedup_window, absl::ZeroDuration());
  absl::SetFlag(&FLAGS_dedup_window, absl::Hours(25));
  absl::Status s = ApplyMemoryFlags(&limits);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("--dedup_window"), absl::string_view::npos);
  absl::SetFlag(&FLAGS_dedup_window, absl::Minutes(2));
}

}  // namespace
}  // namespace kv
