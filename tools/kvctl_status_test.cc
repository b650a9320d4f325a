#include "tools/kvctl_status.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace kv::tools {
namespace {

// A STATS reply of instance `id` whose endpoints carry the data of `link`.
std::string Reply(const std::string& id, const std::string& link, const std::string& node,
                  const std::string& digest, bool ready = true, int keys = 3) {
  const std::string data = absl::StrCat(
      R"({"link":")", link, R"(","node":")", node, R"(","ready":)",
      ready ? "true" : "false", R"(,"keys":)", keys,
      R"(,"memory_bytes":640,"peers":2,"lag":0,"digest":")", digest, R"("})");
  return absl::StrCat(R"({"name":"kv","id":")", id, R"(","endpoints":[)", R"({"name":")",
                      link, R"(_get","data":)", data, "},", R"({"name":")", link,
                      R"(_set","data":)", data, "}]}");
}

TEST(ParseReplicaRows, OneRowPerInstanceAndLinkSortedByNode) {
  const std::vector<std::string> replies = {
      Reply("I2", "default", "bb", "d1"), Reply("I1", "default", "aa", "d1"),
      Reply("I3", "other", "cc", "d9"), "not json", R"({"id":"x","endpoints":[{}]})"};
  std::vector<ReplicaRow> rows = ParseReplicaRows(replies, "default");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].node, "aa");
  EXPECT_EQ(rows[0].instance, "I1");
  EXPECT_EQ(rows[0].keys, 3);
  EXPECT_EQ(rows[0].memory_bytes, 640);
  EXPECT_FALSE(rows[0].tombstones.has_value());
  EXPECT_EQ(rows[0].peers, 2);
  EXPECT_EQ(rows[1].node, "bb");
  EXPECT_EQ(ParseReplicaRows(replies, "").size(), 3u);
}

TEST(ParseReplicaRows, LiveKeysAndTombstonesWhenReported) {
  const std::string reply =
      R"({"id":"I","endpoints":[{"data":{"link":"l","node":"n","keys":10,"live_keys":7,)"
      R"("tombstones":3,"digest":"d"}}]})";
  std::vector<ReplicaRow> rows = ParseReplicaRows({reply}, "l");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].keys, 7);
  EXPECT_EQ(rows[0].tombstones, 3);
  EXPECT_FALSE(rows[0].memory_bytes.has_value());
}

TEST(Disagreeing, TheMinorityOrEveryoneOnATie) {
  std::vector<ReplicaRow> rows(3);
  rows[0].digest = rows[1].digest = "d1";
  rows[2].digest = "d2";
  EXPECT_EQ(Disagreeing(rows), (std::vector<bool>{false, false, true}));
  rows.pop_back();
  rows[1].digest = "d2";
  EXPECT_EQ(Disagreeing(rows), (std::vector<bool>{true, true}));
  rows[1].link = "other";  // alone on its link: agrees
  EXPECT_EQ(Disagreeing(rows), (std::vector<bool>{false, false}));
}

TEST(FormatReplicaRows, MarksTheReplicaThatDiffers) {
  const std::vector<ReplicaRow> rows = ParseReplicaRows(
      {Reply("I1", "default", "aa", "d1"), Reply("I2", "default", "bb", "d1"),
       Reply("I3", "default", "cc", "d2", false, 1)},
      "default");
  EXPECT_EQ(
      FormatReplicaRows(rows),
      "NODE/INSTANCE  LINK     READY  KEYS  TOMBSTONES  MEMORY  PEERS  LAG  DIGEST  "
      "AGREES\n"
      "aa/I1          default  yes       3           -     640      2    0  d1      "
      "yes\n"
      "bb/I2          default  yes       3           -     640      2    0  d1      "
      "yes\n"
      "cc/I3          default  no        1           -     640      2    0  d2      "
      "no\n");
}

TEST(CheckAgreement, OkOnlyWhenAllReadyWithOneDigest) {
  auto rows = ParseReplicaRows(
      {Reply("I1", "default", "aa", "d1"), Reply("I2", "default", "bb", "d1")},
      "default");
  Agreement a = CheckAgreement(rows, "default");
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.message, "2 replicas of link default agree: digest d1");

  rows = ParseReplicaRows({Reply("I1", "default", "aa", "d1"),
                           Reply("I2", "default", "bb", "d1", /*ready=*/false)},
                          "default");
  a = CheckAgreement(rows, "default");
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.message, "not ready: bb/I2");

  rows = ParseReplicaRows(
      {Reply("I1", "default", "aa", "d1"), Reply("I2", "default", "bb", "d1"),
       Reply("I3", "default", "cc", "d2", true, 5)},
      "default");
  a = CheckAgreement(rows, "default");
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.message,
            "replicas of link default differ:\n"
            "  aa/I1 digest d1 keys 3\n"
            "  bb/I2 digest d1 keys 3\n"
            "  cc/I3 digest d2 keys 5  (differs)");

  a = CheckAgreement({}, "default");
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.message, "no replica of link default answered");
}

}  // namespace
}  // namespace kv::tools
