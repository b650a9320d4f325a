// Validation of service configuration values, as ADR-32 prescribes.

#ifndef MICRO_VALIDATE_H_
#define MICRO_VALIDATE_H_

#include "absl/strings/string_view.h"

namespace micro {

// True iff `name` is non-empty and only holds A-Z, a-z, 0-9, '-' and '_'
// (service and endpoint names).
bool IsValidName(absl::string_view name);

// True iff `version` is a SemVer 2.0.0 version, as matched by the regular
// expression that semver.org suggests and the ADR-32 JSON schemas use:
// MAJOR.MINOR.PATCH without leading zeros, optional -prerelease and
// +build parts.
bool IsValidVersion(absl::string_view version);

// True iff `subject` can be subscribed to: non-empty dot-separated tokens,
// no whitespace, '>' only as the whole last token, '*' only as a whole token.
bool IsValidSubject(absl::string_view subject);

// True iff `queue_group` is a usable queue group name: non-empty, with no
// whitespace.
bool IsValidQueueGroup(absl::string_view queue_group);

}  // namespace micro

#endif  // MICRO_VALIDATE_H_
