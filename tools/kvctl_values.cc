#include "tools/kvctl_values.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kv::tools {

bool IsValueSource(absl::string_view arg) {
  return arg == "-" || (absl::StartsWith(arg, "@") && !absl::StartsWith(arg, "@@"));
}

absl::StatusOr<std::string> ReadValueSource(absl::string_view source) {
  if (source == "-") {
    std::ostringstream out;
    out << std::cin.rdbuf();
    if (std::cin.bad()) return absl::InvalidArgumentError("cannot read stdin");
    return out.str();
  }
  const std::string path(source.substr(1));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read value file '", path, "': ", std::strerror(errno)));
  }
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read value file '", path, "'"));
  }
  return bytes;
}

absl::StatusOr<std::string> WireValue(absl::string_view arg, bool arg_base64,
                                      bool wire_base64, const ValueReader& read) {
  if (IsValueSource(arg)) {
    absl::StatusOr<std::string> bytes = read ? read(arg) : ReadValueSource(arg);
    if (!bytes.ok()) return bytes.status();
    return wire_base64 ? absl::Base64Escape(*bytes) : *bytes;
  }
  if (absl::StartsWith(arg, "@@")) arg.remove_prefix(1);
  if (arg_base64 || !wire_base64) return std::string(arg);
  return absl::Base64Escape(arg);
}

}  // namespace kv::tools
