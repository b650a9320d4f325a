#include "kv/service/confirm.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace kv::service {
namespace {

// What a waiting decision was told, and when.
struct Outcome {
  absl::Notification told;
  std::atomic<int> confirmed{-1};
  std::function<void(bool)> Done() {
    return [this](bool c) {
      confirmed = c ? 1 : 0;
      told.Notify();
    };
  }
};

const absl::Duration kLong = absl::Hours(1);
const std::vector<store::NodeId> kLive = {1, 2, 3};

TEST(Confirmations, ADecisionIsConfirmedByEnoughMembersAtItsSeq) {
  Confirmations c;
  Outcome o;
  c.Await(5, {1, 2, 3}, 2, absl::Now() + kLong, o.Done(), 0);
  c.Record(2, 5, kLive);
  c.Record(9, 100, kLive);  // not a member
  c.Record(3, 4, kLive);    // not far enough
  EXPECT_FALSE(o.told.HasBeenNotified());
  c.Record(3, 6, kLive);
  ASSERT_TRUE(o.told.HasBeenNotified());
  EXPECT_EQ(o.confirmed, 1);
}

TEST(Confirmations, WhatIsConfirmedAlreadyIsAnsweredAtOnce) {
  Confirmations c;
  c.Record(2, 7, kLive);
  Outcome o;
  c.Await(7, {1, 2}, 1, absl::Now() + kLong, o.Done(), 0);
  ASSERT_TRUE(o.told.HasBeenNotified());
  EXPECT_EQ(o.confirmed, 1);
  c.Clear();
  Outcome after;
  c.Await(7, {1, 2}, 1, absl::Now() + kLong, after.Done(), 0);
  EXPECT_FALSE(after.told.HasBeenNotified());
}

TEST(Confirmations, WaitingIsBoundedInBytes) {
  Confirmations c;
  Outcome big, small, over;
  c.Await(1, {1, 2}, 1, absl::Now() + kLong, big.Done(),
          Confirmations::kMaxWaitingBytes - 100);
  c.Await(2, {1, 2}, 1, absl::Now() + kLong, small.Done(), 100);
  EXPECT_FALSE(small.told.HasBeenNotified());
  // Beyond the bytes: answered unconfirmed at once, holding nothing.
  c.Await(3, {1, 2}, 1, absl::Now() + kLong, over.Done(), 1);
  ASSERT_TRUE(over.told.HasBeenNotified());
  EXPECT_EQ(over.confirmed, 0);
  // Confirmed ones leave and free their bytes.
  c.Record(2, 2, kLive);
  ASSERT_TRUE(big.told.HasBeenNotified());
  ASSERT_TRUE(small.told.HasBeenNotified());
  Outcome again;
  c.Await(4, {1, 2}, 1, absl::Now() + kLong, again.Done(),
          Confirmations::kMaxWaitingBytes);
  EXPECT_FALSE(again.told.HasBeenNotified());
}

TEST(Confirmations, ADecisionNotConfirmedByItsDeadlineIsToldSo) {
  Confirmations c;
  Outcome o;
  c.Await(1, {1, 2}, 1, absl::Now() + absl::Milliseconds(50), o.Done(), 0);
  ASSERT_TRUE(o.told.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(o.confirmed, 0);
  c.Record(2, 1, kLive);  // too late: nothing more happens
}

TEST(Confirmations, StoppingTellsEveryDecisionStillWaiting) {
  Outcome o;
  {
    Confirmations c;
    c.Await(1, {1, 2}, 1, absl::Now() + kLong, o.Done(), 0);
  }
  ASSERT_TRUE(o.told.HasBeenNotified());
  EXPECT_EQ(o.confirmed, 0);
}

TEST(Confirmations, RemembersABoundedNumberOfPeers) {
  Confirmations c;
  std::vector<store::NodeId> all;
  for (store::NodeId n = 1; n <= Confirmations::kMaxPeers + 10; ++n) all.push_back(n);
  for (store::NodeId n : all) c.Record(n, 1, all);
  Outcome dropped, kept;
  c.Await(1, {Confirmations::kMaxPeers + 5}, 1, absl::Now() + kLong, dropped.Done(), 0);
  c.Await(1, {1}, 1, absl::Now() + kLong, kept.Done(), 0);
  EXPECT_FALSE(dropped.told.HasBeenNotified());
  EXPECT_TRUE(kept.told.HasBeenNotified());
  // Peers that left the view make room for new ones.
  const std::vector<store::NodeId> now_live{1, 1000};
  c.Record(1000, 1, now_live);
  Outcome fresh;
  c.Await(1, {1000}, 1, absl::Now() + kLong, fresh.Done(), 0);
  EXPECT_TRUE(fresh.told.HasBeenNotified());
}

}  // namespace
}  // namespace kv::service
