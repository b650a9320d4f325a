#include "kv/codec/condition.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kv/codec/encoding.h"

namespace kv::codec {

bool IsConditional(Op op, const ApiRequest& r) {
  switch (op) {
    case Op::kSet:
      return HasCondition(r);
    case Op::kDel:
      return r.revision.has_value();
    case Op::kPop:
      return true;
    default:
      return false;
  }
}

absl::Status CheckCondition(const ApiRequest& r, uint64_t current) {
  const std::string key = absl::StrCat("key '", Shown(r.key), "'");
  if (r.if_state == "absent" && current != 0) {
    return ConditionFailed(absl::StrCat("condition failed: ", key, " exists (revision ",
                                        current, "); \"if\":\"absent\" wants none"),
                           current);
  }
  if (r.if_state == "present" && current == 0) {
    return ConditionFailed(
        absl::StrCat("condition failed: ", key,
                     " does not exist; \"if\":\"present\" wants it to"),
        current);
  }
  if (r.revision.has_value() && *r.revision != current) {
    return ConditionFailed(
        current == 0 ? absl::StrCat("condition failed: ", key,
                                    " does not exist (revision 0), not ", *r.revision)
                     : absl::StrCat("condition failed: ", key, " is at revision ",
                                    current, ", not ", *r.revision),
        current);
  }
  return absl::OkStatus();
}

absl::Status ConditionFailed(absl::string_view message, uint64_t revision) {
  absl::Status s = absl::FailedPreconditionError(message);
  s.SetPayload(kApiCodePayload, absl::Cord(absl::StrCat(kConditionFailedCode)));
  s.SetPayload(kRevisionPayload, absl::Cord(absl::StrCat(revision)));
  return s;
}

std::optional<uint64_t> ErrorRevision(const absl::Status& status) {
  auto payload = status.GetPayload(kRevisionPayload);
  uint64_t revision = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &revision)) {
    return std::nullopt;
  }
  return revision;
}

}  // namespace kv::codec
