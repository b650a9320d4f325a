// kvctl's VALUE arguments: literal text, or bytes read from a file ("@path")
// or standard input ("-"), and how they travel: as text, or as base64 when the
// user gives base64 (--base64) or a value comes from a file or stdin (binary
// safe: any bytes, any size up to the service's limits, no argv length cap).
#ifndef TOOLS_KVCTL_VALUES_H_
#define TOOLS_KVCTL_VALUES_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kv::tools {

// Reads the bytes of a value source: "-" (stdin) or "@path" (the file).
using ValueReader = std::function<absl::StatusOr<std::string>(absl::string_view source)>;

// True for "-" and "@path" (but not "@@...", a literal value that starts with '@').
bool IsValueSource(absl::string_view arg);

// Reads stdin for "-", the file for "@path". InvalidArgument naming the file
// and the reason when it cannot be read.
// At most kMaxValueSourceBytes (the largest max payload nats-server allows):
// beyond, InvalidArgument without reading the rest.
inline constexpr size_t kMaxValueSourceBytes = 64 << 20;
absl::StatusOr<std::string> ReadValueSource(absl::string_view source);

// The value `arg` as it goes on the wire. `arg_base64`: literal arguments are
// base64 already (--base64), sent as they are; `wire_base64`: the request says
// "encoding":"base64", so bytes read and literal text are base64-encoded;
// else literal text goes as it is ("@@x" as "@x").
absl::StatusOr<std::string> WireValue(absl::string_view arg, bool arg_base64,
                                      bool wire_base64, const ValueReader& read);

}  // namespace kv::tools

#endif  // TOOLS_KVCTL_VALUES_H_
