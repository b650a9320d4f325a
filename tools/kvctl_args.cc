#include "tools/kvctl_args.h"

#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kv::tools {
namespace {

// The flag name in "--name=value", "-name" or "--name": no dashes, no value.
absl::string_view FlagName(absl::string_view arg) {
  while (!arg.empty() && arg.front() == '-') arg.remove_prefix(1);
  return arg.substr(0, arg.find('='));
}

bool IsFlag(absl::string_view arg) {
  return arg.size() > 1 && arg.front() == '-' && !IsNegativeNumber(arg);
}

}  // namespace

bool IsNegativeNumber(absl::string_view arg) {
  if (arg.size() < 2 || arg.front() != '-') return false;
  for (char c : arg.substr(1)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

ScannedArgs PreScanArgs(const std::vector<std::string>& args,
                        const std::function<FlagKind(absl::string_view)>& kind) {
  ScannedArgs out;
  if (args.empty()) return out;
  out.for_flag_parser.push_back(args[0]);
  size_t positional = 0;
  bool only_positional = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    out.for_flag_parser.push_back(arg);
    if (only_positional) continue;
    if (arg == "--") {
      only_positional = true;
    } else if (positional > 0 && IsNegativeNumber(arg)) {
      out.for_flag_parser.pop_back();
      out.negatives.emplace_back(positional++, arg);
    } else if (IsFlag(arg)) {
      const FlagKind k = kind(FlagName(arg));
      if (k == FlagKind::kUnknown) out.unknown_flags.push_back(arg);
      if (k == FlagKind::kTakesValue && arg.find('=') == std::string::npos &&
          i + 1 < args.size()) {
        out.for_flag_parser.push_back(args[++i]);
      }
    } else {
      ++positional;
    }
  }
  return out;
}

std::vector<std::string> MergeNegatives(
    std::vector<std::string> positional,
    const std::vector<std::pair<size_t, std::string>>& negatives) {
  // Ascending indices: each insertion leaves the earlier places unchanged.
  for (const auto& [index, text] : negatives) {
    const size_t at = index < positional.size() ? index : positional.size();
    positional.insert(positional.begin() + at, text);
  }
  return positional;
}

FlagKind AbslFlagKind(absl::string_view name) {
  // absl's usage flags are handled by its parser, not registered.
  static constexpr const char* kUsageFlags[] = {
      "help",   "helpfull",  "helpshort", "helppackage",
      "helpon", "helpmatch", "version",   "only_check_args"};
  for (const char* usage : kUsageFlags) {
    if (name == usage) return FlagKind::kSwitch;
  }
  if (const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name)) {
    return flag->IsOfType<bool>() ? FlagKind::kSwitch : FlagKind::kTakesValue;
  }
  if (absl::ConsumePrefix(&name, "no")) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag != nullptr && flag->IsOfType<bool>()) return FlagKind::kSwitch;
  }
  return FlagKind::kUnknown;
}

absl::StatusOr<int64_t> ParseInt(absl::string_view what, absl::string_view text) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be an integer, got '", text, "'"));
  }
  return value;
}

}  // namespace kv::tools
