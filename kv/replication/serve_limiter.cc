#include "kv/replication/serve_limiter.h"

#include <algorithm>

namespace kv::replication {

ServeLimiter::ServeLimiter(ServeLimits limits, absl::Time now)
    : limits_(limits),
      starts_(limits.burst),
      bytes_(limits.bytes_per_second),
      refilled_(now) {}

void ServeLimiter::Refill(absl::Time now) {
  if (now <= refilled_) return;
  const double seconds = absl::ToDoubleSeconds(now - refilled_);
  refilled_ = now;
  starts_ = std::min(limits_.burst, starts_ + seconds * limits_.per_second);
  bytes_ =
      std::min(limits_.bytes_per_second, bytes_ + seconds * limits_.bytes_per_second);
}

bool ServeLimiter::Admit(store::NodeId requester, absl::Time now) {
  Refill(now);
  if (serving_.count(requester) > 0 || serving_.size() >= limits_.concurrent ||
      starts_ < 1 || bytes_ <= 0) {
    return false;
  }
  starts_ -= 1;
  serving_.insert(requester);
  return true;
}

void ServeLimiter::Done(store::NodeId requester, size_t bytes, absl::Time now) {
  Refill(now);
  serving_.erase(requester);
  bytes_ -= static_cast<double>(bytes);
}

}  // namespace kv::replication
