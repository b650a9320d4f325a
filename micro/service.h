// NATS micro-services (ADR-32) on nats.c 3.4.1, which has no micro API.
//
// A Service is a named, versioned set of request/reply endpoints on one NATS
// connection. Each instance gets a unique id and answers the discovery
// requests $SRV.PING, $SRV.INFO and $SRV.STATS (also as $SRV.<VERB>.<name>
// and $SRV.<VERB>.<name>.<id>) with the io.nats.micro.v1 JSON responses.
// Endpoints are queue subscriptions (group "q" by default), so instances of
// one service share the load. Handlers return absl::Status; the service
// replies errors with the Nats-Service-Error / Nats-Service-Error-Code
// headers and counts requests, errors and processing time per endpoint.
// The library knows nothing about what the endpoints do.
//
// Handlers of different endpoints run concurrently, each endpoint's requests
// one at a time; nats.c's reconnects are transparent. For low latency and high
// throughput together, give the service a buffering connection and a SendAsap
// one as ServiceConfig::prompt_nc (what kvd does). micro/README.md describes
// the threading, reconnects and reply flush policies, with measurements.

#ifndef MICRO_SERVICE_H_
#define MICRO_SERVICE_H_

#include <nats/nats.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "micro/histogram.h"
#include "micro/pause_guard.h"
#include "micro/request.h"

namespace micro {

// Response types of the discovery verbs.
inline constexpr char kPingResponseType[] = "io.nats.micro.v1.ping_response";
inline constexpr char kInfoResponseType[] = "io.nats.micro.v1.info_response";
inline constexpr char kStatsResponseType[] = "io.nats.micro.v1.stats_response";

// Default queue group of endpoints.
inline constexpr char kDefaultQueueGroup[] = "q";

// The service error code of a (non-OK) status a handler returned, by default:
// InvalidArgument 400, NotFound 404, FailedPrecondition 409, OutOfRange and
// ResourceExhausted 413, Unavailable 503, anything else 500.
int DefaultErrorCode(const absl::Status& status);

class Service;

struct EndpointConfig {
  // [A-Za-z0-9_-]+.
  std::string name;
  // Subject to listen on (wildcards allowed); empty means `name`. A group's
  // prefix is prepended with a dot.
  std::string subject;
  // Queue group; an empty string makes a plain subscription, on which every
  // instance receives every request.
  std::string queue_group = kDefaultQueueGroup;
  std::map<std::string, std::string> metadata;
  Handler handler;
};

struct ServiceConfig {
  // [A-Za-z0-9_-]+.
  std::string name;
  // SemVer 2.0.0, e.g. "1.2.3" or "1.0.0-rc.1+build.5".
  std::string version;
  std::string description;
  std::map<std::string, std::string> metadata;
  // Optional: returns the text of a JSON object to report as the "data" of
  // endpoint `endpoint` in STATS responses; an empty string (or text that does
  // not look like an object) omits "data". Called on a discovery thread at
  // STATS time, with no service lock held; it may run concurrently with
  // handlers.
  std::function<std::string(absl::string_view endpoint)> stats_data;
  // Optional: maps a non-OK status returned by a handler to the service error
  // code (Nats-Service-Error-Code and the "<code>:" of last_error); when
  // unset, DefaultErrorCode. Called on handler threads; must not throw.
  std::function<int(const absl::Status& status)> error_code;
  // Optional: the body of the error reply with service error `code` and
  // description `message` (the Nats-Service-Error header); `status` is the
  // handler's error (its payloads may carry details for the body), OK when the
  // error did not come from a returned status (an exception, "no response", a
  // request refused before its handler). When unset, the body is empty. Called
  // on handler threads; must not throw.
  std::function<std::string(int code, absl::string_view message,
                            const absl::Status& status)>
      error_body;
  // Optional: a second connection, made with natsOptions_SetSendAsap, for
  // prompt replies; create the service's own connection without SendAsap.
  // While other requests wait on an endpoint's subscription, replies go out
  // on the service's connection, where nats.c buffers them (few writes under
  // load), and the reply that ends such a burst is flushed with them; a reply
  // to a lone request goes out on this connection, written at once. Latency
  // stays that of SendAsap when traffic is light, and throughput that of
  // buffering under load (micro/README.md). Must outlive the service.
  natsConnection* prompt_nc = nullptr;
  // How long Stop() lets the requests already received be handled; those still
  // queued then are dropped (and counted in Stop()'s status).
  absl::Duration drain_timeout = absl::Seconds(30);
  // Pause guard (0 = off): when the process did not run for longer than this
  // (SIGSTOP, a frozen VM), the requests that queued up meanwhile are stale
  // (their requesters may have given up and written elsewhere). A watchdog
  // thread beats every 50 ms on the monotonic clock, and the dispatcher checks
  // the beat before each request; after a pause, every request of an endpoint
  // (or router) subscription is answered 503 "this node was paused; retry"
  // until that subscription's backlog drained (no request pending) and
  // pause_margin more passed. Refusals count as errors in the endpoints'
  // stats. Discovery requests are always answered.
  absl::Duration max_pause = absl::ZeroDuration();
  absl::Duration pause_margin = absl::Milliseconds(250);
};

// Endpoints served by one subscription: `<prefix>.*` in `queue_group`. Each
// request is routed by its subject to the endpoint of that subject; every
// endpoint keeps its own INFO entry and stats, exactly as if it had its own
// subscription. For services with many endpoints under one prefix this saves a
// subscription (and a delivery thread) per endpoint, and lets `unmatched`
// answer requests for subjects no endpoint has (e.g. with a 404) without
// every request being delivered twice, as a second wildcard subscription
// would cause. Requests handled by `unmatched` count in no endpoint's stats.
// Endpoints of one router run one at a time, in arrival order.
struct RouterConfig {
  // Subject prefix; each endpoint's subject (or, if empty, its name) is
  // appended after a dot and must be a single token.
  std::string prefix;
  std::string queue_group = kDefaultQueueGroup;
  std::vector<EndpointConfig> endpoints;  // their queue_group is ignored
  Handler unmatched;                      // required
  // False: the pause guard (ServiceConfig::max_pause) leaves this router's
  // messages alone (internal traffic that carries its own staleness rules).
  bool pause_guard = true;
  // Optional: holds the replies to a burst. While requests wait in the
  // router's queue, the replies to its endpoints' requests (Request::held)
  // are held and written together once the queue is empty, or once 256
  // requests, 256 KiB of replies or 500 us are held, on the service's own
  // connection, right after this hook ran (on the router's thread) with a
  // publisher on that connection: what it publishes reaches the server
  // before any held reply. Messages a held request Publish()es are written
  // at once, before every held reply too. Handlers gather work of several
  // requests this way (kv: their replication events, as one message) while
  // keeping each reply behind it. Requests the router's unmatched handler
  // takes are never held.
  std::function<void(const Publisher& publish)> before_held_replies;
};

// A snapshot of one endpoint's counters (Service::Metrics()), for exporting
// them elsewhere (e.g. Prometheus). Errors are counted by service error code;
// processing times are those STATS sums, up to the reply.
struct EndpointMetrics {
  std::string name;
  std::map<std::string, std::string> metadata;
  int64_t num_requests = 0;  // errors included
  int64_t num_errors = 0;
  std::map<int, int64_t> errors_by_code;
  LatencyHistogram latency;
};

// Endpoints whose subjects share a prefix. A cheap value; valid as long as
// its Service.
class Group {
 public:
  // The prefix, e.g. "kv.default".
  const std::string& prefix() const { return prefix_; }
  // A nested group with prefix `<prefix>.<name>`.
  Group AddGroup(absl::string_view name) const;
  // Service::AddEndpoint with the subject (or, if empty, the name) prefixed by
  // `<prefix>.`.
  absl::Status AddEndpoint(EndpointConfig config) const;

 private:
  friend class Service;
  Group(Service* service, std::string prefix)
      : service_(service), prefix_(std::move(prefix)) {}

  Service* service_;
  std::string prefix_;
};

// A running service instance.
//
// Thread safety: all methods are thread-safe, but Stop() and the destructor
// must not be called from a handler of the same service (they wait for the
// handlers to return).
class Service {
 public:
  // Validates `config` and starts the service on `nc`: generates the id and
  // subscribes the nine discovery subjects. Add endpoints with AddEndpoint().
  // When it returns OK with the connection up, the server has registered the
  // subscriptions (one PING/PONG round trip), so requests sent from any
  // connection afterwards reach this instance. For replies with low latency
  // under light load and few writes under heavy load, create `nc` without
  // SendAsap and set ServiceConfig::prompt_nc (see micro/README.md).
  // Returns InvalidArgument if the name is not [A-Za-z0-9_-]+ or the version
  // is not SemVer; Unavailable/Internal if nats.c refuses to subscribe (the
  // subscriptions made so far are removed).
  // Does not take ownership of `nc`, which must outlive the service.
  static absl::StatusOr<std::unique_ptr<Service>> Start(natsConnection* nc,
                                                        ServiceConfig config);

  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Stop()s the service.
  ~Service();

  // Adds an endpoint and subscribes it; it is in INFO/STATS from then on and,
  // with the connection up, registered at the server when this returns.
  // Usable at any time before Stop().
  // Returns InvalidArgument for an invalid name, subject or queue group or a
  // missing handler, FailedPrecondition after Stop(), Unavailable/Internal if
  // nats.c refuses the subscription.
  absl::Status AddEndpoint(EndpointConfig config) ABSL_LOCKS_EXCLUDED(mu_);

  // Adds the endpoints of `config` on one subscription (see RouterConfig).
  // Returns InvalidArgument for an invalid prefix, endpoint or subject (not
  // one token under the prefix, or listed twice) or a missing handler, and
  // otherwise as AddEndpoint().
  absl::Status AddRouter(RouterConfig config) ABSL_LOCKS_EXCLUDED(mu_);

  // Unsubscribes the router added with `prefix`: once the server has
  // processed the unsubscription (a flush of the connection waits for it),
  // requests for it meet no responders. Requests already queued are dropped
  // unanswered; a handler of it that runs finishes and its reply is sent.
  // Its endpoints leave INFO and STATS. Does not block; callable from any
  // handler, that router's own included.
  // Returns NotFound if no router of that prefix is subscribed,
  // FailedPrecondition after Stop().
  absl::Status RemoveRouter(absl::string_view prefix) ABSL_LOCKS_EXCLUDED(mu_);

  // A group of endpoints under subject prefix `prefix` (ADR-32 groups). The
  // prefix is validated when an endpoint is added.
  Group AddGroup(absl::string_view prefix);

  // The instance id: 22 characters of [0-9A-Za-z].
  const std::string& id() const { return id_; }
  const ServiceConfig& config() const { return config_; }

  // The JSON bodies this instance answers to $SRV.PING / INFO / STATS.
  std::string PingJson() const;
  std::string InfoJson() const ABSL_LOCKS_EXCLUDED(mu_);
  std::string StatsJson() const ABSL_LOCKS_EXCLUDED(mu_);

  // Every endpoint's counters, in the order they were added.
  std::vector<EndpointMetrics> Metrics() const ABSL_LOCKS_EXCLUDED(mu_);

  // Pauses the pause guard detected, and requests it refused (0 when off).
  uint64_t pauses_detected() const;
  uint64_t refused_after_pause() const;

  // Zeroes the request/error counters, last error and processing times of all
  // endpoints.
  void ResetStats() ABSL_LOCKS_EXCLUDED(mu_);

  // Stops the service: drains every subscription (no new requests are taken,
  // those already received are handled), waits for the running handlers to
  // return, then flushes the connection so that their replies reach the
  // server. Blocks until done; a handler that never returns blocks it
  // forever. Requests still queued after ServiceConfig::drain_timeout are
  // dropped unanswered.
  // Returns OK; DeadlineExceeded when requests were dropped, saying how many;
  // Unavailable if the connection was closed or lost so that some replies may
  // not have been delivered. Idempotent: later calls return the first call's
  // status.
  absl::Status Stop() ABSL_LOCKS_EXCLUDED(stop_mu_, mu_);

 private:
  friend class Group;
  // Defined in service_internal.h.
  struct Subscription;
  struct Tracker;
  enum class Verb { kPing, kInfo, kStats };

  Service(natsConnection* nc, ServiceConfig config, std::string id);

  // Subscribes the nine $SRV subjects (monitoring.cc).
  absl::Status SubscribeMonitoring() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Subscribes `subject` (with `queue_group` unless empty) and records the
  // subscription; `sub` carries what the callback needs.
  absl::Status Subscribe(std::unique_ptr<Subscription> sub, const std::string& subject,
                         const std::string& queue_group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AddEndpointWithPrefix(EndpointConfig config, absl::string_view prefix)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits (bounded) until the server has processed the subscriptions made.
  void AwaitSubscriptions();
  // The pause guard's watchdog: beats until Stop().
  void Watchdog() ABSL_LOCKS_EXCLUDED(watchdog_mu_);

  static void OnMessage(natsConnection* nc, natsSubscription* sub, natsMsg* msg,
                        void* closure);
  static void OnComplete(void* closure);
  // Answers a $SRV request (monitoring.cc).
  void HandleMonitoring(Verb verb, natsConnection* nc, natsMsg* msg) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  natsConnection* const nc_;
  const ServiceConfig config_;
  const std::string id_;
  const absl::Time started_;
  // Counts open subscriptions; shared with their completion callbacks so that
  // it outlives the last one.
  const std::shared_ptr<Tracker> tracker_;
  // Null when ServiceConfig::max_pause is 0.
  const std::unique_ptr<PauseGuard> pause_guard_;
  std::thread watchdog_;  // joined by Stop()

  absl::Mutex watchdog_mu_;
  bool watchdog_stop_ ABSL_GUARDED_BY(watchdog_mu_) = false;

  // Serializes Stop() calls.
  absl::Mutex stop_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
  absl::Status stop_status_ ABSL_GUARDED_BY(stop_mu_);

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Endpoints in the order they were added, owned by their Subscription.
  std::vector<internal::Endpoint*> endpoints_ ABSL_GUARDED_BY(mu_);
  // Every subscription made (discovery and endpoints), with its callback data.
  std::vector<std::unique_ptr<Subscription>> subscriptions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace micro

#endif  // MICRO_SERVICE_H_
