// Change notifications (README.md, "Change notifications"): every change a
// node makes is published once, by that node, as JSON on
// kv.<link>.changes.<key>, or kv.<link>.changes._b64.<base64url of the key>
// when the key is not a valid sequence of subject tokens, or
// kv.<link>.changes._h.<16 hex digits of a hash of the key> when the key is
// longer than kMaxSubjectKeyBytes.
#ifndef KV_SERVICE_CHANGES_H_
#define KV_SERVICE_CHANGES_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "kv/codec/json.h"
#include "kv/replication/replica.h"
#include "kv/store/store.h"

namespace kv::service {

// Keys longer than this name their subject by a hash: a subject stays far
// below nats-server's max_control_line (4 KiB by default).
inline constexpr size_t kMaxSubjectKeyBytes = 512;

// The subject of `key`'s changes on `link`: kv.<link>.changes.<key> when
// codec::IsSubjectKey(key), else kv.<link>.changes._b64.<unpadded base64url of key>;
// kv.<link>.changes._h.<hash> above kMaxSubjectKeyBytes.
std::string ChangeSubject(absl::string_view link, absl::string_view key);

// A notification carries the origin's version vector ("vv") while it names at
// most this many origins.
inline constexpr size_t kMaxNoteOrigins = 64;

// The notification body of `event` (applied to `store` by op `op`; "" = guess
// "set" or "del" from what the key shows), within `max_bytes` (0: no limit):
// a string value too long is cut (at a UTF-8 boundary, or in base64 whole
// groups) and "truncated":true added. It carries the store's vector ("vv")
// unless it names more than kMaxNoteOrigins origins; an event of seq 0 (an
// expiry) has no "seq".
std::string ChangeBody(const store::Store& store, const store::Event& event,
                       absl::string_view op, size_t max_bytes);

// What `key` shows in `store`, as a notification or a watch entry states it
// (key, revision, type, value or length/size, base64 when the key or value is
// not UTF-8); no op, origin nor seq.
codec::ChangeNote KeyNote(const store::Store& store, absl::string_view key);

// `note` as JSON (codec::ChangeBody) within `max_bytes` (0: no limit): a value
// too long is cut (at a UTF-8 boundary, or in whole base64 groups) and
// "truncated":true added. A note without a value may stay over.
std::string FitNote(codec::ChangeNote note, size_t max_bytes);

// The Replica's on_change for `link`: publishes each change's body on its
// subject through `publish`, bodies kept under `max_payload`. kvd passes a
// connection of their own (buffered, publishing
// nothing else): the replica calls on_change in seq order under its lock, so one
// connection keeps every watcher's view of an origin in seq order, and no
// notification waits in the buffer of a connection a request's event or reply
// leaves on (a lone request that finds the service's connection holding bytes
// replies there and flushes it, a PING/PONG round trip, instead of replying at
// once on the prompt connection).
replication::ChangeObserver ChangePublisher(std::string link, size_t max_payload,
                                            replication::EventPublisher publish);

}  // namespace kv::service

#endif  // KV_SERVICE_CHANGES_H_
