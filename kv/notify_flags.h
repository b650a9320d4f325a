// --notify: whether kvd publishes change notifications (README.md, "Change
// notifications"). kvd has no per-link settings, so it applies to every link.
#ifndef KV_NOTIFY_FLAGS_H_
#define KV_NOTIFY_FLAGS_H_

#include <cstddef>
#include <string>

#include "absl/flags/declare.h"
#include "kv/replication/bus.h"
#include "kv/replication/replica_options.h"

ABSL_DECLARE_FLAG(bool, notify);

namespace kv {

// The on_change of `link`'s replica: with --notify, publishes each change on
// `bus` (kvd's main connection: one connection keeps an origin's notifications
// in seq order), bodies under `max_payload`; without, null (nothing published).
replication::ChangeObserver NotifyObserver(const std::string& link, size_t max_payload,
                                           replication::Bus* bus);

}  // namespace kv

#endif  // KV_NOTIFY_FLAGS_H_
