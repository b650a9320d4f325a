#include "kv/replication/nats_bus.h"

#include <atomic>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "micro/destroy_batch.h"

namespace kv::replication {
namespace {

// What a nats.c callback needs; outlives every callback of its subscription:
// shared by the NatsSubscription and nats.c's completion callback, which runs
// after the subscription's last message callback returned.
struct Closure {
  MessageHandler handler;
  // Messages whose callback returned (or that were dropped after close), for
  // AwaitReceived; written under `mu`, read without it on the fast path.
  std::atomic<int64_t> handled{0};
  absl::Mutex mu;
  absl::CondVar idle;  // signalled when `running` drops to 0
  bool closed ABSL_GUARDED_BY(mu) = false;
  int running ABSL_GUARDED_BY(mu) = 0;
  // Set by OnComplete: nats.c will not call OnMessage for it any more.
  bool complete ABSL_GUARDED_BY(mu) = false;
  // Handled messages, destroyed a few at a time (one wake-up of nats.c's
  // collector per batch, not per event); flushed once the subscription closed.
  micro::DestroyBatch handled_msgs ABSL_GUARDED_BY(mu);
};

// nats.c's completion callback: the subscription is closed and its last
// message callback returned. `arg` is a heap std::shared_ptr<Closure>, freed
// here (after the lock is released, so the closure outlives the unlock).
void OnComplete(void* arg) {
  auto* holder = static_cast<std::shared_ptr<Closure>*>(arg);
  {
    absl::MutexLock lock(&(*holder)->mu);
    (*holder)->handled_msgs.Flush();
    (*holder)->complete = true;
    (*holder)->idle.SignalAll();
  }
  delete holder;
}

// How long ~NatsSubscription waits for nats.c's completion callback before it
// gives up (leaving the closure to the callback, should it still come).
constexpr absl::Duration kCompleteTimeout = absl::Seconds(5);

// The end of an AwaitReceived: `c` handled `target` messages, or it handled
// every message `sub` received so far (an absl::Condition, run under c->mu).
struct HandledAtLeast {
  const Closure* c;
  natsSubscription* sub;
  int64_t target;
  static bool Reached(HandledAtLeast* w) {
    const int64_t handled = w->c->handled.load(std::memory_order_acquire);
    if (handled >= w->target) return true;
    int pending = 0;
    int64_t delivered = 0;
    return natsSubscription_GetPending(w->sub, &pending, nullptr) != NATS_OK ||
           natsSubscription_GetDelivered(w->sub, &delivered) != NATS_OK ||
           (pending == 0 && handled >= delivered);
  }
};

void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* arg) {
  Closure* c = static_cast<Closure*>(arg);
  {
    absl::MutexLock lock(&c->mu);
    if (c->closed) {
      natsMsg_Destroy(msg);
      c->handled.fetch_add(1, std::memory_order_release);
      return;
    }
    ++c->running;
  }
  Message m;
  m.subject = natsMsg_GetSubject(msg);
  const char* reply = natsMsg_GetReply(msg);
  if (reply != nullptr) m.reply = reply;
  m.data = absl::string_view(natsMsg_GetData(msg),
                             static_cast<size_t>(natsMsg_GetDataLength(msg)));
  m.no_responders = natsMsg_IsNoResponders(msg);
  c->handler(m);
  absl::MutexLock lock(&c->mu);
  c->handled_msgs.Add(msg);
  c->handled.fetch_add(1, std::memory_order_release);
  if (--c->running == 0) c->idle.SignalAll();
}

class NatsSubscription : public Subscription {
 public:
  NatsSubscription(natsConnection* nc, natsSubscription* sub,
                   std::shared_ptr<Closure> closure, bool completes)
      : nc_(nc), sub_(sub), closure_(std::move(closure)), completes_(completes) {}
  NatsSubscription(const NatsSubscription&) = delete;
  NatsSubscription& operator=(const NatsSubscription&) = delete;

  ~NatsSubscription() override {
    // Drain needs the server; without one the subscription is just closed.
    const bool connected = natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
    if (!connected || natsSubscription_Drain(sub_) != NATS_OK ||
        natsSubscription_WaitForDrainCompletion(sub_, 2000) != NATS_OK) {
      natsSubscription_Unsubscribe(sub_);
    }
    {
      absl::MutexLock lock(&closure_->mu);
      closure_->closed = true;
      while (closure_->running > 0) closure_->idle.Wait(&closure_->mu);
      // nats.c may still be about to call OnMessage for a message it took
      // before the subscription closed: once the completion callback ran, it
      // will not (the closure stays alive until both let go of it).
      const absl::Time deadline = absl::Now() + kCompleteTimeout;
      while (completes_ && !closure_->complete &&
             !closure_->idle.WaitWithDeadline(&closure_->mu, deadline)) {
      }
      // Whatever comes later is destroyed at once (closed): nothing is held
      // past the subscription.
      closure_->handled_msgs.Flush();
    }
    natsSubscription_Destroy(sub_);
  }

  bool AwaitReceived(absl::Duration timeout) override {
    // nats.c moves a message from the pending queue to `delivered` under the
    // subscription's lock, before calling back, but the two counts are read by
    // two calls. Reading delivered, pending, delivered again: when no message
    // was delivered in between, delivered + pending is exactly what had been
    // received when pending was read. (Should deliveries never pause, the
    // upper bound is taken, and the wait also ends once everything received
    // was handled.)
    int64_t target = -1;
    for (int attempt = 0; attempt < 16 && target < 0; ++attempt) {
      int pending = 0;
      int64_t before = 0;
      int64_t after = 0;
      if (natsSubscription_GetDelivered(sub_, &before) != NATS_OK ||
          natsSubscription_GetPending(sub_, &pending, nullptr) != NATS_OK ||
          natsSubscription_GetDelivered(sub_, &after) != NATS_OK) {
        return true;  // closed: nothing more will be handled
      }
      if (before == after || attempt == 15) target = after + pending;
    }
    HandledAtLeast wait{closure_.get(), sub_, target};
    if (closure_->handled.load(std::memory_order_acquire) >= target) return true;
    absl::MutexLock lock(&closure_->mu);
    return closure_->mu.AwaitWithTimeout(absl::Condition(&HandledAtLeast::Reached, &wait),
                                         timeout);
  }

 private:
  natsConnection* const nc_;
  natsSubscription* const sub_;
  std::shared_ptr<Closure> closure_;
  const bool completes_;  // OnComplete was set up
};

}  // namespace

absl::Status NatsBus::Publish(absl::string_view subject, absl::string_view reply,
                              absl::string_view data) {
  if (!IsValidSubject(subject) || (!reply.empty() && !IsValidSubject(reply))) {
    return absl::InvalidArgumentError("invalid subject");
  }
  const std::string s(subject);
  const std::string r(reply);
  const int n = static_cast<int>(data.size());
  const natsStatus st = r.empty() ? natsConnection_Publish(nc_, s.c_str(), data.data(), n)
                                  : natsConnection_PublishRequest(
                                        nc_, s.c_str(), r.c_str(), data.data(), n);
  if (st != NATS_OK) return absl::UnavailableError(natsStatus_GetText(st));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Subscription>> NatsBus::Subscribe(
    absl::string_view subject, absl::string_view queue_group, MessageHandler handler) {
  auto closure = std::make_shared<Closure>();
  closure->handler = std::move(handler);
  const std::string s(subject);
  const std::string q(queue_group);
  natsSubscription* sub = nullptr;
  const natsStatus st =
      q.empty()
          ? natsConnection_Subscribe(&sub, nc_, s.c_str(), &OnMessage, closure.get())
          : natsConnection_QueueSubscribe(&sub, nc_, s.c_str(), q.c_str(), &OnMessage,
                                          closure.get());
  if (st != NATS_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot subscribe to ", s, ": ", natsStatus_GetText(st)));
  }
  // Bounded, so that no flood (a hostile peer, a burst larger than the node can
  // take) grows the node without limit: past it nats.c drops messages, which
  // replication repairs (a lost event is a gap, a lost chunk a failed catch-up
  // that is retried). Catch-up answers get more room: a join streams the store.
  auto* holder = new std::shared_ptr<Closure>(closure);
  const bool completes =
      natsSubscription_SetOnCompleteCB(sub, &OnComplete, holder) == NATS_OK;
  if (!completes) delete holder;
  const bool answers = absl::StartsWith(s, kInboxPrefix);
  natsSubscription_SetPendingLimits(
      sub, answers ? kMaxPendingAnswerMessages : kMaxPendingMessages,
      answers ? kMaxPendingAnswerBytes : kMaxPendingBytes);
  return std::unique_ptr<Subscription>(
      new NatsSubscription(nc_, sub, std::move(closure), completes));
}

std::string NatsBus::NewInbox() {
  natsInbox* inbox = nullptr;
  // natsInbox_Create fails only when out of memory.
  if (natsInbox_Create(&inbox) != NATS_OK) std::abort();
  // "_INBOX.<unique>" becomes "_kv._INBOX.<unique>": replication stays under
  // _kv.>, the one subject space kvd's NATS user needs for it.
  std::string s = absl::StrCat("_kv.", inbox);
  natsInbox_Destroy(inbox);
  return s;
}

int64_t NatsBus::MaxPayload() { return natsConnection_GetMaxPayload(nc_); }

}  // namespace kv::replication
