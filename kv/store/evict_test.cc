// The memory limit: the store's account, the key and tombstone counts, the
// eviction policies (Store::Evict) and noeviction's refusals.
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/state.h"
#include "kv/store/store.h"

namespace kv::store {
namespace {

constexpr NodeId kA = 0xa;
constexpr NodeId kB = 0xb;

template <typename T>
Event Ev(absl::StatusOr<Change<T>> change) {
  EXPECT_TRUE(change.ok()) << change.status();
  EXPECT_TRUE(change->event.has_value());
  return *change->event;
}

bool Exists(const Store& s, const std::string& key) {
  absl::StatusOr<bool> e = s.Exists(key);
  return e.ok() && *e;
}

Limits WithMemory(size_t bytes, Eviction eviction) {
  Limits l;
  l.max_memory_bytes = bytes;
  l.eviction = eviction;
  return l;
}

// Random operations on two replicas exchanging events: `keys` counts the keys
// that show a value, `tombstones` the others, whatever the order.
TEST(StoreCounts, KeysAndTombstonesFollowEveryOperation) {
  FakeClock clock;
  Store a(kA, &clock), b(kB, &clock);
  std::mt19937 rng(7);
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) keys.push_back(absl::StrCat("k", i));
  for (int step = 0; step < 2000; ++step) {
    Store& s = rng() % 2 ? a : b;
    Store& other = &s == &a ? b : a;
    const std::string& key = keys[rng() % keys.size()];
    absl::StatusOr<Change<bool>> flag = absl::UnknownError("");
    absl::StatusOr<Change<int64_t>> num = absl::UnknownError("");
    switch (rng() % 6) {
      case 0:
        flag = s.Set(key, "v", std::nullopt);
        break;
      case 1:
        flag = s.Del(key);
        break;
      case 2:
        num = s.Add(key, 1);
        break;
      case 3:
        num = s.Push(key, "x");
        break;
      case 4:
        num = s.SetAdd(key, "m");
        break;
      default:
        num = s.ListDel(key, "x");
        break;
    }
    std::optional<Event> ev = flag.ok()  ? flag->event
                              : num.ok() ? num->event
                                         : std::nullopt;
    if (ev && rng() % 4 != 0) {
      ASSERT_TRUE(other.Apply(*ev).ok());
    }
    if (step % 100 == 0) {
      ASSERT_TRUE(other.MergeDelta(s.DeltaAbove(other.vv())).ok());
    }
    for (const Store* st : {&a, &b}) {
      size_t shown = 0;
      for (const std::string& k : keys) shown += Exists(*st, k);
      ASSERT_EQ(st->stats().keys, shown) << "step " << step;
    }
  }
  clock.Advance(absl::Minutes(2));
  ASSERT_TRUE(a.MergeDelta(b.DeltaAbove(a.vv())).ok());
  ASSERT_TRUE(b.MergeDelta(a.DeltaAbove(b.vv())).ok());
  for (Store* st : {&a, &b}) st->CollectGarbage(a.vv(), a.NextHlcFloor());
  EXPECT_EQ(a.stats().keys, b.stats().keys);
  EXPECT_EQ(a.stats().tombstones, b.stats().tombstones);
  EXPECT_EQ(a.digest(), b.digest());
}

// The account follows the heap: set, overwrite with a longer value, delete and
// collect bring it back to where it started.
TEST(StoreMemory, AccountReturnsToEmpty) {
  FakeClock clock;
  Store s(kA, &clock);
  const size_t empty = s.stats().memory_bytes;
  (void)Ev(s.Set("k", "short", std::nullopt));
  const size_t one = s.stats().memory_bytes;
  EXPECT_GT(one, empty);
  (void)Ev(s.Set("k", std::string(1000, 'v'), std::nullopt));
  EXPECT_GT(s.stats().memory_bytes, one + 900);
  (void)Ev(s.Push("l", "x"));
  (void)Ev(s.SetAdd("s", "m"));
  (void)Ev(s.Add("c", 1));
  for (const char* key : {"k", "l", "s", "c"}) (void)Ev(s.Del(key));
  clock.Advance(absl::Minutes(2));
  s.CollectGarbage(s.vv(), s.NextHlcFloor());
  EXPECT_EQ(s.stats().memory_bytes, empty);
  EXPECT_EQ(s.stats().keys + s.stats().tombstones, 0u);
}

TEST(StoreEvict, NoEvictionRefusesWritesThatAddAndKeepsReadsAndDeletes) {
  FakeClock clock;
  Store s(kA, &clock, WithMemory(2000, Eviction::kNoEviction));
  int written = 0;
  absl::Status refused;
  for (int i = 0; i < 100 && refused.ok(); ++i) {
    auto c = s.Set(absl::StrCat("k", i), std::string(100, 'v'), std::nullopt);
    if (c.ok()) {
      ++written;
    } else {
      refused = c.status();
    }
  }
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(refused.GetPayload(kInsufficientStorage).has_value());
  EXPECT_NE(refused.message().find("2000"), std::string::npos) << refused;
  EXPECT_GE(s.stats().memory_bytes, 2000u);
  EXPECT_FALSE(s.OverMemoryLimit());  // noeviction never evicts
  for (auto st :
       {s.Add("c", 1).status(), s.Push("l", "x").status(), s.SetAdd("t", "m").status()}) {
    EXPECT_TRUE(st.GetPayload(kInsufficientStorage).has_value()) << st;
  }
  EXPECT_TRUE(Exists(s, "k0"));
  EXPECT_TRUE(s.Del("k0").ok());
  EXPECT_EQ(s.stats().keys, static_cast<size_t>(written - 1));
}

// allkeys-lru (CLOCK): keys read or written since the hand passed are spared
// once; the evicted key is deleted by a replicated del.
TEST(StoreEvict, AllKeysLruSparesRecentlyUsedKeys) {
  FakeClock clock;
  Store s(kA, &clock, WithMemory(1, Eviction::kAllKeysLru));
  Store early(kB, &clock);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(early.Apply(Ev(s.Set(absl::StrCat("k", i), "v", std::nullopt))).ok());
  }
  EXPECT_TRUE(s.OverMemoryLimit());
  // The first eviction unmarks everything, then takes the first key after the
  // hand; reading k1 and k2 spares them on the next round.
  auto first = s.Evict();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->event.has_value());
  EXPECT_FALSE(Exists(s, "k0"));
  ASSERT_TRUE(s.Get("k1").ok());
  ASSERT_TRUE(s.Get("k2").ok());
  std::vector<std::string> gone;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.Evict().ok());
  }
  for (int i = 0; i < 10; ++i) {
    if (!Exists(s, absl::StrCat("k", i))) gone.push_back(absl::StrCat("k", i));
  }
  EXPECT_EQ(gone, (std::vector<std::string>{"k0", "k3", "k4", "k5"}));
  EXPECT_EQ(s.stats().evicted, 4u);
  // The evictions are events like any delete.
  ASSERT_TRUE(early.Apply(*first->event).ok());
  EXPECT_FALSE(Exists(early, "k0"));
  // A replica applying the eviction's event loses the key too.
  Store b(kB, &clock);
  ASSERT_TRUE(b.MergeDelta(s.DeltaAbove({})).ok());
  EXPECT_EQ(b.digest(), s.digest());
  EXPECT_FALSE(Exists(b, "k0"));
  EXPECT_EQ(b.stats().keys, 6u);
}

TEST(StoreEvict, ConcurrentNewerWriteWinsOverAnEviction) {
  FakeClock clock;
  Store a(kA, &clock, WithMemory(1, Eviction::kAllKeysLru));
  Store b(kB, &clock);
  Event set = Ev(a.Set("k", "old", std::nullopt));
  ASSERT_TRUE(b.Apply(set).ok());
  auto evicted = a.Evict();
  ASSERT_TRUE(evicted.ok());
  clock.Advance(absl::Milliseconds(1));
  Event newer = Ev(b.Set("k", "new", std::nullopt));  // concurrent, stamped later
  ASSERT_TRUE(b.Apply(*evicted->event).ok());
  ASSERT_TRUE(a.Apply(newer).ok());
  EXPECT_EQ(a.digest(), b.digest());
  EXPECT_EQ(*a.Get("k").value(), "new");
}

TEST(StoreEvict, VolatileTtlEvictsOnlyKeysWithATtlSoonestFirst) {
  FakeClock clock;
  Store s(kA, &clock, WithMemory(1, Eviction::kVolatileTtl));
  (void)Ev(s.Set("forever", "v", std::nullopt));
  (void)Ev(s.Set("late", "v", absl::Hours(2)));
  (void)Ev(s.Set("soon", "v", absl::Minutes(1)));
  (void)Ev(s.Set("later", "v", absl::Hours(1)));
  (void)Ev(s.Push("list", "x", absl::Minutes(30)));  // any type with a TTL
  // Soonest expiry first.
  ASSERT_TRUE(s.Evict().ok());
  EXPECT_FALSE(Exists(s, "soon"));
  EXPECT_TRUE(Exists(s, "later"));
  ASSERT_TRUE(s.Evict().ok());
  EXPECT_FALSE(Exists(s, "list"));
  EXPECT_TRUE(Exists(s, "later"));
  for (int i = 0; i < 2; ++i) {
    auto c = s.Evict();
    ASSERT_TRUE(c.ok()) << c.status();
  }
  EXPECT_FALSE(Exists(s, "soon"));
  EXPECT_FALSE(Exists(s, "later"));
  EXPECT_FALSE(Exists(s, "late"));
  EXPECT_FALSE(Exists(s, "list"));
  EXPECT_TRUE(Exists(s, "forever"));
  EXPECT_EQ(s.Evict().status().code(), absl::StatusCode::kNotFound);
}

TEST(StoreEvict, NothingToEvict) {
  FakeClock clock;
  Store s(kA, &clock, WithMemory(1, Eviction::kAllKeysLru));
  EXPECT_EQ(s.Evict().status().code(), absl::StatusCode::kNotFound);
  (void)Ev(s.Set("k", "v", std::nullopt));
  (void)Ev(s.Del("k"));  // a tombstone is no candidate
  EXPECT_EQ(s.Evict().status().code(), absl::StatusCode::kNotFound);
}

// Expired keys are reclaimed by collection, and counted.
TEST(StoreExpiry, ExpiredKeysAreReclaimedAndCounted) {
  FakeClock clock;
  Store s(kA, &clock);
  (void)Ev(s.Set("short", "v", absl::Seconds(1)));
  (void)Ev(s.Set("long", "v", absl::Hours(1)));
  clock.Advance(absl::Minutes(2));  // past the expiry and the grace
  s.CollectGarbage(s.vv(), s.NextHlcFloor());
  EXPECT_EQ(s.stats().expired, 1u);
  EXPECT_EQ(s.stats().keys, 1u);
  EXPECT_FALSE(s.Export("short").has_value());
}

// Collection names the expired keys it reclaimed with their last writer (who
// announces the expiry); a deleted key that expired is no expiry.
TEST(StoreExpiry, ReclaimedKeysAreReportedWithTheirLastWriter) {
  FakeClock clock;
  Store a(kA, &clock);
  Store b(kB, &clock);
  Event set = Ev(a.Set("k", "v", absl::Seconds(1)));
  ASSERT_TRUE(b.Apply(set).ok());
  Event expire = Ev(b.Expire("k", absl::Seconds(2)));  // b wrote last
  ASSERT_TRUE(a.Apply(expire).ok());
  Event t = Ev(a.Set("t", "v", absl::Seconds(1)));
  ASSERT_TRUE(b.Apply(t).ok());
  Event d = Ev(a.Del("t"));
  ASSERT_TRUE(b.Apply(d).ok());
  clock.Advance(absl::Seconds(4));
  std::vector<ExpiredKey> expired;
  a.CollectGarbage(a.vv(), a.NextHlcFloor(), absl::Seconds(1), &expired);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].key, "k");
  EXPECT_EQ(expired[0].writer, kB);
  // Not yet past the grace: nothing.
  std::vector<ExpiredKey> none;
  b.CollectGarbage(b.vv(), b.NextHlcFloor(), absl::Minutes(1), &none);
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace kv::store

namespace kv::store {
namespace {

// A write refused for its TTL takes no seq: the next event follows the last
// one, so peers see no gap that nothing can fill.
TEST(StoreTtl, ARefusedTtlTakesNoSeq) {
  FakeClock clock;
  Store s(kA, &clock);
  Event first = Ev(s.Set("k", "v", std::nullopt));
  const Digest before = s.digest();
  for (auto st : {s.Add("c", 1, absl::Hours(24 * 365 * 200)).status(),
                  s.Push("l", "x", absl::Hours(24 * 365 * 200)).status(),
                  s.SetAdd("t", "m", absl::ZeroDuration()).status()}) {
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  }
  EXPECT_EQ(s.digest(), before);
  EXPECT_EQ(s.vv().at(kA), first.dot.seq);
  Event next = Ev(s.Push("l", "x"));
  EXPECT_EQ(next.dot.seq, first.dot.seq + 1);
}

}  // namespace
}  // namespace kv::store

namespace kv::store {
namespace {

TEST(StoreRemovalCount, OneRecordPerPieceADelRemoves) {
  FakeClock clock;
  Store s(kA, &clock);
  for (int i = 0; i < 3; ++i) (void)Ev(s.Push("l", std::string(1000, 'x')));
  (void)Ev(s.SetAdd("s", "a"));
  (void)Ev(s.SetAdd("s", "b"));
  (void)Ev(s.Set("r", "v", std::nullopt));
  EXPECT_EQ(s.RemovalCount("l"), 3u);
  EXPECT_EQ(s.RemovalCount("s"), 2u);
  EXPECT_EQ(s.RemovalCount("r"), 1u);
  EXPECT_EQ(s.RemovalCount("none"), 0u);
  // What a del emits.
  Event del = Ev(s.Del("l"));
  EXPECT_EQ(del.delta.list->removed.size(), 3u);
}

}  // namespace
}  // namespace kv::store
