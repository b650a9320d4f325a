// Service: Start, endpoints, routers, groups, message delivery and Stop.

#include "micro/service.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "micro/id.h"
#include "micro/nats_status.h"
#include "micro/service_internal.h"
#include "micro/status_macros.h"
#include "micro/validate.h"

namespace micro {
namespace {

// How long Stop() waits for the server to acknowledge the final flush.
constexpr int64_t kFinalFlushTimeoutMs = 5000;
// How long Start()/AddEndpoint() wait for the server to acknowledge new
// subscriptions.
constexpr int64_t kSubscribeFlushTimeoutMs = 5000;
// The pause guard's beat.
constexpr absl::Duration kWatchdogBeat = absl::Milliseconds(50);
constexpr char kPausedMessage[] = "this node was paused; retry";

// The monotonic clock (steady_clock: it runs while the process is stopped).
absl::Duration MonotonicNow() {
  return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

// Validates `config` and makes its endpoint, with subject
// `<prefix>.<subject or name>` (or without prefix when empty).
absl::StatusOr<std::unique_ptr<internal::Endpoint>> MakeEndpoint(
    EndpointConfig config, absl::string_view prefix) {
  if (!IsValidName(config.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint name '", config.name,
                     "' is invalid: it must be non-empty and hold only A-Z, a-z, 0-9, "
                     "'-' and '_'"));
  }
  std::string subject = config.subject.empty() ? config.name : config.subject;
  if (!prefix.empty()) subject = absl::StrCat(prefix, ".", subject);
  if (!IsValidSubject(subject)) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint subject '", subject, "' is not a valid subject"));
  }
  if (!config.queue_group.empty() && !IsValidQueueGroup(config.queue_group)) {
    return absl::InvalidArgumentError(
        absl::StrCat("queue group '", config.queue_group, "' must not hold whitespace"));
  }
  if (!config.handler) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint '", config.name, "' has no handler"));
  }
  auto endpoint = std::make_unique<internal::Endpoint>();
  endpoint->info.name = std::move(config.name);
  endpoint->info.subject = std::move(subject);
  endpoint->info.queue_group = std::move(config.queue_group);
  endpoint->info.metadata = std::move(config.metadata);
  endpoint->handler = std::move(config.handler);
  return endpoint;
}

}  // namespace

Service::Service(natsConnection* nc, ServiceConfig config, std::string id)
    : nc_(nc),
      config_(std::move(config)),
      id_(std::move(id)),
      started_(absl::Now()),
      tracker_(std::make_shared<Tracker>()),
      pause_guard_(config_.max_pause > absl::ZeroDuration()
                       ? std::make_unique<PauseGuard>(config_.max_pause,
                                                      config_.pause_margin, MonotonicNow)
                       : nullptr) {
  if (pause_guard_ != nullptr) watchdog_ = std::thread([this] { Watchdog(); });
}

void Service::Watchdog() {
  absl::MutexLock lock(&watchdog_mu_);
  while (!watchdog_stop_) {
    pause_guard_->Tick();
    watchdog_mu_.AwaitWithTimeout(absl::Condition(&watchdog_stop_), kWatchdogBeat);
  }
}

uint64_t Service::pauses_detected() const {
  return pause_guard_ == nullptr ? 0 : pause_guard_->pauses();
}

uint64_t Service::refused_after_pause() const {
  return pause_guard_ == nullptr ? 0 : pause_guard_->refused();
}

Service::~Service() { Stop().IgnoreError(); }

absl::StatusOr<std::unique_ptr<Service>> Service::Start(natsConnection* nc,
                                                        ServiceConfig config) {
  if (nc == nullptr) return absl::InvalidArgumentError("no connection");
  if (!IsValidName(config.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("service name '", config.name,
                     "' is invalid: it must be non-empty and hold only A-Z, a-z, 0-9, "
                     "'-' and '_'"));
  }
  if (!IsValidVersion(config.version)) {
    return absl::InvalidArgumentError(
        absl::StrCat("service version '", config.version,
                     "' is not a SemVer 2.0.0 version (e.g. 1.0.0)"));
  }
  std::unique_ptr<Service> service(new Service(nc, std::move(config), GenerateId()));
  absl::Status status;
  {
    absl::MutexLock lock(&service->mu_);
    status = service->SubscribeMonitoring();
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
  sub->subject = subject;
  natsSubscription* nats_sub = nullptr;
  natsStatus s = queue_group.empty()
                     ? natsConnection_Subscribe(&nats_sub, nc_, subject.c_str(),
                                                &Service::OnMessage, sub.get())
                     : natsConnection_QueueSubscribe(&nats_sub, nc_, subject.c_str(),
                                                     queue_group.c_str(),
                                                     &Service::OnMessage, sub.get());
  if (s != NATS_OK) {
    return NatsStatusToStatus(s, absl::StrCat("subscribe ", subject));
  }
  sub->sub = nats_sub;
  {
    absl::MutexLock lock(&tracker_->mu);
    ++tracker_->open;
  }
  s = natsSubscription_SetOnCompleteCB(nats_sub, &Service::OnComplete, sub.get());
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
  return Group(service_,
               prefix_.empty() ? std::string(name) : absl::StrCat(prefix_, ".", name));
}

absl::Status Group::AddEndpoint(EndpointConfig config) const {
  return service_->AddEndpointWithPrefix(std::move(config), prefix_);
}

absl::Status Service::AddEndpointWithPrefix(EndpointConfig config,
                                            absl::string_view prefix) {
  auto endpoint = MakeEndpoint(std::move(config), prefix);
  if (!endpoint.ok()) return endpoint.status();
  internal::Endpoint* raw = endpoint->get();

  absl::ReleasableMutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("service is stopped");
  auto sub = std::make_unique<Subscription>();
  sub->endpoint = *std::move(endpoint);
  MICRO_RETURN_IF_ERROR(
      Subscribe(std::move(sub), raw->info.subject, raw->info.queue_group));
  endpoints_.push_back(raw);
  lock.Release();
  AwaitSubscriptions();
  return absl::OkStatus();
}

absl::Status Service::AddRouter(RouterConfig config) {
  const std::string wildcard = absl::StrCat(config.prefix, ".*");
  if (config.prefix.empty() || !IsValidSubject(wildcard)) {
    return absl::InvalidArgumentError(
        absl::StrCat("router prefix '", config.prefix, "' is not a valid subject"));
  }
  if (!config.unmatched) {
    return absl::InvalidArgumentError("router has no unmatched handler");
  }
  auto sub = std::make_unique<Subscription>();
  sub->unmatched = std::move(config.unmatched);
  sub->pause_guard = config.pause_guard;
  if (config.before_held_replies) {
    sub->held = std::make_unique<internal::HeldReplies>();
    sub->held->before = std::move(config.before_held_replies);
  }
  for (EndpointConfig& ec : config.endpoints) {
    ec.queue_group = config.queue_group;
    auto endpoint = MakeEndpoint(std::move(ec), config.prefix);
    if (!endpoint.ok()) return endpoint.status();
    const std::string& subject = (*endpoint)->info.subject;
    if (subject.find('.', config.prefix.size() + 1) != std::string::npos ||
        subject.find_first_of("*>", config.prefix.size()) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint subject '", subject,
                                                     "' is not one token under '",
                                                     config.prefix, "'"));
    }
    if (!sub->routes.emplace(subject, endpoint->get()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint subject '", subject, "' is listed twice"));
    }
    sub->routed.push_back(*std::move(endpoint));
  }
  std::vector<internal::Endpoint*> raw;
  for (const auto& e : sub->routed) raw.push_back(e.get());

  absl::ReleasableMutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("service is stopped");
  MICRO_RETURN_IF_ERROR(Subscribe(std::move(sub), wildcard, config.queue_group));
  endpoints_.insert(endpoints_.end(), raw.begin(), raw.end());
  lock.Release();
  AwaitSubscriptions();
  return absl::OkStatus();
}

absl::Status Service::RemoveRouter(absl::string_view prefix) {
  const std::string wildcard = absl::StrCat(prefix, ".*");
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("service is stopped");
  // Routers removed earlier whose last callback has run are freed: removals
  // (a peer can cause one per stale reset) leave at most the latest behind.
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    if ((*it)->removed && (*it)->completed.load(std::memory_order_acquire)) {
      natsSubscription_Destroy((*it)->sub);
      it = subscriptions_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& s : subscriptions_) {
    if (s->removed || !s->unmatched || s->subject != wildcard || s->sub == nullptr) {
      continue;
    }
    s->removed = true;
    for (const auto& e : s->routed) {
      endpoints_.erase(std::remove(endpoints_.begin(), endpoints_.end(), e.get()),
                       endpoints_.end());
    }
    // Under the lock, so that a concurrent Stop() cannot destroy it first.
    // Closes the subscription (never waits for its callbacks); its completion
    // callback follows once no handler of it runs, and Stop() waits for that
    // as for the others.
    return NatsStatusToStatus(natsSubscription_Unsubscribe(s->sub), "unsubscribe");
  }
  return absl::NotFoundError(absl::StrCat("no router of prefix '", prefix, "'"));
}

void Service::AwaitSubscriptions() {
  // A PING/PONG round trip: once the PONG is back, the server has processed
  // the SUBs sent before it. If the connection is down, nats.c re-sends the
  // subscriptions on reconnect, so a failure here is not an error.
  natsConnection_FlushTimeout(nc_, kSubscribeFlushTimeoutMs);
}

// ---------------------------------------------------------------------------
// Message handling

void Service::OnMessage(natsConnection* nc, natsSubscription* nats_sub, natsMsg* msg,
                        void* closure) {
  auto* sub = static_cast<Subscription*>(closure);
  const internal::Dispatcher dispatcher(sub->service->config_);
  PauseGuard* guard = sub->service->pause_guard_.get();
  // The replies this callback creates go with the requests it received.
  const DestroyBatch::Scope scope(&sub->handled);
  // No exception may unwind into nats.c.
  try {
    int backlog = 0;
    if (guard != nullptr && sub->pause_guard &&
        (sub->endpoint != nullptr || sub->unmatched) &&
        natsSubscription_GetPending(nats_sub, &backlog, nullptr) == NATS_OK &&
        guard->Refuse(&sub->pause_queue, backlog)) {
      // A request that waited through a pause of the process: refuse it.
      internal::Endpoint* e = sub->endpoint.get();
      if (e == nullptr) {
        auto route = sub->routes.find(absl::string_view(natsMsg_GetSubject(msg)));
        if (route != sub->routes.end()) e = route->second;
      }
      dispatcher.Reject(e, nc, msg, 503, kPausedMessage);
    } else if (sub->endpoint != nullptr) {
      internal::Endpoint* e = sub->endpoint.get();
      dispatcher.Handle(e->handler, e, nc, nats_sub, msg);
    } else if (sub->unmatched) {
      auto route = sub->routes.find(absl::string_view(natsMsg_GetSubject(msg)));
      if (route != sub->routes.end()) {
        internal::Endpoint* e = route->second;
        dispatcher.Handle(e->handler, e, nc, nats_sub, msg, sub->held.get());
      } else {
        // Counted in no endpoint's stats, replied on `nc` only.
        dispatcher.Handle(sub->unmatched, nullptr, nc, nullptr, msg);
      }
    } else {
      sub->service->HandleMonitoring(sub->verb, nc, msg);
    }
    internal::WriteHeldIfDue(nc, nats_sub, sub->held.get());
  } catch (...) {
  }
  sub->handled.Add(msg);
}

void Service::OnComplete(void* closure) {
  // Copy the shared pointer first: once `open` is decremented, Stop() may
  // return and the service (with `closure`) may be destroyed, but the tracker
  // and its mutex stay alive until this copy goes away after the unlock.
  auto* sub = static_cast<Subscription*>(closure);
  // The last callback returned: nothing of this subscription is held past it
  // (a burst's replies too: the router may have been removed mid-burst; the
  // connection's flusher sends them).
  sub->handled.Flush();
  if (sub->held != nullptr) {
    internal::WriteHeld(sub->service->nc_, sub->held.get(), /*end_of_burst=*/false);
  }
  std::shared_ptr<Tracker> tracker = sub->tracker;
  sub->completed.store(true, std::memory_order_release);  // `sub` is not used below
  absl::MutexLock lock(&tracker->mu);
  --tracker->open;
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
      if (s->sub != nullptr && !s->removed) subs.push_back(s->sub);
    }
  }
  absl::Status status;
  std::vector<natsSubscription*> draining;
  // Without a server, a drain cannot complete (it needs the server to confirm
  // the unsubscription): close the subscriptions at once instead.
  const bool connected = natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
  if (!connected) {
    status = absl::UnavailableError("not connected: queued requests dropped");
  }
  // The drain is bounded below (by config_.drain_timeout), not by nats.c's timer.
  const absl::Time deadline = absl::Now() + config_.drain_timeout;
  for (natsSubscription* sub : subs) {
    const natsStatus s =
        connected ? natsSubscription_Drain(sub) : NATS_CONNECTION_DISCONNECTED;
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
  // subscriptions instead of waiting for the drain timeout. Past the timeout,
  // what is still queued is counted and dropped.
  {
    Tracker* t = tracker_.get();
    const absl::Condition closed(
        +[](int* open) { return *open <= 0; }, &t->open);
    bool abandoned = false;
    absl::MutexLock lock(&t->mu);
    while (!t->mu.AwaitWithTimeout(closed, absl::Milliseconds(100))) {
      if (abandoned) continue;
      const bool lost = natsConnection_Status(nc_) != NATS_CONN_STATUS_CONNECTED;
      if (!lost && absl::Now() < deadline) continue;
      abandoned = true;
      if (lost) {
        status.Update(absl::UnavailableError("connection lost while draining"));
      } else {
        int64_t queued = 0;
        for (natsSubscription* sub : draining) {
          int msgs = 0;
          if (natsSubscription_GetPending(sub, &msgs, nullptr) == NATS_OK) queued += msgs;
        }
        status.Update(absl::DeadlineExceededError(absl::StrCat(
            "drain took longer than ", absl::FormatDuration(config_.drain_timeout), ": ",
            queued, " queued requests dropped unanswered")));
      }
      t->mu.Unlock();
      for (natsSubscription* sub : draining) natsSubscription_Unsubscribe(sub);
      t->mu.Lock();
    }
  }
  if (status.ok()) {
    for (natsSubscription* sub : draining) {
      status.Update(NatsStatusToStatus(natsSubscription_DrainCompletionStatus(sub),
                                       "drain subscription"));
    }
  }
  // No handler runs any more: write the replies a burst still held (its last
  // requests were dropped, or never came).
  {
    absl::MutexLock lock(&mu_);
    for (const auto& s : subscriptions_) {
      if (s->held != nullptr) internal::WriteHeld(nc_, s->held.get(), false);
      s->handled.Flush();
    }
  }
  // No handler runs any more: stop the pause guard's watchdog.
  if (watchdog_.joinable()) {
    {
      absl::MutexLock lock(&watchdog_mu_);
      watchdog_stop_ = true;
    }
    watchdog_.join();
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
  if (!status.ok() && !absl::IsDeadlineExceeded(status)) {
    status = absl::UnavailableError(absl::StrCat(
        "service stopped, but some replies may be lost: ", status.message()));
  }
  stop_status_ = status;
  return status;
}

}  // namespace micro
