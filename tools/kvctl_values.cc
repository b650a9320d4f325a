#include "tools/kvctl_values.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kv::tools {

bool IsValueSource(absl::string_view arg) {
  return arg == "-" || (absl::StartsWith(arg, "@") && !absl::StartsWith(arg, "@@"));
}

absl::StatusOr<std::string> ReadValueSource(absl::string_view source) {
  const bool in = source == "-";
  const std::string name =
      in ? "stdin" : absl::StrCat("value file '", source.substr(1), "'");
  const int fd =
      in ? 0 : open(std::string(source.substr(1)).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", name, ": ", std::strerror(errno)));
  }
  std::string bytes;
  char buf[64 * 1024];
  absl::Status status;
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {  // a directory (EISDIR), an I/O error
      status = absl::InvalidArgumentError(
          absl::StrCat("cannot read ", name, ": ", std::strerror(errno)));
      break;
    }
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > kMaxValueSourceBytes) {
      status = absl::InvalidArgumentError(
          absl::StrCat(name, " holds more than ", kMaxValueSourceBytes,
                       " bytes, more than any NATS message carries"));
      break;
    }
    bytes.append(buf, static_cast<size_t>(n));
  }
  if (!in) close(fd);
  if (!status.ok()) return status;
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
