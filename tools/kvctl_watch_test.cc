// kvctl watch's pure parts: subjects, the snapshot rule, the printed line.
#include "tools/kvctl_watch.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kv::tools {
namespace {

TEST(WatchSubjects, APrefixOfTokensNamesItsSubtreeAndTheEncodedKeys) {
  EXPECT_EQ(WatchSubjects("default", ""),
            (std::vector<std::string>{"kv.default.changes.>"}));
  EXPECT_EQ(WatchSubjects("l", "user."),
            (std::vector<std::string>{"kv.l.changes.user.>", "kv.l.changes._b64.>",
                                      "kv.l.changes._h.>"}));
  // Not whole tokens: every change, filtered by key.
  for (const char* prefix : {"user", "user.4", "a b.", "..", "_b64.", "*."}) {
    EXPECT_EQ(WatchSubjects("l", prefix), (std::vector<std::string>{"kv.l.changes.>"}))
        << prefix;
  }
}

TEST(ParseChange, ReadsANotification) {
  auto c =
      ParseChange(R"({"key":"a","op":"set","revision":9,"type":"string","value":"v",)"
                  R"("origin":"00000000000000ab","seq":3,"vv":"00000000000000ab:3"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->key, "a");
  EXPECT_EQ(c->origin, 0xabu);
  EXPECT_EQ(c->seq, 3u);
  EXPECT_EQ(FormatChange(*c), "set a = v  [rev 9 00000000000000ab:3]");
  auto bin =
      ParseChange(R"({"key":"/w==","op":"add","revision":9,"type":"counter","value":4,)"
                  R"("origin":"1","seq":4,"encoding":"base64"})");
  ASSERT_TRUE(bin.ok()) << bin.status();
  EXPECT_EQ(bin->key, "\xff");
  EXPECT_EQ(bin->count, 4);
  EXPECT_FALSE(ParseChange(R"({"key":"a"})").ok());
  EXPECT_FALSE(ParseChange("nope").ok());
}

// A notification for a key of a page is in it iff seq <= position[origin];
// a key beyond the pages read is not covered yet.
TEST(SnapshotRule, ANotificationIsInItsPageIffItsSeqIsAtMostThePosition) {
  auto first = ParseWatchPage(
      R"({"entries":[{"key":"a","revision":1,"type":"string","value":"x"}],)"
      R"("cursor":"a","position":"000000000000000a:5"})");
  ASSERT_TRUE(first.ok()) << first.status();
  auto last = ParseWatchPage(
      R"({"entries":[],"position":"000000000000000a:9,000000000000000b:2"})");
  ASSERT_TRUE(last.ok()) << last.status();
  SnapshotRule rule;
  Change c;
  c.key = "a";
  c.origin = 0xa;
  c.seq = 5;
  EXPECT_FALSE(rule.Covered(c));  // no page yet
  rule.AddPage(*first);
  EXPECT_TRUE(rule.Covered(c));
  c.seq = 6;
  EXPECT_FALSE(rule.Covered(c));
  c.key = "b";  // beyond the first page's cursor
  EXPECT_FALSE(rule.Covered(c));
  rule.AddPage(*last);
  EXPECT_TRUE(rule.Covered(c));
  c.origin = 0xb;
  c.seq = 3;
  EXPECT_FALSE(rule.Covered(c));
  c.origin = 0xc;
  c.seq = 1;
  EXPECT_FALSE(rule.Covered(c));
  c.seq = 0;  // an expiry
  EXPECT_FALSE(rule.Covered(c));
}

}  // namespace
}  // namespace kv::tools
