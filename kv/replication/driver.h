// Runs a Replica's timed work on a thread of its own (production; tests tick
// replicas from a simulation instead).
#ifndef KV_REPLICATION_DRIVER_H_
#define KV_REPLICATION_DRIVER_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kv/replication/replica.h"
#include "kv/store/clock.h"

namespace kv::replication {

// Calls replica->Tick() when it is due, and at least every kMaxTickInterval,
// until Stop. `clock` is the replica's (a real clock: the driver sleeps).
//
// Thread safety: thread-safe.
class ReplicaDriver {
 public:
  // Starts the thread. `replica` and `clock` must outlive the driver.
  ReplicaDriver(Replica* replica, store::Clock* clock);
  ReplicaDriver(const ReplicaDriver&) = delete;
  ReplicaDriver& operator=(const ReplicaDriver&) = delete;
  ~ReplicaDriver();

  // Ends the thread (a Tick in progress completes first). Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  Replica* const replica_;
  store::Clock* const clock_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_DRIVER_H_
