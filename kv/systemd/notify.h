// Telling systemd (or any service manager speaking its notify protocol) how the
// process is doing: READY=1, STOPPING=1, STATUS=... through sd_notify. Without
// NOTIFY_SOCKET in the environment (not started by a Type=notify unit) every
// call does nothing.
#ifndef KV_SYSTEMD_NOTIFY_H_
#define KV_SYSTEMD_NOTIFY_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kv::systemd {

// Sends `state` (newline-separated "NAME=value" assignments, e.g.
// "READY=1\nSTATUS=serving") to the service manager. OK also when there is
// none; Unavailable (with the reason) when NOTIFY_SOCKET is set but the message
// could not be sent.
absl::Status Notify(absl::string_view state);

}  // namespace kv::systemd

#endif  // KV_SYSTEMD_NOTIFY_H_
