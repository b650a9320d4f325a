#include "kv/replication/joiner.h"

#include "gtest/gtest.h"

namespace kv::replication {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

JoinerOptions Options() {
  JoinerOptions o;
  o.heartbeat = absl::Milliseconds(100);
  o.first_replica_silence = absl::Milliseconds(300);
  o.exclude_for = absl::Seconds(1);
  return o;
}

TEST(Joiner, FirstOnlyWhenNoRespondersAfterTheSilence) {
  Joiner j(Options(), kT0);
  EXPECT_EQ(j.SilentUntil(), kT0 + absl::Milliseconds(300));
  // A "no responders" to a request sent before the silence is over: not yet.
  j.AskedAny(kT0);
  EXPECT_FALSE(j.NoResponders(kT0));
  EXPECT_EQ(j.ProbeAt(), kT0 + absl::Milliseconds(300));
  j.AskedAny(kT0 + absl::Milliseconds(300));
  EXPECT_EQ(j.ProbeAt(), absl::InfiniteFuture());
  EXPECT_TRUE(j.NoResponders(kT0 + absl::Milliseconds(300)));
}

TEST(Joiner, HeardPeerOrAnswerOrReconnectRestartsTheSilence) {
  Joiner j(Options(), kT0);
  j.Heard(7, kT0 + absl::Milliseconds(200));
  EXPECT_EQ(j.SilentUntil(), kT0 + absl::Milliseconds(500));
  EXPECT_FALSE(j.NoResponders(kT0 + absl::Milliseconds(400)));
  j.Answered(kT0 + absl::Milliseconds(300));
  EXPECT_EQ(j.SilentUntil(), kT0 + absl::Milliseconds(600));
  j.Connected(kT0 + absl::Milliseconds(400));
  EXPECT_EQ(j.SilentUntil(), kT0 + absl::Milliseconds(700));
  // Time never goes back.
  j.Connected(kT0);
  EXPECT_EQ(j.SilentUntil(), kT0 + absl::Milliseconds(700));
}

TEST(Joiner, CandidateIsTheLatestLivePeerNotExcluded) {
  Joiner j(Options(), kT0);
  EXPECT_EQ(j.Candidate(kT0), 0u);
  j.Heard(1, kT0);
  j.Heard(2, kT0 + absl::Milliseconds(50));
  EXPECT_EQ(j.Candidate(kT0 + absl::Milliseconds(60)), 2u);
  j.Failed(2, kT0 + absl::Milliseconds(60));
  EXPECT_TRUE(j.Excluded(2, kT0 + absl::Milliseconds(60)));
  EXPECT_EQ(j.Candidate(kT0 + absl::Milliseconds(60)), 1u);
  j.Failed(1, kT0 + absl::Milliseconds(70));
  EXPECT_EQ(j.Candidate(kT0 + absl::Milliseconds(70)), 0u);
  // Not live any more (3 heartbeats), then excluded no longer.
  j.Heard(3, kT0 + absl::Milliseconds(100));
  EXPECT_EQ(j.Candidate(kT0 + absl::Milliseconds(401)), 0u);
  EXPECT_FALSE(j.Excluded(2, kT0 + absl::Milliseconds(1060)));
  j.Heard(2, kT0 + absl::Milliseconds(1100));
  EXPECT_EQ(j.Candidate(kT0 + absl::Milliseconds(1100)), 2u);
  j.Failed(0, kT0);  // an unknown peer: nothing to exclude
  EXPECT_FALSE(j.Excluded(0, kT0));
}

}  // namespace
}  // namespace kv::replication
