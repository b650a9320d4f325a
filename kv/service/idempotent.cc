#include "kv/service/idempotent.h"

#include "absl/strings/str_cat.h"

namespace kv::service {

std::string AsDuplicate(std::string reply) {
  const size_t close = reply.rfind('}');
  if (close == std::string::npos) return reply;
  reply.insert(close, absl::StrCat(close > 1 ? "," : "", "\"duplicate\":true"));
  return reply;
}

absl::Status CheckIdRoom(const store::Limits& limits, size_t key_and_value,
                         absl::string_view id) {
  if (limits.max_write_bytes == 0) return absl::OkStatus();
  // The event carries the record: the id, a reply of up to kMaxReplyBytes and
  // their framing (codec::EncodedSize of a record, plus the optional's flag).
  const size_t record = 48 + id.size() + store::RequestLog::kMaxReplyBytes;
  if (key_and_value + record <= limits.max_write_bytes) return absl::OkStatus();
  return absl::OutOfRangeError(
      absl::StrCat("key plus value take ", key_and_value, " bytes; with header '",
                   kMsgIdHeader, "' the limit is ",
                   limits.max_write_bytes > record ? limits.max_write_bytes - record : 0,
                   " (its event also carries the id and the reply)"));
}

}  // namespace kv::service
