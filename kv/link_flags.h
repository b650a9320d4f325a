// --link and --notify: the links kvd serves, and which of them publish change
// notifications (README.md, "Change notifications").
#ifndef KV_LINK_FLAGS_H_
#define KV_LINK_FLAGS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/replication/bus.h"
#include "kv/replication/replica_options.h"

ABSL_DECLARE_FLAG(std::string, link);
ABSL_DECLARE_FLAG(std::string, notify);

namespace kv {

// The links of `link_flag` (comma-separated), checked: at least one, each a
// valid link name, none twice; and `notify_flag` checked against them ("true",
// "false", or a comma-separated list of served links). InvalidArgument naming
// the problem otherwise.
absl::StatusOr<std::vector<std::string>> ParseLinks(absl::string_view link_flag,
                                                    absl::string_view notify_flag);
// ParseLinks of --link and --notify.
absl::StatusOr<std::vector<std::string>> LinksFromFlags();

// Whether `link` publishes change notifications under `notify_flag` (checked by
// ParseLinks).
bool NotifyOn(absl::string_view notify_flag, absl::string_view link);

// Whether any of `links` publishes change notifications under --notify.
bool AnyNotifies(const std::vector<std::string>& links);

// The on_change of `link`'s replica: when --notify names it, publishes each
// change on `bus` (kvd's change-notification connection: one connection keeps
// an origin's notifications in seq order), bodies under `max_payload`; else null.
replication::ChangeObserver NotifyObserver(const std::string& link, size_t max_payload,
                                           replication::Bus* bus);

}  // namespace kv

#endif  // KV_LINK_FLAGS_H_
