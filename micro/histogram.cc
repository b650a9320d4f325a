#include "micro/histogram.h"

#include <algorithm>

namespace micro {

void LatencyHistogram::Add(int64_t ns) {
  ns = std::max<int64_t>(ns, 0);
  // The first bound not below `ns`: its bucket, or the last one.
  const size_t i = static_cast<size_t>(
      std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), ns) - kBoundsNs.begin());
  ++counts_[i];
  ++count_;
  sum_ns_ += ns;
}

}  // namespace micro
