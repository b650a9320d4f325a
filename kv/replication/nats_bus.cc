#include "kv/replication/nats_bus.h"

#include <cstdlib>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace kv::replication {
namespace {

// What a nats.c callback needs; outlives every callback of its subscription.
struct Closure {
  MessageHandler handler;
  absl::Mutex mu;
  absl::CondVar idle;  // signalled when `running` drops to 0
  bool closed ABSL_GUARDED_BY(mu) = false;
  int running ABSL_GUARDED_BY(mu) = 0;
};

void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* arg) {
  Closure* c = static_cast<Closure*>(arg);
  {
    absl::MutexLock lock(&c->mu);
    if (c->closed) {
      natsMsg_Destroy(msg);
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
  natsMsg_Destroy(msg);
  absl::MutexLock lock(&c->mu);
  if (--c->running == 0) c->idle.SignalAll();
}

class NatsSubscription : public Subscription {
 public:
  NatsSubscription(natsConnection* nc, natsSubscription* sub,
                   std::unique_ptr<Closure> closure)
      : nc_(nc), sub_(sub), closure_(std::move(closure)) {}
  NatsSubscription(const NatsSubscription&) = delete;
  NatsSubscription& operator=(const NatsSubscription&) = delete;

  ~NatsSubscription() override {
    // Drain needs the server; without one the subscription is just closed.
    const bool connected = natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
    if (connected && natsSubscription_Drain(sub_) == NATS_OK) {
      natsSubscription_WaitForDrainCompletion(sub_, 2000);
    } else {
      natsSubscription_Unsubscribe(sub_);
    }
    {
      absl::MutexLock lock(&closure_->mu);
      closure_->closed = true;
      while (closure_->running > 0) closure_->idle.Wait(&closure_->mu);
    }
    natsSubscription_Destroy(sub_);
  }

 private:
  natsConnection* const nc_;
  natsSubscription* const sub_;
  std::unique_ptr<Closure> closure_;
};

}  // namespace

absl::Status NatsBus::Publish(absl::string_view subject, absl::string_view reply,
                              absl::string_view data) {
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
  auto closure = std::make_unique<Closure>();
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
  const bool answers = absl::StartsWith(s, kInboxPrefix);
  natsSubscription_SetPendingLimits(
      sub, answers ? kMaxPendingAnswerMessages : kMaxPendingMessages,
      answers ? kMaxPendingAnswerBytes : kMaxPendingBytes);
  return std::unique_ptr<Subscription>(
      new NatsSubscription(nc_, sub, std::move(closure)));
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
