#include "kv/log/logger.h"

#include <cstdio>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kv/codec/log_line.h"

namespace kv::log {

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log format '", name, "': use text or json"));
}

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "info";
}

Level GuessLevel(absl::string_view message) {
  static constexpr absl::string_view kWords[] = {
      "cannot ", "failed", "lost", "stale", "refused", "closed", "disconnected", "error"};
  const std::string lower = absl::AsciiStrToLower(message);
  for (absl::string_view w : kWords) {
    if (absl::StrContains(lower, w)) return Level::kWarning;
  }
  return Level::kInfo;
}

Logger::Logger(absl::string_view program, Format format, Sink sink,
               std::function<absl::Time()> now)
    : program_(program),
      format_(format),
      sink_(sink != nullptr ? std::move(sink)
                            : [](absl::string_view line) {
                                const std::string l = absl::StrCat(line, "\n");
                                std::fwrite(l.data(), 1, l.size(), stderr);
                              }),
      now_(now != nullptr ? std::move(now) : [] { return absl::Now(); }) {}

void Logger::Log(Level level, absl::string_view link, absl::string_view message) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = now_();
  const std::vector<std::string> lines = limiter_.Filter(message, now);
  // The summaries that come first are of the same kind as `message`.
  for (const std::string& l : lines) Write(now, level, link, l);
}

void Logger::Flush() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = now_();
  for (const std::string& l : limiter_.Flush(now)) Write(now, Level::kInfo, "", l);
}

void Logger::Write(absl::Time now, Level level, absl::string_view link,
                   absl::string_view message) const {
  if (format_ == Format::kJson) {
    sink_(codec::JsonLogLine(now, LevelName(level), link, message));
    return;
  }
  sink_(absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()),
                     " ", program_, ": ", message));
}

}  // namespace kv::log
