#include "kv/transport/connection.h"

#include <set>

#include "absl/random/random.h"
#include "gtest/gtest.h"

namespace kv::transport {
namespace {

TEST(ReconnectBackoff, DoublesFrom100MsTo5sWithin20Percent) {
  absl::BitGen gen;
  const int64_t base_ms[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
  for (int attempt = 1; attempt <= 9; ++attempt) {
    const int64_t base = base_ms[attempt - 1];
    for (int i = 0; i < 200; ++i) {
      const absl::Duration d = ReconnectBackoff(attempt, gen);
      EXPECT_GE(d, absl::Milliseconds(base) * 0.8) << "attempt " << attempt;
      EXPECT_LT(d, absl::Milliseconds(base) * 1.2) << "attempt " << attempt;
    }
  }
  EXPECT_LT(ReconnectBackoff(1000, gen), absl::Seconds(6));
}

TEST(ReconnectBackoff, IsJittered) {
  absl::BitGen gen;
  std::set<int64_t> seen;
  for (int i = 0; i < 50; ++i) {
    seen.insert(absl::ToInt64Microseconds(ReconnectBackoff(5, gen)));
  }
  // 50 draws from a 640 ms wide interval: all equal would mean no jitter.
  EXPECT_GT(seen.size(), 40u);
}

}  // namespace
}  // namespace kv::transport
