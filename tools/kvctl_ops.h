// The kv.<link>.<op> operations as kvctl knows them: arguments, the JSON
// request each one sends, how its reply reads for a person, and its help text
// (with the equivalent `nats req` line). Pure: no NATS here.
#ifndef TOOLS_KVCTL_OPS_H_
#define TOOLS_KVCTL_OPS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kv::tools {

// The request shape an op takes.
enum class RequestShape {
  kKey,       // {"key"}
  kKeyValue,  // {"key","value"} (string value; set adds "expires" with --ttl)
  kKeyInt,    // {"key","value": int}
  kKeyRange,  // {"key","start","stop"}
  kKeys,      // {"keys": [..]}
  kScan,      // {"prefix"?,"limit"?,"cursor"?}
};

// How the reply reads for a person.
enum class ReplyShape {
  kGet,   // the value, or "(nil)" when "exists" is false
  kOk,    // "OK"
  kBool,  // true / false of `reply_field`
  kInt,   // the number in `reply_field`
  kList,  // the strings of `reply_field`, one per line
};

struct OpSpec {
  const char* name;
  const char* request_doc;  // the request, as DESIGN.md's table gives it
  const char* args;     // "KEY VALUE [--ttl SECONDS]"
  const char* summary;  // one line
  const char* reply;    // the reply, as DESIGN.md's table gives it
  RequestShape request;
  ReplyShape reply_shape;
  const char* reply_field;
  int min_args;
  int max_args;  // -1: no upper bound
  std::vector<std::string> example_args;
};

// Every op, in the order of DESIGN.md's table.
const std::vector<OpSpec>& AllOps();

// The op named `name`, or nullptr.
const OpSpec* FindOp(absl::string_view name);

// Settings that come from flags rather than positional arguments.
struct RequestOptions {
  std::optional<int64_t> ttl_seconds;  // set: "expires"
  std::optional<int64_t> limit;        // keys: "limit"
  std::string cursor;                  // keys: "cursor" when not empty
};

// The JSON request body for `op` with positional `args` (op name excluded).
// InvalidArgument (a usage error) for a wrong number of arguments, a bad number,
// a --ttl on an op other than set, or a string that is not valid UTF-8.
absl::StatusOr<std::string> BuildRequest(const OpSpec& op,
                                         const std::vector<std::string>& args,
                                         const RequestOptions& options);

// The reply body as a person reads it: lines ending in '\n' (nothing for an
// empty list). Internal when the body is not the JSON object the op answers.
absl::StatusOr<std::string> FormatReply(const OpSpec& op, absl::string_view body);

// One page of a keys reply. `cursor` is empty on the last page.
struct KeysPage {
  std::vector<std::string> keys;
  std::string cursor;
};
absl::StatusOr<KeysPage> ParseKeysPage(absl::string_view body);

// An error answer from the service.
struct ServiceError {
  int code = 0;
  std::string message;
};

// The service error a reply carries: from the Nats-Service-Error-Code and
// Nats-Service-Error headers (nullptr when absent), else from a body of the
// form {"error":{"code","message"}}; nullopt for a normal reply.
std::optional<ServiceError> FindServiceError(const char* code_header,
                                             const char* message_header,
                                             absl::string_view body);

// "kv.<link>.<op>".
std::string OpSubject(absl::string_view link, absl::string_view op);

// `nats req kv.<link>.<op> '<json>'` for the op's example arguments.
std::string NatsReqLine(const OpSpec& op, absl::string_view link);

// The usage listing: every op with its arguments, summary and nats req line.
std::string UsageText(absl::string_view link);

// The detail for one op.
std::string OpHelp(const OpSpec& op, absl::string_view link);

}  // namespace kv::tools

#endif  // TOOLS_KVCTL_OPS_H_
