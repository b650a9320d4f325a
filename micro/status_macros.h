// Early-return helpers for absl::Status (abseil LTS 20220623 has none public).

#ifndef MICRO_STATUS_MACROS_H_
#define MICRO_STATUS_MACROS_H_

#include "absl/status/status.h"

// Evaluates `expr` (an absl::Status) once and returns it from the enclosing
// function if it is not OK.
#define MICRO_RETURN_IF_ERROR(expr)                \
  do {                                             \
    const ::absl::Status micro_status_ = (expr);   \
    if (!micro_status_.ok()) return micro_status_; \
  } while (false)

#endif  // MICRO_STATUS_MACROS_H_
