#include "kv/service/confirm.h"

#include <thread>

#include "gtest/gtest.h"

namespace kv::service {
namespace {

TEST(Confirmations, CountsOnlyTheMembersThatReachedTheSeq) {
  Confirmations c;
  c.Record(2, 5);
  c.Record(3, 4);
  c.Record(9, 100);  // not a member
  EXPECT_TRUE(c.Await(5, {1, 2, 3}, 1, absl::ZeroDuration()));
  EXPECT_FALSE(c.Await(5, {1, 2, 3}, 2, absl::ZeroDuration()));
  c.Record(3, 3);  // older: kept at 4
  EXPECT_TRUE(c.Await(4, {1, 2, 3}, 2, absl::ZeroDuration()));
  c.Clear();
  EXPECT_FALSE(c.Await(1, {1, 2, 3}, 1, absl::ZeroDuration()));
}

TEST(Confirmations, AWaiterWakesWhenEnoughConfirmed) {
  Confirmations c;
  std::thread peer([&c] { c.Record(2, 7); });
  EXPECT_TRUE(c.Await(7, {1, 2}, 1, absl::Seconds(10)));
  peer.join();
}

TEST(Confirmations, RemembersABoundedNumberOfPeers) {
  Confirmations c;
  for (store::NodeId n = 1; n <= Confirmations::kMaxPeers + 10; ++n) c.Record(n, 1);
  EXPECT_FALSE(c.Await(1, {Confirmations::kMaxPeers + 5}, 1, absl::ZeroDuration()));
  EXPECT_TRUE(c.Await(1, {1}, 1, absl::ZeroDuration()));
}

}  // namespace
}  // namespace kv::service
