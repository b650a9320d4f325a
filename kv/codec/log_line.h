// kvd's log lines as JSON (--log_format=json): one object per line, for log
// shippers.
#ifndef KV_CODEC_LOG_LINE_H_
#define KV_CODEC_LOG_LINE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kv::codec {

// {"time":"2026-12-02T10:18:29.123Z","level":<level>,"message":<message>}
// with "link":<link> after "level" when `link` is not empty; no newline. The
// time is RFC 3339 in UTC with milliseconds. The result is valid JSON for any
// bytes: a message that is not valid UTF-8 is written with its non-ASCII and
// control bytes as \xNN text.
std::string JsonLogLine(absl::Time time, absl::string_view level, absl::string_view link,
                        absl::string_view message);

}  // namespace kv::codec

#endif  // KV_CODEC_LOG_LINE_H_
