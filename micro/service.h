// NATS micro-services (ADR-32) on nats.c 3.4.1, which has no micro API.
//
// A Service is a named, versioned set of request/reply endpoints on one NATS
// connection. Each instance gets a unique id and answers the discovery
// requests $SRV.PING, $SRV.INFO and $SRV.STATS, each also as
// $SRV.<VERB>.<name> and $SRV.<VERB>.<name>.<id> (nine plain subscriptions,
// so that every instance answers), with the io.nats.micro.v1 JSON responses
// that `nats micro ls|info|stats` and the official service clients read.
// Endpoints are queue subscriptions (group "q" by default), so instances of
// one service share the load. Errors are replied with the
// Nats-Service-Error / Nats-Service-Error-Code headers and counted per
// endpoint, together with the number of requests and the processing time.
//
// The library knows nothing about what the endpoints do.
//
// Threading: nats.c delivers the messages of each subscription on that
// subscription's own thread, so handlers of different endpoints run
// concurrently; the requests of one endpoint are handled one at a time, in
// arrival order. Discovery requests are answered on their own threads and are
// not held up by slow handlers.
//
// Reconnects: the service never closes or reconfigures the connection. When
// the caller's connection allows reconnects (nats.c's default), a lost
// connection (e.g. the server cutting a slow consumer) is re-established by
// nats.c, which re-creates every subscription; the service keeps answering
// without any action. Verified by
// MicroServiceSlowConsumer.SurvivesSlowConsumerDisconnect in
// //tests:micro_test.
//
// Reply flushing (measured). A reply is handed to nats.c with
// natsConnection_Publish / natsConnection_PublishMsg and never followed by a
// blind per-reply flush: natsConnection_Flush costs a PING/PONG round trip and
// blocks the handler thread meanwhile (throughput collapses to ~11k req/s,
// "flush" below). Stop() flushes once, after the last handler returned, so
// that no reply is lost on shutdown. How replies leave depends on the
// connections the caller gives the service:
//   - default (buffered): nats.c's flusher thread writes pending bytes about
//     1 ms after a publish, coalescing busy replies into few writes. Best
//     throughput under deep pipelining, but a lone request waits ~1 ms.
//   - natsOptions_SetSendAsap(opts, true): each reply is written at once.
//     ~7x lower latency one at a time, two thirds of the buffered throughput
//     with 128 requests in flight (a write and a wake-up per reply).
//   - prompt (ServiceConfig::prompt_nc, what kvd uses): the service's
//     connection buffers, and a second, SendAsap connection carries the reply
//     to a request that nothing else waits behind. While requests queue up,
//     replies are buffered, and the last of the burst is flushed with them.
//     The latency of SendAsap and the throughput of buffering.
//
// Measured on the 2-core development machine, nats-server 2.9.10 on
// 127.0.0.1, 16-byte echo, service and client on separate connections in one
// process, client with SendAsap(true):
//   bazel build -c opt //micro:micro_bench && nats-server -a 127.0.0.1 -p 14567 &
//   micro_bench --url=nats://127.0.0.1:14567 --inflight=128   (and 16)
// policy    single request p50/p99   16 in flight   128 in flight
// default   993 / 1096 us             15.9k req/s    98.1k req/s
// asap      138 /  226 us             35.8k req/s    67.4k req/s
// flush     143 /  247 us             11.2k req/s    10.4k req/s
// prompt    143 /  225 us             44.9k req/s    99.9k req/s
// ("flush": natsConnection_Flush after each reply in the handler.)

#ifndef MICRO_SERVICE_H_
#define MICRO_SERVICE_H_

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace micro {

class JsonWriter;

// Header names of ADR-32 service errors.
inline constexpr char kErrorHeader[] = "Nats-Service-Error";
inline constexpr char kErrorCodeHeader[] = "Nats-Service-Error-Code";

// Response types of the discovery verbs.
inline constexpr char kPingResponseType[] = "io.nats.micro.v1.ping_response";
inline constexpr char kInfoResponseType[] = "io.nats.micro.v1.info_response";
inline constexpr char kStatsResponseType[] = "io.nats.micro.v1.stats_response";

// Default queue group of endpoints.
inline constexpr char kDefaultQueueGroup[] = "q";

using Headers = std::vector<std::pair<std::string, std::string>>;

class Service;

// One request as seen by an endpoint handler. Valid only during the handler
// call: the views it returns point into the message, which is freed when the
// handler returns.
//
// Thread safety: a Request is used by the one thread running its handler.
class Request {
 public:
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // The request body (possibly empty).
  absl::string_view data() const;
  // The subject the request was published to.
  absl::string_view subject() const;
  // The first value of header `name` (case-sensitive, as nats.c matches
  // header names), or nullopt if the request has no such header.
  absl::optional<absl::string_view> header(absl::string_view name) const;
  // True iff the requester gave a reply subject (a request, not a publish).
  bool has_reply() const;

  // Replies `data` with the given headers. Header names and values must not
  // hold CR or LF; such characters are replaced by spaces.
  // Returns OK when the reply was handed to the connection,
  // FailedPrecondition if a reply was already sent or the request has no
  // reply subject, Unavailable if the connection is closed, Internal on
  // another nats.c error. At most one of Respond/RespondError is meant to be
  // called; the first call decides.
  absl::Status Respond(absl::string_view data, const Headers& headers = {});

  // Replies an error: headers Nats-Service-Error: `description` and
  // Nats-Service-Error-Code: `code`, body `data`. The error is counted in the
  // endpoint's stats (num_errors, last_error "<code>:<description>") even if
  // the request has no reply subject. Returns as Respond().
  absl::Status RespondError(int code, absl::string_view description,
                            absl::string_view data = "");

 private:
  friend class Service;

  struct Counters;  // Service::Endpoint's statistics

  Request(natsConnection* nc, natsMsg* msg, Counters* counters = nullptr,
          natsSubscription* sub = nullptr, natsConnection* prompt_nc = nullptr);
  // The connection for the reply: `prompt_nc_` when nothing else waits and
  // nothing is buffered; sets `flush` when the reply ends a burst of buffered
  // ones, which must then be flushed.
  natsConnection* ReplyConnection(bool* flush) const;
  // Counts the request in its endpoint's stats, once. Called just before the
  // reply leaves, so a client that got a reply finds it counted.
  void Record();

  natsConnection* const nc_;
  natsMsg* const msg_;  // not owned
  Counters* const counters_;  // null for requests of no endpoint
  natsSubscription* const sub_;      // the subscription it came on, or null
  natsConnection* const prompt_nc_;  // or null
  const std::chrono::steady_clock::time_point start_;
  bool responded_ = false;
  bool recorded_ = false;
  bool failed_ = false;  // RespondError was called
  std::string last_error_;
};

// Stats: a request is counted (with its processing time up to the reply) just
// before its reply is sent, so a client that received a reply finds it in
// STATS.
//
// Handles one request. May run concurrently with the handlers of other
// endpoints (not with itself). If it throws, the service replies 500 (unless
// it already replied) and counts an error; if it returns without replying to
// a request that has a reply subject, the service replies 500 "no response".
using Handler = std::function<void(Request&)>;

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
  // Optional: a second connection, made with natsOptions_SetSendAsap, for
  // prompt replies. While other requests wait on the endpoint's
  // subscription, replies go out on the service's own connection, where
  // nats.c buffers them (few writes under load); the reply that ends such a
  // burst is flushed with them. A reply to a lone request goes out on this
  // connection, written at once. Create the service's connection without
  // SendAsap: latency stays that of SendAsap when traffic is light, and
  // throughput that of buffering under load. Must outlive the service.
  natsConnection* prompt_nc = nullptr;
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
  // connection afterwards reach this instance. For low reply latency create
  // `nc` with natsOptions_SetSendAsap(true) (see the measurements at the top
  // of this file).
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

  // Zeroes the request/error counters, last error and processing times of all
  // endpoints.
  void ResetStats() ABSL_LOCKS_EXCLUDED(mu_);

  // Stops the service: drains every subscription (no new requests are taken,
  // those already received are handled), waits for the running handlers to
  // return, then flushes the connection so that their replies reach the
  // server. Blocks until done; a handler that never returns blocks it
  // forever. Messages still queued after 30 s are dropped.
  // Returns OK, or Unavailable if the connection was closed or lost so that
  // some replies may not have been delivered. Idempotent: later calls return
  // the first call's status.
  absl::Status Stop() ABSL_LOCKS_EXCLUDED(stop_mu_, mu_);

 private:
  friend class Group;
  struct Endpoint;
  struct Subscription;
  struct Tracker;
  enum class Verb { kPing, kInfo, kStats };

  Service(natsConnection* nc, ServiceConfig config, std::string id);

  // Subscribes `subject` (with `queue_group` unless empty) and records the
  // subscription; `sub` carries what the callback needs.
  absl::Status Subscribe(std::unique_ptr<Subscription> sub,
                         const std::string& subject,
                         const std::string& queue_group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AddEndpointWithPrefix(EndpointConfig config,
                                     absl::string_view prefix)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Validates `config` and makes its endpoint, with subject
  // `<prefix>.<subject or name>` (or without prefix when empty).
  static absl::StatusOr<std::unique_ptr<Endpoint>> MakeEndpoint(
      EndpointConfig config, absl::string_view prefix);
  void HandleUnmatched(const Handler& handler, natsConnection* nc,
                       natsMsg* msg);
  // Waits (bounded) until the server has processed the subscriptions made.
  void AwaitSubscriptions();

  static void OnMessage(natsConnection* nc, natsSubscription* sub, natsMsg* msg,
                        void* closure);
  static void OnComplete(void* closure);
  void HandleEndpoint(Endpoint* endpoint, natsConnection* nc,
                      natsSubscription* sub, natsMsg* msg);
  void HandleDiscovery(Verb verb, natsConnection* nc, natsMsg* msg);
  static void WriteEndpointIdentity(JsonWriter& w, const Endpoint& e);

  // Constant after construction.
  natsConnection* const nc_;
  const ServiceConfig config_;
  const std::string id_;
  const absl::Time started_;
  // Counts open subscriptions; shared with their completion callbacks so that
  // it outlives the last one.
  const std::shared_ptr<Tracker> tracker_;

  // Serializes Stop() calls.
  absl::Mutex stop_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
  absl::Status stop_status_ ABSL_GUARDED_BY(stop_mu_);

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Endpoints in the order they were added, owned by their Subscription.
  std::vector<Endpoint*> endpoints_ ABSL_GUARDED_BY(mu_);
  // Every subscription made (discovery and endpoints), with its callback data.
  std::vector<std::unique_ptr<Subscription>> subscriptions_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace micro

#endif  // MICRO_SERVICE_H_
