#include "kv/log/limiter.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace kv::log {
namespace {

using Lines = std::vector<std::string>;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(Limiter, KindIgnoresNumbers) {
  EXPECT_EQ(Limiter::KindOf("cannot publish event 17: closed"),
            Limiter::KindOf("cannot publish event 123456: closed"));
  EXPECT_NE(Limiter::KindOf("peer seen"), Limiter::KindOf("peer lost"));
  EXPECT_EQ(Limiter::KindOf("served catch-up to 00ab12ff: 5 keys"),
            Limiter::KindOf("served catch-up to 9cd034ee: 70 keys"));
  EXPECT_NE(Limiter::KindOf("link a ready"), Limiter::KindOf("link b ready"));
  EXPECT_EQ(Limiter::KindOf(std::string(100, 'x') + "1"),
            Limiter::KindOf(std::string(100, 'x') + "2"));
}

TEST(Limiter, BurstPassesThenOneSummaryPerWindow) {
  Limiter limiter(absl::Seconds(10), 3);
  Lines written;
  for (int i = 0; i < 1000; ++i) {
    for (std::string& l : limiter.Filter(absl::StrCat("served catch-up to ", i),
                                         kT0 + absl::Milliseconds(i))) {
      written.push_back(std::move(l));
    }
  }
  EXPECT_EQ(written, (Lines{"served catch-up to 0", "served catch-up to 1",
                            "served catch-up to 2"}));
  // The next window: the summary, then the line.
  Lines next = limiter.Filter("served catch-up to 5000", kT0 + absl::Seconds(11));
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0], "(997 more like this in 10s, not logged: served catch-up to 3)");
  EXPECT_EQ(next[1], "served catch-up to 5000");
}

TEST(Limiter, KindsAreLimitedApart) {
  Limiter limiter(absl::Seconds(10), 1);
  EXPECT_EQ(limiter.Filter("a 1", kT0).size(), 1u);
  EXPECT_EQ(limiter.Filter("a 2", kT0).size(), 0u);
  EXPECT_EQ(limiter.Filter("b 1", kT0).size(), 1u);
}

TEST(Limiter, FlushSummarisesEndedWindowsAndForgetsQuietKinds) {
  Limiter limiter(absl::Seconds(10), 1);
  limiter.Filter("x 1", kT0);
  limiter.Filter("x 2", kT0);
  limiter.Filter("x 3", kT0);
  limiter.Filter("y 1", kT0);
  EXPECT_TRUE(limiter.Flush(kT0 + absl::Seconds(5)).empty());
  EXPECT_EQ(limiter.Flush(kT0 + absl::Seconds(10)),
            (Lines{"(2 more like this in 10s, not logged: x 2)"}));
  // Quiet for a window: forgotten, so its next line passes at once.
  EXPECT_TRUE(limiter.Flush(kT0 + absl::Seconds(20)).empty());
  EXPECT_EQ(limiter.Filter("x 4", kT0 + absl::Seconds(21)), (Lines{"x 4"}));
}

TEST(Limiter, ManyKindsShareOneLimitPastTheTable) {
  Limiter limiter(absl::Seconds(10), 2);
  int written = 0;
  for (int i = 0; i < 5000; ++i) {
    // 5,000 kinds (the digit-free word differs).
    std::string word;
    for (int n = i; n > 0 || word.empty(); n /= 26) word.push_back('a' + n % 26);
    written += static_cast<int>(limiter.Filter("peer " + word, kT0).size());
  }
  EXPECT_EQ(written, 1024 + 2);
}

}  // namespace
}  // namespace kv::log
