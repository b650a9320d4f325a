#include "micro/service.h"

#include "absl/container/flat_hash_map.h"

#include <chrono>
#include <climits>
#include <exception>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "micro/id.h"
#include "micro/json.h"
#include "micro/nats_status.h"
#include "micro/status_macros.h"
#include "micro/validate.h"

namespace micro {
namespace {

// How long Stop() lets a subscription drain before dropping what is queued.
constexpr int64_t kDrainTimeoutMs = 30000;
// How long Stop() waits for the server to acknowledge the final flush.
constexpr int64_t kFinalFlushTimeoutMs = 5000;
// How long Start()/AddEndpoint() wait for the server to acknowledge new
// subscriptions.
constexpr int64_t kSubscribeFlushTimeoutMs = 5000;
// How long the flush after the last reply of a burst waits for the server's
// PONG (the replies are written before the PING; this only bounds the wait).
constexpr int64_t kBurstFlushTimeoutMs = 1000;

// Header lines end at CR/LF, so a value holding one would corrupt the
// message: replace them.
std::string SanitizeHeader(absl::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

// True if `json` looks like the text of a JSON object.
bool LooksLikeObject(absl::string_view json) {
  json = absl::StripAsciiWhitespace(json);
  return json.size() >= 2 && json.front() == '{' && json.back() == '}';
}

const char* VerbName(int verb) {
  static const char* const kNames[] = {"PING", "INFO", "STATS"};
  return kNames[verb];
}

}  // namespace

// ---------------------------------------------------------------------------
// Request

// An endpoint's statistics (Service::Endpoint adds its identity).
struct Request::Counters {
  mutable absl::Mutex mu;
  int64_t num_requests ABSL_GUARDED_BY(mu) = 0;
  int64_t num_errors ABSL_GUARDED_BY(mu) = 0;
  std::string last_error ABSL_GUARDED_BY(mu);
  int64_t processing_time_ns ABSL_GUARDED_BY(mu) = 0;
};

Request::Request(natsConnection* nc, natsMsg* msg, Counters* counters,
                 natsSubscription* sub, natsConnection* prompt_nc)
    : nc_(nc),
      msg_(msg),
      counters_(counters),
      sub_(sub),
      prompt_nc_(prompt_nc),
      start_(std::chrono::steady_clock::now()) {}

natsConnection* Request::ReplyConnection(bool* flush) const {
  *flush = false;
  if (prompt_nc_ == nullptr || sub_ == nullptr) return nc_;
  int pending = 0;
  if (natsSubscription_GetPending(sub_, &pending, nullptr) != NATS_OK ||
      pending > 0) {
    return nc_;  // more requests wait: buffer, the next replies follow soon
  }
  if (natsConnection_Buffered(nc_) > 0) {
    *flush = true;  // the last of a burst: send it with those buffered before
    return nc_;
  }
  if (natsConnection_Status(prompt_nc_) != NATS_CONN_STATUS_CONNECTED) {
    return nc_;
  }
  return prompt_nc_;
}

void Request::Record() {
  if (counters_ == nullptr || recorded_) return;
  recorded_ = true;
  const int64_t elapsed_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now() - start_)
          .count();
  absl::MutexLock lock(&counters_->mu);
  ++counters_->num_requests;
  counters_->processing_time_ns += elapsed_ns;
  if (failed_) {
    ++counters_->num_errors;
    counters_->last_error = last_error_;
  }
}

absl::string_view Request::data() const {
  const char* d = natsMsg_GetData(msg_);
  if (d == nullptr) return absl::string_view();
  return absl::string_view(d, natsMsg_GetDataLength(msg_));
}

absl::string_view Request::subject() const {
  const char* s = natsMsg_GetSubject(msg_);
  return s == nullptr ? absl::string_view() : absl::string_view(s);
}

absl::optional<absl::string_view> Request::header(
    absl::string_view name) const {
  const char* value = nullptr;
  const std::string key(name);
  if (natsMsgHeader_Get(msg_, key.c_str(), &value) != NATS_OK ||
      value == nullptr) {
    return absl::nullopt;
  }
  return absl::string_view(value);
}

bool Request::has_reply() const {
  const char* reply = natsMsg_GetReply(msg_);
  return reply != nullptr && reply[0] != '\0';
}

absl::Status Request::Respond(absl::string_view data, const Headers& headers) {
  if (responded_) {
    return absl::FailedPreconditionError("request was already responded to");
  }
  responded_ = true;
  Record();
  if (!has_reply()) {
    return absl::FailedPreconditionError("request has no reply subject");
  }
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("reply too large");
  }
  const char* reply = natsMsg_GetReply(msg_);
  const int len = static_cast<int>(data.size());
  bool flush = false;
  natsConnection* out_nc = ReplyConnection(&flush);
  natsStatus s = NATS_OK;
  if (headers.empty()) {
    s = natsConnection_Publish(out_nc, reply, data.data(), len);
  } else {
    natsMsg* out = nullptr;
    s = natsMsg_Create(&out, reply, nullptr, data.data(), len);
    for (const auto& [key, value] : headers) {
      if (s != NATS_OK) break;
      s = natsMsgHeader_Add(out, SanitizeHeader(key).c_str(),
                            SanitizeHeader(value).c_str());
    }
    if (s == NATS_OK) s = natsConnection_PublishMsg(out_nc, out);
    natsMsg_Destroy(out);
  }
  if (s == NATS_OK && flush) natsConnection_FlushTimeout(nc_, kBurstFlushTimeoutMs);
  return NatsStatusToStatus(s, "publish reply");
}

absl::Status Request::RespondError(int code, absl::string_view description,
                                   absl::string_view data) {
  if (responded_) {
    return absl::FailedPreconditionError("request was already responded to");
  }
  failed_ = true;
  last_error_ = absl::StrCat(code, ":", description);
  return Respond(data, {{kErrorHeader, std::string(description)},
                        {kErrorCodeHeader, absl::StrCat(code)}});
}

// ---------------------------------------------------------------------------
// Service internals

struct Service::Tracker {
  absl::Mutex mu;
  // Subscriptions whose completion callback has not run yet.
  int open ABSL_GUARDED_BY(mu) = 0;
};

struct Service::Endpoint : Request::Counters {
  // Constant after construction.
  std::string name;
  std::string subject;
  std::string queue_group;
  std::map<std::string, std::string> metadata;
  Handler handler;
};

// The callback closure of one nats.c subscription.
struct Service::Subscription {
  Service* service = nullptr;
  // Owned endpoint for endpoint subscriptions, null for discovery ones.
  std::unique_ptr<Endpoint> endpoint;
  // Routers: the owned endpoints by subject, and the handler of the rest.
  std::vector<std::unique_ptr<Endpoint>> routed;
  absl::flat_hash_map<std::string, Endpoint*> routes;
  Handler unmatched;
  Verb verb = Verb::kPing;
  std::shared_ptr<Tracker> tracker;
  // Destroyed by Stop().
  natsSubscription* sub = nullptr;
};

Service::Service(natsConnection* nc, ServiceConfig config, std::string id)
    : nc_(nc),
      config_(std::move(config)),
      id_(std::move(id)),
      started_(absl::Now()),
      tracker_(std::make_shared<Tracker>()) {}

Service::~Service() { Stop().IgnoreError(); }

absl::StatusOr<std::unique_ptr<Service>> Service::Start(natsConnection* nc,
                                                        ServiceConfig config) {
  if (nc == nullptr) return absl::InvalidArgumentError("no connection");
  if (!IsValidName(config.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "service name '", config.name,
        "' is invalid: it must be non-empty and hold only A-Z, a-z, 0-9, "
        "'-' and '_'"));
  }
  if (!IsValidVersion(config.version)) {
    return absl::InvalidArgumentError(
        absl::StrCat("service version '", config.version,
                     "' is not a SemVer 2.0.0 version (e.g. 1.0.0)"));
  }
  std::unique_ptr<Service> service(
      new Service(nc, std::move(config), GenerateId()));
  absl::Status status;
  {
    absl::MutexLock lock(&service->mu_);
    for (Verb verb : {Verb::kPing, Verb::kInfo, Verb::kStats}) {
      const std::string base =
          absl::StrCat("$SRV.", VerbName(static_cast<int>(verb)));
      const std::string subjects[] = {
          base, absl::StrCat(base, ".", service->config_.name),
          absl::StrCat(base, ".", service->config_.name, ".", service->id_)};
      for (const std::string& subject : subjects) {
        auto sub = std::make_unique<Subscription>();
        sub->verb = verb;
        status = service->Subscribe(std::move(sub), subject, "");
        if (!status.ok()) break;
      }
      if (!status.ok()) break;
    }
  }
  if (!status.ok()) {
    service->Stop().IgnoreError();
    return status;
  }
  service->AwaitSubscriptions();
  return service;
}

absl::Status Service::Subscribe(std::unique_ptr<Subscription> sub,
                                const std::string& subject,
                                const std::string& queue_group) {
  sub->service = this;
  sub->tracker = tracker_;
  natsSubscription* nats_sub = nullptr;
  natsStatus s = queue_group.empty()
                     ? natsConnection_Subscribe(&nats_sub, nc_, subject.c_str(),
                                                &Service::OnMessage, sub.get())
                     : natsConnection_QueueSubscribe(
                           &nats_sub, nc_, subject.c_str(), queue_group.c_str(),
                           &Service::OnMessage, sub.get());
  if (s != NATS_OK) {
    return NatsStatusToStatus(s, absl::StrCat("subscribe ", subject));
  }
  sub->sub = nats_sub;
  {
    absl::MutexLock lock(&tracker_->mu);
    ++tracker_->open;
  }
  s = natsSubscription_SetOnCompleteCB(nats_sub, &Service::OnComplete,
                                       sub.get());
  if (s != NATS_OK) {
    // The subscription is already closed (the connection was closed): no
    // completion callback will come. Keep the closure alive regardless.
    {
      absl::MutexLock lock(&tracker_->mu);
      --tracker_->open;
    }
    natsSubscription_Unsubscribe(nats_sub);
    subscriptions_.push_back(std::move(sub));
    return NatsStatusToStatus(s, absl::StrCat("subscribe ", subject));
  }
  subscriptions_.push_back(std::move(sub));
  return absl::OkStatus();
}

absl::Status Service::AddEndpoint(EndpointConfig config) {
  return AddEndpointWithPrefix(std::move(config), "");
}

Group Service::AddGroup(absl::string_view prefix) {
  return Group(this, std::string(prefix));
}

Group Group::AddGroup(absl::string_view name) const {
  return Group(service_, prefix_.empty() ? std::string(name)
                                         : absl::StrCat(prefix_, ".", name));
}

absl::Status Group::AddEndpoint(EndpointConfig config) const {
  return service_->AddEndpointWithPrefix(std::move(config), prefix_);
}

absl::StatusOr<std::unique_ptr<Service::Endpoint>> Service::MakeEndpoint(
    EndpointConfig config, absl::string_view prefix) {
  if (!IsValidName(config.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint name '", config.name,
        "' is invalid: it must be non-empty and hold only A-Z, a-z, 0-9, "
        "'-' and '_'"));
  }
  std::string subject = config.subject.empty() ? config.name : config.subject;
  if (!prefix.empty()) subject = absl::StrCat(prefix, ".", subject);
  if (!IsValidSubject(subject)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint subject '", subject, "' is not a valid subject"));
  }
  if (!config.queue_group.empty() && !IsValidQueueGroup(config.queue_group)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queue group '", config.queue_group, "' must not hold whitespace"));
  }
  if (!config.handler) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint '", config.name, "' has no handler"));
  }
  auto endpoint = std::make_unique<Endpoint>();
  endpoint->name = std::move(config.name);
  endpoint->subject = std::move(subject);
  endpoint->queue_group = std::move(config.queue_group);
  endpoint->metadata = std::move(config.metadata);
  endpoint->handler = std::move(config.handler);
  return endpoint;
}

absl::Status Service::AddEndpointWithPrefix(EndpointConfig config,
                                            absl::string_view prefix) {
  auto endpoint = MakeEndpoint(std::move(config), prefix);
  if (!endpoint.ok()) return endpoint.status();
  Endpoint* raw = endpoint->get();

  absl::ReleasableMutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("service is stopped");
  auto sub = std::make_unique<Subscription>();
  sub->endpoint = *std::move(endpoint);
  MICRO_RETURN_IF_ERROR(
      Subscribe(std::move(sub), raw->subject, raw->queue_group));
  endpoints_.push_back(raw);
  lock.Release();
  AwaitSubscriptions();
  return absl::OkStatus();
}

absl::Status Service::AddRouter(RouterConfig config) {
  const std::string wildcard = absl::StrCat(config.prefix, ".*");
  if (config.prefix.empty() || !IsValidSubject(wildcard)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "router prefix '", config.prefix, "' is not a valid subject"));
  }
  if (!config.unmatched) {
    return absl::InvalidArgumentError("router has no unmatched handler");
  }
  auto sub = std::make_unique<Subscription>();
  sub->unmatched = std::move(config.unmatched);
  for (EndpointConfig& ec : config.endpoints) {
    ec.queue_group = config.queue_group;
    auto endpoint = MakeEndpoint(std::move(ec), config.prefix);
    if (!endpoint.ok()) return endpoint.status();
    const std::string& subject = (*endpoint)->subject;
    if (subject.find('.', config.prefix.size() + 1) != std::string::npos ||
        subject.find_first_of("*>", config.prefix.size()) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint subject '", subject, "' is not one token under '",
          config.prefix, "'"));
    }
    if (!sub->routes.emplace(subject, endpoint->get()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint subject '", subject, "' is listed twice"));
    }
    sub->routed.push_back(*std::move(endpoint));
  }
  std::vector<Endpoint*> raw;
  for (const auto& e : sub->routed) raw.push_back(e.get());

  absl::ReleasableMutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("service is stopped");
  MICRO_RETURN_IF_ERROR(Subscribe(std::move(sub), wildcard, config.queue_group));
  endpoints_.insert(endpoints_.end(), raw.begin(), raw.end());
  lock.Release();
  AwaitSubscriptions();
  return absl::OkStatus();
}

void Service::AwaitSubscriptions() {
  // A PING/PONG round trip: once the PONG is back, the server has processed
  // the SUBs sent before it. If the connection is down, nats.c re-sends the
  // subscriptions on reconnect, so a failure here is not an error.
  natsConnection_FlushTimeout(nc_, kSubscribeFlushTimeoutMs);
}

// ---------------------------------------------------------------------------
// Message handling

void Service::OnMessage(natsConnection* nc, natsSubscription* nats_sub,
                        natsMsg* msg, void* closure) {
  auto* sub = static_cast<Subscription*>(closure);
  // No exception may unwind into nats.c.
  try {
    if (sub->endpoint != nullptr) {
      sub->service->HandleEndpoint(sub->endpoint.get(), nc, nats_sub, msg);
    } else if (sub->unmatched) {
      auto route = sub->routes.find(absl::string_view(natsMsg_GetSubject(msg)));
      if (route != sub->routes.end()) {
        sub->service->HandleEndpoint(route->second, nc, nats_sub, msg);
      } else {
        sub->service->HandleUnmatched(sub->unmatched, nc, msg);
      }
    } else {
      sub->service->HandleDiscovery(sub->verb, nc, msg);
    }
  } catch (...) {
  }
  natsMsg_Destroy(msg);
}

void Service::OnComplete(void* closure) {
  // Copy the shared pointer first: once `open` is decremented, Stop() may
  // return and the service (with `closure`) may be destroyed, but the tracker
  // and its mutex stay alive until this copy goes away after the unlock.
  std::shared_ptr<Tracker> tracker =
      static_cast<Subscription*>(closure)->tracker;
  absl::MutexLock lock(&tracker->mu);
  --tracker->open;
}

void Service::HandleEndpoint(Endpoint* endpoint, natsConnection* nc,
                             natsSubscription* sub, natsMsg* msg) {
  Request request(nc, msg, endpoint, sub, config_.prompt_nc);
  bool threw = false;
  std::string what;
  try {
    endpoint->handler(request);
  } catch (const std::exception& e) {
    threw = true;
    what = e.what();
  } catch (...) {
    threw = true;
    what = "unknown exception";
  }
  if (threw) {
    const std::string description = absl::StrCat("handler failed: ", what);
    if (!request.responded_) {
      request.RespondError(500, description).IgnoreError();
    } else {
      // Replied, then failed: the request was counted; count the error too.
      absl::MutexLock lock(&endpoint->mu);
      if (!request.failed_) ++endpoint->num_errors;
      endpoint->last_error = absl::StrCat(500, ":", description);
    }
  } else if (!request.responded_ && request.has_reply()) {
    request.RespondError(500, "no response").IgnoreError();
  }
  request.Record();  // a request without reply subject that got no reply
}

void Service::HandleUnmatched(const Handler& handler, natsConnection* nc,
                              natsMsg* msg) {
  Request request(nc, msg);
  try {
    handler(request);
  } catch (...) {
    if (!request.responded_) {
      request.RespondError(500, "handler failed").IgnoreError();
    }
  }
}

void Service::HandleDiscovery(Verb verb, natsConnection* nc, natsMsg* msg) {
  // The request body (often "{}") carries nothing: ignore it.
  const char* reply = natsMsg_GetReply(msg);
  if (reply == nullptr || reply[0] == '\0') return;
  std::string body;
  switch (verb) {
    case Verb::kPing:
      body = PingJson();
      break;
    case Verb::kInfo:
      body = InfoJson();
      break;
    case Verb::kStats:
      body = StatsJson();
      break;
  }
  natsConnection_Publish(nc, reply, body.data(), static_cast<int>(body.size()));
}

// ---------------------------------------------------------------------------
// Discovery responses

namespace {

void WriteCommonFields(JsonWriter& w, const char* type,
                       const ServiceConfig& config, const std::string& id) {
  w.Key("type");
  w.String(type);
  w.Key("name");
  w.String(config.name);
  w.Key("id");
  w.String(id);
  w.Key("version");
  w.String(config.version);
  w.Key("metadata");
  w.StringMap(config.metadata);
}

}  // namespace

// The name, subject and (unless none) queue group of an endpoint, as INFO
// and STATS report them.
void Service::WriteEndpointIdentity(JsonWriter& w, const Endpoint& e) {
  w.Key("name");
  w.String(e.name);
  w.Key("subject");
  w.String(e.subject);
  if (!e.queue_group.empty()) {
    w.Key("queue_group");
    w.String(e.queue_group);
  }
}

std::string Service::PingJson() const {
  JsonWriter w;
  w.BeginObject();
  WriteCommonFields(w, kPingResponseType, config_, id_);
  w.EndObject();
  return w.Take();
}

std::string Service::InfoJson() const {
  JsonWriter w;
  w.BeginObject();
  WriteCommonFields(w, kInfoResponseType, config_, id_);
  w.Key("description");
  w.String(config_.description);
  w.Key("endpoints");
  w.BeginArray();
  {
    absl::MutexLock lock(&mu_);
    for (const Endpoint* e : endpoints_) {
      w.BeginObject();
      WriteEndpointIdentity(w, *e);
      w.Key("metadata");
      w.StringMap(e->metadata);
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

std::string Service::StatsJson() const {
  struct Snapshot {
    const Endpoint* endpoint;
    int64_t num_requests;
    int64_t num_errors;
    std::string last_error;
    int64_t processing_time_ns;
  };
  std::vector<Snapshot> snapshots;
  {
    absl::MutexLock lock(&mu_);
    snapshots.reserve(endpoints_.size());
    for (const Endpoint* e : endpoints_) {
      absl::MutexLock endpoint_lock(&e->mu);
      snapshots.push_back({e, e->num_requests, e->num_errors, e->last_error,
                           e->processing_time_ns});
    }
  }
  JsonWriter w;
  w.BeginObject();
  WriteCommonFields(w, kStatsResponseType, config_, id_);
  w.Key("started");
  w.String(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", started_, absl::UTCTimeZone()));
  w.Key("endpoints");
  w.BeginArray();
  for (const Snapshot& s : snapshots) {
    const Endpoint* e = s.endpoint;
    w.BeginObject();
    WriteEndpointIdentity(w, *e);
    w.Key("num_requests");
    w.Int(s.num_requests);
    w.Key("num_errors");
    w.Int(s.num_errors);
    w.Key("last_error");
    w.String(s.last_error);
    w.Key("processing_time");
    w.Int(s.processing_time_ns);
    w.Key("average_processing_time");
    w.Int(s.num_requests == 0 ? 0 : s.processing_time_ns / s.num_requests);
    if (config_.stats_data) {
      std::string data;
      try {
        data = config_.stats_data(e->name);
      } catch (...) {
        data.clear();
      }
      if (LooksLikeObject(data)) {
        w.Key("data");
        w.Raw(absl::StripAsciiWhitespace(data));
      }
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

void Service::ResetStats() {
  absl::MutexLock lock(&mu_);
  for (Endpoint* e : endpoints_) {
    absl::MutexLock endpoint_lock(&e->mu);
    e->num_requests = 0;
    e->num_errors = 0;
    e->last_error.clear();
    e->processing_time_ns = 0;
  }
}

// ---------------------------------------------------------------------------
// Stop

absl::Status Service::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  if (stopped_) return stop_status_;
  stopped_ = true;

  std::vector<natsSubscription*> subs;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (const auto& s : subscriptions_) {
      if (s->sub != nullptr) subs.push_back(s->sub);
    }
  }
  absl::Status status;
  std::vector<natsSubscription*> draining;
  // Without a server, a drain cannot complete (it needs the server to confirm
  // the unsubscription): close the subscriptions at once instead.
  const bool connected =
      natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
  if (!connected) {
    status = absl::UnavailableError("not connected: queued requests dropped");
  }
  for (natsSubscription* sub : subs) {
    const natsStatus s = connected
                             ? natsSubscription_DrainTimeout(sub, kDrainTimeoutMs)
                             : NATS_CONNECTION_DISCONNECTED;
    if (s == NATS_OK) {
      draining.push_back(sub);
    } else {
      // Closed already (connection closed) or cannot drain: make sure it is
      // closed so that its completion callback runs.
      natsSubscription_Unsubscribe(sub);
      status.Update(NatsStatusToStatus(s, "drain subscription"));
    }
  }
  // Every handler has returned once every completion callback ran. A drain
  // needs the server: if the connection is lost meanwhile, close the
  // subscriptions instead of waiting for the drain timeout.
  {
    Tracker* t = tracker_.get();
    const absl::Condition closed(+[](int* open) { return *open <= 0; },
                                 &t->open);
    bool abandoned = false;
    absl::MutexLock lock(&t->mu);
    while (!t->mu.AwaitWithTimeout(closed, absl::Milliseconds(100))) {
      if (abandoned ||
          natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED) {
        continue;
      }
      abandoned = true;
      status.Update(absl::UnavailableError("connection lost while draining"));
      t->mu.Unlock();
      for (natsSubscription* sub : draining) natsSubscription_Unsubscribe(sub);
      t->mu.Lock();
    }
  }
  for (natsSubscription* sub : draining) {
    status.Update(NatsStatusToStatus(
        natsSubscription_DrainCompletionStatus(sub), "drain subscription"));
  }
  // The handlers' replies sit in the connection's buffer: make sure the
  // server has them.
  if (connected) {
    status.Update(NatsStatusToStatus(
        natsConnection_FlushTimeout(nc_, kFinalFlushTimeoutMs), "final flush"));
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& s : subscriptions_) {
      if (s->sub != nullptr) {
        natsSubscription_Destroy(s->sub);
        s->sub = nullptr;
      }
    }
  }
  if (!status.ok()) {
    status = absl::UnavailableError(absl::StrCat(
        "service stopped, but some replies may be lost: ", status.message()));
  }
  stop_status_ = status;
  return status;
}

}  // namespace micro
