// Retired origins (Store::Retire and friends): an origin every replica applied
// entirely leaves the vectors, its dots stay covered, its late messages change
// nothing, and it is forgotten once no data names it.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/state.h"
#include "kv/store/store.h"

namespace kv::store {
namespace {

constexpr NodeId kOld = 0x1111;  // a node that went away
constexpr NodeId kA = 0xa;
constexpr NodeId kB = 0xb;

template <typename T>
Event Ev(absl::StatusOr<Change<T>> change) {
  EXPECT_TRUE(change.ok()) << change.status();
  EXPECT_TRUE(change->event.has_value());
  return *change->event;
}

ApplyResult Deliver(Store& s, const Event& e) {
  absl::StatusOr<ApplyResult> r = s.Apply(e);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : ApplyResult{};
}

// Two replicas that applied everything a gone node `kOld` did: a string, a list
// item, a set member, a counter increment and a delete.
struct Retiring {
  FakeClock clock;
  Store old{kOld, &clock};
  Store a{kA, &clock};
  Store b{kB, &clock};
  std::vector<Event> old_events;

  Retiring() {
    old_events.push_back(Ev(old.Set("r", "v", std::nullopt)));
    old_events.push_back(Ev(old.Push("l", "x")));
    old_events.push_back(Ev(old.SetAdd("s", "m")));
    old_events.push_back(Ev(old.Add("c", 5)));
    old_events.push_back(Ev(old.Set("gone", "v", std::nullopt)));
    old_events.push_back(Ev(old.Del("gone")));
    for (const Event& e : old_events) {
      Deliver(a, e);
      Deliver(b, e);
    }
    clock.Advance(absl::Seconds(1));
  }
};

TEST(StoreRetire, LeavesTheVectorsAndKeepsTheData) {
  Retiring t;
  const Digest before = t.a.digest();
  t.a.CollectGarbage(t.a.vv(), 0);  // the watermark names kOld
  ASSERT_EQ(t.a.collected().count(kOld), 1u);
  ASSERT_TRUE(t.a.Retire(kOld));
  EXPECT_EQ(t.a.vv().count(kOld), 0u);
  EXPECT_EQ(t.a.collected().count(kOld), 0u);
  EXPECT_TRUE(t.a.IsRetired(kOld));
  EXPECT_EQ(t.a.Retired(), (VersionVector{{kOld, t.old_events.size()}}));
  EXPECT_EQ(t.a.stats().retired_origins, 1u);
  // The data is unchanged, and so is the digest: replicas that retired the
  // origin and replicas that did not yet still compare equal.
  EXPECT_EQ(t.a.digest(), before);
  EXPECT_EQ(t.a.digest(), t.b.digest());
  EXPECT_EQ(*t.a.Get("r").value(), "v");
  EXPECT_TRUE(t.a.HasApplied(Dot{kOld, 1000}));
}

// A replica vouches for an origin only when it holds it exactly up to its mark:
// no gap, and no dot above the mark in its data (a copy of a peer that had a
// gap holds operations above the peer's mark).
TEST(StoreRetire, VouchesOnlyForOriginsHeldExactlyUpToTheirMark) {
  Retiring t;
  EXPECT_EQ(t.a.Vouch({kOld, kA, 0x999}), (VersionVector{{kOld, t.old_events.size()}}));
  Store gap(0xc, &t.clock);
  Deliver(gap, t.old_events[0]);
  Deliver(gap, t.old_events[2]);  // 2 is missing
  EXPECT_TRUE(gap.Vouch({kOld}).empty());
  // A copy of `gap`: the vector says 1, the data holds 3.
  Store copy(0xd, &t.clock);
  ASSERT_TRUE(copy.MergeCopy(gap.DeltaAbove({}, /*full=*/true)).ok());
  ASSERT_EQ(copy.vv().at(kOld), 1u);
  EXPECT_FALSE(copy.HasGaps());
  EXPECT_TRUE(copy.Vouch({kOld}).empty());
}

TEST(StoreRetire, RefusesItselfUnknownOriginsAndGaps) {
  Retiring t;
  EXPECT_FALSE(t.a.Retire(kA));     // its own origin
  EXPECT_FALSE(t.a.Retire(0x999));  // never heard of
  Store c(0xc, &t.clock);
  Deliver(c, t.old_events[0]);
  Deliver(c, t.old_events[2]);  // 2 is missing: a gap
  EXPECT_TRUE(c.HasGaps());
  EXPECT_FALSE(c.Retire(kOld));
  EXPECT_EQ(c.vv().count(kOld), 1u);
}

TEST(StoreRetire, LateEventsAreIgnoredAndLaterOnesUnretire) {
  Retiring t;
  t.a.CollectGarbage(t.a.vv(), 0);
  ASSERT_TRUE(t.a.Retire(kOld));
  const Digest before = t.a.digest();
  // A late duplicate: ignored, the origin stays retired.
  ApplyResult dup = Deliver(t.a, t.old_events[1]);
  EXPECT_TRUE(dup.retired);
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(t.a.digest(), before);
  EXPECT_EQ(t.a.vv().count(kOld), 0u);
  // An operation above its retired seq: the origin was not gone (it was paused,
  // or this replica was cut off). It comes back at its retired seq, watermark
  // included, and the event applies.
  const uint64_t seq = t.old_events.size();
  ApplyResult later = Deliver(t.a, Ev(t.old.Set("later", "v", std::nullopt)));
  EXPECT_TRUE(later.unretired);
  EXPECT_FALSE(later.duplicate);
  EXPECT_FALSE(later.gap);
  EXPECT_FALSE(t.a.IsRetired(kOld));
  EXPECT_EQ(t.a.vv().at(kOld), seq + 1);
  EXPECT_EQ(t.a.collected().at(kOld), seq);
  EXPECT_TRUE(t.a.Exists("later").value());
  EXPECT_FALSE(t.a.Unretire(kOld));  // not retired any more
}

TEST(StoreRetire, DeltasLeaveOutRetiredOperationsExceptInACopy) {
  Retiring t;
  ASSERT_TRUE(t.a.Retire(kOld));
  // A peer that knows nothing of kOld (it retired and forgot it) lacks nothing.
  EXPECT_TRUE(t.a.DeltaAbove({{kA, 0}}).entries.empty());
  // A new replica copies everything.
  Delta copy = t.a.DeltaAbove({}, /*full=*/true);
  EXPECT_EQ(copy.entries.size(), 5u);  // r, l, s, c and the tombstone of "gone"
  EXPECT_EQ(copy.vv.count(kOld), 0u);
  Store joiner(0xc, &t.clock);
  ASSERT_TRUE(joiner.AdoptCollected(t.a.collected()).ok());
  ASSERT_TRUE(joiner.MergeCopy(copy).ok());
  EXPECT_EQ(joiner.AdoptRetired(t.a.Retired()), 1u);
  EXPECT_EQ(joiner.digest(), t.a.digest());
  EXPECT_TRUE(joiner.IsRetired(kOld));
  EXPECT_TRUE(joiner.DeltaAbove({{kA, 0}}).entries.empty());
  // Pages agree with DeltaAbove.
  std::string next;
  EXPECT_TRUE(t.a.DeltaPage({}, "", 100, &next).empty());
  EXPECT_EQ(t.a.DeltaPage({}, "", 100, &next, /*full=*/true).size(), 5u);
}

TEST(StoreRetire, APeersVectorDoesNotBringARetiredOriginBack) {
  Retiring t;
  ASSERT_TRUE(t.a.Retire(kOld));
  // b has not retired kOld yet: its catch-up answer names it.
  ASSERT_TRUE(t.a.MergeDelta(t.b.DeltaAbove(t.a.vv())).ok());
  EXPECT_EQ(t.a.vv().count(kOld), 0u);
  EXPECT_EQ(t.a.digest(), t.b.digest());
  ASSERT_TRUE(t.a.AdoptCollected({{kOld, 3}}).ok());
  EXPECT_EQ(t.a.collected().count(kOld), 0u);
  t.a.CollectGarbage(t.b.vv(), 0);
  EXPECT_EQ(t.a.collected().count(kOld), 0u);
}

// The collected watermark's protection survives retirement: a removed set member
// whose removal record was collected does not come back with a late copy.
TEST(StoreRetire, CollectedRemovalsOfRetiredItemsStayCollected) {
  Retiring t;
  Event rm = Ev(t.a.SetRemove("s", "m"));  // a removes kOld's member
  Deliver(t.b, rm);
  Event lrm = Ev(t.a.ListDel("l", "x"));
  Deliver(t.b, lrm);
  ASSERT_TRUE(t.a.Retire(kOld));
  ASSERT_TRUE(t.b.Retire(kOld));
  // Stable: everything of a (and the retired kOld) everywhere. The vector passed
  // no longer names kOld; the removal records go anyway.
  t.clock.Advance(absl::Minutes(2));
  const uint64_t floor = t.a.NextHlcFloor();
  EXPECT_GE(t.a.CollectGarbage(t.a.vv(), floor), 2u);
  EXPECT_GE(t.b.CollectGarbage(t.a.vv(), floor), 2u);
  EXPECT_EQ(t.a.digest(), t.b.digest());
  const std::optional<KeyState> s = t.a.Export("s");
  ASSERT_TRUE(!s.has_value() || !s->set.has_value() || s->set->removed.empty());
  // The old replica's full state arrives late (e.g. from a copy of it).
  const Digest before = t.a.digest();
  ASSERT_TRUE(t.a.MergeDelta(t.old.DeltaAbove({})).ok());
  for (const Event& e : t.old_events) Deliver(t.a, e);
  EXPECT_EQ(t.a.digest(), before);
  EXPECT_TRUE(t.a.SetQuery("s").value().empty());
  EXPECT_TRUE(t.a.Range("l", 0, -1).value().empty());
}

// At kMaxRetired, retiring one more forgets the oldest retired origin that no
// data names any more; when all are named, nothing is retired.
TEST(StoreRetire, WhenFullTheOldestUnnamedOriginIsForgotten) {
  Retiring t;
  ASSERT_TRUE(t.a.Retire(kOld));  // its data is still in the store
  t.clock.Advance(absl::Seconds(1));
  VersionVector others;
  for (NodeId n = 1; n < Store::kMaxRetired; ++n) others[0x10000 + n] = 1;
  EXPECT_EQ(t.a.AdoptRetired(others), Store::kMaxRetired - 1);
  Store next(0x5000, &t.clock);
  Deliver(t.a, Ev(next.Set("k", "v", std::nullopt)));
  // The oldest is kOld, still named: the next oldest unnamed one goes.
  ASSERT_TRUE(t.a.Retire(0x5000));
  EXPECT_TRUE(t.a.IsRetired(kOld));
  EXPECT_TRUE(t.a.IsRetired(0x5000));
  EXPECT_EQ(t.a.stats().retired_origins, Store::kMaxRetired);
  // Every one named: nothing can be retired.
  Store full(kA, &t.clock);
  VersionVector named;
  for (NodeId n = 1; n <= Store::kMaxRetired; ++n) {
    Store writer(0x20000 + n, &t.clock);
    Deliver(full, Ev(writer.Set(std::to_string(n), "v", std::nullopt)));
    named[0x20000 + n] = 1;
  }
  Store last(0x6000, &t.clock);
  Deliver(full, Ev(last.Set("last", "v", std::nullopt)));
  for (const auto& [origin, seq] : named) ASSERT_TRUE(full.Retire(origin));
  EXPECT_FALSE(full.Retire(0x6000));
  EXPECT_EQ(full.vv().count(0x6000), 1u);
}

}  // namespace
}  // namespace kv::store
