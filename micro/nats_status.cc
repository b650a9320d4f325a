#include "micro/nats_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace micro {

absl::Status NatsStatusToStatus(natsStatus s, absl::string_view what) {
  if (s == NATS_OK) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", natsStatus_GetText(s));
  switch (s) {
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_DRAINING:
    case NATS_IO_ERROR:
      return absl::UnavailableError(message);
    case NATS_TIMEOUT:
      return absl::DeadlineExceededError(message);
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_QUEUE_NAME:
    case NATS_INVALID_TIMEOUT:
    case NATS_ADDRESS_MISSING:
      return absl::InvalidArgumentError(message);
    case NATS_MAX_PAYLOAD:
    case NATS_SLOW_CONSUMER:
    case NATS_NO_MEMORY:
      return absl::ResourceExhaustedError(message);
    case NATS_NOT_PERMITTED:
    case NATS_CONNECTION_AUTH_FAILED:
      return absl::PermissionDeniedError(message);
    case NATS_NOT_FOUND:
    case NATS_NO_RESPONDERS:
      return absl::NotFoundError(message);
    case NATS_ILLEGAL_STATE:
    case NATS_INVALID_SUBSCRIPTION:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace micro
