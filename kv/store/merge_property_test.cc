// Property tests of the merge laws: three simulated replicas with skewed clocks
// run random operation logs with random partial delivery, then exchange
// everything (events in random orders with duplicates, and catch-up deltas in
// chunks). They must end in the same state as a reference store that applied
// every event in generation order, and merging must be commutative, associative
// and idempotent.
//
// Every round is seeded deterministically; the seed is in the failure message.
// To replay one round: KV_MERGE_SEED=<seed>
// bazel-bin/kv/store/merge_property_test
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/state.h"
#include "kv/store/state_text.h"
#include "kv/store/store.h"

namespace kv::store {

void PrintTo(const Digest& d, std::ostream* os) {
  *os << absl::StrFormat("Digest{%016x,%016x}", d.a, d.b);
}

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int kRounds = 200;
#else
constexpr int kRounds = 500;
#endif

constexpr int kReplicas = 3;
// Distinct ids, deliberately not in creation order.
constexpr NodeId kNodes[kReplicas] = {0x9E3779B97F4A7C15, 0x00000000000000A7,
                                      0x5DEECE66D};
constexpr NodeId kReferenceNode = 0x4242;

using Strings = std::vector<std::string>;

// Keys every operation kind may hit (so types conflict) and counter-only keys
// (only `add`, never `del`: their value must be the sum of every increment).
const Strings kMixedKeys = {"k0", "k1", "k2", "p/k3"};
const Strings kCounterKeys = {"c0", "c1"};
const Strings kValues = {"a", "b", "c", ""};

Strings AllKeys() {
  Strings keys = kMixedKeys;
  keys.insert(keys.end(), kCounterKeys.begin(), kCounterKeys.end());
  keys.push_back("never-written");
  return keys;
}

VersionVector Normalized(const VersionVector& v) {
  VersionVector out;
  for (const auto& [node, seq] : v) {
    if (seq != 0) out[node] = seq;
  }
  return out;
}

std::string VvStr(const VersionVector& v) {
  return absl::StrJoin(v, ",", [](std::string* o, const auto& p) {
    absl::StrAppend(o, absl::Hex(p.first), ":", p.second);
  });
}

using text::DotStr;
using text::Esc;
using text::StampStr;

std::string Canon(const std::optional<KeyState>& ks) { return text::KeyStateText(ks); }

std::string Exports(const Store& s) {
  std::string out;
  for (const std::string& k : AllKeys()) out += Canon(s.Export(k));
  return out;
}

std::string StatusText(const absl::Status& s) {
  return std::string(absl::StatusCodeToString(s.code()));
}

std::string JoinEsc(const Strings& v) {
  return absl::StrJoin(v, ",",
                       [](std::string* o, const std::string& s) { o->append(Esc(s)); });
}

// Everything a client can read, as text (at the store's current clock time).
std::string Reads(const Store& s) {
  std::string out;
  for (const std::string& k : AllKeys()) {
    absl::StrAppend(&out, Esc(k), ":");
    auto get = s.Get(k);
    absl::StrAppend(
        &out, " get=",
        !get.ok() ? StatusText(get.status()) : (get->has_value() ? Esc(**get) : "nil"));
    auto exists = s.Exists(k);
    absl::StrAppend(&out, " exists=",
                    exists.ok() ? (*exists ? "1" : "0") : StatusText(exists.status()));
    auto range = s.Range(k, 0, -1);
    absl::StrAppend(&out,
                    " range=", range.ok() ? JoinEsc(*range) : StatusText(range.status()));
    auto tail = s.Range(k, -2, -1);
    absl::StrAppend(&out,
                    " tail=", tail.ok() ? JoinEsc(*tail) : StatusText(tail.status()));
    auto members = s.SetQuery(k);
    absl::StrAppend(
        &out, " set=", members.ok() ? JoinEsc(*members) : StatusText(members.status()));
    out += "\n";
  }
  auto uni = s.SetUnion(kMixedKeys);
  absl::StrAppend(&out, "union=", uni.ok() ? JoinEsc(*uni) : StatusText(uni.status()),
                  "\n");
  auto inter = s.SetIntersection({"k0", "k1"});
  absl::StrAppend(
      &out, "inter=", inter.ok() ? JoinEsc(*inter) : StatusText(inter.status()), "\n");
  for (const char* prefix : {"", "k", "p/"}) {
    auto page = s.Keys(prefix, 0, "");
    absl::StrAppend(&out, "keys(", prefix,
                    ")=", page.ok() ? JoinEsc(page->keys) : StatusText(page.status()),
                    "\n");
  }
  return out;
}

// The event log, one line per event, printed when a round fails.
std::string LogText(const std::vector<Event>& log) {
  std::string out;
  for (size_t i = 0; i < log.size(); ++i) {
    const Event& e = log[i];
    absl::StrAppend(&out, "#", i, " ", DotStr(e.dot), " ", Canon(e.delta));
  }
  return out;
}

// One round of the simulation.
class Sim {
 public:
  explicit Sim(uint64_t seed) : rng_(seed) {
    const absl::Time base = absl::FromUnixSeconds(1700000000);
    for (int r = 0; r < kReplicas; ++r) {
      // Clocks skewed by up to +-3 s.
      const int64_t skew_ms = static_cast<int64_t>(U(6001)) - 3000;
      clocks_.push_back(std::make_unique<FakeClock>(base + absl::Milliseconds(skew_ms)));
      stores_.push_back(std::make_unique<Store>(kNodes[r], clocks_.back().get()));
    }
    applied_.resize(kReplicas);
    emitted_.assign(kReplicas, 0);
  }

  uint64_t U(uint64_t n) { return rng_() % n; }
  bool P(int percent) { return static_cast<int>(U(100)) < percent; }
  std::mt19937_64& rng() { return rng_; }

  Store& store(int r) { return *stores_[r]; }
  const std::vector<Event>& log() const { return log_; }
  const std::map<std::string, int64_t>& add_sum() const { return add_sum_; }
  const std::set<std::string>& deleted() const { return deleted_; }
  const std::vector<uint64_t>& emitted() const { return emitted_; }

  // The latest time any replica's clock shows.
  absl::Time MaxTime() const {
    absl::Time t = absl::InfinitePast();
    for (const auto& c : clocks_) t = std::max(t, c->Now());
    return t;
  }
  void SetAllClocks(absl::Time t) {
    for (auto& c : clocks_) c->Set(t);
  }

  // Issues `ops` random operations on random replicas, delivering a random part
  // of the events (in random order, so with gaps) as it goes.
  void Generate(int ops) {
    for (int i = 0; i < ops; ++i) {
      AdvanceClocks();
      RandomOp(static_cast<int>(U(kReplicas)));
      if (::testing::Test::HasFatalFailure()) return;
      const int deliveries = static_cast<int>(U(4));
      for (int d = 0; d < deliveries && !log_.empty(); ++d) {
        const int to = static_cast<int>(U(kReplicas));
        Deliver(to, U(log_.size()));
      }
      if (P(4)) AntiEntropy(static_cast<int>(U(kReplicas)));
    }
  }

  // Delivers every event to every replica in random orders with random
  // duplicates, interleaved with catch-up deltas from random peers.
  void DeliverAll() {
    std::vector<std::vector<size_t>> plan(kReplicas);
    for (int r = 0; r < kReplicas; ++r) {
      for (size_t e = 0; e < log_.size(); ++e) plan[r].push_back(e);
      for (size_t e = 0; e < log_.size(); ++e) {
        if (P(15)) plan[r].push_back(e);  // duplicates
      }
      std::shuffle(plan[r].begin(), plan[r].end(), rng_);
    }
    std::vector<size_t> next(kReplicas, 0);
    for (;;) {
      std::vector<int> pending;
      for (int r = 0; r < kReplicas; ++r) {
        if (next[r] < plan[r].size()) pending.push_back(r);
      }
      if (pending.empty()) break;
      const int r = pending[U(pending.size())];
      if (P(3)) AntiEntropy(r);
      Deliver(r, plan[r][next[r]++]);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }

  // Merges a peer's catch-up delta into `to`, split into random chunks (the
  // vector goes with the last chunk only).
  void AntiEntropy(int to) {
    int from = static_cast<int>(U(kReplicas - 1));
    if (from >= to) ++from;
    MergeChunked(store(to), store(from).DeltaAbove(store(to).vv()));
  }

  void MergeChunked(Store& to, const Delta& delta) {
    size_t i = 0;
    do {
      Delta chunk;
      const size_t n = delta.entries.empty() ? 0 : 1 + U(delta.entries.size() - i);
      chunk.entries.assign(delta.entries.begin() + i, delta.entries.begin() + i + n);
      i += n;
      if (i == delta.entries.size()) chunk.vv = delta.vv;
      const absl::Status s = to.MergeDelta(chunk);
      ASSERT_TRUE(s.ok()) << s;
    } while (i < delta.entries.size());
  }

 private:
  void AdvanceClocks() {
    const absl::Duration dt = absl::Milliseconds(static_cast<int64_t>(U(25)));
    for (auto& c : clocks_) c->Advance(dt);
    if (P(10)) clocks_[U(kReplicas)]->Advance(absl::Milliseconds(U(50)));
    // Rarely a clock steps back (NTP): HLCs must still move forward.
    if (P(2)) clocks_[U(kReplicas)]->Advance(-absl::Milliseconds(U(1000)));
  }

  void Deliver(int to, size_t e) {
    const Event& event = log_[e];
    const bool covered = Covers(store(to).vv(), event.dot);
    absl::StatusOr<ApplyResult> r = store(to).Apply(event);
    ASSERT_TRUE(r.ok()) << r.status() << " applying event " << DotStr(event.dot);
    if (covered || applied_[to].count(e)) {
      EXPECT_TRUE(r->duplicate) << "event " << DotStr(event.dot) << " to replica " << to
                                << " vv " << VvStr(store(to).vv());
    }
    applied_[to].insert(e);
  }

  template <typename T>
  void Record(int r, const std::string& what, const absl::StatusOr<Change<T>>& c,
              bool must_succeed) {
    if (!c.ok()) {
      EXPECT_FALSE(must_succeed) << what << ": " << c.status();
      EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition)
          << what << ": " << c.status();
      return;
    }
    if (!c->event.has_value()) return;
    const Event& e = *c->event;
    // A write to an expired key removes what it held, as a del does.
    if (e.delta.counter && !e.delta.counter->dels.empty()) deleted_.insert(e.delta.key);
    ++emitted_[r];
    EXPECT_EQ(e.dot.node, kNodes[r]) << what;
    EXPECT_EQ(e.dot.seq, emitted_[r]) << what;
    applied_[r].insert(log_.size());
    log_.push_back(e);
  }

  void RandomOp(int r) {
    Store& s = store(r);
    const std::string& key = kMixedKeys[U(kMixedKeys.size())];
    const std::string& value = kValues[U(kValues.size())];
    const int64_t delta = static_cast<int64_t>(U(21)) - 10;
    const int kind = static_cast<int>(U(100));
    if (kind < 12) {
      const std::string& ckey = kCounterKeys[U(kCounterKeys.size())];
      auto c = s.Add(ckey, delta);
      Record(r, "add " + ckey, c, /*must_succeed=*/true);
      if (c.ok() && c->event) add_sum_[ckey] += delta;
    } else if (kind < 27) {
      std::optional<absl::Duration> ttl;
      if (P(30)) ttl = absl::Milliseconds(1 + static_cast<int64_t>(U(2000)));
      Record(r, "set " + key, s.Set(key, value, ttl), false);
    } else if (kind < 35) {
      auto c = s.Del(key);
      Record(r, "del " + key, c, true);
      if (c.ok() && c->event) deleted_.insert(key);
    } else if (kind < 45) {
      auto c = s.Add(key, delta);
      Record(r, "add " + key, c, false);
      if (c.ok() && c->event) add_sum_[key] += delta;
    } else if (kind < 60) {
      Record(r, "push " + key, s.Push(key, value, Ttl()), false);
    } else if (kind < 64) {
      Record(r, "list_del " + key, s.ListDel(key, value), false);
    } else if (kind < 67) {
      // A removal of one item by its dot, as list_del's are.
      const ListEnd end = P(50) ? ListEnd::kLeft : ListEnd::kRight;
      Record(r, "pop " + key, s.Pop(key, end), false);
    } else if (kind < 72) {
      Record(r, "clear " + key, s.Clear(key), false);
    } else if (kind < 88) {
      Record(r, "set_add " + key, s.SetAdd(key, value, Ttl()), false);
    } else if (kind < 94) {
      Record(r, "set_remove " + key, s.SetRemove(key, value), false);
    } else if (kind < 97) {
      Record(r, "expire " + key, s.Expire(key, absl::Milliseconds(1 + U(2000))), true);
    } else {
      Record(r, "persist " + key, s.Persist(key), true);
    }
  }

  // A TTL for a write now and then (expiring within the run, so that writes to
  // expired keys and expiries racing with writes happen).
  std::optional<absl::Duration> Ttl() {
    if (!P(10)) return std::nullopt;
    return absl::Milliseconds(1 + static_cast<int64_t>(U(2000)));
  }

  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<FakeClock>> clocks_;
  std::vector<std::unique_ptr<Store>> stores_;
  std::vector<Event> log_;                  // every event, in generation order
  std::vector<std::set<size_t>> applied_;   // per replica: log indices applied
  std::vector<uint64_t> emitted_;           // per replica: events emitted
  std::map<std::string, int64_t> add_sum_;  // per key: sum of every increment
  std::set<std::string> deleted_;           // keys a `del` was issued on
};

// A fresh store with its own clock, for reference and law checks.
struct Fresh {
  explicit Fresh(NodeId id, absl::Time now) : clock(now), store(id, &clock) {}
  FakeClock clock;
  Store store;
};

void ApplyAll(Store& s, const std::vector<Event>& events,
              const std::vector<size_t>& order) {
  for (size_t i : order) {
    absl::StatusOr<ApplyResult> r = s.Apply(events[i]);
    ASSERT_TRUE(r.ok()) << r.status();
  }
}

std::vector<size_t> Iota(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

std::vector<uint64_t> Seeds() {
  std::vector<uint64_t> seeds;
  if (const char* env = std::getenv("KV_MERGE_SEED")) {
    seeds.push_back(std::strtoull(env, nullptr, 10));
    return seeds;
  }
  for (int i = 0; i < kRounds; ++i) seeds.push_back(1000 + i);
  return seeds;
}

// Expects `s` to be in exactly the reference's state and to read the same.
void ExpectSameAs(const Store& s, const Store& reference, const std::string& who) {
  SCOPED_TRACE(who);
  EXPECT_EQ(s.digest(), reference.digest());
  EXPECT_EQ(Exports(s), Exports(reference));
  EXPECT_EQ(Reads(s), Reads(reference));
}

TEST(MergeProperty, ReplicasConvergeToReference) {
  for (uint64_t seed : Seeds()) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (replay: KV_MERGE_SEED=", seed, ")"));
    Sim sim(seed);
    sim.Generate(40 + static_cast<int>(sim.U(61)));
    ASSERT_FALSE(HasFatalFailure());
    sim.DeliverAll();
    ASSERT_FALSE(HasFatalFailure());

    // Read everything at one common time, then again once every TTL has passed.
    const absl::Time t = sim.MaxTime();
    Fresh ref(kReferenceNode, t);
    ApplyAll(ref.store, sim.log(), Iota(sim.log().size()));
    ASSERT_FALSE(HasFatalFailure());
    for (absl::Duration later : {absl::ZeroDuration(), absl::Hours(1)}) {
      SCOPED_TRACE(absl::StrCat("read at +", absl::FormatDuration(later)));
      sim.SetAllClocks(t + later);
      ref.clock.Set(t + later);
      for (int r = 0; r < kReplicas; ++r) {
        ExpectSameAs(sim.store(r), ref.store, absl::StrCat("replica ", r));
      }
    }

    VersionVector want_vv;
    for (int r = 0; r < kReplicas; ++r) {
      if (sim.emitted()[r] > 0) want_vv[kNodes[r]] = sim.emitted()[r];
    }
    EXPECT_EQ(VvStr(Normalized(ref.store.vv())), VvStr(want_vv));
    EXPECT_FALSE(ref.store.HasGaps());
    for (int r = 0; r < kReplicas; ++r) {
      SCOPED_TRACE(absl::StrCat("replica ", r));
      EXPECT_EQ(VvStr(Normalized(sim.store(r).vv())), VvStr(want_vv));
      EXPECT_FALSE(sim.store(r).HasGaps());
    }

    // Counters nobody deleted hold the sum of every increment from every
    // replica.
    for (const std::string& k : kCounterKeys) {
      auto it = sim.add_sum().find(k);
      std::optional<std::string> want;
      if (it != sim.add_sum().end()) want = absl::StrCat(it->second);
      for (int r = 0; r < kReplicas; ++r) {
        absl::StatusOr<std::optional<std::string>> got = sim.store(r).Get(k);
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(*got, want) << k << " on replica " << r;
      }
    }
    for (const std::string& k : kMixedKeys) {
      if (sim.deleted().count(k)) continue;
      auto it = sim.add_sum().find(k);
      const int64_t want = it == sim.add_sum().end() ? 0 : it->second;
      std::optional<KeyState> ks = ref.store.Export(k);
      int64_t sum = 0;
      if (ks && ks->counter) {
        for (const CounterPart& p : ks->counter->incs) sum += p.sum;
        EXPECT_TRUE(ks->counter->dels.empty()) << k;
      }
      EXPECT_EQ(sum, want) << "counter component of " << k << " (no del issued)";
    }
    if (HasFailure()) {  // one failing seed is enough to read
      std::printf("event log of seed %llu:\n%s", static_cast<unsigned long long>(seed),
                  LogText(sim.log()).c_str());
      return;
    }
  }
}

TEST(MergeProperty, ApplyOrderDoesNotMatter) {
  for (uint64_t seed : Seeds()) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (replay: KV_MERGE_SEED=", seed, ")"));
    Sim sim(seed);
    sim.Generate(40 + static_cast<int>(sim.U(61)));
    ASSERT_FALSE(HasFatalFailure());
    const absl::Time t = sim.MaxTime();
    const size_t n = sim.log().size();

    Fresh ref(kReferenceNode, t);
    ApplyAll(ref.store, sim.log(), Iota(n));
    std::vector<size_t> order1 = Iota(n), order2 = Iota(n);
    std::shuffle(order1.begin(), order1.end(), sim.rng());
    std::shuffle(order2.begin(), order2.end(), sim.rng());
    Fresh x(0x7001, t), y(0x7002, t);
    ApplyAll(x.store, sim.log(), order1);
    ApplyAll(y.store, sim.log(), order2);
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_EQ(x.store.digest(), y.store.digest());
    ExpectSameAs(x.store, ref.store, "order 1");
    ExpectSameAs(y.store, ref.store, "order 2");
    EXPECT_EQ(Normalized(x.store.vv()), Normalized(ref.store.vv()));
    EXPECT_EQ(Normalized(y.store.vv()), Normalized(ref.store.vv()));
    if (HasFailure()) return;
  }
}

TEST(MergeProperty, ApplyingTwiceEqualsOnce) {
  for (uint64_t seed : Seeds()) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (replay: KV_MERGE_SEED=", seed, ")"));
    Sim sim(seed);
    sim.Generate(40 + static_cast<int>(sim.U(61)));
    ASSERT_FALSE(HasFatalFailure());
    const absl::Time t = sim.MaxTime();
    const size_t n = sim.log().size();

    Fresh ref(kReferenceNode, t);
    ApplyAll(ref.store, sim.log(), Iota(n));
    // Each event twice in a row, then the whole log again in another order.
    Fresh twice(0x7003, t);
    for (size_t i = 0; i < n; ++i) {
      ApplyAll(twice.store, sim.log(), {i, i});
    }
    std::vector<size_t> again = Iota(n);
    std::shuffle(again.begin(), again.end(), sim.rng());
    ApplyAll(twice.store, sim.log(), again);
    ASSERT_FALSE(HasFatalFailure());
    ExpectSameAs(twice.store, ref.store, "each event applied twice");
    EXPECT_EQ(twice.store.stats().events_duplicate, n * 2);

    // Merging a store's own full delta, or the same delta twice, changes
    // nothing.
    const Digest d = ref.store.digest();
    const std::string exports = Exports(ref.store);
    const Delta full = ref.store.DeltaAbove({});
    ASSERT_TRUE(ref.store.MergeDelta(full).ok());
    EXPECT_EQ(ref.store.digest(), d);
    Fresh from_delta(0x7004, t);
    ASSERT_TRUE(from_delta.store.MergeDelta(full).ok());
    ASSERT_TRUE(from_delta.store.MergeDelta(full).ok());
    sim.MergeChunked(from_delta.store, full);
    EXPECT_EQ(from_delta.store.digest(), d);
    EXPECT_EQ(Exports(from_delta.store), exports);
    EXPECT_EQ(Normalized(from_delta.store.vv()), Normalized(ref.store.vv()));
    // Replaying the events on top of the delta: all duplicates, nothing
    // changes.
    ApplyAll(from_delta.store, sim.log(), Iota(n));
    EXPECT_EQ(from_delta.store.digest(), d);
    if (HasFailure()) return;
  }
}

TEST(MergeProperty, GroupingIntoDeltasDoesNotMatter) {
  for (uint64_t seed : Seeds()) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (replay: KV_MERGE_SEED=", seed, ")"));
    Sim sim(seed);
    sim.Generate(40 + static_cast<int>(sim.U(61)));
    ASSERT_FALSE(HasFatalFailure());
    const absl::Time t = sim.MaxTime();
    const size_t n = sim.log().size();

    Fresh ref(kReferenceNode, t);
    ApplyAll(ref.store, sim.log(), Iota(n));

    // Split the events at random into three groups (with gaps in every origin's
    // sequence), each applied to its own store in a random order.
    std::vector<std::vector<size_t>> groups(3);
    for (size_t i = 0; i < n; ++i) groups[sim.U(3)].push_back(i);
    std::vector<std::unique_ptr<Fresh>> parts;
    std::vector<Delta> deltas;
    for (int g = 0; g < 3; ++g) {
      std::shuffle(groups[g].begin(), groups[g].end(), sim.rng());
      parts.push_back(std::make_unique<Fresh>(0x7100 + g, t));
      ApplyAll(parts.back()->store, sim.log(), groups[g]);
      deltas.push_back(parts.back()->store.DeltaAbove({}));
    }
    ASSERT_FALSE(HasFatalFailure());

    // (d0 + d1) + d2
    Fresh l01(0x7201, t), left(0x7202, t);
    sim.MergeChunked(l01.store, deltas[0]);
    sim.MergeChunked(l01.store, deltas[1]);
    sim.MergeChunked(left.store, l01.store.DeltaAbove({}));
    sim.MergeChunked(left.store, deltas[2]);
    // d0 + (d1 + d2), merged in the other direction
    Fresh r12(0x7203, t), right(0x7204, t);
    sim.MergeChunked(r12.store, deltas[2]);
    sim.MergeChunked(r12.store, deltas[1]);
    sim.MergeChunked(right.store, r12.store.DeltaAbove({}));
    sim.MergeChunked(right.store, deltas[0]);
    ASSERT_FALSE(HasFatalFailure());

    EXPECT_EQ(left.store.digest(), right.store.digest());
    ExpectSameAs(left.store, ref.store, "(d0+d1)+d2");
    ExpectSameAs(right.store, ref.store, "d0+(d1+d2)");
    if (HasFailure()) return;
  }
}

// Tombstone collection run by every replica once they agree (stable vector =
// their common vector, HLC floor = the lowest replica HLC) changes no read and
// keeps them equal; operations issued afterwards still converge.
TEST(MergeProperty, CollectionKeepsReadsAndConvergence) {
  std::vector<uint64_t> seeds = Seeds();
  if (seeds.size() > 1) seeds.resize(seeds.size() / 4);
  for (uint64_t seed : seeds) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (replay: KV_MERGE_SEED=", seed, ")"));
    Sim sim(seed);
    sim.Generate(40 + static_cast<int>(sim.U(61)));
    ASSERT_FALSE(HasFatalFailure());
    sim.DeliverAll();
    ASSERT_FALSE(HasFatalFailure());
    // Late enough that every TTL is past its grace period.
    sim.SetAllClocks(sim.MaxTime() + absl::Hours(1));
    const std::string reads = Reads(sim.store(0));
    const VersionVector stable = sim.store(0).vv();
    uint64_t floor = sim.store(0).hlc();
    for (int r = 0; r < kReplicas; ++r) {
      ASSERT_EQ(sim.store(r).vv(), stable) << "replica " << r;
      floor = std::min(floor, sim.store(r).hlc());
    }
    size_t dropped = 0;
    for (int r = 0; r < kReplicas; ++r) {
      const size_t n = sim.store(r).CollectGarbage(stable, floor);
      if (r > 0) {
        EXPECT_EQ(n, dropped) << "replica " << r;
      }
      dropped = n;
    }
    for (int r = 0; r < kReplicas; ++r) {
      SCOPED_TRACE(absl::StrCat("replica ", r, " after collecting ", dropped));
      EXPECT_EQ(Reads(sim.store(r)), reads);
      EXPECT_EQ(sim.store(r).digest(), sim.store(0).digest());
      EXPECT_EQ(Exports(sim.store(r)), Exports(sim.store(0)));
    }
    // More operations after collection; old events are redelivered as
    // duplicates.
    sim.Generate(30 + static_cast<int>(sim.U(31)));
    ASSERT_FALSE(HasFatalFailure());
    sim.DeliverAll();
    ASSERT_FALSE(HasFatalFailure());
    sim.SetAllClocks(sim.MaxTime());
    for (int r = 1; r < kReplicas; ++r) {
      SCOPED_TRACE(absl::StrCat("replica ", r, " vs 0 after more operations"));
      EXPECT_EQ(sim.store(r).digest(), sim.store(0).digest());
      EXPECT_EQ(Exports(sim.store(r)), Exports(sim.store(0)));
      EXPECT_EQ(Reads(sim.store(r)), Reads(sim.store(0)));
      EXPECT_EQ(sim.store(r).vv(), sim.store(0).vv());
      EXPECT_FALSE(sim.store(r).HasGaps());
    }
    if (HasFailure()) return;
  }
}

// A replica that stopped receiving at some point (a full copy of one replica's
// state then) never brings anything back into replicas that went on, deleted and
// collected: merging its full state, in chunks, changes nothing there.
TEST(MergeProperty, StaleStateNeverBringsBackCollectedRecords) {
  std::vector<uint64_t> seeds = Seeds();
  if (seeds.size() > 1) seeds.resize(seeds.size() / 8);
  for (uint64_t seed : seeds) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (replay: KV_MERGE_SEED=", seed, ")"));
    Sim sim(seed);
    sim.Generate(30 + static_cast<int>(sim.U(31)));
    ASSERT_FALSE(HasFatalFailure());
    Fresh stale(kReferenceNode, sim.MaxTime());
    const int copied = static_cast<int>(sim.U(kReplicas));
    ASSERT_TRUE(stale.store.MergeDelta(sim.store(copied).DeltaAbove({})).ok());
    sim.Generate(30 + static_cast<int>(sim.U(31)));
    ASSERT_FALSE(HasFatalFailure());
    sim.DeliverAll();
    ASSERT_FALSE(HasFatalFailure());
    sim.SetAllClocks(sim.MaxTime() + absl::Hours(1));
    const VersionVector stable = sim.store(0).vv();
    uint64_t floor = sim.store(0).hlc();
    for (int r = 0; r < kReplicas; ++r) floor = std::min(floor, sim.store(r).hlc());
    for (int r = 0; r < kReplicas; ++r) {
      SCOPED_TRACE(absl::StrCat("replica ", r, " (stale copy of ", copied, ")"));
      Store& s = sim.store(r);
      s.CollectGarbage(stable, floor);
      const std::string reads = Reads(s);
      const std::string exports = Exports(s);
      const Digest digest = s.digest();
      sim.MergeChunked(s, stale.store.DeltaAbove({}));
      ASSERT_FALSE(HasFatalFailure());
      sim.MergeChunked(s, stale.store.DeltaAbove(s.vv()));
      ASSERT_FALSE(HasFatalFailure());
      EXPECT_EQ(Reads(s), reads);
      // Counter removals may come back (they only take away); collection drops
      // them again.
      s.CollectGarbage(stable, floor);
      EXPECT_EQ(Reads(s), reads);
      EXPECT_EQ(Exports(s), exports);
      EXPECT_EQ(s.digest(), digest);
    }
    if (HasFailure()) return;
  }
}

// The checks above must be able to fail: different histories give different
// digests.
TEST(MergeProperty, DifferentOperationsGiveDifferentDigests) {
  FakeClock clock;
  auto digest_after = [&clock](auto ops) {
    Store s(kNodes[0], &clock);
    ops(s);
    return s.digest();
  };
  std::vector<Digest> digests = {
      digest_after([](Store&) {}),
      digest_after([](Store& s) { (void)s.Set("k", "a", std::nullopt); }),
      digest_after([](Store& s) { (void)s.Set("k", "b", std::nullopt); }),
      digest_after([](Store& s) { (void)s.Set("k", "a", absl::Seconds(5)); }),
      digest_after([](Store& s) { (void)s.Add("k", 1); }),
      digest_after([](Store& s) { (void)s.Add("k", 2); }),
      digest_after([](Store& s) { (void)s.Push("k", "a"); }),
      digest_after([](Store& s) {
        (void)s.Push("k", "a");
        (void)s.Push("k", "b");
      }),
      digest_after([](Store& s) { (void)s.SetAdd("k", "a"); }),
      digest_after([](Store& s) {
        (void)s.SetAdd("k", "a");
        (void)s.SetRemove("k", "a");
      }),
      digest_after([](Store& s) { (void)s.Set("j", "a", std::nullopt); }),
  };
  for (size_t i = 0; i < digests.size(); ++i) {
    for (size_t j = i + 1; j < digests.size(); ++j) {
      EXPECT_NE(digests[i], digests[j]) << "histories " << i << " and " << j;
    }
  }
}

TEST(MergeProperty, MissingLastEventIsVisibleInDigest) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Sim sim(seed);
    sim.Generate(30);
    ASSERT_FALSE(HasFatalFailure());
    const size_t n = sim.log().size();
    ASSERT_GT(n, 1u);
    const absl::Time t = sim.MaxTime();
    Fresh all(0x7301, t), but_last(0x7302, t);
    ApplyAll(all.store, sim.log(), Iota(n));
    ApplyAll(but_last.store, sim.log(), Iota(n - 1));
    EXPECT_NE(all.store.digest(), but_last.store.digest());
  }
}

}  // namespace
}  // namespace kv::store
