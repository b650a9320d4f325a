// The kv.<link>.<op> operations as kvctl offers them: each op's row of the API
// table (kv/codec/ops.h) plus how the command line fills it (positional
// arguments, --ttl, --limit), the JSON request it sends, how its reply reads for
// a person, and the help text (with the equivalent `nats req` line). Pure: no
// NATS here.
#ifndef TOOLS_KVCTL_OPS_H_
#define TOOLS_KVCTL_OPS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/codec/ops.h"
#include "tools/kvctl_values.h"

namespace kv::tools {

// Settings that come from flags rather than positional arguments.
struct RequestOptions {
  std::optional<int64_t> ttl_seconds;  // "expires" (set)
  std::optional<int64_t> limit;        // "limit" (keys)
  std::string cursor;                  // "cursor" (keys) when not empty
  std::string if_state;                // "if" (set) when not empty: --if
  std::optional<uint64_t> revision;    // "revision" (set, del): --revision
  std::string end;                     // "end" (pop) when not empty: --end
  // --base64: VALUE arguments are base64 and the request says
  // "encoding":"base64" (so values in the reply are base64 too). Without it, a
  // VALUE of "-" (stdin) or "@path" (a file) also makes the request base64,
  // every value then encoded by kvctl (kvctl_values.h).
  bool base64 = false;
  ValueReader read_value;  // null: ReadValueSource
};

// An op on the command line. Positional arguments fill the request fields of
// the op's table row in order, except the optional fields, which come from
// RequestOptions ("expires", "limit", "cursor", "if", "revision", "end").
struct OpSpec {
  const codec::OpSpec* api = nullptr;  // the op's row in the API table
  absl::string_view name;              // api->name
  std::string args;                    // "KEY VALUE [--ttl SECONDS]"
  int min_args = 0;
  int max_args = 0;    // -1: no upper bound
  bool paged = false;  // the reply has a cursor: kvctl follows it to every page
  // The table's example request as a command line: BuildRequest of these
  // gives api->example.
  std::vector<std::string> example_args;
  RequestOptions example_options;
};

// Every op, in the order of the API table.
const std::vector<OpSpec>& AllOps();

// The op named `name`, or nullptr.
const OpSpec* FindOp(absl::string_view name);

// The JSON request body for `op` with positional `args` (op name excluded);
// mset takes KEY VALUE pairs (--ttl applies to each). InvalidArgument (a usage
// error) for a wrong number of arguments, a bad number, a flag (--ttl,
// --limit, --if, --revision, --end) on an op without its field, a value file
// that cannot be read, or a string that is not valid UTF-8. (The service
// checks the values of --if and --end, and that --if and --revision are not
// both given.)
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

// `nats req kv.<link>.<op> '<json>'` for the op's example request.
std::string NatsReqLine(const OpSpec& op, absl::string_view link);

// The usage listing: every op with its arguments, summary and nats req line.
std::string UsageText(absl::string_view link);

// The detail for one op.
std::string OpHelp(const OpSpec& op, absl::string_view link);

}  // namespace kv::tools

#endif  // TOOLS_KVCTL_OPS_H_
