#include "kv/replication/replica_stats.h"

#include <algorithm>

namespace kv::replication {

void ReplicaStats::LagHistogram::Add(uint64_t ms) {
  ++counts[ms < static_cast<uint64_t>(kBuckets) ? ms : kBuckets - 1];
  ++total;
  max_ms = std::max(max_ms, ms);
}

uint64_t ReplicaStats::LagHistogram::Quantile(double q) const {
  if (total == 0) return 0;
  const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total - 1));
  uint64_t seen = 0;
  for (int ms = 0; ms < kBuckets; ++ms) {
    seen += counts[ms];
    if (seen > rank) return static_cast<uint64_t>(ms);
  }
  return kBuckets - 1;
}

}  // namespace kv::replication
