// kvbench --notify_latency: how long change notifications take to arrive,
// from the write's stamp (its revision, an HLC value: milliseconds) to their
// arrival here. 1 ms resolution; the clocks of kvd and kvbench must agree
// (one machine).
#ifndef TOOLS_KVBENCH_NOTIFY_H_
#define TOOLS_KVBENCH_NOTIFY_H_

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace kv::tools {

// The "revision" member of a notification's JSON body, or -1.
int64_t NotificationRevision(absl::string_view body);

// Subscribes to kv.<link>.changes.> while it lives.
class NotifyWatch {
 public:
  static absl::StatusOr<std::unique_ptr<NotifyWatch>> Start(natsConnection* nc,
                                                            const std::string& link);
  ~NotifyWatch();
  NotifyWatch(const NotifyWatch&) = delete;
  NotifyWatch& operator=(const NotifyWatch&) = delete;

  // "N notifications, delay from the write's stamp p50 .. p99 .. max .. ms";
  // clears what was collected.
  std::string TakeReport() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  NotifyWatch() = default;
  static void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);

  natsSubscription* sub_ = nullptr;
  absl::Mutex mu_;
  std::vector<int64_t> delays_ms_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kv::tools

#endif  // TOOLS_KVBENCH_NOTIFY_H_
