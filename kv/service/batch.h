// The batch operations of the public API (mget, mset, mdel): several keys in
// one request, one lock, and for writes one replication events message.
#ifndef KV_SERVICE_BATCH_H_
#define KV_SERVICE_BATCH_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/codec/json.h"
#include "kv/replication/replica.h"
#include "kv/store/store.h"

namespace kv::service {

// Limits of the batch operations, beyond the store's (README.md, "Limits").
struct BatchLimits {
  // Keys in one mget or mdel, entries in one mset (--max_batch_keys).
  size_t max_batch_keys = 1000;
};

// The most bytes a batch's events message may take: what one write's event may
// (store::Limits::max_write_bytes plus codec::MaxEventOverhead(), that is the
// max payload less kvd's margin); 0 (no limit) when max_write_bytes is 0.
size_t BatchEventBudget(const store::Limits& limits);

// The type `key` shows in `store`: "" when absent, else "string", "counter",
// "list" or "set". (Read through the store's public reads: Range answers a
// list, and names any other type in its wrong-type error.)
absl::StatusOr<std::string> TypeOf(const store::Store& store, absl::string_view key);

// mget: each key's value in request order (a key named twice is answered
// twice). A list or set answers its type instead. OutOfRange (413) when the
// values would take more than max_reply_bytes; FailedPrecondition with code
// 422 when a value is not UTF-8 and the request did not ask for base64.
absl::StatusOr<std::string> Mget(const codec::ApiRequest& r,
                                 replication::Replica& replica);

// mset: every entry set under one lock, its events published as one message;
// a key named twice takes its last entry's value (and expires), and "count"
// counts distinct keys. Every entry is checked before the first write, so an
// error changes nothing: InvalidArgument (key too long, expires beyond 100
// years), OutOfRange (a value over the limits, or events over
// BatchEventBudget), FailedPrecondition (a key holds a counter, list or set).
absl::StatusOr<std::string> Mset(const codec::ApiRequest& r,
                                 replication::Replica& replica,
                                 replication::MutationContext* context);

// mdel: deletes every key (each counted once), one events message;
// "deleted" counts the keys that held a value. OutOfRange when the deletes'
// events could exceed BatchEventBudget (large lists or sets): nothing changes.
absl::StatusOr<std::string> Mdel(const codec::ApiRequest& r,
                                 replication::Replica& replica,
                                 replication::MutationContext* context);

}  // namespace kv::service

#endif  // KV_SERVICE_BATCH_H_
