// Unit tests of Store::Withdraw: a node takes back its own add or push when
// another application of the same request id won, unless the write is gone
// already; and the two replicas then agree (the id counts once).
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/request_log.h"
#include "kv/store/state.h"
#include "kv/store/store.h"

namespace kv::store {
namespace {

constexpr NodeId kNodeA = 0xA1;
constexpr NodeId kNodeB = 0xB2;

struct Replica {
  explicit Replica(NodeId id) : store(id, &clock) {}
  FakeClock clock;
  Store store;
};

int64_t Length(const Store& s, absl::string_view key) {
  auto r = s.Range(key, 0, -1);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? static_cast<int64_t>(r->size()) : -1;
}

std::optional<int64_t> Count(const Store& s, absl::string_view key) {
  auto v = s.Get(key);  // a counter reads as its decimal value
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok() || !v->has_value()) return std::nullopt;
  return std::stoll(**v);
}

// Applies `c`'s event to `to` and returns it.
template <typename T>
Event Ship(absl::StatusOr<Change<T>> c, Store& to) {
  EXPECT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->event.has_value());
  EXPECT_TRUE(to.Apply(*c->event).ok());
  return *c->event;
}

TEST(Withdraw, TakesBackAPushWhileItsItemIsThere) {
  Replica a(kNodeA), b(kNodeB);
  const Event mine = Ship(a.store.Push("q", "job", std::nullopt), b.store);
  Ship(b.store.Push("q", "job", std::nullopt), a.store);  // the other application
  ASSERT_EQ(Length(a.store, "q"), 2);
  auto taken = a.store.Withdraw(Withdrawal{"q", mine.dot, 0, true});
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(taken->result);
  Ship(std::move(taken), b.store);
  EXPECT_EQ(Length(a.store, "q"), 1);
  EXPECT_EQ(Length(b.store, "q"), 1);
  EXPECT_EQ(a.store.digest(), b.store.digest());
  // Once is all: a second withdrawal finds nothing.
  auto again = a.store.Withdraw(Withdrawal{"q", mine.dot, 0, true});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->result);
  EXPECT_FALSE(again->event.has_value());
}

TEST(Withdraw, APushAlreadyPoppedIsNotTakenBackAgain) {
  Replica a(kNodeA);
  const Event mine = *a.store.Push("q", "job", std::nullopt)->event;
  ASSERT_TRUE(a.store.Pop("q", ListEnd::kLeft).ok());
  auto taken = a.store.Withdraw(Withdrawal{"q", mine.dot, 0, true});
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(taken->result);
  EXPECT_EQ(Length(a.store, "q"), 0);
}

TEST(Withdraw, TakesBackAnAddWhileTheCounterCountsIt) {
  Replica a(kNodeA), b(kNodeB);
  Ship(a.store.Add("n", 10, std::nullopt), b.store);
  const Event mine = Ship(a.store.Add("n", 5, std::nullopt), b.store);
  Ship(b.store.Add("n", 5, std::nullopt), a.store);  // the other application
  ASSERT_EQ(Count(a.store, "n"), 20);
  auto taken = a.store.Withdraw(Withdrawal{"n", mine.dot, 5, false});
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(taken->result);
  Ship(std::move(taken), b.store);
  EXPECT_EQ(Count(a.store, "n"), 15);
  EXPECT_EQ(Count(b.store, "n"), 15);
  EXPECT_EQ(a.store.digest(), b.store.digest());
}

TEST(Withdraw, AnAddThatWasDeletedSinceIsNotTakenBack) {
  Replica a(kNodeA);
  const Event mine = *a.store.Add("n", 5, std::nullopt)->event;
  ASSERT_TRUE(a.store.Del("n").ok());
  ASSERT_TRUE(a.store.Add("n", 2, std::nullopt).ok());  // a new epoch
  auto taken = a.store.Withdraw(Withdrawal{"n", mine.dot, 5, false});
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(taken->result);
  EXPECT_EQ(Count(a.store, "n"), 2);
}

TEST(Withdraw, OnlyTheApplyingNodeTakesItsWriteBack) {
  Replica a(kNodeA), b(kNodeB);
  const Event mine = Ship(a.store.Add("n", 5, std::nullopt), b.store);
  auto taken = b.store.Withdraw(Withdrawal{"n", mine.dot, 5, false});
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(taken->result);
  EXPECT_EQ(Count(b.store, "n"), 5);
}

TEST(Withdraw, AKeyDeletedAndSetAgainIsLeftAlone) {
  Replica a(kNodeA);
  const Event mine = *a.store.Push("k", "x", std::nullopt)->event;
  ASSERT_TRUE(a.store.Del("k").ok());
  ASSERT_TRUE(a.store.Set("k", "v", std::nullopt).ok());
  auto taken = a.store.Withdraw(Withdrawal{"k", mine.dot, 0, true});
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(taken->result);
  auto v = a.store.Get("k");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(**v, "v");
}

}  // namespace
}  // namespace kv::store
