// Private to micro/: the structures request.cc, monitoring.cc and service.cc
// share. Not part of the library's API.

#ifndef MICRO_SERVICE_INTERNAL_H_
#define MICRO_SERVICE_INTERNAL_H_

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "micro/destroy_batch.h"
#include "micro/histogram.h"
#include "micro/pause_guard.h"
#include "micro/request.h"
#include "micro/service.h"

namespace micro {
namespace internal {

// What INFO and STATS report of an endpoint besides its counters.
struct EndpointInfo {
  std::string name;
  std::string subject;
  std::string queue_group;  // empty: a plain subscription
  std::map<std::string, std::string> metadata;
};

// An endpoint's counters, as STATS reports them.
struct EndpointStats {
  int64_t num_requests = 0;
  int64_t num_errors = 0;
  std::string last_error;  // "<code>:<description>"
  int64_t processing_time_ns = 0;
  // For Service::Metrics(): errors by code, and processing times.
  std::map<int, int64_t> errors_by_code;
  LatencyHistogram latency;
};

// One endpoint. Owned by the Service::Subscription it is served on; lives as
// long as the service.
struct Endpoint {
  // Constant after construction.
  EndpointInfo info;
  Handler handler;

  mutable absl::Mutex mu;
  EndpointStats stats ABSL_GUARDED_BY(mu);
};

// The replies held during a burst of a router's requests, and the router's
// hook (RouterConfig::before_held_replies). Used only by the router's
// delivery thread while it runs, and by Stop() once no handler runs.
struct HeldReplies {
  struct Reply {
    std::string subject;
    std::string data;
    Headers headers;  // sanitized
  };
  std::function<void(const Publisher& publish)> before;
  std::vector<Reply> replies;
  // Requests held since the last flush (some have no reply subject), and the
  // bytes of their replies.
  size_t requests = 0;
  size_t bytes = 0;
  std::chrono::steady_clock::time_point since;  // when the first was held
};

// Bounds of a burst's held replies: past any, they are written (the burst
// goes on). They bound the latency holding adds and the memory it takes.
inline constexpr size_t kMaxHeldRequests = 256;
inline constexpr size_t kMaxHeldBytes = 256 * 1024;
inline constexpr std::chrono::microseconds kMaxHeldAge{500};

// Writes `held` on `nc`: runs its hook (what it publishes leaves first), then
// its replies in order; flushes `nc` when `end_of_burst` (nothing else will
// follow soon). Does nothing when no request is held.
void WriteHeld(natsConnection* nc, HeldReplies* held, bool end_of_burst);
// After each message of the router's subscription `sub` (whatever handled
// it: an endpoint, the unmatched handler, the pause guard): writes `held`
// (null: none) when the burst ended (nothing pending) or passed a bound.
void WriteHeldIfDue(natsConnection* nc, natsSubscription* sub, HeldReplies* held);

// The longest error description replied (header, body) and kept as last_error.
inline constexpr size_t kMaxErrorDescription = 1024;

// `description` cut to kMaxErrorDescription bytes (at a UTF-8 boundary), with its
// full length appended when cut.
std::string BoundedDescription(absl::string_view description);

// Runs handlers on requests (nats.c's _handle_request): builds the Request,
// calls the handler, replies and counts what it returned or threw, using the
// error mapping of the service's configuration.
class Dispatcher {
 public:
  // `config` must outlive the Dispatcher.
  explicit Dispatcher(const ServiceConfig& config) : config_(config) {}

  // Handles `msg`, received on `sub` (null: the reply never uses the prompt
  // connection) over `nc`, with `handler`, and counts it in the stats of
  // `endpoint` (none when null). An error status (or exception) is replied
  // with its code and body unless the handler replied already, and counted.
  // Never throws.
  // `held` (may be null): the router's held replies, which the request may
  // join (WriteHeldIfDue writes them).
  void Handle(const Handler& handler, Endpoint* endpoint, natsConnection* nc,
              natsSubscription* sub, natsMsg* msg, HeldReplies* held = nullptr) const;

  // Replies error `code` with `description` to `msg` without running a
  // handler, and counts it in the stats of `endpoint` (none when null).
  void Reject(Endpoint* endpoint, natsConnection* nc, natsMsg* msg, int code,
              absl::string_view description) const;

 private:
  // Replies error `code` with `description` unless `request` has been
  // replied to, and counts the error; `status` (the handler's error, or OK)
  // goes to ServiceConfig::error_body.
  void Fail(Request& request, int code, absl::string_view description,
            const absl::Status& status = absl::OkStatus()) const;

  const ServiceConfig& config_;
};

// A snapshot of one endpoint for a STATS response.
struct EndpointReport {
  const EndpointInfo* info;  // not owned
  EndpointStats stats;
  std::string data;  // a JSON object, or empty for none
};

// The io.nats.micro.v1 responses of one instance, as JSON text.
std::string MarshalPing(const ServiceConfig& config, absl::string_view id);
std::string MarshalInfo(const ServiceConfig& config, absl::string_view id,
                        const std::vector<const EndpointInfo*>& endpoints);
std::string MarshalStats(const ServiceConfig& config, absl::string_view id,
                         absl::Time started,
                         const std::vector<EndpointReport>& endpoints);

}  // namespace internal

// Counts a service's open subscriptions.
struct Service::Tracker {
  absl::Mutex mu;
  // Subscriptions whose completion callback has not run yet.
  int open ABSL_GUARDED_BY(mu) = 0;
};

// The callback closure of one nats.c subscription: a monitoring verb, one
// endpoint, or a router's endpoints.
struct Service::Subscription {
  Service* service = nullptr;
  // Owned endpoint for endpoint subscriptions, null for the others.
  std::unique_ptr<internal::Endpoint> endpoint;
  // Routers: the owned endpoints by subject, and the handler of the rest.
  std::vector<std::unique_ptr<internal::Endpoint>> routed;
  absl::flat_hash_map<std::string, internal::Endpoint*> routes;
  Handler unmatched;
  // Monitoring subscriptions (no endpoint, no unmatched handler).
  Verb verb = Verb::kPing;
  std::shared_ptr<Tracker> tracker;
  // The subscribed subject (routers: `<prefix>.*`).
  std::string subject;
  // Destroyed by Stop(), or by RemoveRouter once removed and completed.
  natsSubscription* sub = nullptr;
  // Unsubscribed by Service::RemoveRouter (Stop() has nothing to drain).
  bool removed = false;
  // Set by OnComplete after its last use of this closure: a removed router's
  // closure may then be freed (the next RemoveRouter does).
  std::atomic<bool> completed{false};
  // Endpoint and router subscriptions: their queue's state in the pause guard.
  PauseGuard::Queue pause_queue;
  bool pause_guard = true;  // RouterConfig::pause_guard
  // Routers with RouterConfig::before_held_replies: their held replies.
  std::unique_ptr<internal::HeldReplies> held;
  // Handled request messages, destroyed a few at a time (used by the
  // callbacks, then by OnComplete and Stop() once no callback runs).
  DestroyBatch handled;
};

}  // namespace micro

#endif  // MICRO_SERVICE_INTERNAL_H_
