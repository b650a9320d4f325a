// Bus on a nats.c connection.
#ifndef KV_REPLICATION_NATS_BUS_H_
#define KV_REPLICATION_NATS_BUS_H_

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/replication/bus.h"

namespace kv::replication {

// Thread safety: thread-safe (nats.c is). Handlers run on nats.c's callback
// threads.
class NatsBus : public Bus {
 public:
  // The start of every inbox NewInbox makes.
  static constexpr char kInboxPrefix[] = "_kv._INBOX.";
  // What a subscription may hold unhandled before nats.c drops messages:
  // messages and bytes, for inboxes (catch-up answers) and for the rest.
  static constexpr int kMaxPendingMessages = 65536;
  static constexpr int kMaxPendingBytes = 64 << 20;
  static constexpr int kMaxPendingAnswerMessages = 65536;
  static constexpr int kMaxPendingAnswerBytes = 256 << 20;

  // `nc` must outlive the bus and every subscription made through it.
  explicit NatsBus(natsConnection* nc) : nc_(nc) {}
  NatsBus(const NatsBus&) = delete;
  NatsBus& operator=(const NatsBus&) = delete;

  absl::Status Publish(absl::string_view subject, absl::string_view reply,
                       absl::string_view data) override;
  // Subscriptions hold at most the pending limits above. Destroying one drains it when
  // the connection is up (the messages already received are still handled), else
  // unsubscribes; either way it waits for the callback in progress.
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      absl::string_view subject, absl::string_view queue_group,
      MessageHandler handler) override;
  // "_kv._INBOX.<unique>": under _kv.> like every replication subject.
  std::string NewInbox() override;
  int64_t MaxPayload() override;

 private:
  natsConnection* const nc_;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_NATS_BUS_H_
