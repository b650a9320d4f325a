// The transport a Replica talks through: publish, subscribe, inboxes and the
// payload limit of a NATS-like message bus. NatsBus (nats_bus.h) puts it on a
// nats.c connection; sim::SimBus (sim/sim_bus.h) on an in-memory network.
#ifndef KV_REPLICATION_BUS_H_
#define KV_REPLICATION_BUS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kv::replication {

// One received message. The views are valid only during the handler call.
struct Message {
  absl::string_view subject;
  absl::string_view reply;  // empty when the sender expects no answer
  absl::string_view data;
  // The server's answer to a request (a publish with a reply subject) whose
  // subject nobody subscribes to: delivered on the reply subject, empty data.
  bool no_responders = false;
};

using MessageHandler = std::function<void(const Message&)>;

// Whether `subject` can be published to: non-empty tokens separated by '.',
// no byte at or below ' ' nor DEL (nats.c writes a subject raw into the PUB
// line: a space or CR LF there would inject protocol), no wildcard unless
// `wildcards`.
inline bool IsValidSubject(absl::string_view subject, bool wildcards = false) {
  if (subject.empty() || subject.front() == '.' || subject.back() == '.') return false;
  char prev = 0;
  for (const char c : subject) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f || (c == '.' && prev == '.')) return false;
    if (!wildcards && (c == '*' || c == '>')) return false;
    prev = c;
  }
  return true;
}

// A live subscription. Destroying it unsubscribes and waits until no callback
// of it runs any more (so it must not be destroyed from its own callback, nor
// while holding a lock its callback takes).
class Subscription {
 public:
  virtual ~Subscription() = default;

  // Waits until every message this subscription had received when called
  // (delivered to it by the transport, queued or being handled) has been
  // handled (its handler returned), for at most `timeout`. True when they
  // have, false on timeout. Cheap when nothing is queued. Must not be called
  // from this subscription's own handler.
  virtual bool AwaitReceived(absl::Duration timeout) = 0;
};

// Thread safety: implementations are thread-safe; handlers of one subscription
// run one at a time, handlers of different subscriptions may run concurrently.
class Bus {
 public:
  virtual ~Bus() = default;

  // Sends `data` to the subscribers of `subject`; `reply` (may be empty) is the
  // subject their answer goes to. Never blocks on the receivers. InvalidArgument
  // when `subject` or a non-empty `reply` is not IsValidSubject; Unavailable
  // when the message cannot be queued (connection closed).
  virtual absl::Status Publish(absl::string_view subject, absl::string_view reply,
                               absl::string_view data) = 0;

  // Calls `handler` for every message on `subject` (tokens separated by '.',
  // '*' matches one token, '>' the rest). With a non-empty `queue_group`, each
  // message goes to one member of the group. Messages are never dropped for
  // being slow to handle. Unavailable when the subscription cannot be made.
  virtual absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      absl::string_view subject, absl::string_view queue_group,
      MessageHandler handler) = 0;

  // A new subject, unique on the bus, for answers ("_INBOX.<unique>").
  virtual std::string NewInbox() = 0;

  // The largest message the bus carries, in bytes.
  virtual int64_t MaxPayload() = 0;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_BUS_H_
