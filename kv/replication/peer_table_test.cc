#include "kv/replication/peer_table.h"

#include "gtest/gtest.h"

namespace kv::replication {
namespace {

using store::VersionVector;

constexpr store::NodeId kSelf = 1;
constexpr store::NodeId kPeer = 2;
constexpr store::NodeId kOther = 3;
constexpr store::NodeId kAbsent = 4;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);
constexpr store::NodeId kFake = 0xfa4e;

PeerTableOptions Options() {
  PeerTableOptions o;
  o.heartbeat = absl::Seconds(1);
  o.divergence_grace = absl::Seconds(10);
  o.forget_after = absl::Minutes(10);
  return o;
}

// The tests below the bounds' are about proven peers: prove the usual ones.
void ProveAll(PeerTable& t) {
  for (store::NodeId n : {kPeer, kOther, kAbsent}) t.Prove(n, kT0);
}

codec::Heartbeat Beat(store::NodeId node, VersionVector vv, store::Digest digest = {},
                      uint64_t hlc = 0) {
  codec::Heartbeat hb;
  hb.node = node;
  hb.vv = std::move(vv);
  hb.digest = digest;
  hb.hlc = hlc;
  return hb;
}

TEST(VectorMath, MissingCountsWhatTheyHaveAndWeLack) {
  EXPECT_EQ(Missing({}, {}), 0u);
  EXPECT_EQ(Missing({{1, 5}}, {{1, 3}}), 0u);
  EXPECT_EQ(Missing({{1, 3}}, {{1, 5}, {2, 2}}), 4u);
  EXPECT_EQ(At({{1, 3}}, 2), 0u);
  EXPECT_TRUE(SameVector({{1, 0}}, {}));  // an absent origin counts as 0
  EXPECT_FALSE(SameVector({{1, 1}}, {}));
}

TEST(PeerTable, RecordSaysWhenAPeerIsNewOrBackFromSilence) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  EXPECT_TRUE(t.Record(Beat(kPeer, {}), kT0));
  EXPECT_FALSE(t.Record(Beat(kPeer, {}), kT0 + absl::Seconds(1)));
  EXPECT_FALSE(t.Record(Beat(kPeer, {}), kT0 + absl::Seconds(4)));  // exactly 3
  EXPECT_TRUE(t.Record(Beat(kPeer, {}), kT0 + absl::Seconds(8)));
}

TEST(PeerTable, TakeLostReportsAPeerOncePerSilence) {
  PeerTable t(kSelf, Options());
  t.RecordSelf({}, 0, kT0);
  t.Record(Beat(kPeer, {}), kT0);
  EXPECT_TRUE(t.TakeLost(kT0 + absl::Seconds(3)).empty());  // still live
  auto lost = t.TakeLost(kT0 + absl::Milliseconds(3500));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].first, kPeer);
  EXPECT_EQ(lost[0].second, absl::Milliseconds(3500));
  EXPECT_TRUE(t.TakeLost(kT0 + absl::Seconds(5)).empty());  // once
  // Back: seen again (Record says so), and lost again after a new silence.
  EXPECT_TRUE(t.Record(Beat(kPeer, {}), kT0 + absl::Seconds(6)));
  EXPECT_TRUE(t.TakeLost(kT0 + absl::Seconds(7)).empty());
  EXPECT_EQ(t.TakeLost(kT0 + absl::Seconds(10)).size(), 1u);
  // A goodbye is not a loss.
  t.Record(Beat(kOther, {}), kT0 + absl::Seconds(10));
  codec::Heartbeat bye = Beat(kOther, {});
  bye.goodbye = true;
  t.Record(bye, kT0 + absl::Seconds(11));
  EXPECT_TRUE(t.TakeLost(kT0 + absl::Seconds(20)).empty());
}

TEST(PeerTable, AheadNowIsNotYetALoss) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.Record(Beat(kPeer, {{kPeer, 3}}), kT0);
  // A first heartbeat is its own previous one: a new peer that is ahead is
  // asked at once.
  EXPECT_EQ(t.Decide(kPeer, {}, {}, {}, kT0), CatchUp::kMissing);
  t.Record(Beat(kPeer, {{kPeer, 5}}), kT0 + absl::Seconds(1));
  // We have what it had a heartbeat ago (3), not yet its newest (5).
  EXPECT_EQ(t.Decide(kPeer, {{kPeer, 3}}, {}, {}, kT0 + absl::Seconds(1)),
            CatchUp::kNone);
}

TEST(PeerTable, LostTailIsSeenAHeartbeatLater) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.Record(Beat(kPeer, {{kPeer, 5}}), kT0);
  EXPECT_EQ(t.Decide(kPeer, {{kPeer, 5}}, {}, {}, kT0), CatchUp::kNone);
  t.Record(Beat(kPeer, {{kPeer, 6}}), kT0 + absl::Seconds(1));
  EXPECT_EQ(t.Decide(kPeer, {{kPeer, 5}}, {}, {}, kT0 + absl::Seconds(1)),
            CatchUp::kNone);
  t.Record(Beat(kPeer, {{kPeer, 6}}), kT0 + absl::Seconds(2));
  // Still lacking seq 6 a heartbeat after the peer had it.
  EXPECT_EQ(t.Decide(kPeer, {{kPeer, 5}}, {}, {}, kT0 + absl::Seconds(2)),
            CatchUp::kMissing);
}

TEST(PeerTable, DivergenceNeedsEqualVectorsForLongerThanTheGrace) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  const VersionVector vv = {{kPeer, 2}};
  const store::Digest theirs{1, 1};
  const store::Digest ours{2, 2};
  absl::Time now = kT0;
  t.Record(Beat(kPeer, vv, theirs), now);
  EXPECT_EQ(t.Decide(kPeer, vv, {}, ours, now), CatchUp::kNone);  // timer starts
  now += absl::Seconds(10);
  t.Record(Beat(kPeer, vv, theirs), now);
  EXPECT_EQ(t.Decide(kPeer, vv, {}, ours, now), CatchUp::kNone);  // exactly the grace
  now += absl::Seconds(1);
  t.Record(Beat(kPeer, vv, theirs), now);
  EXPECT_EQ(t.Decide(kPeer, vv, {}, ours, now), CatchUp::kFull);
  // The timer starts over.
  now += absl::Seconds(1);
  t.Record(Beat(kPeer, vv, theirs), now);
  EXPECT_EQ(t.Decide(kPeer, vv, {}, ours, now), CatchUp::kNone);
}

TEST(PeerTable, DivergenceTimerResetsWhenDigestsAgreeOrVectorsDiffer) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  const VersionVector vv = {{kPeer, 2}};
  absl::Time now = kT0;
  t.Record(Beat(kPeer, vv, {1, 1}), now);
  EXPECT_EQ(t.Decide(kPeer, vv, {}, {2, 2}, now), CatchUp::kNone);
  now += absl::Seconds(6);
  t.Record(Beat(kPeer, vv, {2, 2}), now);  // agree: reset
  EXPECT_EQ(t.Decide(kPeer, vv, {}, {2, 2}, now), CatchUp::kNone);
  now += absl::Seconds(6);
  t.Record(Beat(kPeer, vv, {1, 1}), now);
  EXPECT_EQ(t.Decide(kPeer, vv, {}, {2, 2}, now), CatchUp::kNone);  // starts again
  now += absl::Seconds(6);
  t.Record(Beat(kPeer, vv, {1, 1}), now);
  EXPECT_EQ(t.Decide(kPeer, vv, {}, {2, 2}, now), CatchUp::kNone);  // 6 s < grace
}

TEST(PeerTable, UnknownPeerCallsForNothing) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  EXPECT_EQ(t.Decide(kPeer, {}, {}, {}, kT0), CatchUp::kNone);
}

TEST(PeerTable, LivePeersAndLagIgnoreSelfAndTheSilent) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.RecordSelf({{kSelf, 9}}, 0, kT0);
  t.Record(Beat(kPeer, {{kPeer, 4}}), kT0);
  t.Record(Beat(kOther, {{kOther, 7}}), kT0 - absl::Seconds(4));
  EXPECT_EQ(t.LivePeers(kT0), 1u);
  EXPECT_EQ(t.Lag({{kPeer, 1}}, kT0), 3u);  // kOther is silent for > 3 beats
  EXPECT_EQ(t.LivePeers(kT0 + absl::Seconds(4)), 0u);
}

TEST(PeerTable, StableVectorIsTheMinimumOfTheLiveVectors) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.RecordSelf({{kSelf, 9}, {kPeer, 4}}, 100, kT0);
  t.Record(Beat(kPeer, {{kSelf, 7}, {kPeer, 5}}, {}, 200), kT0);
  GcBounds b = t.Collect({{kSelf, 9}, {kPeer, 4}}, kT0);
  EXPECT_EQ(b.stable, (VersionVector{{kSelf, 7}, {kPeer, 4}}));
  EXPECT_TRUE(b.forgotten.empty());
  // Self's mark is at seq 9 (not stable: 7); the peer's at 5 (not stable: 4).
  EXPECT_EQ(b.hlc_floor, 0u);
}

TEST(PeerTable, HlcFloorTakesTheNewestMarkEveryoneApplied) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.RecordSelf({{kSelf, 1}}, 100, kT0);
  t.Record(Beat(kPeer, {{kPeer, 1}}, {}, 150), kT0);
  t.RecordSelf({{kSelf, 2}, {kPeer, 1}}, 300, kT0 + absl::Seconds(1));
  t.Record(Beat(kPeer, {{kSelf, 2}, {kPeer, 2}}, {}, 400), kT0 + absl::Seconds(1));
  GcBounds b = t.Collect({{kSelf, 2}, {kPeer, 1}}, kT0 + absl::Seconds(1));
  EXPECT_EQ(b.stable, (VersionVector{{kSelf, 2}, {kPeer, 1}}));
  // Self: marks (1,100), (2,300), both stable -> 300. Peer: (1,150) stable,
  // (2,400) not -> 150. Minimum: 150.
  EXPECT_EQ(b.hlc_floor, 150u);
}

TEST(PeerTable, NobodyKnownMeansNoFloor) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  GcBounds b = t.Collect({{kSelf, 3}}, kT0);
  EXPECT_EQ(b.stable, (VersionVector{{kSelf, 3}}));
  EXPECT_EQ(b.hlc_floor, 0u);
}

TEST(PeerTable, SilentPeersAreForgottenAfterForgetAfterOnly) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.RecordSelf({{kSelf, 5}}, 10, kT0);
  t.Record(Beat(kPeer, {{kSelf, 1}, {kPeer, 2}}, {}, 10), kT0);
  // A silent peer still holds the stable vector back until forgotten.
  GcBounds b = t.Collect({{kSelf, 5}}, kT0 + absl::Minutes(10));
  EXPECT_TRUE(b.forgotten.empty());
  EXPECT_EQ(b.stable, (VersionVector{{kSelf, 1}}));
  b = t.Collect({{kSelf, 5}}, kT0 + absl::Minutes(10) + absl::Seconds(1));
  EXPECT_EQ(b.forgotten, std::vector<store::NodeId>{kPeer});
  EXPECT_FALSE(t.Knows(kPeer));
  EXPECT_TRUE(t.Knows(kSelf));  // never forgotten
  EXPECT_EQ(b.stable, (VersionVector{{kSelf, 5}}));
}

TEST(PeerTable, MarksAreBounded) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  for (uint64_t i = 1; i <= 100; ++i) {
    t.Record(Beat(kPeer, {{kPeer, i}}, {}, i * 10), kT0 + absl::Seconds(i));
  }
  // Only the newest 64 marks remain: seq 37..100; the oldest stable is 37.
  GcBounds b = t.Collect({{kPeer, 40}}, kT0 + absl::Seconds(100));
  EXPECT_EQ(b.hlc_floor, 400u);
  b = t.Collect({{kPeer, 30}}, kT0 + absl::Seconds(100));
  EXPECT_EQ(b.hlc_floor, 0u);  // mark of seq 30 is gone
}

// ---- Whom collection waits for.

TEST(PeerTable, ListedMemberNeverHeardBlocksCollection) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.RecordSelf({{kSelf, 5}}, 10, kT0);
  codec::Heartbeat hb = Beat(kPeer, {{kSelf, 5}, {kPeer, 2}}, {}, 10);
  hb.members = {kSelf, kAbsent};  // it heard kAbsent, we never did
  t.Record(hb, kT0);
  GcBounds b = t.Collect({{kSelf, 5}, {kPeer, 2}}, kT0);
  EXPECT_FALSE(b.complete);
  EXPECT_EQ(b.waited, (std::vector<store::NodeId>{kSelf, kPeer, kAbsent}));
  // Once the peer no longer lists it (it forgot it), collection goes on.
  hb.members = {kSelf};
  t.Record(hb, kT0 + absl::Seconds(1));
  b = t.Collect({{kSelf, 5}, {kPeer, 2}}, kT0 + absl::Seconds(1));
  EXPECT_TRUE(b.complete);
  EXPECT_EQ(b.waited, (std::vector<store::NodeId>{kSelf, kPeer}));
}

TEST(PeerTable, JoinListCountsForForgetAfter) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.AddListed({kAbsent, kSelf}, kT0);
  EXPECT_FALSE(t.Collect({{kSelf, 1}}, kT0 + absl::Minutes(10)).complete);
  EXPECT_TRUE(t.Collect({{kSelf, 1}}, kT0 + absl::Minutes(11)).complete);
}

TEST(PeerTable, GoodbyeStopsTheWaitAtOnceAndForGood) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.RecordSelf({{kSelf, 5}}, 10, kT0);
  t.Record(Beat(kPeer, {{kSelf, 1}}, {}, 10), kT0);
  EXPECT_EQ(t.Collect({{kSelf, 5}}, kT0).stable, (VersionVector{{kSelf, 1}}));
  codec::Heartbeat bye = Beat(kPeer, {{kSelf, 1}});
  bye.goodbye = true;
  t.Record(bye, kT0 + absl::Seconds(1));
  EXPECT_FALSE(t.Knows(kPeer));
  EXPECT_EQ(t.Departed(kT0 + absl::Seconds(1)), std::vector<store::NodeId>{kPeer});
  // A heartbeat delayed past the goodbye does not bring it back.
  EXPECT_FALSE(t.Record(Beat(kPeer, {{kSelf, 1}}), kT0 + absl::Seconds(2)));
  EXPECT_FALSE(t.Knows(kPeer));
  GcBounds b = t.Collect({{kSelf, 5}}, kT0 + absl::Seconds(2));
  EXPECT_EQ(b.stable, (VersionVector{{kSelf, 5}}));
  EXPECT_EQ(b.waited, std::vector<store::NodeId>{kSelf});
}

TEST(PeerTable, DepartedListedByAPeerIsNotWaitedFor) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.RecordSelf({{kSelf, 5}}, 10, kT0);
  t.Record(Beat(kAbsent, {{kSelf, 1}}, {}, 10), kT0);  // its goodbye got lost
  codec::Heartbeat hb = Beat(kPeer, {{kSelf, 5}}, {}, 10);
  hb.departed = {kAbsent};
  t.Record(hb, kT0);
  GcBounds b = t.Collect({{kSelf, 5}}, kT0);
  EXPECT_EQ(b.waited, (std::vector<store::NodeId>{kSelf, kPeer}));
  EXPECT_EQ(b.stable, (VersionVector{{kSelf, 5}}));
  EXPECT_EQ(t.Members(kT0), std::vector<store::NodeId>{kPeer});
}

TEST(PeerTable, MembersAreThoseHeardDirectlyWithinForgetAfter) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.RecordSelf({}, 0, kT0);
  codec::Heartbeat hb = Beat(kPeer, {});
  hb.members = {kAbsent};  // not re-listed: only what we heard ourselves
  t.Record(hb, kT0);
  t.Record(Beat(kOther, {}), kT0 - absl::Minutes(10));
  EXPECT_EQ(t.Members(kT0), (std::vector<store::NodeId>{kPeer, kOther}));
  EXPECT_EQ(t.Members(kT0 + absl::Seconds(1)), std::vector<store::NodeId>{kPeer});
}

// ---- Stale replicas.

TEST(PeerTable, StaleWhenAPeerCollectedWhatWeNeverApplied) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  codec::Heartbeat hb = Beat(kPeer, {{kPeer, 9}, {kOther, 4}});
  hb.collected = {{kOther, 4}};
  EXPECT_TRUE(t.StaleAgainst(hb, {{kOther, 3}}, {}));
  EXPECT_FALSE(t.StaleAgainst(hb, {{kOther, 4}}, {}));
  // Each collected what the other lacks: the lower id resets.
  const VersionVector ours = {{kOther, 3}, {kSelf, 7}};
  const VersionVector our_collected = {{kSelf, 7}};
  EXPECT_TRUE(t.StaleAgainst(hb, ours, our_collected));  // kSelf < kPeer
  PeerTable high(kPeer + 10, Options());
  ProveAll(high);
  EXPECT_FALSE(high.StaleAgainst(hb, ours, our_collected));
  t.Record(hb, kT0);
  EXPECT_EQ(t.StalePeer({{kOther, 3}}, {}, kT0), kPeer);
  EXPECT_EQ(t.StalePeer({{kOther, 4}}, {}, kT0), 0u);
}

TEST(PeerTable, NoCatchUpFromAPeerLackingWhatWeCollected) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.Record(Beat(kPeer, {{kPeer, 9}, {kOther, 2}}), kT0);
  const VersionVector collected = {{kOther, 3}};
  EXPECT_FALSE(t.Usable(kPeer, collected, kT0));
  EXPECT_TRUE(t.Usable(kPeer, {{kOther, 2}}, kT0));
  EXPECT_FALSE(t.Usable(kAbsent, {}, kT0));
  EXPECT_EQ(t.Decide(kPeer, {{kOther, 3}}, collected, {}, kT0), CatchUp::kNone);
  EXPECT_EQ(t.Decide(kPeer, {{kOther, 3}}, {{kOther, 2}}, {}, kT0), CatchUp::kMissing);
}

TEST(PeerTable, DigestsAreComparedOnlyWithEqualWatermarks) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  const VersionVector vv = {{kPeer, 2}};
  codec::Heartbeat hb = Beat(kPeer, vv, {1, 1});
  hb.collected = {{kPeer, 1}};
  absl::Time now = kT0;
  for (int i = 0; i < 20; ++i, now += absl::Seconds(1)) {
    t.Record(hb, now);
    EXPECT_EQ(t.Decide(kPeer, vv, {}, {2, 2}, now), CatchUp::kNone);
  }
  for (int i = 0; i < 12; ++i, now += absl::Seconds(1)) t.Record(hb, now);
  t.Record(hb, now);
  EXPECT_EQ(t.Decide(kPeer, vv, {{kPeer, 1}}, {2, 2}, now), CatchUp::kNone);
  now += absl::Seconds(11);
  t.Record(hb, now);
  EXPECT_EQ(t.Decide(kPeer, vv, {{kPeer, 1}}, {2, 2}, now), CatchUp::kFull);
}

// ---- Untrusted heartbeats.

// A node nobody proved (no event applied, no chunk, not listed by a proven
// peer) claims a vector far ahead, collected records and departures: none of it
// counts.
TEST(PeerTable, UnprovenHeartbeatsDoNotCount) {
  PeerTable t(kSelf, Options());
  t.Prove(kPeer, kT0);
  t.RecordSelf({{kSelf, 5}, {kPeer, 2}}, 10, kT0);
  t.Record(Beat(kPeer, {{kSelf, 5}, {kPeer, 2}}, {}, 10), kT0);
  codec::Heartbeat fake = Beat(kFake, {{kSelf, 5}, {kPeer, 2}, {kFake, 1000000}}, {}, 1);
  fake.collected = {{kOther, 99}};
  fake.members = {kAbsent};
  fake.departed = {kPeer};
  t.Record(fake, kT0);
  EXPECT_TRUE(t.Knows(kFake));
  EXPECT_FALSE(t.Proven(kFake, kT0));
  const VersionVector ours = {{kSelf, 5}, {kPeer, 2}};
  EXPECT_EQ(t.Lag(ours, kT0), 0u);
  EXPECT_EQ(t.LivePeers(kT0), 1u);
  EXPECT_EQ(t.Decide(kFake, ours, {}, {}, kT0), CatchUp::kNone);
  EXPECT_FALSE(t.Usable(kFake, {}, kT0));
  EXPECT_EQ(t.StalePeer(ours, {}, kT0), 0u);
  EXPECT_EQ(t.Members(kT0), std::vector<store::NodeId>{kPeer});
  GcBounds b = t.Collect(ours, kT0);
  EXPECT_TRUE(b.complete);  // kAbsent, listed by the fake only, is not waited for
  EXPECT_EQ(b.waited, (std::vector<store::NodeId>{kSelf, kPeer}));  // kPeer too
  EXPECT_EQ(b.hlc_floor, 10u);  // the fake's marks do not hold it at 0
  // Once proven (an event of it was applied), it counts.
  t.Prove(kFake, kT0);
  EXPECT_GT(t.Lag(ours, kT0), 0u);
  EXPECT_EQ(t.Decide(kFake, ours, {}, {}, kT0), CatchUp::kMissing);
}

TEST(PeerTable, ListedByAProvenPeerIsProven) {
  PeerTable t(kSelf, Options());
  t.Prove(kPeer, kT0);
  codec::Heartbeat hb = Beat(kPeer, {});
  hb.members = {kOther};
  t.Record(hb, kT0);
  t.Record(Beat(kOther, {}), kT0);
  EXPECT_TRUE(t.Proven(kOther, kT0));
  EXPECT_EQ(t.Members(kT0), (std::vector<store::NodeId>{kPeer, kOther}));
  // A fake's listing proves nobody.
  codec::Heartbeat fake = Beat(kFake, {});
  fake.members = {kAbsent};
  t.Record(fake, kT0);
  t.Record(Beat(kAbsent, {}), kT0);
  EXPECT_FALSE(t.Proven(kAbsent, kT0));
  // A proof lasts while the node beats, and forget_after after its silence.
  t.Record(Beat(kPeer, {}), kT0 + absl::Minutes(9));
  EXPECT_TRUE(t.Proven(kPeer, kT0 + absl::Minutes(18)));
  EXPECT_FALSE(t.Proven(kPeer, kT0 + absl::Minutes(20)));
}

TEST(PeerTable, TableIsBoundedAndFakesNeverEvictProvenPeers) {
  PeerTable t(kSelf, Options());
  t.Prove(kPeer, kT0);
  t.Record(Beat(kPeer, {}), kT0);
  for (store::NodeId n = 1000; n < 1000 + PeerTable::kMaxPeers - 1; ++n) {
    t.Record(Beat(n, {}), kT0 + absl::Milliseconds(n));
  }
  EXPECT_EQ(t.ignored(), 0u);
  // Full: a new unproven node is ignored; the proven peer stays.
  t.Record(Beat(kFake, {}), kT0 + absl::Seconds(5));
  EXPECT_FALSE(t.Knows(kFake));
  EXPECT_EQ(t.ignored(), 1u);
  EXPECT_TRUE(t.Knows(kPeer));
  // A proven newcomer takes the place of the unproven one heard least recently.
  t.Prove(kOther, kT0);
  t.Record(Beat(kOther, {}), kT0 + absl::Seconds(5));
  EXPECT_TRUE(t.Knows(kOther));
  EXPECT_FALSE(t.Knows(1000));
  EXPECT_TRUE(t.Knows(1001));
  // A goodbye of a node neither known nor proven is ignored (nothing to stop).
  codec::Heartbeat bye = Beat(kAbsent, {});
  bye.goodbye = true;
  t.Record(bye, kT0 + absl::Seconds(5));
  EXPECT_TRUE(t.Departed(kT0 + absl::Seconds(5)).empty());
  EXPECT_EQ(t.ignored(), 2u);
  // When every other one is proven, even a proven newcomer is ignored.
  PeerTable full(kSelf, Options());
  for (store::NodeId n = 1000; n < 1000 + PeerTable::kMaxPeers; ++n) {
    full.Prove(n, kT0);
    full.Record(Beat(n, {}), kT0);
  }
  full.Prove(kPeer, kT0);
  full.Record(Beat(kPeer, {}), kT0);
  EXPECT_FALSE(full.Knows(kPeer));
  EXPECT_EQ(full.ignored(), 1u);
}

TEST(PeerTable, ProbesAreSpacedAndOnlyForTheUnproven) {
  PeerTable t(kSelf, Options());
  EXPECT_TRUE(t.Probe(kFake, kT0));
  EXPECT_FALSE(t.Probe(kFake, kT0 + absl::Seconds(9)));
  EXPECT_TRUE(t.Probe(kFake, kT0 + absl::Seconds(10)));
  t.Prove(kPeer, kT0);
  EXPECT_FALSE(t.Probe(kPeer, kT0));
  EXPECT_FALSE(t.Probe(kSelf, kT0));
}

}  // namespace
}  // namespace kv::replication

namespace kv::replication {
namespace {

// Retiring an origin needs every replica waited for to vouch for the same mark
// (or to have retired it there): an equal vector entry is not enough (a
// replica may hold operations of it above its mark, beside a gap).
TEST(PeerTableRetire, AllAppliedNeedsEveryWaitedReplicaToVouchTheSameMark) {
  constexpr store::NodeId kGone = 0x60e;
  PeerTable t(kSelf, Options());
  ProveAll(t);
  const std::vector<store::NodeId> waited = {kSelf, kPeer, kOther};
  codec::Heartbeat peer = Beat(kPeer, {{kGone, 7}});
  codec::Heartbeat other = Beat(kOther, {{kGone, 7}});
  t.Record(peer, kT0);
  t.Record(other, kT0);
  EXPECT_FALSE(t.AllApplied(kGone, 7, waited));  // equal vectors only
  peer.retiring = {{kGone, 7}};
  other.retired = {{kGone, 7}};
  t.Record(peer, kT0);
  t.Record(other, kT0);
  EXPECT_TRUE(t.AllApplied(kGone, 7, waited));
  EXPECT_FALSE(t.AllApplied(kGone, 6, waited));                   // another mark
  EXPECT_FALSE(t.AllApplied(kGone, 7, {kSelf, kPeer, kAbsent}));  // never heard
  // Once retired here, the peers' entries for it are no longer compared.
  t.ForgetOrigin(kGone);
  EXPECT_EQ(t.Lag({}, kT0), 0u);
}

TEST(PeerTableRetire, GoneAfterAGoodbyeOrOnceNoLongerProven) {
  PeerTable t(kSelf, Options());
  ProveAll(t);
  t.Record(Beat(kPeer, {}), kT0);
  t.Record(Beat(kOther, {}), kT0);
  EXPECT_FALSE(t.Gone(kPeer, kT0));
  EXPECT_FALSE(t.Gone(kSelf, kT0));
  codec::Heartbeat bye = Beat(kPeer, {});
  bye.goodbye = true;
  t.Record(bye, kT0 + absl::Seconds(1));
  EXPECT_TRUE(t.Gone(kPeer, kT0 + absl::Seconds(1)));
  // Silent, proven: gone only after forget_after.
  EXPECT_FALSE(t.Gone(kOther, kT0 + absl::Minutes(9)));
  EXPECT_TRUE(t.Gone(kOther, kT0 + absl::Minutes(11)));
  EXPECT_TRUE(t.Gone(kFake, kT0));  // never proven
}

}  // namespace
}  // namespace kv::replication
