#include "kv/replication/driver.h"

#include <algorithm>

namespace kv::replication {

ReplicaDriver::ReplicaDriver(Replica* replica, store::Clock* clock)
    : replica_(replica), clock_(clock), thread_([this] { Run(); }) {}

ReplicaDriver::~ReplicaDriver() { Stop(); }

void ReplicaDriver::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ReplicaDriver::Run() {
  while (true) {
    const absl::Time next = replica_->Tick();
    const absl::Duration wait =
        std::clamp(next - clock_->Now(), absl::ZeroDuration(), kMaxTickInterval);
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait)) return;
  }
}

}  // namespace kv::replication
