// The `watch` op (README.md, "Watching"): a consistent page of the keys with a
// prefix as change notifications describe them, and the position (the
// replica's version vector) at which it was read, under one lock, so that a
// client can merge the notifications it receives with the page without
// missing or double-applying a change.
#ifndef KV_SERVICE_WATCH_H_
#define KV_SERVICE_WATCH_H_

#include <string>

#include "absl/status/statusor.h"
#include "kv/codec/json.h"
#include "kv/replication/replica.h"

namespace kv::service {

// Answers `r` (prefix, limit, cursor): {"entries":[..],"cursor"?,"position"}.
// The entries are the visible keys after the cursor, in byte order, at most
// `limit` (0: the page limit; OutOfRange above it) and within the reply budget
// (limits().max_reply_bytes): the page ends early at it (its cursor goes on),
// and a first entry that alone exceeds it has its value cut
// ("truncated":true). The position names every origin of the vector.
absl::StatusOr<std::string> Watch(const codec::ApiRequest& r,
                                  const replication::Replica& replica);

}  // namespace kv::service

#endif  // KV_SERVICE_WATCH_H_
