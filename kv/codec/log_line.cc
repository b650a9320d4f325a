#include "kv/codec/log_line.h"

#include "absl/strings/escaping.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace kv::codec {
namespace {

// Refuses (String() returns false) strings that are not valid UTF-8.
using Writer =
    rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                      rapidjson::CrtAllocator, rapidjson::kWriteValidateEncodingFlag>;

bool Write(absl::Time time, absl::string_view level, absl::string_view link,
           absl::string_view message, rapidjson::StringBuffer* out) {
  Writer w(*out);
  const std::string stamp =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  auto str = [&w](absl::string_view s) {
    return w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  bool ok =
      w.StartObject() && w.Key("time") && str(stamp) && w.Key("level") && str(level);
  if (ok && !link.empty()) ok = w.Key("link") && str(link);
  return ok && w.Key("message") && str(message) && w.EndObject();
}

}  // namespace

std::string JsonLogLine(absl::Time time, absl::string_view level, absl::string_view link,
                        absl::string_view message) {
  rapidjson::StringBuffer buf;
  if (!Write(time, level, link, message, &buf)) {
    buf.Clear();
    Write(time, absl::CHexEscape(level), absl::CHexEscape(link),
          absl::CHexEscape(message), &buf);
  }
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace kv::codec
