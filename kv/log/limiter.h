// Rate limiting of log lines, so that a burst of one kind of event (a flood of
// requests, a hostile peer) cannot flood the log: at most `burst` lines of one
// kind per `interval`, the rest counted and summarised in one line.
#ifndef KV_LOG_LIMITER_H_
#define KV_LOG_LIMITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kv::log {

// Lines are of one kind when their first 80 bytes are equal once every word that
// holds a digit (a number, a hex node id) is replaced by '#': "served catch-up to
// 00ab12: 5 keys" and "served catch-up to 9cd034: 7 keys" are of one kind.
// At most 1,024 kinds are told apart; lines of further kinds share one limit.
//
// Thread safety: not thread-safe; the caller serialises calls. Pure: time is
// passed in.
class Limiter {
 public:
  Limiter(absl::Duration interval, int burst) : interval_(interval), burst_(burst) {}
  Limiter(const Limiter&) = delete;
  Limiter& operator=(const Limiter&) = delete;

  // The lines to write for `line` at `now`: nothing while its kind is over its
  // burst; else the summary of what its kind suppressed in the window that ended
  // (if anything), then the line.
  std::vector<std::string> Filter(absl::string_view line, absl::Time now);

  // Summaries of the windows that ended by `now` with suppressed lines; forgets
  // kinds that were quiet for a whole window. Call periodically.
  std::vector<std::string> Flush(absl::Time now);

  // The kind of `line` (see above).
  static std::string KindOf(absl::string_view line);

 private:
  struct Kind {
    absl::Time window_start;
    int written = 0;
    uint64_t suppressed = 0;
    std::string example;  // the first suppressed line
  };
  static constexpr size_t kMaxKinds = 1024;

  static std::string Summary(const Kind& k, absl::Duration interval);

  const absl::Duration interval_;
  const int burst_;
  absl::flat_hash_map<std::string, Kind> kinds_;
};

}  // namespace kv::log

#endif  // KV_LOG_LIMITER_H_
