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

// The outcome of PreScanArgs: what to hand to the flag parser, and the
// negative numbers taken out of it together with their place among the
// positional arguments.
struct ScannedArgs {
  // argv[0] and every argument except the negative numbers taken out.
  std::vector<std::string> for_flag_parser;
  // (index among the positional arguments, argv[0] excluded; the text).
  std::vector<std::pair<size_t, std::string>> negatives;
};

// Takes the arguments matching ^-[0-9]+$ that come after the first positional
// argument (the op) out of `args` (args[0] is the program name), so that a flag
// parser does not read them as flags. `takes_value(name)` says whether the flag
// `name` (without dashes) consumes the next argument when written without '=';
// such a value is never taken for a positional argument. Everything after "--"
// is positional and left in place.
ScannedArgs PreScanArgs(const std::vector<std::string>& args,
                        const std::function<bool(absl::string_view)>& takes_value);

// Puts the negative numbers back among the positional arguments the flag
// parser returned (`positional` excludes the program name).
std::vector<std::string> MergeNegatives(
    std::vector<std::string> positional,
    const std::vector<std::pair<size_t, std::string>>& negatives);

// True when the flag `name` exists and is not a bool (so "--name value" takes
// the next argument as its value).
bool FlagTakesValue(absl::string_view name);

// Parses a decimal integer (optional sign). InvalidArgument names `what` and
// the offending text.
absl::StatusOr<int64_t> ParseInt(absl::string_view what, absl::string_view text);

}  // namespace kv::tools

#endif  // TOOLS_KVCTL_ARGS_H_
