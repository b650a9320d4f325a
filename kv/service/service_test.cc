#include "kv/service/service.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "kv/replication/replica_stats.h"

namespace kv::service {
namespace {

TEST(StatsData, PrintsTheWholeVectorWithinItsBudget) {
  replication::ReplicaStats s;
  s.vv = {{1, 5}, {2, 7}};
  const std::string data = StatsData(s, 0, 0, 1024);
  EXPECT_TRUE(
      absl::StrContains(data, "\"vv\":{\"0000000000000001\":5,\"0000000000000002\":7}}"))
      << data;
  EXPECT_FALSE(absl::StrContains(data, "vv_omitted")) << data;
}

// A vector of many origins (every node id a link ever had) is capped: the
// highest seqs are kept and the others counted, so STATS stays small.
TEST(StatsData, CapsTheVectorByBytesKeepingTheHighestSeqs) {
  replication::ReplicaStats s;
  for (uint64_t n = 1; n <= 10000; ++n) s.vv[n] = n;
  const std::string data = StatsData(s, 0, 0, 1024);
  EXPECT_LT(data.size(), 2048u) << data.size();
  EXPECT_TRUE(absl::StrContains(data, "\"vv_omitted\":")) << data;
  EXPECT_TRUE(absl::StrContains(data, absl::StrFormat("\"%016x\":10000", 10000)));
  EXPECT_FALSE(absl::StrContains(data, absl::StrFormat("\"%016x\":1,", 1)));
  const size_t kept = 10000 - std::stoul(data.substr(data.find("vv_omitted\":") + 12));
  EXPECT_GT(kept, 30u);
  EXPECT_LT(kept, 50u);
}

TEST(StatsVvBytes, IsAShareOfTheReplyBudget) {
  store::Limits limits;
  EXPECT_EQ(StatsVvBytes(limits), 0u);
  limits.max_reply_bytes = 1 << 20;
  EXPECT_EQ(StatsVvBytes(limits), 16u * 1024);
  limits.max_reply_bytes = 3000;
  EXPECT_EQ(StatsVvBytes(limits), 1024u);
}

}  // namespace
}  // namespace kv::service
