#include "tools/kvctl_watch.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/codec/json.h"
#include "kv/codec/position.h"
#include "rapidjson/document.h"

namespace kv::tools {
namespace {

std::string Text(const rapidjson::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

absl::StatusOr<Change> FromJson(const rapidjson::Value& v) {
  if (!v.IsObject() || !v.HasMember("key") || !v["key"].IsString() ||
      !v.HasMember("revision") || !v["revision"].IsUint64() || !v.HasMember("type") ||
      !v["type"].IsString()) {
    return absl::InvalidArgumentError("not a change: key, revision and type expected");
  }
  Change c;
  c.base64 = v.HasMember("encoding") && v["encoding"].IsString() &&
             Text(v["encoding"]) == "base64";
  c.key = Text(v["key"]);
  if (c.base64 && !absl::Base64Unescape(Text(v["key"]), &c.key)) {
    return absl::InvalidArgumentError("key is not base64");
  }
  c.revision = v["revision"].GetUint64();
  c.type = Text(v["type"]);
  if (v.HasMember("op") && v["op"].IsString()) c.op = Text(v["op"]);
  if (v.HasMember("value") && v["value"].IsString()) c.value = Text(v["value"]);
  for (const char* f : {"value", "length", "size"}) {
    if (v.HasMember(f) && v[f].IsInt64()) {
      c.count_field = f;
      c.count = v[f].GetInt64();
    }
  }
  if (v.HasMember("origin") && v["origin"].IsString()) {
    uint64_t origin = 0;
    if (!absl::SimpleHexAtoi(Text(v["origin"]), &origin)) {
      return absl::InvalidArgumentError("origin is not hex");
    }
    c.origin = origin;
  }
  if (v.HasMember("seq") && v["seq"].IsUint64()) c.seq = v["seq"].GetUint64();
  c.truncated =
      v.HasMember("truncated") && v["truncated"].IsBool() && v["truncated"].GetBool();
  return c;
}

}  // namespace

std::vector<std::string> WatchSubjects(absl::string_view link, absl::string_view prefix) {
  const std::string base = absl::StrCat("kv.", link, ".changes.");
  if (absl::EndsWith(prefix, ".") &&
      codec::IsSubjectKey(prefix.substr(0, prefix.size() - 1))) {
    return {absl::StrCat(base, prefix, ">"), absl::StrCat(base, "_b64.>"),
            absl::StrCat(base, "_h.>")};
  }
  return {absl::StrCat(base, ">")};
}

absl::StatusOr<Change> ParseChange(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError()) return absl::InvalidArgumentError("not JSON");
  return FromJson(doc);
}

absl::StatusOr<WatchPage> ParseWatchPage(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("entries") ||
      !doc["entries"].IsArray() || !doc.HasMember("position") ||
      !doc["position"].IsString()) {
    return absl::InvalidArgumentError("not a watch reply: entries and position expected");
  }
  WatchPage page;
  for (const rapidjson::Value& e : doc["entries"].GetArray()) {
    absl::StatusOr<Change> c = FromJson(e);
    if (!c.ok()) return c.status();
    page.entries.push_back(*std::move(c));
  }
  if (doc.HasMember("cursor") && doc["cursor"].IsString()) {
    page.cursor = Text(doc["cursor"]);
  }
  const std::string position = Text(doc["position"]);
  if (!position.empty()) {
    absl::StatusOr<store::VersionVector> v = codec::ParsePosition(position);
    if (!v.ok()) return v.status();
    page.position = *std::move(v);
  }
  return page;
}

void SnapshotRule::AddPage(const WatchPage& page) {
  ranges_.push_back({page.cursor, page.position});
}

bool SnapshotRule::Covered(const Change& change) const {
  if (change.seq == 0) return false;
  for (const Range& r : ranges_) {
    if (!r.last.empty() && change.key > r.last) continue;  // a later page's
    auto it = r.position.find(change.origin);
    return it != r.position.end() && change.seq <= it->second;
  }
  return false;
}

// `s` with its control characters (C0, DEL) as \xNN: a key or value written by
// anyone must not drive the watcher's terminal.
std::string Printable(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, absl::StrFormat("\\x%02x", c));
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string FormatChange(const Change& c) {
  std::string line = c.op.empty() ? "=" : c.op;
  absl::StrAppend(&line, " ", Printable(c.key));
  if (c.value.has_value()) {
    absl::StrAppend(&line, " = ", Printable(*c.value), c.base64 ? " (base64)" : "",
                    c.truncated ? " (truncated)" : "");
  } else if (!c.count_field.empty()) {
    absl::StrAppend(&line, " ", c.count_field == "value" ? "=" : c.count_field,
                    c.count_field == "value" ? " " : "=", c.count);
  }
  absl::StrAppend(&line, "  [rev ", c.revision);
  if (c.origin != 0) absl::StrAppend(&line, absl::StrFormat(" %016x", c.origin));
  if (c.seq != 0) absl::StrAppend(&line, ":", c.seq);
  absl::StrAppend(&line, "]");
  return line;
}

}  // namespace kv::tools
