// Idempotent retries: a key-level write carrying a request id (the
// Nats-Msg-Id header) is applied at most once per link within the dedup
// window; a retry is answered the first reply with "duplicate":true
// (README.md, "Idempotent retries").
#ifndef KV_SERVICE_IDEMPOTENT_H_
#define KV_SERVICE_IDEMPOTENT_H_

#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/codec/json.h"
#include "kv/replication/replica.h"
#include "kv/store/hlc.h"
#include "kv/store/request_log.h"
#include "kv/store/store.h"

namespace kv::service {

// The header carrying a write's request id (as JetStream's publish dedup).
inline constexpr absl::string_view kMsgIdHeader = "Nats-Msg-Id";

// `reply` (a JSON object) with "duplicate":true added.
std::string AsDuplicate(std::string reply);

// OutOfRange when a write of `key_and_value` bytes with request id `id` would
// not leave room in its event for the request record (limits.max_write_bytes
// less the largest record), naming the limit; else OK.
absl::Status CheckIdRoom(const store::Limits& limits, size_t key_and_value,
                         absl::string_view id);

// Runs the key-level write `f(Store&) -> StatusOr<Change<T>>` on `replica` with
// request id `id` (valid: RequestLog::CheckId), looked up in the store's
// request log under the same lock as the write:
//   * known within the window: nothing is applied, no event; the reply is the
//     recorded one with "duplicate":true;
//   * new: `f` runs; on success the reply, `make_reply(result, revision of
//     key)`, is recorded and travels in the write's event (every replica that
//     applies it records it too), so it is known before the event leaves.
//     With it the log keeps `undo` (its key, and what an add added or that a
//     push pushed; the dot is the event's): if another node applied the id too
//     and its application was the earlier, this node takes its own back
//     (store::RequestLog, "Two applications of one id").
// A failed write records nothing (a retry runs it again).
template <typename F, typename MakeReply>
absl::StatusOr<std::string> Idempotent(replication::Replica& replica,
                                       absl::string_view id, store::Withdrawal undo,
                                       F&& f, MakeReply&& make_reply,
                                       replication::MutationContext* context) {
  return replica.Mutate(
      [&](store::Store& s) -> absl::StatusOr<store::Change<std::string>> {
        const absl::Time now = s.Now();
        if (const store::RequestRecord* seen = s.requests().Find(id, now)) {
          return store::Change<std::string>{AsDuplicate(seen->reply), std::nullopt};
        }
        auto change = f(s);
        if (!change.ok()) return change.status();
        store::RequestRecord record{std::string(id),
                                    make_reply(change->result, s.Revision(undo.key)),
                                    absl::ToUnixMillis(now), store::Dot{}};
        std::string body = record.reply;
        std::optional<store::Withdrawal> own;
        if (change->event) {
          // The same time on every replica: the write's own stamp.
          record.applied_ms = store::HlcMillis(store::EventHlc(*change->event));
          record.dot = change->event->dot;
          if (record.reply.size() <= store::RequestLog::kMaxReplyBytes) {
            change->event->request = record;
          }
          if (undo.added != 0 || undo.pushed) {
            undo.dot = record.dot;
            own = std::move(undo);
          }
        }
        s.requests().Record(std::move(record), now, std::move(own));
        return store::Change<std::string>{std::move(body), std::move(change->event)};
      },
      context);
}

}  // namespace kv::service

#endif  // KV_SERVICE_IDEMPOTENT_H_
