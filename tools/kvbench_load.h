// kvbench's load generator: pipelined request/reply on one nats.c connection.
// One asynchronous subscription on a wildcard inbox receives every reply; each
// request carries its own reply subject <inbox>.<seq>; every reply (or
// timeout) publishes the next request, so exactly `inflight` stay in flight.
#ifndef TOOLS_KVBENCH_LOAD_H_
#define TOOLS_KVBENCH_LOAD_H_

#include <nats/nats.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/kvbench_report.h"
#include "tools/kvbench_workload.h"

namespace kv::tools {

// How a reply tells a failure.
enum class ReplyCheck {
  kService,    // a Nats-Service-Error-Code header (kvd, micro services), no responders
  kJetStream,  // a status header or an "error" body (JetStreamReplyFailed)
};

struct LoadOptions {
  // Subject per op index of the work items (unless an item names its own).
  std::vector<std::string> subjects;
  ReplyCheck check = ReplyCheck::kService;
  // Request seq -> item; called from several threads.
  std::function<WorkItem(uint64_t)> next;
  int inflight = 1;
  absl::Duration warmup = absl::Seconds(2);
  absl::Duration duration = absl::Seconds(10);
  // A request without a reply after this long counts as an error and is
  // replaced by the next one.
  absl::Duration timeout = absl::Seconds(5);
  // When positive: send exactly this many requests (no warm-up, no time limit)
  // and return when all are answered or timed out.
  uint64_t total = 0;
  // Progress lines on stderr (once a second) start with this; none if empty.
  std::string progress_label;
};

struct LoadResult {
  double seconds = 0;     // the measured window
  uint64_t requests = 0;  // replies in the window
  uint64_t errors = 0;    // error-header replies and timeouts in the window
  uint64_t no_responders = 0;
  LatencyRecorder latencies;
};

// Runs one load. `nc` must stay open throughout. Unavailable when nats.c
// refuses to subscribe or publish (connection lost).
absl::StatusOr<LoadResult> RunLoad(natsConnection* nc, const LoadOptions& options);

// Sends `body` to `subject` and waits for one reply: OK for any reply (even a
// service error), NotFound when nobody subscribes to `subject` (no
// responders), Unavailable for a timeout or a lost connection.
absl::Status Probe(natsConnection* nc, const std::string& subject,
                   const std::string& body, absl::Duration timeout);

}  // namespace kv::tools

#endif  // TOOLS_KVBENCH_LOAD_H_
