// kvd's log: one line per event that matters, to stderr, as text or as JSON
// (--log_format), rate limited by kv::log::Limiter (at most 5 lines of one kind
// per 10 s, the rest summarised) so that no flood of requests or peer messages
// floods the log.
#ifndef KV_LOG_LOGGER_H_
#define KV_LOG_LOGGER_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kv/log/limiter.h"

namespace kv::log {

enum class Format {
  kText,  // "2026-12-02T10:18:29.123Z kvd: <message>"
  kJson,  // {"time":...,"level":...,"link":...,"message":...} (kv/codec/log_line.h)
};

// "text" or "json"; InvalidArgument otherwise.
absl::StatusOr<Format> ParseFormat(absl::string_view name);

enum class Level { kInfo, kWarning, kError };

// "info", "warning", "error".
absl::string_view LevelName(Level level);

// The level of a line whose writer did not say: kWarning when it reports a
// failure or a loss ("cannot ", "failed", "lost", "stale", "refused",
// "closed", "disconnected", "error"), else kInfo.
Level GuessLevel(absl::string_view message);

// Thread safety: thread-safe.
class Logger {
 public:
  // Receives each line to write, without its newline.
  using Sink = std::function<void(absl::string_view line)>;

  // Lines of `program` (the text format's prefix) in `format`, to `sink`
  // (nullptr: stderr), stamped with `now()` (nullptr: absl::Now).
  Logger(absl::string_view program, Format format, Sink sink = nullptr,
         std::function<absl::Time()> now = nullptr);
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Logs `message`, about `link` when not empty, unless its kind is over its
  // rate (then it is counted and summarised later). Lines of one kind are
  // those the Limiter tells apart by their message.
  void Log(Level level, absl::string_view link, absl::string_view message)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Writes the summaries of the windows that ended (level info, no link); call
  // every second or so.
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Write(absl::Time now, Level level, absl::string_view link,
             absl::string_view message) const;

  const std::string program_;
  const Format format_;
  const Sink sink_;
  const std::function<absl::Time()> now_;

  absl::Mutex mu_;
  Limiter limiter_ ABSL_GUARDED_BY(mu_){absl::Seconds(10), 5};
};

}  // namespace kv::log

#endif  // KV_LOG_LOGGER_H_
