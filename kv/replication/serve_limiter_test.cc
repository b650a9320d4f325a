#include "kv/replication/serve_limiter.h"

#include "gtest/gtest.h"

namespace kv::replication {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

ServeLimits Limits() {
  ServeLimits l;
  l.concurrent = 2;
  l.per_second = 2;
  l.burst = 4;
  l.bytes_per_second = 1000;
  return l;
}

TEST(ServeLimiter, OneCatchUpPerRequesterAtATime) {
  ServeLimiter l(Limits(), kT0);
  EXPECT_TRUE(l.Admit(7, kT0));
  EXPECT_FALSE(l.Admit(7, kT0));
  l.Done(7, 10, kT0);
  EXPECT_TRUE(l.Admit(7, kT0));
}

TEST(ServeLimiter, ConcurrentCatchUpsAreBounded) {
  ServeLimiter l(Limits(), kT0);
  EXPECT_TRUE(l.Admit(1, kT0));
  EXPECT_TRUE(l.Admit(2, kT0));
  EXPECT_FALSE(l.Admit(3, kT0));
  l.Done(1, 0, kT0);
  EXPECT_TRUE(l.Admit(3, kT0));
}

TEST(ServeLimiter, StartsAreRateLimited) {
  ServeLimiter l(Limits(), kT0);
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) {
    if (l.Admit(100 + i, kT0)) {
      ++admitted;
      l.Done(100 + i, 0, kT0);
    }
  }
  EXPECT_EQ(admitted, 4);  // the burst
  EXPECT_FALSE(l.Admit(1, kT0 + absl::Milliseconds(400)));
  EXPECT_TRUE(l.Admit(1, kT0 + absl::Milliseconds(500)));  // 2 per second
}

TEST(ServeLimiter, BytesAreRateLimited) {
  ServeLimiter l(Limits(), kT0);
  ASSERT_TRUE(l.Admit(1, kT0));
  l.Done(1, 3000, kT0);  // 2,000 bytes in debt
  EXPECT_FALSE(l.Admit(2, kT0 + absl::Seconds(1)));
  EXPECT_FALSE(l.Admit(2, kT0 + absl::Seconds(2)));
  EXPECT_TRUE(l.Admit(2, kT0 + absl::Milliseconds(2001)));
}

}  // namespace
}  // namespace kv::replication
