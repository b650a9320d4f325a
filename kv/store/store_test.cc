// Unit tests of kv::store::Store: every operation and its edges, against the
// contract in store.h / state.h. Time comes from a FakeClock; node ids are
// fixed.
#include "kv/store/store.h"

#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/hlc.h"
#include "kv/store/state.h"
#include "kv/store/state_text.h"

namespace kv::store {

// Readable failure messages for the exchange types.
void PrintTo(const Digest& d, std::ostream* os) {
  *os << absl::StrFormat("Digest{%016x,%016x}", d.a, d.b);
}
void PrintTo(const Dot& d, std::ostream* os) {
  *os << "Dot{" << d.node << "," << d.seq << "}";
}

namespace {

#define KV_CONCAT_INNER(a, b) a##b
#define KV_CONCAT(a, b) KV_CONCAT_INNER(a, b)
// Assigns the value of a StatusOr expression to `lhs`, or fails the test.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(KV_CONCAT(status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(var, lhs, expr) \
  auto var = (expr);                              \
  ASSERT_TRUE(var.ok()) << var.status();          \
  lhs = std::move(var).value()
#define EXPECT_CODE(expr, code_name) \
  EXPECT_EQ(StatusOf(expr).code(), absl::StatusCode::code_name) << StatusOf(expr)
#define ASSERT_OK(expr) ASSERT_TRUE(StatusOf(expr).ok()) << StatusOf(expr)
#define EXPECT_OK(expr) EXPECT_TRUE(StatusOf(expr).ok()) << StatusOf(expr)

absl::Status StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

constexpr NodeId kNodeA = 0xA1;
constexpr NodeId kNodeB = 0xB2;
constexpr NodeId kNodeC = 0xC3;

using Strings = std::vector<std::string>;

// A store with its own clock (the clock is declared first, so it outlives the
// store).
struct Replica {
  explicit Replica(NodeId id, Limits limits = Limits()) : store(id, &clock, limits) {}
  FakeClock clock;
  Store store;
};

// Applies `event`, which must exist, to `to`.
ApplyResult Deliver(Store& to, const std::optional<Event>& event) {
  EXPECT_TRUE(event.has_value());
  if (!event.has_value()) return {};
  absl::StatusOr<ApplyResult> r = to.Apply(*event);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : ApplyResult{};
}

// The value of an OK StatusOr (the test fails otherwise; value() then throws
// and gtest reports the exception).
template <typename T>
T Val(absl::StatusOr<T> s) {
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(s).value();
}

// The result of a mutation that must succeed.
template <typename T>
T Res(absl::StatusOr<Change<T>> c) {
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(c).value().result;
}

// The event of a mutation that must succeed and emit one.
template <typename T>
Event Ev(absl::StatusOr<Change<T>> c) {
  EXPECT_TRUE(c.ok()) << c.status();
  std::optional<Event> e = std::move(c).value().event;
  EXPECT_TRUE(e.has_value());
  return e.has_value() ? *std::move(e) : Event{};
}

std::optional<std::string> GetOr(const Store& s, absl::string_view key) {
  return Val(s.Get(key));
}

// The highest stamp of any component of an event (the operation's stamp).
Stamp StampOf(const Event& e) {
  Stamp s;
  const KeyState& k = e.delta;
  if (k.reg) s = std::max(s, k.reg->stamp);
  if (k.counter) s = std::max(s, k.counter->stamp);
  if (k.list) {
    s = std::max(s, k.list->stamp);
    for (const ListItem& i : k.list->items) s = std::max(s, i.stamp);
  }
  if (k.set) s = std::max(s, k.set->stamp);
  return s;
}

VersionVector Normalized(const VersionVector& v) {
  VersionVector out;
  for (const auto& [node, seq] : v) {
    if (seq != 0) out[node] = seq;
  }
  return out;
}

using text::DotStr;
using text::Esc;
using text::StampStr;

std::string Canon(const std::optional<KeyState>& ks) { return text::KeyStateText(ks); }

std::string StatusText(const absl::Status& s) {
  return std::string(absl::StatusCodeToString(s.code()));
}

// Everything a client can read about `keys`, as text.
std::string Reads(const Store& s, const Strings& keys) {
  std::string out;
  for (const std::string& k : keys) {
    absl::StrAppend(&out, Esc(k), ":");
    auto get = s.Get(k);
    if (!get.ok()) {
      absl::StrAppend(&out, " get=", StatusText(get.status()));
    } else {
      absl::StrAppend(&out, " get=", get->has_value() ? Esc(**get) : "nil");
    }
    auto exists = s.Exists(k);
    absl::StrAppend(&out, " exists=",
                    exists.ok() ? (*exists ? "1" : "0") : StatusText(exists.status()));
    auto range = s.Range(k, 0, -1);
    absl::StrAppend(&out, " range=",
                    range.ok() ? absl::StrJoin(*range, ",",
                                               [](std::string* o, const std::string& v) {
                                                 o->append(Esc(v));
                                               })
                               : StatusText(range.status()));
    auto members = s.SetQuery(k);
    absl::StrAppend(&out, " set=",
                    members.ok()
                        ? absl::StrJoin(*members, ",",
                                        [](std::string* o, const std::string& v) {
                                          o->append(Esc(v));
                                        })
                        : StatusText(members.status()));
    out += "\n";
  }
  auto page = s.Keys("", 0, "");
  absl::StrAppend(&out, "keys=",
                  page.ok() ? absl::StrJoin(page->keys, ",") : StatusText(page.status()));
  return out;
}

Strings AllKeys(const Store& s, absl::string_view prefix = "") {
  Strings out;
  std::string cursor;
  for (int pages = 0; pages < 100000; ++pages) {
    absl::StatusOr<KeysPage> page = s.Keys(prefix, 0, cursor);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    out.insert(out.end(), page->keys.begin(), page->keys.end());
    if (page->cursor.empty()) break;
    cursor = page->cursor;
  }
  return out;
}

// ---------------------------------------------------------------- registers

TEST(StoreRegister, SetGetExistsDel) {
  Replica r(kNodeA);
  Store& s = r.store;
  EXPECT_EQ(GetOr(s, "k"), std::nullopt);
  EXPECT_FALSE(Val(s.Exists("k")));

  Res(s.Set("k", "v1", std::nullopt));
  EXPECT_EQ(GetOr(s, "k"), "v1");
  EXPECT_TRUE(Val(s.Exists("k")));

  EXPECT_TRUE(Res(s.Del("k")));
  EXPECT_EQ(GetOr(s, "k"), std::nullopt);
  EXPECT_FALSE(Val(s.Exists("k")));
  // Deleting what is not there reports it.
  EXPECT_FALSE(Res(s.Del("k")));
  EXPECT_FALSE(Res(s.Del("never")));
}

TEST(StoreRegister, EmptyValueIsAValue) {
  Replica r(kNodeA);
  Res(r.store.Set("k", "", std::nullopt));
  EXPECT_EQ(GetOr(r.store, "k"), "");
  EXPECT_TRUE(Val(r.store.Exists("k")));
}

TEST(StoreRegister, BinaryKeysAndValues) {
  Replica r(kNodeA);
  const std::string key("k\0\xff", 3);
  const std::string value("\0v\x80\0", 4);
  Res(r.store.Set(key, value, std::nullopt));
  EXPECT_EQ(GetOr(r.store, key), value);
  EXPECT_EQ(GetOr(r.store, "k"), std::nullopt);
}

TEST(StoreRegister, OverwriteReplacesValue) {
  Replica r(kNodeA);
  Res(r.store.Set("k", "v1", std::nullopt));
  Res(r.store.Set("k", "v2", std::nullopt));
  EXPECT_EQ(GetOr(r.store, "k"), "v2");
  // Same clock instant: the HLC still orders the second write after the first.
  Res(r.store.Set("k", "v3", std::nullopt));
  EXPECT_EQ(GetOr(r.store, "k"), "v3");
}

TEST(StoreRegister, TtlExpiresExactlyAtBoundary) {
  Replica r(kNodeA);
  Res(r.store.Set("k", "v", absl::Seconds(10)));
  EXPECT_EQ(GetOr(r.store, "k"), "v");
  r.clock.Advance(absl::Seconds(10) - absl::Milliseconds(1));
  EXPECT_EQ(GetOr(r.store, "k"), "v");
  EXPECT_TRUE(Val(r.store.Exists("k")));
  r.clock.Advance(absl::Milliseconds(1));
  EXPECT_EQ(GetOr(r.store, "k"), std::nullopt);
  EXPECT_FALSE(Val(r.store.Exists("k")));
  EXPECT_TRUE(AllKeys(r.store).empty());
  // Deleting an expired register deletes nothing visible.
  EXPECT_FALSE(Res(r.store.Del("k")));
}

TEST(StoreRegister, TtlIsAbsoluteExpiryInState) {
  Replica r(kNodeA);
  const absl::Time t0 = r.clock.Now();
  Res(r.store.Set("k", "v", absl::Seconds(3)));
  std::optional<KeyState> ks = r.store.Export("k");
  ASSERT_TRUE(ks.has_value());
  ASSERT_TRUE(ks->reg.has_value());
  EXPECT_EQ(ks->reg->expires_ms, absl::ToUnixMillis(t0 + absl::Seconds(3)));
  // Reading later does not change the state.
  const Digest before = r.store.digest();
  r.clock.Advance(absl::Seconds(5));
  EXPECT_EQ(GetOr(r.store, "k"), std::nullopt);
  EXPECT_EQ(r.store.digest(), before);
}

TEST(StoreRegister, OverwriteWithoutTtlClearsExpiry) {
  Replica r(kNodeA);
  Res(r.store.Set("k", "v1", absl::Seconds(1)));
  Res(r.store.Set("k", "v2", std::nullopt));
  r.clock.Advance(absl::Hours(24));
  EXPECT_EQ(GetOr(r.store, "k"), "v2");
}

TEST(StoreRegister, OverwriteWithTtlSetsNewExpiry) {
  Replica r(kNodeA);
  Res(r.store.Set("k", "v1", std::nullopt));
  Res(r.store.Set("k", "v2", absl::Seconds(2)));
  r.clock.Advance(absl::Seconds(1));
  EXPECT_EQ(GetOr(r.store, "k"), "v2");
  r.clock.Advance(absl::Seconds(1));
  EXPECT_EQ(GetOr(r.store, "k"), std::nullopt);
}

TEST(StoreRegister, ExpiredKeyCanTakeAnotherType) {
  Replica r(kNodeA);
  Res(r.store.Set("k", "v", absl::Seconds(1)));
  EXPECT_CODE(r.store.Push("k", "x"), kFailedPrecondition);
  r.clock.Advance(absl::Seconds(2));
  EXPECT_EQ(Res(r.store.Push("k", "x")), 1);
  EXPECT_EQ(Val(r.store.Range("k", 0, -1)), Strings{"x"});
}

// ---------------------------------------------------------------- counters

TEST(StoreCounter, AddCreatesAtZeroAndAccumulates) {
  Replica r(kNodeA);
  EXPECT_EQ(Res(r.store.Add("c", 5)), 5);
  EXPECT_EQ(Res(r.store.Add("c", 7)), 12);
  EXPECT_EQ(Res(r.store.Add("c", -20)), -8);
  EXPECT_EQ(GetOr(r.store, "c"), "-8");
  EXPECT_TRUE(Val(r.store.Exists("c")));
}

TEST(StoreCounter, AddZeroCreatesTheKey) {
  Replica r(kNodeA);
  absl::StatusOr<Change<int64_t>> c = r.store.Add("c", 0);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->result, 0);
  EXPECT_TRUE(c->event.has_value());
  EXPECT_TRUE(Val(r.store.Exists("c")));
  EXPECT_EQ(GetOr(r.store, "c"), "0");
  EXPECT_EQ(AllKeys(r.store), Strings{"c"});
}

TEST(StoreCounter, GetReadsDecimalOfExtremes) {
  Replica r(kNodeA);
  const int64_t max = std::numeric_limits<int64_t>::max();
  const int64_t min = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(Res(r.store.Add("hi", max)), max);
  EXPECT_EQ(GetOr(r.store, "hi"), absl::StrCat(max));
  EXPECT_EQ(Res(r.store.Add("lo", min)), min);
  EXPECT_EQ(GetOr(r.store, "lo"), absl::StrCat(min));
}

TEST(StoreCounter, OverflowIsOutOfRangeAndChangesNothing) {
  Replica r(kNodeA);
  const int64_t max = std::numeric_limits<int64_t>::max();
  const int64_t min = std::numeric_limits<int64_t>::min();
  Res(r.store.Add("hi", max - 1));
  Res(r.store.Add("lo", min + 1));
  const Digest before = r.store.digest();
  const VersionVector vv = r.store.vv();

  EXPECT_CODE(r.store.Add("hi", 2), kOutOfRange);
  EXPECT_CODE(r.store.Add("hi", max), kOutOfRange);
  EXPECT_CODE(r.store.Add("lo", -2), kOutOfRange);
  EXPECT_CODE(r.store.Add("lo", min), kOutOfRange);
  EXPECT_EQ(r.store.digest(), before);
  EXPECT_EQ(r.store.vv(), vv);
  EXPECT_EQ(GetOr(r.store, "hi"), absl::StrCat(max - 1));
  EXPECT_EQ(GetOr(r.store, "lo"), absl::StrCat(min + 1));

  // Exactly reaching the limits is fine.
  EXPECT_EQ(Res(r.store.Add("hi", 1)), max);
  EXPECT_EQ(Res(r.store.Add("lo", -1)), min);
}

TEST(StoreCounter, OverflowAcrossOriginsIsRejected) {
  Replica a(kNodeA), b(kNodeB);
  const int64_t max = std::numeric_limits<int64_t>::max();
  Deliver(b.store, Ev(a.store.Add("c", max)));
  const Digest before = b.store.digest();
  EXPECT_CODE(b.store.Add("c", 1), kOutOfRange);
  EXPECT_EQ(b.store.digest(), before);
  EXPECT_EQ(GetOr(b.store, "c"), absl::StrCat(max));
}

TEST(StoreCounter, DelThenAddStartsFromZero) {
  Replica r(kNodeA);
  Res(r.store.Add("c", 10));
  EXPECT_TRUE(Res(r.store.Del("c")));
  EXPECT_FALSE(Val(r.store.Exists("c")));
  EXPECT_EQ(GetOr(r.store, "c"), std::nullopt);
  EXPECT_EQ(Res(r.store.Add("c", 5)), 5);
  EXPECT_EQ(GetOr(r.store, "c"), "5");
}

// ---------------------------------------------------------------- lists

TEST(StoreList, PushReturnsLengthAndKeepsOrder) {
  Replica r(kNodeA);
  EXPECT_EQ(Res(r.store.Push("l", "a")), 1);
  EXPECT_EQ(Res(r.store.Push("l", "b")), 2);
  EXPECT_EQ(Res(r.store.Push("l", "a")), 3);  // duplicates are kept
  EXPECT_EQ(Res(r.store.Push("l", "")), 4);
  EXPECT_EQ(Val(r.store.Range("l", 0, -1)), (Strings{"a", "b", "a", ""}));
  EXPECT_TRUE(Val(r.store.Exists("l")));
}

TEST(StoreList, OrderSurvivesClockGoingBackwards) {
  Replica r(kNodeA);
  Res(r.store.Push("l", "1"));
  r.clock.Advance(-absl::Seconds(30));
  Res(r.store.Push("l", "2"));
  r.clock.Advance(-absl::Seconds(30));
  Res(r.store.Push("l", "3"));
  EXPECT_EQ(Val(r.store.Range("l", 0, -1)), (Strings{"1", "2", "3"}));
}

// Redis LRANGE semantics, written directly: negative indices count from the
// end, a start before the beginning clamps to 0, a stop past the end clamps to
// the end.
Strings LrangeModel(const Strings& items, int64_t start, int64_t stop) {
  const int64_t n = static_cast<int64_t>(items.size());
  if (start < 0) start = start < -n ? 0 : start + n;
  if (stop < 0) stop = stop < -n ? -1 : stop + n;
  if (stop >= n) stop = n - 1;
  if (start > stop || start >= n) return {};
  return Strings(items.begin() + start, items.begin() + stop + 1);
}

TEST(StoreList, RangeFollowsLrange) {
  Replica r(kNodeA);
  const Strings items = {"a", "b", "c", "d", "e"};
  for (const std::string& v : items) Res(r.store.Push("l", v));

  struct Case {
    int64_t start, stop;
    Strings want;
  };
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const std::vector<Case> cases = {
      {0, -1, {"a", "b", "c", "d", "e"}},
      {0, 0, {"a"}},
      {-1, -1, {"e"}},
      {1, 3, {"b", "c", "d"}},
      {-2, -1, {"d", "e"}},
      {-3, 3, {"c", "d"}},
      {3, 1, {}},             // start > stop
      {-1, -2, {}},           // start > stop, negative
      {-100, 1, {"a", "b"}},  // start clamps to 0
      {3, 100, {"d", "e"}},   // stop clamps to the end
      {5, 10, {}},            // start past the end
      {4, 4, {"e"}},
      {-100, -50, {}},  // both before the start
      {-100, -5, {"a"}},
      {-5, -100, {}},
      {kMin, kMax, {"a", "b", "c", "d", "e"}},
      {kMax, kMin, {}},
      {kMin, kMin, {}},
      {kMax, kMax, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("range ", c.start, " ", c.stop));
    EXPECT_EQ(Val(r.store.Range("l", c.start, c.stop)), c.want);
    EXPECT_EQ(LrangeModel(items, c.start, c.stop), c.want);  // the model agrees
  }
  // Exhaustive small indices against the model.
  for (int64_t start = -8; start <= 8; ++start) {
    for (int64_t stop = -8; stop <= 8; ++stop) {
      SCOPED_TRACE(absl::StrCat("range ", start, " ", stop));
      EXPECT_EQ(Val(r.store.Range("l", start, stop)), LrangeModel(items, start, stop));
    }
  }
}

TEST(StoreList, RangeOfAbsentOrEmptyListIsEmpty) {
  Replica r(kNodeA);
  EXPECT_TRUE(Val(r.store.Range("none", 0, -1)).empty());
  EXPECT_TRUE(Val(r.store.Range("none", -5, 5)).empty());
  Res(r.store.Push("l", "a"));
  Res(r.store.Clear("l"));
  EXPECT_TRUE(Val(r.store.Range("l", 0, -1)).empty());
}

TEST(StoreList, ListDelRemovesEveryEqualItem) {
  Replica r(kNodeA);
  for (const char* v : {"a", "b", "a", "c", "a"}) Res(r.store.Push("l", v));
  EXPECT_EQ(Res(r.store.ListDel("l", "a")), 2);
  EXPECT_EQ(Val(r.store.Range("l", 0, -1)), (Strings{"b", "c"}));
  // Removing a value that is not there leaves the length.
  EXPECT_EQ(Res(r.store.ListDel("l", "zzz")), 2);
  EXPECT_EQ(Val(r.store.Range("l", 0, -1)), (Strings{"b", "c"}));
  EXPECT_EQ(Res(r.store.ListDel("l", "b")), 1);
  EXPECT_EQ(Res(r.store.ListDel("l", "c")), 0);
  EXPECT_FALSE(Val(r.store.Exists("l")));
  EXPECT_EQ(Res(r.store.ListDel("absent", "a")), 0);
  // A removed value pushed again is back.
  EXPECT_EQ(Res(r.store.Push("l", "a")), 1);
  EXPECT_EQ(Val(r.store.Range("l", 0, -1)), Strings{"a"});
}

TEST(StoreList, ClearReportsWhetherItHadItems) {
  Replica r(kNodeA);
  EXPECT_FALSE(Res(r.store.Clear("l")));
  Res(r.store.Push("l", "a"));
  Res(r.store.Push("l", "b"));
  EXPECT_TRUE(Res(r.store.Clear("l")));
  EXPECT_TRUE(Val(r.store.Range("l", 0, -1)).empty());
  EXPECT_FALSE(Val(r.store.Exists("l")));
  EXPECT_FALSE(Res(r.store.Clear("l")));
  // A cleared list is gone: the key may take another type.
  Res(r.store.Set("l", "now a register", std::nullopt));
  EXPECT_EQ(GetOr(r.store, "l"), "now a register");
}

TEST(StoreList, TooManyItemsIsOutOfRange) {
  Limits limits;
  limits.max_list_items = 3;
  Replica r(kNodeA, limits);
  for (int i = 0; i < 3; ++i) Res(r.store.Push("l", "x"));
  const Digest before = r.store.digest();
  EXPECT_CODE(r.store.Push("l", "x"), kOutOfRange);
  EXPECT_EQ(r.store.digest(), before);
  EXPECT_EQ(Val(r.store.Range("l", 0, -1)).size(), 3u);
}

TEST(StoreLimits, KeyPlusValueOverTheWriteBudgetIsOutOfRangeAndChangesNothing) {
  Limits limits;
  limits.max_write_bytes = 100;
  Replica r(kNodeA, limits);
  const std::string key(40, 'k');
  Res(r.store.Set(key, std::string(60, 'v'), std::nullopt));  // exactly at the budget
  Res(r.store.Push("l", "x"));
  Res(r.store.SetAdd("s", "x"));
  const Digest before = r.store.digest();
  const VersionVector vv = r.store.vv();
  const std::string big(61, 'v');
  EXPECT_CODE(r.store.Set(key, big, std::nullopt), kOutOfRange);
  EXPECT_CODE(r.store.Push(std::string(40, 'l'), big), kOutOfRange);
  EXPECT_CODE(r.store.SetAdd(std::string(40, 's'), big), kOutOfRange);
  EXPECT_EQ(r.store.digest(), before);
  EXPECT_EQ(r.store.vv(), vv);
}

// ---------------------------------------------------------------- sets

TEST(StoreSet, AddRemoveQuerySorted) {
  Replica r(kNodeA);
  EXPECT_EQ(Res(r.store.SetAdd("s", "c")), 1);
  EXPECT_EQ(Res(r.store.SetAdd("s", "a")), 2);
  EXPECT_EQ(Res(r.store.SetAdd("s", "b")), 3);
  EXPECT_EQ(Res(r.store.SetAdd("s", "a")), 3);  // already there
  EXPECT_EQ(Val(r.store.SetQuery("s")), (Strings{"a", "b", "c"}));
  EXPECT_EQ(Res(r.store.SetRemove("s", "b")), 2);
  EXPECT_EQ(Res(r.store.SetRemove("s", "b")), 2);  // no longer there
  EXPECT_EQ(Res(r.store.SetRemove("s", "zz")), 2);
  EXPECT_EQ(Val(r.store.SetQuery("s")), (Strings{"a", "c"}));
  EXPECT_TRUE(Val(r.store.Exists("s")));
  EXPECT_EQ(Res(r.store.SetRemove("s", "a")), 1);
  EXPECT_EQ(Res(r.store.SetRemove("s", "c")), 0);
  EXPECT_TRUE(Val(r.store.SetQuery("s")).empty());
  EXPECT_FALSE(Val(r.store.Exists("s")));
  EXPECT_EQ(Res(r.store.SetRemove("absent", "a")), 0);
  EXPECT_TRUE(Val(r.store.SetQuery("absent")).empty());
}

TEST(StoreSet, SortedInByteOrder) {
  Replica r(kNodeA);
  Strings values = {"b", "B", "a", "\xff", std::string("\0", 1), "ab", "", "\x7f"};
  for (const std::string& v : values) Res(r.store.SetAdd("s", v));
  std::sort(values.begin(), values.end());
  EXPECT_EQ(Val(r.store.SetQuery("s")), values);
}

TEST(StoreSet, UnionAndIntersection) {
  Replica r(kNodeA);
  for (const char* v : {"c", "a", "b"}) Res(r.store.SetAdd("s1", v));
  for (const char* v : {"d", "b", "c"}) Res(r.store.SetAdd("s2", v));
  for (const char* v : {"c", "e"}) Res(r.store.SetAdd("s3", v));

  EXPECT_EQ(Val(r.store.SetUnion({"s1", "s2"})), (Strings{"a", "b", "c", "d"}));
  EXPECT_EQ(Val(r.store.SetIntersection({"s1", "s2"})), (Strings{"b", "c"}));
  EXPECT_EQ(Val(r.store.SetUnion({"s1", "s2", "s3"})),
            (Strings{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(Val(r.store.SetIntersection({"s1", "s2", "s3"})), Strings{"c"});
  EXPECT_EQ(Val(r.store.SetIntersection({"s2", "s1", "s3", "s1"})), Strings{"c"});
  EXPECT_EQ(Val(r.store.SetUnion({"s1"})), (Strings{"a", "b", "c"}));
  EXPECT_EQ(Val(r.store.SetIntersection({"s1"})), (Strings{"a", "b", "c"}));
  // Absent keys are empty sets.
  EXPECT_EQ(Val(r.store.SetUnion({"s1", "absent"})), (Strings{"a", "b", "c"}));
  EXPECT_TRUE(Val(r.store.SetIntersection({"s1", "absent"})).empty());
  EXPECT_TRUE(Val(r.store.SetIntersection({"absent", "s1"})).empty());
  EXPECT_TRUE(Val(r.store.SetUnion({"absent", "absent2"})).empty());
}

TEST(StoreSet, QueryLimitOnKeyCount) {
  Replica r(kNodeA);
  Res(r.store.SetAdd("s", "x"));
  const size_t max = r.store.limits().max_keys_per_query;
  Strings keys(max, "s");
  EXPECT_EQ(Val(r.store.SetUnion(keys)), Strings{"x"});
  EXPECT_EQ(Val(r.store.SetIntersection(keys)), Strings{"x"});
  keys.push_back("s");
  EXPECT_CODE(r.store.SetUnion(keys), kOutOfRange);
  EXPECT_CODE(r.store.SetIntersection(keys), kOutOfRange);
}

TEST(StoreSet, UnionOfWrongTypeOrBadKeyFails) {
  Replica r(kNodeA);
  Res(r.store.SetAdd("s", "x"));
  Res(r.store.Set("reg", "v", std::nullopt));
  EXPECT_CODE(r.store.SetUnion({"s", "reg"}), kFailedPrecondition);
  EXPECT_CODE(r.store.SetIntersection({"s", "reg"}), kFailedPrecondition);
  EXPECT_CODE(r.store.SetUnion({"s", ""}), kInvalidArgument);
  EXPECT_CODE(r.store.SetIntersection({"", "s"}), kInvalidArgument);
}

TEST(StoreSet, TooManyItemsIsOutOfRange) {
  Limits limits;
  limits.max_set_items = 2;
  Replica r(kNodeA, limits);
  Res(r.store.SetAdd("s", "a"));
  Res(r.store.SetAdd("s", "b"));
  EXPECT_EQ(Res(r.store.SetAdd("s", "a")), 2);  // re-adding is not growth
  const Digest before = r.store.digest();
  EXPECT_CODE(r.store.SetAdd("s", "c"), kOutOfRange);
  EXPECT_EQ(r.store.digest(), before);
  EXPECT_EQ(Val(r.store.SetQuery("s")), (Strings{"a", "b"}));
}

// ---------------------------------------------------------------- keys

// Reads stop at the reply budget: range, set_query, set_union and
// set_intersection fail with OutOfRange saying how to ask for less; a keys page
// ends early and its cursor goes on.
TEST(StoreReplyBudget, ReadsBeyondItFailOrPageEarly) {
  Limits limits;
  limits.max_reply_bytes = 1000;
  Replica r(kNodeA, limits);
  Store& s = r.store;
  const std::string big(300, 'v');
  for (int i = 0; i < 5; ++i) {
    Res(s.Push("l", absl::StrCat(i, big)));
    Res(s.SetAdd("s", absl::StrCat(i, big)));
    Res(s.SetAdd("t", absl::StrCat(i, big)));
  }
  EXPECT_EQ(Val(s.Range("l", 0, 2)).size(), 3u);  // 3 x 304 bytes fit
  absl::Status range = StatusOf(s.Range("l", 0, -1));
  EXPECT_EQ(range.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(absl::StrContains(range.message(), "ask for a narrower range")) << range;
  EXPECT_EQ(StatusOf(s.SetQuery("s")).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(StatusOf(s.SetUnion({"s", "t"})).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(StatusOf(s.SetIntersection({"s", "t"})).code(),
            absl::StatusCode::kOutOfRange);

  // 40 keys of 100 bytes: pages end before 1000 bytes, and together list every
  // key exactly once.
  for (int i = 0; i < 40; ++i) {
    Res(s.Set(absl::StrCat("k", i, std::string(97, 'x')), "v", std::nullopt));
  }
  Strings all;
  std::string cursor;
  int pages = 0;
  do {
    KeysPage page = Val(s.Keys("k", 0, cursor));
    size_t bytes = 0;
    for (const std::string& k : page.keys) bytes += k.size() + 3;
    EXPECT_LE(bytes, 1000u);
    all.insert(all.end(), page.keys.begin(), page.keys.end());
    cursor = page.cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(all.size(), 40u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  EXPECT_GE(pages, 5);
}

// One set named many times is read once; the intersection's work is bounded.
TEST(StoreReplyBudget, SetQueriesDedupKeysAndBoundTheirWork) {
  Limits limits;
  limits.max_intersection_probes = 1000;
  Replica r(kNodeA, limits);
  Store& s = r.store;
  for (int i = 0; i < 600; ++i) {
    Res(s.SetAdd("s", absl::StrCat("m", i)));
    Res(s.SetAdd("t", absl::StrCat("m", i)));
  }
  const Strings same(128, "s");
  EXPECT_EQ(Val(s.SetUnion(same)).size(), 600u);
  EXPECT_EQ(Val(s.SetIntersection(same)).size(), 600u);             // no probe at all
  EXPECT_EQ(Val(s.SetIntersection({"s", "t", "s"})).size(), 600u);  // 600 probes
  absl::Status three = StatusOf(s.SetIntersection({"s", "t", "u"}));
  EXPECT_TRUE(three.ok()) << three;  // "u" is absent: empty at once
  Res(s.SetAdd("u", "m1"));
  Res(s.SetAdd("v", "m1"));
  Res(s.SetAdd("v", "m2"));
  EXPECT_EQ(Val(s.SetIntersection({"s", "t", "u", "v"})), Strings{"m1"});
  for (int i = 0; i < 600; ++i) Res(s.SetAdd("w", absl::StrCat("m", i)));
  absl::Status big = StatusOf(s.SetIntersection({"s", "t", "w"}));  // 1200 probes
  EXPECT_EQ(big.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(absl::StrContains(big.message(), "would probe 1200 members")) << big;
}

TEST(StoreKeys, PrefixInByteOrderVisibleOnly) {
  Replica r(kNodeA);
  const Strings registers = {"b",  "a/2", "a/1", "a", "a/\xff", std::string("a/\x01"),
                             "ab", "A",   "a/"};
  for (const std::string& k : registers) Res(r.store.Set(k, "v", std::nullopt));
  Res(r.store.Add("a/counter", 1));
  Res(r.store.Push("a/list", "x"));
  Res(r.store.SetAdd("a/set", "x"));
  // Not visible: deleted, expired, emptied.
  Res(r.store.Set("a/deleted", "v", std::nullopt));
  Res(r.store.Del("a/deleted"));
  Res(r.store.Set("a/expired", "v", absl::Seconds(1)));
  Res(r.store.Push("a/cleared", "x"));
  Res(r.store.Clear("a/cleared"));
  Res(r.store.SetAdd("a/emptied", "x"));
  Res(r.store.SetRemove("a/emptied", "x"));
  r.clock.Advance(absl::Seconds(1));

  Strings all = registers;
  for (const char* k : {"a/counter", "a/list", "a/set"}) all.push_back(k);
  std::sort(all.begin(), all.end());
  Strings with_prefix;
  for (const std::string& k : all) {
    if (absl::string_view(k).substr(0, 2) == "a/") with_prefix.push_back(k);
  }

  absl::StatusOr<KeysPage> page = r.store.Keys("", 0, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->keys, all);
  EXPECT_EQ(page->cursor, "");

  page = r.store.Keys("a/", 100, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->keys, with_prefix);
  EXPECT_EQ(page->cursor, "");

  page = r.store.Keys("zzz", 0, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->keys.empty());
  EXPECT_EQ(page->cursor, "");
}

TEST(StoreKeys, LimitAndCursorPage) {
  Replica r(kNodeA);
  Strings all;
  for (int i = 0; i < 10; ++i) {
    all.push_back(absl::StrFormat("k%02d", i));
    Res(r.store.Set(all.back(), "v", std::nullopt));
  }
  absl::StatusOr<KeysPage> page = r.store.Keys("", 3, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->keys, (Strings{"k00", "k01", "k02"}));
  EXPECT_FALSE(page->cursor.empty());
  page = r.store.Keys("", 3, page->cursor);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->keys, (Strings{"k03", "k04", "k05"}));

  // The cursor is exclusive: starting after an existing key skips it.
  page = r.store.Keys("", 2, "k07");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->keys, (Strings{"k08", "k09"}));

  // A page shorter than the limit is the last one.
  page = r.store.Keys("", 5, "k06");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->keys, (Strings{"k07", "k08", "k09"}));
  EXPECT_EQ(page->cursor, "");
}

TEST(StoreKeys, ZeroLimitMeansMaxPage) {
  Limits limits;
  limits.max_page = 5;
  Replica r(kNodeA, limits);
  for (int i = 0; i < 12; ++i) {
    Res(r.store.Set(absl::StrFormat("k%02d", i), "v", std::nullopt));
  }
  absl::StatusOr<KeysPage> page = r.store.Keys("", 0, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->keys.size(), 5u);
  EXPECT_FALSE(page->cursor.empty());
  EXPECT_EQ(AllKeys(r.store).size(), 12u);
}

TEST(StoreKeys, CursorPagingIsStableUnderWrites) {
  Replica r(kNodeA);
  std::set<std::string> live;
  for (int i = 0; i < 1000; ++i) {
    std::string k = absl::StrFormat("key%04d", i);
    Res(r.store.Set(k, "v", std::nullopt));
    live.insert(k);
  }
  std::set<std::string> hidden;  // inserted behind the cursor: must not show
  Strings listed;
  std::string cursor;
  int pages = 0;
  for (;; ++pages) {
    ASSERT_LT(pages, 1000);
    absl::StatusOr<KeysPage> page = r.store.Keys("key", 37, cursor);
    ASSERT_TRUE(page.ok()) << page.status();
    listed.insert(listed.end(), page->keys.begin(), page->keys.end());
    if (page->cursor.empty()) break;
    cursor = page->cursor;
    ASSERT_FALSE(page->keys.empty());
    const std::string& last = page->keys.back();
    // Writes between pages: delete a key ahead, insert one ahead, insert one
    // behind, rewrite one already listed.
    auto ahead = live.upper_bound(last);
    for (int j = 0; j < 5 && ahead != live.end(); ++j) ++ahead;
    if (ahead != live.end()) {
      std::string gone = *ahead;
      EXPECT_TRUE(Res(r.store.Del(gone)));
      live.erase(gone);
    }
    std::string fresh = last + "/new";
    Res(r.store.Set(fresh, "v", std::nullopt));
    live.insert(fresh);
    std::string behind = absl::StrCat("key0000/behind", pages);
    if (behind < last) {
      Res(r.store.Set(behind, "v", std::nullopt));
      live.insert(behind);
      hidden.insert(behind);
    }
    Res(r.store.Set(page->keys.front(), "rewritten", std::nullopt));
  }
  EXPECT_GT(pages, 20);
  Strings want;
  for (const std::string& k : live) {
    if (!hidden.count(k)) want.push_back(k);
  }
  EXPECT_EQ(listed, want);
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
  EXPECT_EQ(std::adjacent_find(listed.begin(), listed.end()), listed.end());
  // And the full listing now matches the model.
  EXPECT_EQ(AllKeys(r.store, "key"), Strings(live.begin(), live.end()));
}

// ---------------------------------------------------------------- wrong types

// Checks that `result` is a wrong-type error that changed nothing.
template <typename T>
void ExpectWrongType(const Store& s, const absl::StatusOr<T>& result,
                     const Digest& before, const VersionVector& vv) {
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition)
      << result.status();
  EXPECT_EQ(s.digest(), before);
  EXPECT_EQ(s.vv(), vv);
}

TEST(StoreTypes, WrongTypeFailsEmitsNothingChangesNothing) {
  Replica r(kNodeA);
  Res(r.store.Set("reg", "v", std::nullopt));
  Res(r.store.Add("cnt", 3));
  Res(r.store.Push("lst", "x"));
  Res(r.store.SetAdd("st", "x"));
  const Digest d = r.store.digest();
  const VersionVector vv = r.store.vv();
  Store& s = r.store;

  // On a register.
  ExpectWrongType(s, s.Add("reg", 1), d, vv);
  ExpectWrongType(s, s.Push("reg", "x"), d, vv);
  ExpectWrongType(s, s.ListDel("reg", "v"), d, vv);
  ExpectWrongType(s, s.Clear("reg"), d, vv);
  ExpectWrongType(s, s.SetAdd("reg", "x"), d, vv);
  ExpectWrongType(s, s.SetRemove("reg", "v"), d, vv);
  ExpectWrongType(s, s.Range("reg", 0, -1), d, vv);
  ExpectWrongType(s, s.SetQuery("reg"), d, vv);
  // On a counter.
  ExpectWrongType(s, s.Set("cnt", "v", std::nullopt), d, vv);
  ExpectWrongType(s, s.Push("cnt", "x"), d, vv);
  ExpectWrongType(s, s.SetAdd("cnt", "x"), d, vv);
  ExpectWrongType(s, s.Range("cnt", 0, -1), d, vv);
  ExpectWrongType(s, s.SetQuery("cnt"), d, vv);
  // On a list.
  ExpectWrongType(s, s.Set("lst", "v", std::nullopt), d, vv);
  ExpectWrongType(s, s.Set("lst", "v", absl::Seconds(5)), d, vv);
  ExpectWrongType(s, s.Add("lst", 1), d, vv);
  ExpectWrongType(s, s.SetAdd("lst", "x"), d, vv);
  ExpectWrongType(s, s.SetRemove("lst", "x"), d, vv);
  ExpectWrongType(s, s.Get("lst"), d, vv);
  ExpectWrongType(s, s.SetQuery("lst"), d, vv);
  // On a set.
  ExpectWrongType(s, s.Set("st", "v", std::nullopt), d, vv);
  ExpectWrongType(s, s.Add("st", 1), d, vv);
  ExpectWrongType(s, s.Push("st", "x"), d, vv);
  ExpectWrongType(s, s.ListDel("st", "x"), d, vv);
  ExpectWrongType(s, s.Clear("st"), d, vv);
  ExpectWrongType(s, s.Get("st"), d, vv);
  ExpectWrongType(s, s.Range("st", 0, -1), d, vv);

  // Values unchanged; exists and del work on every type.
  EXPECT_EQ(GetOr(s, "reg"), "v");
  EXPECT_EQ(GetOr(s, "cnt"), "3");
  EXPECT_EQ(Val(s.Range("lst", 0, -1)), Strings{"x"});
  EXPECT_EQ(Val(s.SetQuery("st")), Strings{"x"});
  for (const char* k : {"reg", "cnt", "lst", "st"}) {
    SCOPED_TRACE(k);
    EXPECT_TRUE(Val(s.Exists(k)));
    EXPECT_TRUE(Res(s.Del(k)));
    EXPECT_FALSE(Val(s.Exists(k)));
  }
  // Once deleted, any type may be created.
  EXPECT_EQ(Res(s.Push("reg", "x")), 1);
  EXPECT_EQ(Res(s.SetAdd("cnt", "x")), 1);
  EXPECT_EQ(Res(s.Add("lst", 2)), 2);
  Res(s.Set("st", "v", std::nullopt));
  EXPECT_EQ(GetOr(s, "st"), "v");
}

TEST(StoreTypes, FailedOperationsConsumeNoSeq) {
  Replica r(kNodeA);
  Event e1 = Ev(r.store.Set("k", "v", std::nullopt));
  EXPECT_CODE(r.store.Push("k", "x"), kFailedPrecondition);
  EXPECT_CODE(r.store.Set("", "x", std::nullopt), kInvalidArgument);
  Event e2 = Ev(r.store.Set("k", "w", std::nullopt));
  EXPECT_EQ(e1.dot, (Dot{kNodeA, 1}));
  EXPECT_EQ(e2.dot, (Dot{kNodeA, 2}));
  // A peer receiving both has no gap.
  Replica b(kNodeB);
  Deliver(b.store, e1);
  EXPECT_FALSE(Deliver(b.store, e2).gap);
  EXPECT_FALSE(b.store.HasGaps());
}

// ---------------------------------------------------------------- limits

TEST(StoreLimits, InvalidKeysAreInvalidArgument) {
  Replica r(kNodeA);
  Store& s = r.store;
  Res(s.Set("k", "v", std::nullopt));
  const Digest d = s.digest();
  const VersionVector vv = s.vv();
  const std::string too_long(s.limits().max_key_bytes + 1, 'k');
  for (const std::string& bad : {std::string(), too_long}) {
    SCOPED_TRACE(absl::StrCat("key of ", bad.size(), " bytes"));
    EXPECT_CODE(s.Get(bad), kInvalidArgument);
    EXPECT_CODE(s.Exists(bad), kInvalidArgument);
    EXPECT_CODE(s.Range(bad, 0, -1), kInvalidArgument);
    EXPECT_CODE(s.SetQuery(bad), kInvalidArgument);
    EXPECT_CODE(s.Set(bad, "v", std::nullopt), kInvalidArgument);
    EXPECT_CODE(s.Del(bad), kInvalidArgument);
    EXPECT_CODE(s.Add(bad, 1), kInvalidArgument);
    EXPECT_CODE(s.Push(bad, "v"), kInvalidArgument);
    EXPECT_CODE(s.ListDel(bad, "v"), kInvalidArgument);
    EXPECT_CODE(s.Clear(bad), kInvalidArgument);
    EXPECT_CODE(s.SetAdd(bad, "v"), kInvalidArgument);
    EXPECT_CODE(s.SetRemove(bad, "v"), kInvalidArgument);
  }
  EXPECT_EQ(s.digest(), d);
  EXPECT_EQ(s.vv(), vv);
  // Exactly at the limit is fine.
  const std::string longest(s.limits().max_key_bytes, 'k');
  Res(s.Set(longest, "v", std::nullopt));
  EXPECT_EQ(GetOr(s, longest), "v");
}

TEST(StoreLimits, OversizeValuesAreOutOfRange) {
  Limits limits;
  limits.max_value_bytes = 16;
  Replica r(kNodeA, limits);
  Store& s = r.store;
  const std::string big(17, 'v');
  const std::string fits(16, 'v');
  EXPECT_CODE(s.Set("k", big, std::nullopt), kOutOfRange);
  EXPECT_CODE(s.Push("l", big), kOutOfRange);
  EXPECT_CODE(s.SetAdd("s", big), kOutOfRange);
  EXPECT_TRUE(s.vv().empty() || Normalized(s.vv()).empty());
  EXPECT_FALSE(Val(s.Exists("k")));
  EXPECT_FALSE(Val(s.Exists("l")));
  EXPECT_FALSE(Val(s.Exists("s")));
  Res(s.Set("k", fits, std::nullopt));
  Res(s.Push("l", fits));
  Res(s.SetAdd("s", fits));
  EXPECT_EQ(GetOr(s, "k"), fits);
}

TEST(StoreLimits, DefaultValueLimitIsOneMebibyte) {
  Replica r(kNodeA);
  const std::string fits(size_t{1} << 20, 'v');
  const std::string big(fits.size() + 1, 'v');
  EXPECT_CODE(r.store.Set("k", big, std::nullopt), kOutOfRange);
  Res(r.store.Set("k", fits, std::nullopt));
  EXPECT_EQ(GetOr(r.store, "k")->size(), fits.size());
}

// ---------------------------------------------------------------- events

TEST(StoreEvents, DotsAndStampsIncrease) {
  Replica r(kNodeA);
  Store& s = r.store;
  std::vector<Event> events;
  events.push_back(Ev(s.Set("r", "v", std::nullopt)));
  events.push_back(Ev(s.Set("r", "w", absl::Seconds(5))));
  events.push_back(Ev(s.Add("c", 1)));
  r.clock.Advance(-absl::Minutes(5));  // the wall clock goes back
  events.push_back(Ev(s.Push("l", "x")));
  events.push_back(Ev(s.ListDel("l", "x")));
  events.push_back(Ev(s.Push("l", "y")));
  events.push_back(Ev(s.Clear("l")));
  events.push_back(Ev(s.SetAdd("s", "x")));
  events.push_back(Ev(s.SetRemove("s", "x")));
  events.push_back(Ev(s.Del("r")));
  events.push_back(Ev(s.Del("c")));
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(events[i].dot, (Dot{kNodeA, i + 1}));
    EXPECT_FALSE(events[i].delta.key.empty());
    if (i > 0) {
      EXPECT_LT(StampOf(events[i - 1]), StampOf(events[i]));
    }
    EXPECT_EQ(StampOf(events[i]).node, kNodeA);
  }
  EXPECT_EQ(s.vv().at(kNodeA), events.size());
  EXPECT_GE(s.hlc(), StampOf(events.back()).hlc);
  EXPECT_FALSE(s.HasGaps());
}

TEST(StoreEvents, ReplayReproducesState) {
  Replica a(kNodeA), b(kNodeB);
  std::vector<Event> events;
  events.push_back(Ev(a.store.Set("r", "v", absl::Seconds(100))));
  events.push_back(Ev(a.store.Add("c", 7)));
  events.push_back(Ev(a.store.Push("l", "x")));
  events.push_back(Ev(a.store.Push("l", "y")));
  events.push_back(Ev(a.store.ListDel("l", "x")));
  events.push_back(Ev(a.store.SetAdd("s", "x")));
  events.push_back(Ev(a.store.SetAdd("s", "y")));
  events.push_back(Ev(a.store.SetRemove("s", "y")));
  for (const Event& e : events) Deliver(b.store, e);
  EXPECT_EQ(b.store.digest(), a.store.digest());
  EXPECT_EQ(b.store.vv(), a.store.vv());
  const Strings keys = {"r", "c", "l", "s"};
  EXPECT_EQ(Reads(b.store, keys), Reads(a.store, keys));
  for (const std::string& k : keys) {
    EXPECT_EQ(Canon(b.store.Export(k)), Canon(a.store.Export(k)));
  }
}

TEST(StoreApply, DuplicateIsFlaggedAndChangesNothing) {
  Replica a(kNodeA), b(kNodeB);
  Event e = Ev(a.store.Set("k", "v", std::nullopt));
  ApplyResult first = Deliver(b.store, e);
  EXPECT_FALSE(first.duplicate);
  EXPECT_FALSE(first.gap);
  const Digest d = b.store.digest();
  const StoreStats st = b.store.stats();
  ApplyResult second = Deliver(b.store, e);
  EXPECT_TRUE(second.duplicate);
  EXPECT_FALSE(second.gap);
  EXPECT_EQ(b.store.digest(), d);
  EXPECT_EQ(b.store.stats().events_duplicate, st.events_duplicate + 1);
  EXPECT_EQ(b.store.stats().events_applied, st.events_applied);
  // A node's own event coming back is a duplicate too.
  EXPECT_TRUE(Deliver(a.store, e).duplicate);
  EXPECT_EQ(a.store.digest(), d);
}

TEST(StoreApply, GapIsDetectedAndClosed) {
  Replica a(kNodeA), b(kNodeB);
  Event e1 = Ev(a.store.Set("k1", "v", std::nullopt));
  Event e2 = Ev(a.store.Set("k2", "v", std::nullopt));
  Event e3 = Ev(a.store.Set("k3", "v", std::nullopt));
  Event e4 = Ev(a.store.Set("k4", "v", std::nullopt));

  EXPECT_FALSE(Deliver(b.store, e1).gap);
  EXPECT_EQ(b.store.vv().at(kNodeA), 1u);
  EXPECT_FALSE(b.store.HasGaps());

  ApplyResult r3 = Deliver(b.store, e3);
  EXPECT_TRUE(r3.gap);
  EXPECT_FALSE(r3.duplicate);
  EXPECT_TRUE(b.store.HasGaps());
  EXPECT_EQ(b.store.vv().at(kNodeA), 1u);  // contiguous mark stays
  EXPECT_EQ(GetOr(b.store, "k3"), "v");    // but the event is applied

  // Out-of-order redelivery of e3 is a duplicate.
  EXPECT_TRUE(Deliver(b.store, e3).duplicate);

  ApplyResult r2 = Deliver(b.store, e2);
  EXPECT_FALSE(r2.gap);
  EXPECT_FALSE(r2.duplicate);
  EXPECT_EQ(b.store.vv().at(kNodeA), 3u);
  EXPECT_FALSE(b.store.HasGaps());

  EXPECT_FALSE(Deliver(b.store, e4).gap);
  EXPECT_EQ(b.store.vv().at(kNodeA), 4u);
  EXPECT_EQ(b.store.digest(), a.store.digest());
}

TEST(StoreApply, MalformedEventsAreRejected) {
  Replica a(kNodeA), b(kNodeB);
  Event good = Ev(a.store.Set("k", "v", std::nullopt));
  Replica c(kNodeC);
  Deliver(b.store, Ev(c.store.Set("other", "v", std::nullopt)));
  const Digest d = b.store.digest();
  const VersionVector vv = b.store.vv();
  const size_t keys = b.store.stats().keys;

  Event no_node = good;
  no_node.dot.node = 0;
  EXPECT_CODE(b.store.Apply(no_node), kInvalidArgument);

  Event empty_key = good;
  empty_key.delta.key.clear();
  EXPECT_CODE(b.store.Apply(empty_key), kInvalidArgument);

  Event long_key = good;
  long_key.delta.key = std::string(b.store.limits().max_key_bytes + 1, 'k');
  EXPECT_CODE(b.store.Apply(long_key), kInvalidArgument);

  Event no_component = good;
  no_component.delta.reg.reset();
  EXPECT_CODE(b.store.Apply(no_component), kInvalidArgument);

  EXPECT_EQ(b.store.digest(), d);
  EXPECT_EQ(b.store.vv(), vv);
  EXPECT_FALSE(b.store.HasGaps());
  EXPECT_EQ(b.store.stats().keys, keys);
  EXPECT_EQ(GetOr(b.store, "k"), std::nullopt);
  // The rejected event did not mark its dot as applied: the real one still
  // lands.
  ApplyResult r = Deliver(b.store, good);
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(GetOr(b.store, "k"), "v");
}

// A forged event stamped near 2^64 would make every later local write on its key
// lose (report ok while the old value stays): it is refused, and changes nothing.
TEST(StoreApply, EventStampedBeyondTheClockSkewIsRefused) {
  Replica a(kNodeA), b(kNodeB);
  Event forged = Ev(a.store.Set("k", "forged", std::nullopt));
  forged.delta.reg->stamp.hlc = std::numeric_limits<uint64_t>::max();
  const uint64_t hlc = b.store.hlc();
  EXPECT_CODE(b.store.Apply(forged), kOutOfRange);
  EXPECT_EQ(b.store.hlc(), hlc);
  EXPECT_EQ(b.store.vv().count(kNodeA), 0u);
  EXPECT_EQ(GetOr(b.store, "k"), std::nullopt);
  // A list item stamped beyond the bound is refused as well.
  Event push = Ev(a.store.Push("l", "x"));
  push.delta.list->items.at(0).stamp.hlc = kMaxHlc;
  EXPECT_CODE(b.store.Apply(push), kOutOfRange);
  // Later local writes on the key take effect.
  ASSERT_OK(b.store.Set("k", "one", std::nullopt));
  ASSERT_OK(b.store.Set("k", "two", std::nullopt));
  EXPECT_EQ(GetOr(b.store, "k"), "two");
}

TEST(StoreApply, EventWithinTheClockSkewIsAccepted) {
  Limits limits;
  limits.max_clock_skew = absl::Seconds(60);
  Replica a(kNodeA), b(kNodeB, limits);
  a.clock.Advance(absl::Seconds(59));  // a's clock runs 59 s ahead of b's
  Deliver(b.store, Ev(a.store.Set("k", "ahead", std::nullopt)));
  EXPECT_EQ(GetOr(b.store, "k"), "ahead");
  // b's later write is stamped above it (the HLC took a's stamp).
  ASSERT_OK(b.store.Set("k", "later", std::nullopt));
  EXPECT_EQ(GetOr(b.store, "k"), "later");
  a.clock.Advance(absl::Seconds(2));  // now 61 s ahead
  EXPECT_CODE(b.store.Apply(Ev(a.store.Set("k", "too far", std::nullopt))), kOutOfRange);
  EXPECT_EQ(GetOr(b.store, "k"), "later");
}

TEST(StoreMerge, DeltaStampedBeyondTheClockSkewIsRefused) {
  Replica a(kNodeA), b(kNodeB);
  ASSERT_OK(a.store.Set("k", "v", std::nullopt));
  Delta delta = a.store.DeltaAbove({});
  ASSERT_EQ(delta.entries.size(), 1u);
  delta.entries[0].reg->stamp.hlc =
      HlcFromMillis(absl::ToUnixMillis(b.clock.Now() + absl::Seconds(61)));
  EXPECT_CODE(b.store.MergeDelta(delta), kOutOfRange);
  EXPECT_CODE(b.store.MergeCopy(delta), kOutOfRange);
  EXPECT_EQ(b.store.vv().count(kNodeA), 0u);  // the vector is not taken
  EXPECT_EQ(GetOr(b.store, "k"), std::nullopt);
  delta.entries[0].reg->stamp.hlc =
      HlcFromMillis(absl::ToUnixMillis(b.clock.Now() + absl::Seconds(59)));
  ASSERT_OK(b.store.MergeDelta(delta));
  EXPECT_EQ(GetOr(b.store, "k"), "v");
}

// ---------------------------------------------------------------- merge rules

TEST(StoreMerge, ConcurrentSetsLastWriterWins) {
  Replica a(kNodeA), b(kNodeB);
  Event ea = Ev(a.store.Set("k", "from a", std::nullopt));
  Event eb = Ev(b.store.Set("k", "from b", std::nullopt));
  Deliver(a.store, eb);
  Deliver(b.store, ea);
  const std::string want = StampOf(ea) < StampOf(eb) ? "from b" : "from a";
  EXPECT_EQ(GetOr(a.store, "k"), want);
  EXPECT_EQ(GetOr(b.store, "k"), want);
  EXPECT_EQ(a.store.digest(), b.store.digest());
}

TEST(StoreMerge, CausalWriteWinsDespiteClockSkew) {
  Replica a(kNodeA), b(kNodeB);
  a.clock.Advance(absl::Seconds(30));  // a's clock runs far ahead of b's
  Deliver(b.store, Ev(a.store.Set("k", "first", std::nullopt)));
  Event second = Ev(b.store.Set("k", "second", std::nullopt));
  Deliver(a.store, second);
  EXPECT_EQ(GetOr(a.store, "k"), "second");
  EXPECT_EQ(GetOr(b.store, "k"), "second");
  EXPECT_GT(b.store.hlc(), 0u);
}

TEST(StoreMerge, CausalWriteWinsAfterCatchUpDelta) {
  Replica a(kNodeA), b(kNodeB);
  a.clock.Advance(absl::Seconds(30));  // a's clock runs far ahead of b's
  Res(a.store.Set("k", "first", std::nullopt));
  const uint64_t a_hlc = a.store.hlc();
  ASSERT_OK(b.store.MergeDelta(a.store.DeltaAbove(b.store.vv())));
  // b has now observed a's write: its next stamp must be above it.
  EXPECT_GE(b.store.hlc(), a_hlc);
  Event second = Ev(b.store.Set("k", "second", std::nullopt));
  Deliver(a.store, second);
  EXPECT_EQ(GetOr(b.store, "k"), "second");
  EXPECT_EQ(GetOr(a.store, "k"), "second");
  EXPECT_EQ(a.store.digest(), b.store.digest());
}

TEST(StoreMerge, ConcurrentIncrementsAreSummed) {
  Replica a(kNodeA), b(kNodeB), c(kNodeC);
  Event ea = Ev(a.store.Add("n", 5));
  Event eb = Ev(b.store.Add("n", 7));
  Event ec = Ev(c.store.Add("n", -2));
  for (Store* s : {&a.store, &b.store, &c.store}) {
    for (const Event* e : {&ea, &eb, &ec}) {
      if (e->dot.node != s->node()) Deliver(*s, *e);
    }
    EXPECT_EQ(GetOr(*s, "n"), "10");
  }
}

TEST(StoreMerge, DelDoesNotLoseConcurrentIncrement) {
  Replica a(kNodeA), b(kNodeB);
  Deliver(b.store, Ev(a.store.Add("n", 5)));
  Event del = Ev(a.store.Del("n"));
  Event inc = Ev(b.store.Add("n", 3));
  Deliver(a.store, inc);
  Deliver(b.store, del);
  EXPECT_EQ(GetOr(a.store, "n"), "3");
  EXPECT_EQ(GetOr(b.store, "n"), "3");
  EXPECT_EQ(a.store.digest(), b.store.digest());
}

TEST(StoreMerge, SetAddWinsOverConcurrentRemove) {
  Replica a(kNodeA), b(kNodeB);
  Deliver(b.store, Ev(a.store.SetAdd("s", "x")));
  Event rm = Ev(a.store.SetRemove("s", "x"));
  Event add = Ev(b.store.SetAdd("s", "x"));
  Deliver(a.store, add);
  Deliver(b.store, rm);
  EXPECT_EQ(Val(a.store.SetQuery("s")), Strings{"x"});
  EXPECT_EQ(Val(b.store.SetQuery("s")), Strings{"x"});
  EXPECT_EQ(a.store.digest(), b.store.digest());
}

TEST(StoreMerge, ConcurrentPushSurvivesClearAndListDel) {
  Replica a(kNodeA), b(kNodeB);
  Deliver(b.store, Ev(a.store.Push("l", "x")));
  Event clear = Ev(a.store.Clear("l"));
  Event push = Ev(b.store.Push("l", "y"));
  Event push_x = Ev(b.store.Push("l", "x"));  // unseen by a's clear
  Deliver(a.store, push);
  Deliver(a.store, push_x);
  Deliver(b.store, clear);
  EXPECT_EQ(Val(a.store.Range("l", 0, -1)), (Strings{"y", "x"}));
  EXPECT_EQ(Val(b.store.Range("l", 0, -1)), (Strings{"y", "x"}));

  // list_del removes only the observed items.
  Event del = Ev(a.store.ListDel("l", "x"));
  Event again = Ev(b.store.Push("l", "x"));
  Deliver(a.store, again);
  Deliver(b.store, del);
  EXPECT_EQ(Val(a.store.Range("l", 0, -1)), (Strings{"y", "x"}));
  EXPECT_EQ(Val(b.store.Range("l", 0, -1)), (Strings{"y", "x"}));
  EXPECT_EQ(a.store.digest(), b.store.digest());
}

TEST(StoreMerge, ConcurrentPushesOrderedByStampEverywhere) {
  Replica a(kNodeA), b(kNodeB);
  b.clock.Advance(absl::Milliseconds(1));
  std::vector<Event> events;
  events.push_back(Ev(a.store.Push("l", "a1")));
  events.push_back(Ev(b.store.Push("l", "b1")));
  events.push_back(Ev(a.store.Push("l", "a2")));
  events.push_back(Ev(b.store.Push("l", "b2")));
  for (const Event& e : events) {
    Deliver(e.dot.node == kNodeA ? b.store : a.store, e);
  }
  std::vector<ListItem> items;
  for (const Event& e : events) {
    ASSERT_TRUE(e.delta.list.has_value());
    ASSERT_EQ(e.delta.list->items.size(), 1u);
    items.push_back(e.delta.list->items[0]);
  }
  std::sort(items.begin(), items.end(), [](const ListItem& x, const ListItem& y) {
    return std::tie(x.stamp.hlc, x.stamp.node, x.seq) <
           std::tie(y.stamp.hlc, y.stamp.node, y.seq);
  });
  Strings want;
  for (const ListItem& i : items) want.push_back(i.value);
  EXPECT_EQ(Val(a.store.Range("l", 0, -1)), want);
  EXPECT_EQ(Val(b.store.Range("l", 0, -1)), want);
}

TEST(StoreMerge, ConcurrentTypesResolveToLaterCreation) {
  Replica a(kNodeA), b(kNodeB);
  Event list = Ev(a.store.Push("k", "x"));
  b.clock.Advance(absl::Milliseconds(5));
  Event reg = Ev(b.store.Set("k", "v", std::nullopt));
  Deliver(a.store, reg);
  Deliver(b.store, list);
  const bool reg_wins = StampOf(list) < StampOf(reg);
  ASSERT_TRUE(reg_wins);  // b's clock was ahead and b had seen nothing
  for (Store* s : {&a.store, &b.store}) {
    EXPECT_EQ(GetOr(*s, "k"), "v");
    EXPECT_CODE(s->Range("k", 0, -1), kFailedPrecondition);
  }
  EXPECT_EQ(a.store.digest(), b.store.digest());
  // A del removes both; afterwards the key is free.
  Deliver(b.store, Ev(a.store.Del("k")));
  for (Store* s : {&a.store, &b.store}) {
    EXPECT_FALSE(Val(s->Exists("k")));
    EXPECT_TRUE(Val(s->Range("k", 0, -1)).empty());
  }
  EXPECT_EQ(a.store.digest(), b.store.digest());
}

// ---------------------------------------------------------------- deltas

// Builds a store with every kind of state: values, TTL, tombstones, removals.
void Populate(Replica& r) {
  Store& s = r.store;
  Res(s.Set("reg", "v", std::nullopt));
  Res(s.Set("ttl", "v", absl::Seconds(30)));
  Res(s.Set("gone", "v", std::nullopt));
  Res(s.Del("gone"));
  Res(s.Add("cnt", 4));
  Res(s.Add("cnt", -9));
  Res(s.Add("cnt_del", 4));
  Res(s.Del("cnt_del"));
  Res(s.Push("lst", "a"));
  Res(s.Push("lst", "b"));
  Res(s.Push("lst", "a"));
  Res(s.ListDel("lst", "b"));
  Res(s.Push("cleared", "a"));
  Res(s.Clear("cleared"));
  Res(s.SetAdd("st", "x"));
  Res(s.SetAdd("st", "y"));
  Res(s.SetRemove("st", "x"));
}
const Strings kPopulated = {"reg", "ttl",     "gone", "cnt",   "cnt_del",
                            "lst", "cleared", "st",   "absent"};

TEST(StoreDelta, FullDeltaIntoFreshStoreReproducesState) {
  Replica a(kNodeA), b(kNodeB);
  Populate(a);
  Delta delta = a.store.DeltaAbove({});
  EXPECT_EQ(delta.vv, a.store.vv());
  ASSERT_OK(b.store.MergeDelta(delta));
  EXPECT_EQ(b.store.digest(), a.store.digest());
  EXPECT_EQ(Normalized(b.store.vv()), Normalized(a.store.vv()));
  for (const std::string& k : kPopulated) {
    EXPECT_EQ(Canon(b.store.Export(k)), Canon(a.store.Export(k)));
  }
  EXPECT_EQ(Reads(b.store, kPopulated), Reads(a.store, kPopulated));
  // Merging it again changes nothing.
  ASSERT_OK(b.store.MergeDelta(delta));
  EXPECT_EQ(b.store.digest(), a.store.digest());
  // Later events from a are in sequence for b.
  EXPECT_FALSE(Deliver(b.store, Ev(a.store.Set("new", "v", std::nullopt))).gap);
  EXPECT_FALSE(b.store.HasGaps());
  EXPECT_EQ(b.store.digest(), a.store.digest());
}

TEST(StoreDelta, PagesAddUpToTheDeltaEvenWhileTheStoreChanges) {
  Replica a(kNodeA), b(kNodeB);
  for (int i = 0; i < 100; ++i) {
    Res(a.store.Set(absl::StrCat("k", i), "v", std::nullopt));
  }
  // Page through in small pages, writing between pages (as a catch-up that
  // lets requests in does); the vector is the one before the first page.
  const VersionVector vv = a.store.vv();
  std::string after;
  int pages = 0;
  Delta paged;
  do {
    for (KeyState& ks : a.store.DeltaPage({}, after, 7, &after)) {
      paged.entries.push_back(std::move(ks));
    }
    Res(a.store.Set(absl::StrCat("k", pages * 3), "changed", std::nullopt));
    ++pages;
  } while (!after.empty());
  EXPECT_EQ(pages, 15);  // 100 keys, 7 per page
  paged.vv = vv;
  ASSERT_OK(b.store.MergeDelta(paged));
  // b has every key and at least what a had when the vector was taken; the
  // writes made during paging that b missed arrive as events, in sequence.
  EXPECT_EQ(Val(b.store.Keys("", 0, "")).keys.size(), 100u);
  Delta rest = a.store.DeltaAbove(b.store.vv());
  ASSERT_OK(b.store.MergeDelta(rest));
  EXPECT_EQ(b.store.digest(), a.store.digest());
  // A page ends early only at max_scan keys: one page can hold everything.
  EXPECT_EQ(a.store.DeltaPage({}, "", 1000, &after).size(), 100u);
  EXPECT_TRUE(after.empty());
}

TEST(StoreDelta, ChunkedMergeTakesVectorFromLastChunk) {
  Replica a(kNodeA), b(kNodeB);
  Populate(a);
  Delta delta = a.store.DeltaAbove({});
  ASSERT_GE(delta.entries.size(), 3u);
  for (size_t i = 0; i < delta.entries.size(); ++i) {
    Delta chunk;
    chunk.entries.push_back(delta.entries[i]);
    if (i + 1 == delta.entries.size()) chunk.vv = delta.vv;
    ASSERT_OK(b.store.MergeDelta(chunk));
    if (i + 1 < delta.entries.size()) {
      EXPECT_TRUE(Normalized(b.store.vv()).empty());
    }
  }
  EXPECT_EQ(b.store.digest(), a.store.digest());
  EXPECT_EQ(Normalized(b.store.vv()), Normalized(a.store.vv()));
}

TEST(StoreDelta, AboveVectorHoldsOnlyNewerKeys) {
  Replica a(kNodeA), b(kNodeB);
  Res(a.store.Set("k1", "v", std::nullopt));
  Res(a.store.Set("k2", "v", std::nullopt));
  Res(a.store.Set("k3", "v", std::nullopt));
  Res(a.store.Push("l", "x"));
  ASSERT_OK(b.store.MergeDelta(a.store.DeltaAbove(b.store.vv())));
  EXPECT_EQ(b.store.digest(), a.store.digest());

  EXPECT_TRUE(a.store.DeltaAbove(a.store.vv()).entries.empty());
  EXPECT_TRUE(a.store.DeltaAbove(b.store.vv()).entries.empty());

  Res(a.store.Set("k2", "w", std::nullopt));
  Res(a.store.Del("k3"));  // tombstones travel too
  Res(a.store.Add("c", 1));
  Res(a.store.Push("l", "y"));
  Delta delta = a.store.DeltaAbove(b.store.vv());
  Strings keys;
  for (const KeyState& ks : delta.entries) keys.push_back(ks.key);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (Strings{"c", "k2", "k3", "l"}));
  ASSERT_OK(b.store.MergeDelta(delta));
  EXPECT_EQ(b.store.digest(), a.store.digest());
  EXPECT_EQ(GetOr(b.store, "k3"), std::nullopt);
  EXPECT_EQ(Val(b.store.Range("l", 0, -1)), (Strings{"x", "y"}));
}

// Two replicas remove the same observed item concurrently; the remover with the
// later stamp (a, whose clock runs ahead) has the lower node id. b then catches
// up from a by delta instead of receiving a's event: it must end in a's state.
void ConcurrentRemovalsThenCatchUp(const std::function<Event(Store&)>& create,
                                   const std::function<Event(Store&)>& remove,
                                   const std::string& key) {
  Replica a(kNodeA), b(kNodeB);
  Deliver(b.store, create(a.store));
  a.clock.Advance(absl::Seconds(10));
  Event a_remove = remove(a.store);
  Event b_remove = remove(b.store);
  ASSERT_LT(StampOf(b_remove), StampOf(a_remove));
  Deliver(a.store, b_remove);
  ASSERT_OK(b.store.MergeDelta(a.store.DeltaAbove(b.store.vv())));
  EXPECT_EQ(Normalized(b.store.vv()), Normalized(a.store.vv()));
  EXPECT_EQ(Canon(b.store.Export(key)), Canon(a.store.Export(key)));
  EXPECT_EQ(b.store.digest(), a.store.digest());
  // The event itself now counts as applied, so it cannot repair b either.
  EXPECT_TRUE(Deliver(b.store, a_remove).duplicate);
  EXPECT_EQ(b.store.digest(), a.store.digest());
}

TEST(StoreDelta, CarriesListDelWhoseRemovalRecordWasSuperseded) {
  ConcurrentRemovalsThenCatchUp([](Store& s) { return Ev(s.Push("l", "x")); },
                                [](Store& s) { return Ev(s.ListDel("l", "x")); }, "l");
}

TEST(StoreDelta, CarriesSetRemoveWhoseRemovalRecordWasSuperseded) {
  ConcurrentRemovalsThenCatchUp([](Store& s) { return Ev(s.SetAdd("s", "x")); },
                                [](Store& s) { return Ev(s.SetRemove("s", "x")); }, "s");
}

TEST(StoreDelta, CarriesCounterDelWhoseRecordWasSuperseded) {
  ConcurrentRemovalsThenCatchUp([](Store& s) { return Ev(s.Add("c", 5)); },
                                [](Store& s) { return Ev(s.Del("c")); }, "c");
}

// The same lost stamp decides which type a key shows: replicas may then
// disagree on what a client reads, with equal vectors (so anti-entropy cannot
// repair it).
TEST(StoreDelta, SupersededRemovalStillDecidesVisibleType) {
  Replica a(kNodeA), b(kNodeB), c(kNodeC);
  Deliver(b.store, Ev(a.store.Push("l", "x")));
  Deliver(b.store, Ev(a.store.Push("l", "y")));
  Event b_del = Ev(b.store.ListDel("l", "x"));
  c.clock.Advance(absl::Seconds(5));
  Event c_set = Ev(c.store.Set("l", "v", std::nullopt));  // c saw no list
  a.clock.Advance(absl::Seconds(10));
  Event a_del = Ev(a.store.ListDel("l", "x"));
  ASSERT_LT(StampOf(b_del), StampOf(c_set));
  ASSERT_LT(StampOf(c_set), StampOf(a_del));
  Deliver(a.store, b_del);
  Deliver(a.store, c_set);
  Deliver(b.store, c_set);
  ASSERT_OK(b.store.MergeDelta(a.store.DeltaAbove(b.store.vv())));
  EXPECT_EQ(Normalized(b.store.vv()), Normalized(a.store.vv()));
  EXPECT_EQ(Reads(b.store, {"l"}), Reads(a.store, {"l"}));
  EXPECT_EQ(b.store.digest(), a.store.digest());
}

TEST(StoreDelta, MalformedEntryKeepsEarlierEntriesButNotVector) {
  Replica a(kNodeA), b(kNodeB);
  Res(a.store.Set("k1", "v", std::nullopt));
  Res(a.store.Set("k2", "v", std::nullopt));
  Delta delta = a.store.DeltaAbove({});
  ASSERT_EQ(delta.entries.size(), 2u);
  delta.entries[1].key.clear();
  const std::string first = delta.entries[0].key;
  EXPECT_CODE(b.store.MergeDelta(delta), kInvalidArgument);
  EXPECT_EQ(GetOr(b.store, first), "v");
  EXPECT_TRUE(Normalized(b.store.vv()).empty());
}

TEST(StoreDelta, DeltaFromReplicaWithGapsCarriesAppliedEvents) {
  Replica a(kNodeA), b(kNodeB), c(kNodeC);
  Event e1 = Ev(a.store.Set("k1", "v", std::nullopt));
  Event e2 = Ev(a.store.Set("k2", "v", std::nullopt));
  Deliver(b.store, e2);  // b has a gap at e1
  ASSERT_TRUE(b.store.HasGaps());
  ASSERT_OK(c.store.MergeDelta(b.store.DeltaAbove(c.store.vv())));
  EXPECT_EQ(GetOr(c.store, "k2"), "v");
  // c's vector must not claim e1.
  EXPECT_FALSE(Covers(c.store.vv(), e1.dot));
  EXPECT_FALSE(Deliver(c.store, e1).duplicate);
  EXPECT_EQ(GetOr(c.store, "k1"), "v");
  Deliver(b.store, e1);
  EXPECT_EQ(c.store.digest(), a.store.digest());
  EXPECT_EQ(b.store.digest(), a.store.digest());
}

// ---------------------------------------------------------------- garbage
// collection

// Two replicas that saw the same events, sharing one clock.
struct Pair {
  FakeClock clock;
  Store a{kNodeA, &clock};
  Store b{kNodeB, &clock};
  // Delivers a local event of one store to the other; they then agree.
  void Both(const Event& e) {
    Deliver(e.dot.node == kNodeA ? b : a, e);
    EXPECT_EQ(a.digest(), b.digest());
  }
  // Time passes and both stores write (an unrelated key), so that both HLCs
  // move past everything before.
  void Tick() {
    clock.Advance(absl::Seconds(1));
    Both(Ev(a.Set("tick", "a", std::nullopt)));
    Both(Ev(b.Set("tick", "b", std::nullopt)));
  }
  // The HLC floor as the contract defines it: the minimum of the replicas'
  // HLCs.
  uint64_t Floor() const { return std::min(a.hlc(), b.hlc()); }
};

TEST(StoreGc, DelTombstoneNeedsStableVectorAndHlcFloor) {
  Pair p;
  p.Both(Ev(p.a.Set("k", "v", std::nullopt)));
  Event del = Ev(p.a.Del("k"));
  p.Both(del);
  p.Tick();
  ASSERT_TRUE(p.a.Export("k").has_value());
  const Digest before = p.a.digest();

  // The del's dot is not yet stable.
  VersionVector unstable = p.a.vv();
  unstable[kNodeA] = del.dot.seq - 1;
  EXPECT_EQ(p.a.CollectGarbage(unstable, p.Floor()), 0u);
  EXPECT_EQ(p.a.CollectGarbage({}, p.Floor()), 0u);
  // Stable, but the floor is not above the del's stamp.
  EXPECT_EQ(p.a.CollectGarbage(p.a.vv(), StampOf(del).hlc), 0u);
  EXPECT_EQ(p.a.CollectGarbage(p.a.vv(), 0), 0u);
  EXPECT_EQ(p.a.digest(), before);
  ASSERT_TRUE(p.a.Export("k").has_value());

  // Both allow it.
  const VersionVector stable = p.a.vv();
  const uint64_t floor = p.Floor();
  const size_t keys = p.a.stats().keys;
  const size_t tombstones = p.a.stats().tombstones;
  EXPECT_GE(p.a.CollectGarbage(stable, floor), 1u);
  EXPECT_FALSE(p.a.Export("k").has_value());
  EXPECT_EQ(p.a.stats().keys, keys);  // a tombstone is not a key
  EXPECT_EQ(p.a.stats().tombstones, tombstones - 1);
  EXPECT_FALSE(Val(p.a.Exists("k")));
  EXPECT_GE(p.b.CollectGarbage(stable, floor), 1u);
  EXPECT_EQ(p.a.digest(), p.b.digest());
  // Nothing is resurrected by a late duplicate.
  EXPECT_TRUE(Deliver(p.b, del).duplicate);
  EXPECT_FALSE(Val(p.b.Exists("k")));
  EXPECT_EQ(p.a.digest(), p.b.digest());
  EXPECT_EQ(p.a.CollectGarbage(stable, floor), 0u);
}

TEST(StoreGc, LiveDataIsKept) {
  Pair p;
  p.Both(Ev(p.a.Set("r", "v", std::nullopt)));
  p.Both(Ev(p.a.Add("c", 2)));
  p.Both(Ev(p.a.Push("l", "x")));
  p.Both(Ev(p.a.SetAdd("s", "x")));
  p.Tick();
  const Digest before = p.a.digest();
  EXPECT_EQ(p.a.CollectGarbage(p.a.vv(), p.Floor()), 0u);
  EXPECT_EQ(p.a.digest(), before);
  EXPECT_EQ(GetOr(p.a, "r"), "v");
  EXPECT_EQ(GetOr(p.a, "c"), "2");
  EXPECT_EQ(Val(p.a.Range("l", 0, -1)), Strings{"x"});
  EXPECT_EQ(Val(p.a.SetQuery("s")), Strings{"x"});
}

TEST(StoreGc, ListAndSetRemovalsNeedBothDotsStable) {
  Pair p;
  Event push = Ev(p.a.Push("l", "x"));
  p.Both(push);
  p.Both(Ev(p.a.Push("l", "y")));
  Event del = Ev(p.a.ListDel("l", "x"));
  p.Both(del);
  Event add = Ev(p.a.SetAdd("s", "x"));
  p.Both(add);
  p.Both(Ev(p.a.SetAdd("s", "y")));
  Event rm = Ev(p.a.SetRemove("s", "x"));
  p.Both(rm);
  p.Tick();
  const Digest before = p.a.digest();

  VersionVector unstable = p.a.vv();
  unstable[kNodeA] = push.dot.seq - 1;  // nothing from a is stable
  EXPECT_EQ(p.a.CollectGarbage(unstable, p.Floor()), 0u);
  EXPECT_EQ(p.a.digest(), before);

  const VersionVector stable = p.a.vv();
  const uint64_t floor = p.Floor();
  EXPECT_GE(p.a.CollectGarbage(stable, floor), 2u);
  EXPECT_GE(p.b.CollectGarbage(stable, floor), 2u);
  EXPECT_EQ(p.a.digest(), p.b.digest());
  EXPECT_EQ(Val(p.a.Range("l", 0, -1)), Strings{"y"});
  EXPECT_EQ(Val(p.a.SetQuery("s")), Strings{"y"});
  std::optional<KeyState> l = p.a.Export("l");
  ASSERT_TRUE(l.has_value());
  ASSERT_TRUE(l->list.has_value());
  EXPECT_TRUE(l->list->removed.empty());
  // Late duplicates of the removed items stay removed.
  EXPECT_TRUE(Deliver(p.b, push).duplicate);
  EXPECT_TRUE(Deliver(p.b, add).duplicate);
  EXPECT_EQ(Val(p.b.Range("l", 0, -1)), Strings{"y"});
  EXPECT_EQ(Val(p.b.SetQuery("s")), Strings{"y"});
}

TEST(StoreGc, DeletedCounterOriginIsDroppedAndValueStaysRight) {
  Pair p;
  p.Both(Ev(p.a.Add("c", 5)));
  p.Both(Ev(p.b.Add("c", 1)));
  Event del = Ev(p.a.Del("c"));
  p.Both(del);
  p.Tick();
  EXPECT_FALSE(Val(p.a.Exists("c")));
  const VersionVector stable = p.a.vv();
  ASSERT_EQ(Normalized(stable), Normalized(p.b.vv()));
  const uint64_t floor = p.Floor();
  EXPECT_GE(p.a.CollectGarbage(stable, floor), 1u);
  EXPECT_GE(p.b.CollectGarbage(stable, floor), 1u);
  EXPECT_EQ(p.a.digest(), p.b.digest());
  // Counting restarts from zero on both, with increments from either origin.
  p.Both(Ev(p.a.Add("c", 2)));
  p.Both(Ev(p.b.Add("c", 3)));
  EXPECT_EQ(GetOr(p.a, "c"), "5");
  EXPECT_EQ(GetOr(p.b, "c"), "5");
  EXPECT_EQ(p.a.digest(), p.b.digest());
}

// Collection is local housekeeping: replicas run it at different times.
// Increments made after one replica collected must count on a replica that has
// not collected yet.
TEST(StoreGc, CounterIncrementAfterCollectionCountsOnUncollectedReplica) {
  Pair p;
  p.Both(Ev(p.a.Add("c", 5)));
  p.Both(Ev(p.a.Del("c")));
  p.Tick();
  const VersionVector stable = p.a.vv();
  const uint64_t floor = p.Floor();
  EXPECT_GE(p.a.CollectGarbage(stable, floor), 1u);  // b has not collected yet
  Event inc = Ev(p.a.Add("c", 2));
  EXPECT_EQ(GetOr(p.a, "c"), "2");
  Deliver(p.b, inc);
  EXPECT_EQ(GetOr(p.b, "c"), "2");
  EXPECT_GE(p.b.CollectGarbage(stable, floor), 1u);
  EXPECT_EQ(GetOr(p.b, "c"), "2");
  EXPECT_EQ(p.a.digest(), p.b.digest());
}

// ---- The collected watermark: what was collected never comes back.

// `a` holds one key of every type, deletes them all and collects; `stale` is a
// copy of `a` from before the deletes (a replica that never applied them).
struct Collected {
  FakeClock clock;
  Store a{kNodeA, &clock};
  Store stale{kNodeC, &clock};
  Digest digest_after_gc;

  Collected() {
    (void)Ev(a.Set("r", "v", std::nullopt));
    (void)Ev(a.Add("c", 5));
    (void)Ev(a.Push("l", "x"));
    (void)Ev(a.SetAdd("s", "m"));
    EXPECT_OK(stale.MergeDelta(a.DeltaAbove({})));
    for (const char* key : {"r", "c", "l", "s"}) (void)Ev(a.Del(key));
    clock.Advance(absl::Seconds(1));
    EXPECT_EQ(a.CollectGarbage(a.vv(), a.NextHlcFloor()), 4u);
    EXPECT_EQ(a.stats().keys, 0u);
    digest_after_gc = a.digest();
  }
};

TEST(StoreCollected, WatermarkIsTheStableVectorCappedAtTheVector) {
  FakeClock clock;
  Store s(kNodeA, &clock);
  EXPECT_TRUE(s.collected().empty());
  (void)Ev(s.Set("k", "v", std::nullopt));
  s.CollectGarbage({{kNodeA, 5}, {kNodeB, 3}}, 0);
  EXPECT_EQ(s.collected(), (VersionVector{{kNodeA, 1}}));
  s.CollectGarbage({}, 0);  // never goes down
  EXPECT_EQ(s.collected(), (VersionVector{{kNodeA, 1}}));
}

TEST(StoreCollected, StaleFullStateBringsNothingBack) {
  Collected t;
  const size_t merged = t.stale.DeltaAbove({}).entries.size();
  ASSERT_EQ(merged, 4u);
  EXPECT_OK(t.a.MergeDelta(t.stale.DeltaAbove({})));
  EXPECT_EQ(t.a.stats().keys, 0u);
  EXPECT_EQ(t.a.digest(), t.digest_after_gc);
  for (const char* key : {"r", "c", "l", "s"}) EXPECT_FALSE(Val(t.a.Exists(key))) << key;
}

TEST(StoreCollected, StaleEventsBringNothingBack) {
  Collected t;
  FakeClock clock;
  Store log(kNodeA, &clock);  // replays a's first four events
  std::vector<Event> events;
  events.push_back(Ev(log.Set("r", "v", std::nullopt)));
  events.push_back(Ev(log.Add("c", 5)));
  events.push_back(Ev(log.Push("l", "x")));
  events.push_back(Ev(log.SetAdd("s", "m")));
  for (const Event& e : events) {
    EXPECT_TRUE(Val(t.a.Apply(e)).duplicate);
    // As part of a delta (a partial key state) too.
    EXPECT_OK(t.a.MergeDelta(Delta{{}, {e.delta}}));
  }
  EXPECT_EQ(t.a.stats().keys, 0u);
  EXPECT_EQ(t.a.digest(), t.digest_after_gc);
}

// An origin added to a counter concurrently with a del of another replica (before
// applying it). A replica that collected the del counts the whole increment until
// a peer that kept the del gives it back: counter removals are never filtered.
TEST(StoreCollected, CollectedCounterRemovalIsTakenBackToConverge) {
  FakeClock clock;
  Store a(kNodeA, &clock);
  Store b(kNodeB, &clock);
  Deliver(a, Ev(b.Add("c", 5)));
  Event del = Ev(a.Del("c"));
  Event more = Ev(b.Add("c", 1));  // concurrent with the del
  Deliver(b, del);
  EXPECT_EQ(GetOr(b, "c"), "1");
  clock.Advance(absl::Seconds(1));
  // Stable: both applied a's del and b's first add.
  EXPECT_GE(a.CollectGarbage({{kNodeA, 1}, {kNodeB, 1}}, a.NextHlcFloor()), 1u);
  Deliver(a, more);
  EXPECT_EQ(GetOr(a, "c"), "6");
  EXPECT_OK(a.MergeDelta(b.DeltaAbove({})));  // anti-entropy
  EXPECT_EQ(GetOr(a, "c"), "1");
  EXPECT_EQ(a.digest(), b.digest());
}

TEST(StoreCollected, NewOperationsAfterCollectionAreAdmitted) {
  Collected t;
  Store b(kNodeB, &t.clock);
  EXPECT_OK(b.MergeDelta(t.a.DeltaAbove({})));
  EXPECT_OK(b.AdoptCollected(t.a.collected()));
  EXPECT_EQ(b.collected(), t.a.collected());
  for (const Event& e : {Ev(b.Set("r", "w", std::nullopt)), Ev(b.Add("c", 3)),
                         Ev(b.Push("l", "y")), Ev(b.SetAdd("s", "n"))}) {
    (void)Val(t.a.Apply(e));
  }
  EXPECT_EQ(GetOr(t.a, "r"), "w");
  EXPECT_EQ(GetOr(t.a, "c"), "3");
  EXPECT_EQ(Val(t.a.Range("l", 0, -1)), std::vector<std::string>{"y"});
  EXPECT_EQ(Val(t.a.SetQuery("s")), std::vector<std::string>{"n"});
  EXPECT_EQ(t.a.digest(), b.digest());
}

TEST(StoreCollected, AdoptCollectedNeedsTheVectorToCoverItUnlessNew) {
  FakeClock clock;
  Store s(kNodeA, &clock);
  (void)Ev(s.Set("k", "v", std::nullopt));
  EXPECT_CODE(s.AdoptCollected({{kNodeB, 1}}), kFailedPrecondition);
  EXPECT_TRUE(s.collected().empty());
  EXPECT_OK(s.AdoptCollected({{kNodeA, 1}}));
  EXPECT_EQ(s.collected(), (VersionVector{{kNodeA, 1}}));
  // A new store may start from a peer's watermark (it is about to copy it).
  Store fresh(kNodeB, &clock);
  EXPECT_OK(fresh.AdoptCollected({{kNodeC, 3}}));
  EXPECT_EQ(fresh.collected(), (VersionVector{{kNodeC, 3}}));
  EXPECT_CODE(fresh.AdoptCollected({{kNodeC, 4}}), kOk);  // still new
}

TEST(StoreGc, ExpiredRegisterPurgedOnlyAfterGrace) {
  Pair p;
  p.Both(Ev(p.a.Set("t", "v", absl::Seconds(1))));
  p.Both(Ev(p.a.Set("keep", "v", std::nullopt)));
  p.clock.Advance(absl::Seconds(2));
  EXPECT_FALSE(Val(p.a.Exists("t")));
  EXPECT_EQ(p.a.CollectGarbage(p.a.vv(), p.Floor(), absl::Minutes(1)), 0u);
  EXPECT_TRUE(p.a.Export("t").has_value());
  p.clock.Advance(absl::Minutes(2));
  p.Tick();
  const VersionVector stable = p.a.vv();
  const uint64_t floor = p.Floor();
  EXPECT_GE(p.a.CollectGarbage(stable, floor, absl::Minutes(1)), 1u);
  EXPECT_GE(p.b.CollectGarbage(stable, floor, absl::Minutes(1)), 1u);
  EXPECT_FALSE(p.a.Export("t").has_value());
  EXPECT_EQ(GetOr(p.a, "keep"), "v");
  EXPECT_EQ(p.a.digest(), p.b.digest());
}

// One key holding both an expired register and collectable removal records:
// both go in the same collection pass.
TEST(StoreGc, ExpiredRegisterAndRemovalsOnSameKey) {
  Pair p;
  p.Both(Ev(p.a.Push("k", "x")));
  p.Both(Ev(p.a.ListDel("k", "x")));  // a list removal record
  p.Both(Ev(p.a.SetAdd("k", "y")));
  p.Both(Ev(p.a.SetRemove("k", "y")));  // a set removal record
  p.Both(Ev(p.a.Set("k", std::string(100, 'v'), absl::Seconds(1))));
  p.clock.Advance(absl::Minutes(2));
  p.Tick();
  const VersionVector stable = p.a.vv();
  const uint64_t floor = p.Floor();
  // The expired key goes whole.
  EXPECT_GE(p.a.CollectGarbage(stable, floor), 1u);
  EXPECT_GE(p.b.CollectGarbage(stable, floor), 1u);
  EXPECT_FALSE(p.a.Export("k").has_value());
  EXPECT_FALSE(p.b.Export("k").has_value());
  EXPECT_EQ(p.a.digest(), p.b.digest());
}

// ---------------------------------------------------------------- memory

TEST(StoreMemory, HundredThousandKeysUnderTwiceRawSize) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "allocation sizes are not meaningful under AddressSanitizer";
#endif
  constexpr int kKeys = 100000;
  constexpr size_t kKeyBytes = 16, kValueBytes = 100;
  const double raw = static_cast<double>(kKeys) * (kKeyBytes + kValueBytes);

  auto heap = [] {
    struct mallinfo2 mi = mallinfo2();
    return static_cast<double>(mi.uordblks) + static_cast<double>(mi.hblkhd);
  };
  FakeClock clock;
  std::string value(kValueBytes, 'v');
  std::string key;
  key.reserve(kKeyBytes);
  const double heap_before = heap();
  auto store = std::make_unique<Store>(kNodeA, &clock);
  for (int i = 0; i < kKeys; ++i) {
    key = absl::StrFormat("key:%012d", i);
    ASSERT_EQ(key.size(), kKeyBytes);
    value[0] = static_cast<char>('a' + i % 26);
    absl::StatusOr<Change<bool>> c = store->Set(key, value, std::nullopt);
    ASSERT_TRUE(c.ok()) << c.status();
  }
  const double heap_after = heap();
  ASSERT_EQ(store->stats().keys, static_cast<size_t>(kKeys));

  const double reported = static_cast<double>(store->stats().memory_bytes);
  const double measured = heap_after - heap_before;
  RecordProperty("raw_bytes", absl::StrCat(raw));
  RecordProperty("memory_bytes", absl::StrCat(reported));
  RecordProperty("heap_growth", absl::StrCat(measured));
  std::printf(
      "raw %.0f B, stats().memory_bytes %.0f B (%.3fx), heap growth %.0f B "
      "(%.3fx)\n",
      raw, reported, reported / raw, measured, measured / raw);
  EXPECT_GE(reported, raw);  // it cannot hold the data in less than the data
  EXPECT_LT(reported / raw, 2.0);
  EXPECT_LT(measured / raw, 2.0);
}

// ---------------------------------------------------------------- sanity

TEST(StoreDigest, DiffersForDifferentStates) {
  Replica a(kNodeA), b(kNodeA), empty(kNodeC);
  Res(a.store.Set("k", "v1", std::nullopt));
  Res(b.store.Set("k", "v2", std::nullopt));
  EXPECT_NE(a.store.digest(), b.store.digest());
  EXPECT_NE(a.store.digest(), empty.store.digest());
  // Same operations, same node and clock: same digest.
  Replica c(kNodeA);
  Res(c.store.Set("k", "v1", std::nullopt));
  EXPECT_EQ(a.store.digest(), c.store.digest());
}

// Replicas compare digests in heartbeats, so the digest of a state must be the same
// in every build of every version: these values pin it for a state that holds every
// kind of atom (register, tombstone, expiry, counter increments and removals, list
// and set items and removals, container stamps).
TEST(StoreDigest, IsTheSameInEveryBuild) {
  Replica a(kNodeA), b(kNodeB);
  Res(a.store.Set("reg", "value", absl::Seconds(30)));
  Res(a.store.Set("gone", "x", std::nullopt));
  Res(a.store.Del("gone"));
  Res(a.store.Add("n", 5));
  Res(b.store.Add("n", -2));
  Res(a.store.Push("l", "one"));
  Res(a.store.Push("l", "two"));
  Res(a.store.ListDel("l", "one"));
  Res(a.store.SetAdd("s", "x"));
  Res(a.store.SetAdd("s", "y"));
  Res(a.store.SetRemove("s", "x"));
  a.clock.Advance(absl::Milliseconds(3));
  ASSERT_OK(a.store.MergeDelta(b.store.DeltaAbove({})));
  Res(a.store.Del("n"));
  Res(a.store.Add("n", 7));
  EXPECT_EQ(a.store.digest(), (Digest{0x67c0635990c7aa84ULL, 0xdb0fc5a6b8f41745ULL}));
}

}  // namespace
}  // namespace kv::store
