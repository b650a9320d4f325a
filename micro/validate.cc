#include "micro/validate.h"

#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace micro {
namespace {

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

bool IsValidName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsValidVersion(absl::string_view version) {
  // The regular expression of semver.org, as used by ADR-32 and the
  // io.nats.micro.v1 JSON schemas (\d spelled [0-9]).
  static const std::regex* const kSemver = new std::regex(
      "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)"
      "(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
      "(?:\\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
      "(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$",
      std::regex::ECMAScript | std::regex::optimize);
  return std::regex_match(version.begin(), version.end(), *kSemver);
}

bool IsValidSubject(absl::string_view subject) {
  if (subject.empty()) return false;
  for (char c : subject) {
    if (IsWhitespace(c)) return false;
  }
  const std::vector<absl::string_view> tokens = absl::StrSplit(subject, '.');
  for (size_t i = 0; i < tokens.size(); ++i) {
    const absl::string_view token = tokens[i];
    if (token.empty()) return false;
    if (token.find('>') != absl::string_view::npos &&
        (token != ">" || i + 1 != tokens.size())) {
      return false;
    }
    if (token.find('*') != absl::string_view::npos && token != "*") {
      return false;
    }
  }
  return true;
}

bool IsValidQueueGroup(absl::string_view queue_group) {
  if (queue_group.empty()) return false;
  for (char c : queue_group) {
    if (IsWhitespace(c)) return false;
  }
  return true;
}

}  // namespace micro
