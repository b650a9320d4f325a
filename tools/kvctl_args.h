// Command-line helpers for kvctl: keeping negative numbers positional and
// parsing numeric arguments.
#ifndef TOOLS_KVCTL_ARGS_H_
#define TOOLS_KVCTL_ARGS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kv::tools {

// True for arguments like "-1" or "-42": ^-[0-9]+$.
bool IsNegativeNumber(absl::string_view arg);

// What a flag name (without dashes) on the command line is.
enum class FlagKind {
  kUnknown,     // no such flag
  kSwitch,      // a bool flag: never consumes the next argument
  kTakesValue,  // "--name value" consumes the next argument
};

// The outcome of PreScanArgs: what to hand to the flag parser, and the
// negative numbers taken out of it together with their place among the
// positional arguments.
struct ScannedArgs {
  // argv[0] and every argument except the negative numbers taken out.
  std::vector<std::string> for_flag_parser;
  // (index among the positional arguments, argv[0] excluded; the text).
  std::vector<std::pair<size_t, std::string>> negatives;
  // Flags (as written) that `kind` does not know; "--" makes what follows
  // positional, e.g. a value that starts with '-'.
  std::vector<std::string> unknown_flags;
};

// Takes the arguments matching ^-[0-9]+$ that come after the first positional
// argument (the op) out of `args` (args[0] is the program name), so that a flag
// parser does not read them as flags. `kind(name)` classifies each flag name
// (without dashes); the value of a kTakesValue flag written without '=' is
// never taken for a positional argument. Everything after "--" is positional
// and left in place.
ScannedArgs PreScanArgs(const std::vector<std::string>& args,
                        const std::function<FlagKind(absl::string_view)>& kind);

// Puts the negative numbers back among the positional arguments the flag
// parser returned (`positional` excludes the program name).
std::vector<std::string> MergeNegatives(
    std::vector<std::string> positional,
    const std::vector<std::pair<size_t, std::string>>& negatives);

// The kind of the absl flag `name` in this program ("noX" is the switch X).
FlagKind AbslFlagKind(absl::string_view name);

// Parses a decimal integer (optional sign). InvalidArgument names `what` and
// the offending text.
absl::StatusOr<int64_t> ParseInt(absl::string_view what, absl::string_view text);

}  // namespace kv::tools

#endif  // TOOLS_KVCTL_ARGS_H_
