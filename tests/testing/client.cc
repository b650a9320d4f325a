#include "tests/testing/client.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/testing/harness.h"

namespace testing_util {

std::string Quote(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7F) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string KeyBody(absl::string_view key) {
  return absl::StrCat("{\"key\":", Quote(key), "}");
}

std::string KeyValueBody(absl::string_view key, absl::string_view value) {
  return absl::StrCat("{\"key\":", Quote(key), ",\"value\":", Quote(value), "}");
}

std::string KeyIntBody(absl::string_view key, int64_t value) {
  return absl::StrCat("{\"key\":", Quote(key), ",\"value\":", value, "}");
}

std::string RangeBody(absl::string_view key, int64_t start, int64_t stop) {
  return absl::StrCat("{\"key\":", Quote(key), ",\"start\":", start, ",\"stop\":", stop,
                      "}");
}

std::string KeysBody(const std::vector<std::string>& keys) {
  std::vector<std::string> quoted;
  quoted.reserve(keys.size());
  for (const std::string& k : keys) quoted.push_back(Quote(k));
  return absl::StrCat("{\"keys\":[", absl::StrJoin(quoted, ","), "]}");
}

int Reply::code() const {
  auto it = headers.find("Nats-Service-Error-Code");
  int c = 0;
  if (it == headers.end() || !absl::SimpleAtoi(it->second, &c)) return 0;
  return c;
}

Reply ToReply(natsMsg* msg) {
  Reply r;
  r.data.assign(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  // The revision is the last member of a reply object ({..,"revision":N}).
  static const std::string kRevision = "\"revision\":";
  if (const size_t at = r.data.rfind(kRevision);
      at != std::string::npos && absl::EndsWith(r.data, "}") &&
      absl::SimpleAtoi(
          absl::string_view(r.data).substr(at + kRevision.size(),
                                           r.data.size() - 1 - at - kRevision.size()),
          &r.revision)) {
    const bool comma = at > 0 && r.data[at - 1] == ',';
    r.data.erase(at - (comma ? 1 : 0), r.data.size() - 1 - at + (comma ? 1 : 0));
  }
  r.headers = MessageHeaders(msg);
  natsMsg_Destroy(msg);
  return r;
}

Reply Call(natsConnection* nc, absl::string_view subject, absl::string_view body,
           absl::Duration timeout) {
  const std::string subject_str(subject);
  natsMsg* msg = nullptr;
  Reply r;
  r.status = natsConnection_Request(&msg, nc, subject_str.c_str(), body.data(),
                                    static_cast<int>(body.size()),
                                    absl::ToInt64Milliseconds(timeout));
  if (r.status != NATS_OK) return r;
  return ToReply(msg);
}

Reply CallWithHeaders(natsConnection* nc, absl::string_view subject,
                      absl::string_view body,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      absl::Duration timeout) {
  const std::string subject_str(subject);
  natsMsg* request = nullptr;
  natsMsg* msg = nullptr;
  Reply r;
  r.status = natsMsg_Create(&request, subject_str.c_str(), nullptr, body.data(),
                            static_cast<int>(body.size()));
  for (const auto& [name, value] : headers) {
    if (r.status == NATS_OK) {
      r.status = natsMsgHeader_Set(request, name.c_str(), value.c_str());
    }
  }
  if (r.status == NATS_OK) {
    r.status =
        natsConnection_RequestMsg(&msg, nc, request, absl::ToInt64Milliseconds(timeout));
  }
  natsMsg_Destroy(request);
  if (r.status != NATS_OK) return r;
  return ToReply(msg);
}

}  // namespace testing_util
