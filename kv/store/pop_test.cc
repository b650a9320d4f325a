// Unit tests of Store::Pop: ends, single items, equal values, errors, and the
// merge of concurrent pops (one removal per item).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/state.h"
#include "kv/store/store.h"

namespace kv::store {
namespace {

constexpr NodeId kNodeA = 0xA1;
constexpr NodeId kNodeB = 0xB2;

using Strings = std::vector<std::string>;
using Popped = absl::StatusOr<Change<std::optional<std::string>>>;

struct Replica {
  explicit Replica(NodeId id) : store(id, &clock) {}
  FakeClock clock;
  Store store;
};

Strings All(const Store& s, absl::string_view key) {
  absl::StatusOr<Strings> r = s.Range(key, 0, -1);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : Strings{};
}

// The event of a write that must succeed and emit one.
template <typename T>
Event Ev(absl::StatusOr<Change<T>> c) {
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok() || !c->event.has_value()) {
    ADD_FAILURE() << "no event";
    return Event{};
  }
  return *std::move(c->event);
}

void Deliver(Store& to, const Event& e) {
  absl::StatusOr<ApplyResult> r = to.Apply(e);
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST(StorePop, TakesFromEitherEndInPushOrder) {
  Replica r(kNodeA);
  for (const char* v : {"a", "b", "c", "d"}) ASSERT_TRUE(r.store.Push("l", v).ok());
  Popped p = r.store.Pop("l", ListEnd::kLeft);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->result, "a");
  EXPECT_TRUE(p->event.has_value());
  p = r.store.Pop("l", ListEnd::kRight);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->result, "d");
  EXPECT_EQ(All(r.store, "l"), (Strings{"b", "c"}));
  p = r.store.Pop("l", ListEnd::kRight);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->result, "c");
  EXPECT_EQ(All(r.store, "l"), Strings{"b"});
}

TEST(StorePop, LastItemRemovesTheKeyThenNothing) {
  Replica r(kNodeA);
  ASSERT_TRUE(r.store.Push("l", "only").ok());
  Popped p = r.store.Pop("l", ListEnd::kLeft);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->result, "only");
  EXPECT_FALSE(*r.store.Exists("l"));
  EXPECT_EQ(r.store.Revision("l"), 0u);
  const Digest before = r.store.digest();
  const VersionVector vv = r.store.vv();
  for (ListEnd end : {ListEnd::kLeft, ListEnd::kRight}) {
    p = r.store.Pop("l", end);
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->result.has_value());
    EXPECT_FALSE(p->event.has_value());
    p = r.store.Pop("never", end);
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->result.has_value());
    EXPECT_FALSE(p->event.has_value());
  }
  EXPECT_EQ(r.store.digest(), before);
  EXPECT_EQ(r.store.vv(), vv);
}

TEST(StorePop, EqualValuesAreSeparateItems) {
  Replica r(kNodeA);
  for (const char* v : {"x", "y", "x"}) ASSERT_TRUE(r.store.Push("l", v).ok());
  Popped p = r.store.Pop("l", ListEnd::kLeft);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->result, "x");
  // Only the first "x" went (list_del would take both).
  EXPECT_EQ(All(r.store, "l"), (Strings{"y", "x"}));
}

TEST(StorePop, WrongTypeOrBadKeyChangesNothing) {
  Replica r(kNodeA);
  ASSERT_TRUE(r.store.Set("reg", "v", std::nullopt).ok());
  ASSERT_TRUE(r.store.SetAdd("st", "v").ok());
  ASSERT_TRUE(r.store.Add("n", 1).ok());
  const Digest before = r.store.digest();
  const VersionVector vv = r.store.vv();
  for (const char* key : {"reg", "st", "n"}) {
    EXPECT_EQ(r.store.Pop(key, ListEnd::kLeft).status().code(),
              absl::StatusCode::kFailedPrecondition)
        << key;
  }
  EXPECT_EQ(r.store.Pop("", ListEnd::kLeft).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.store.digest(), before);
  EXPECT_EQ(r.store.vv(), vv);
}

TEST(StorePop, ExpiredListPopsNothing) {
  Replica r(kNodeA);
  ASSERT_TRUE(r.store.Push("l", "a", absl::Seconds(5)).ok());
  r.clock.Advance(absl::Seconds(6));
  Popped p = r.store.Pop("l", ListEnd::kLeft);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->result.has_value());
  EXPECT_FALSE(p->event.has_value());
}

// Two replicas pop the same item before hearing of each other: the merge
// removes that item once (the next one stays), whatever the order, and the
// replicas converge.
TEST(StorePop, ConcurrentPopsOfOneItemMergeToOneRemoval) {
  Replica a(kNodeA), b(kNodeB);
  std::vector<Event> pushes;
  for (const char* v : {"1", "2", "3"}) pushes.push_back(Ev(a.store.Push("q", v)));
  for (const Event& e : pushes) Deliver(b.store, e);
  b.clock.Advance(absl::Milliseconds(3));
  Popped pa = a.store.Pop("q", ListEnd::kLeft);
  Popped pb = b.store.Pop("q", ListEnd::kLeft);
  ASSERT_TRUE(pa.ok() && pb.ok());
  EXPECT_EQ(pa->result, "1");
  EXPECT_EQ(pb->result, "1");
  const Event ea = Ev(std::move(pa));
  const Event eb = Ev(std::move(pb));
  Deliver(a.store, eb);
  Deliver(b.store, ea);
  Deliver(b.store, ea);  // a duplicate changes nothing
  EXPECT_EQ(All(a.store, "q"), (Strings{"2", "3"}));
  EXPECT_EQ(All(b.store, "q"), (Strings{"2", "3"}));
  EXPECT_EQ(a.store.digest(), b.store.digest());
}

// A push concurrent with a pop survives it; different items popped on two
// replicas both go.
TEST(StorePop, ConcurrentPushSurvivesAndDistinctPopsBothApply) {
  Replica a(kNodeA), b(kNodeB);
  std::vector<Event> pushes;
  for (const char* v : {"1", "2"}) pushes.push_back(Ev(a.store.Push("q", v)));
  for (const Event& e : pushes) Deliver(b.store, e);
  const Event pop_left = Ev(a.store.Pop("q", ListEnd::kLeft));
  const Event pop_right = Ev(b.store.Pop("q", ListEnd::kRight));
  const Event push = Ev(b.store.Push("q", "3"));
  Deliver(a.store, pop_right);
  Deliver(a.store, push);
  Deliver(b.store, pop_left);
  EXPECT_EQ(All(a.store, "q"), Strings{"3"});
  EXPECT_EQ(All(b.store, "q"), Strings{"3"});
  EXPECT_EQ(a.store.digest(), b.store.digest());
}

}  // namespace
}  // namespace kv::store
