// Conditional requests (issue 12, README "Conditional writes"): which requests
// must be decided by one node (the key's owner, so that at most one caller
// wins), how a condition is checked against the key's revision, and the 412
// error that carries the revision the key has.
#ifndef KV_CODEC_CONDITION_H_
#define KV_CODEC_CONDITION_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kv/codec/json.h"
#include "kv/codec/ops.h"

namespace kv::codec {

// The API code of a failed condition (HTTP 412 Precondition Failed).
inline constexpr int kConditionFailedCode = 412;

// True for the requests whose outcome one node must decide: set with "if" or
// "revision", del with "revision", and every pop.
bool IsConditional(Op op, const ApiRequest& r);

// True when `r` carries a condition ("if" or "revision").
inline bool HasCondition(const ApiRequest& r) {
  return !r.if_state.empty() || r.revision.has_value();
}

// OK when the condition of `r` (set's "if"/"revision", del's "revision"; none:
// OK) holds for key `r.key` whose revision is `current` (0: the key shows
// nothing, Store::Revision). Otherwise ConditionFailed naming the key, what
// was asked and what it is.
absl::Status CheckCondition(const ApiRequest& r, uint64_t current);

// A failed condition: FailedPrecondition carrying the API code 412
// (kApiCodePayload) and the key's current `revision` (kRevisionPayload).
absl::Status ConditionFailed(absl::string_view message, uint64_t revision);

// The revision an error carries (ConditionFailed), or nullopt.
std::optional<uint64_t> ErrorRevision(const absl::Status& status);

}  // namespace kv::codec

#endif  // KV_CODEC_CONDITION_H_
