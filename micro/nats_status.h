// Conversion of nats.c status codes to absl::Status.

#ifndef MICRO_NATS_STATUS_H_
#define MICRO_NATS_STATUS_H_

#include <nats/nats.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace micro {

// Returns OK for NATS_OK; otherwise a status whose message is
// "<what>: <nats.c text>" and whose code is Unavailable for connection
// problems (closed, disconnected, stale, no server, not yet connected,
// draining), DeadlineExceeded for NATS_TIMEOUT, InvalidArgument for invalid
// arguments, subjects and queue names, ResourceExhausted for
// NATS_MAX_PAYLOAD and NATS_SLOW_CONSUMER, PermissionDenied for
// NATS_NOT_PERMITTED and authentication failures, NotFound for
// NATS_NOT_FOUND and NATS_NO_RESPONDERS, FailedPrecondition for
// NATS_ILLEGAL_STATE and NATS_INVALID_SUBSCRIPTION, and Internal otherwise.
absl::Status NatsStatusToStatus(natsStatus s, absl::string_view what);

}  // namespace micro

#endif  // MICRO_NATS_STATUS_H_
