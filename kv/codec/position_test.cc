#include "kv/codec/position.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace kv::codec {
namespace {

TEST(Position, RoundTrips) {
  const store::VersionVector p = {{0x1a2b, 7}, {0xffffffffffffffff, 1}};
  const std::string text = FormatPosition(p);
  EXPECT_EQ(text, "0000000000001a2b:7,ffffffffffffffff:1");
  auto parsed = ParsePosition(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, p);
}

TEST(Position, AcceptsShortNodesSpacesAndRepeats) {
  auto parsed = ParsePosition(" A:3 , a:5,b:1");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, (store::VersionVector{{0xa, 5}, {0xb, 1}}));
}

TEST(Position, RejectsGarbage) {
  for (const char* bad :
       {"", ",", "abc", "abc:", ":5", "0:5", "g1:5", "a:0", "a:-1", "a:+1", "a:1x",
        "a:1,", "11111111111111111:1", "a:99999999999999999999999", "a:1;b:2", "a :1"}) {
    auto parsed = ParsePosition(bad);
    EXPECT_FALSE(parsed.ok()) << "'" << bad << "'";
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(parsed.status().message().find("Kv-After"), absl::string_view::npos);
    }
  }
}

TEST(Position, BoundsTheNumberOfEntries) {
  std::string text;
  for (size_t i = 1; i <= kMaxPositionEntries; ++i) {
    absl::StrAppend(&text, i == 1 ? "" : ",", absl::Hex(i), ":1");
  }
  EXPECT_TRUE(ParsePosition(text).ok());
  EXPECT_FALSE(ParsePosition(absl::StrCat(text, ",ffff:1")).ok());
  EXPECT_FALSE(ParsePosition(std::string(100000, 'a')).ok());
}

TEST(Position, AdvanceKeepsTheHigherSeq) {
  store::VersionVector p;
  Advance(&p, {1, 5});
  Advance(&p, {1, 3});
  Advance(&p, {2, 1});
  EXPECT_EQ(p, (store::VersionVector{{1, 5}, {2, 1}}));
}

}  // namespace
}  // namespace kv::codec
