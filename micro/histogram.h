// A fixed-bucket histogram of durations: endpoint processing times, reported
// by Service::Metrics() (e.g. as a Prometheus histogram).
#ifndef MICRO_HISTOGRAM_H_
#define MICRO_HISTOGRAM_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace micro {

// Counts of durations per bucket. Bucket i (i < kBounds) holds the durations
// d with kBoundsNs[i-1] < d <= kBoundsNs[i]; the last bucket holds those above
// the last bound. Not thread-safe: the endpoint's mutex guards it.
class LatencyHistogram {
 public:
  static constexpr size_t kBounds = 17;
  // Upper bounds, ascending: 50us, 100us, 250us, 500us, 1ms, ..., 5s, 10s.
  static constexpr std::array<int64_t, kBounds> kBoundsNs = {
      50'000,      100'000,      250'000,      500'000,      1'000'000,    2'500'000,
      5'000'000,   10'000'000,   25'000'000,   50'000'000,   100'000'000,  250'000'000,
      500'000'000, 1000'000'000, 2500'000'000, 5000'000'000, 10000'000'000};

  // Counts one duration (negative ones as 0).
  void Add(int64_t ns);

  // Per-bucket counts (not cumulative), kBounds + 1 of them.
  const std::array<uint64_t, kBounds + 1>& counts() const { return counts_; }
  uint64_t count() const { return count_; }
  // The sum of the durations counted.
  int64_t sum_ns() const { return sum_ns_; }

 private:
  std::array<uint64_t, kBounds + 1> counts_{};
  uint64_t count_ = 0;
  int64_t sum_ns_ = 0;
};

}  // namespace micro

#endif  // MICRO_HISTOGRAM_H_
