#include "tools/kvctl_discovery.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rapidjson/document.h"
#include "tools/kvctl_table.h"

namespace kv::tools {
namespace {

std::string StringField(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

int64_t IntField(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return 0;
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsNumber()) return 0;
  return it->value.IsInt64() ? it->value.GetInt64()
                             : static_cast<int64_t>(it->value.GetDouble());
}

// The replies that parse as JSON objects, sorted by name then id.
std::vector<std::unique_ptr<rapidjson::Document>> ParseInstances(
    const std::vector<std::string>& replies) {
  std::vector<std::unique_ptr<rapidjson::Document>> docs;
  for (const std::string& reply : replies) {
    auto doc = std::make_unique<rapidjson::Document>();
    doc->Parse(reply.data(), reply.size());
    if (!doc->HasParseError() && doc->IsObject()) docs.push_back(std::move(doc));
  }
  std::sort(docs.begin(), docs.end(), [](const auto& a, const auto& b) {
    return std::make_pair(StringField(*a, "name"), StringField(*a, "id")) <
           std::make_pair(StringField(*b, "name"), StringField(*b, "id"));
  });
  return docs;
}

const rapidjson::Value* Endpoints(const rapidjson::Document& doc) {
  auto it = doc.FindMember("endpoints");
  if (it == doc.MemberEnd() || !it->value.IsArray()) return nullptr;
  return &it->value;
}

std::string IndentLines(const std::string& text, const std::string& indent) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    absl::StrAppend(&out, indent, text.substr(start, end - start), "\n");
    start = end + 1;
  }
  return out;
}

}  // namespace

std::string FormatNanos(int64_t nanos) {
  if (nanos < 1000) return absl::StrCat(nanos, "ns");
  if (nanos < 1000000) return absl::StrFormat("%.1fus", nanos / 1e3);
  if (nanos < 1000000000) return absl::StrFormat("%.2fms", nanos / 1e6);
  return absl::StrFormat("%.2fs", nanos / 1e9);
}

std::string FormatPingReplies(const std::vector<std::string>& replies) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& doc : ParseInstances(replies)) {
    rows.push_back({StringField(*doc, "name"), StringField(*doc, "id"),
                    StringField(*doc, "version")});
  }
  return FormatTable({{"NAME"}, {"ID"}, {"VERSION"}}, rows);
}

std::string FormatInfoReplies(const std::vector<std::string>& replies) {
  std::string out;
  for (const auto& doc : ParseInstances(replies)) {
    if (!out.empty()) out += "\n";
    absl::StrAppend(&out, StringField(*doc, "name"), " ", StringField(*doc, "version"),
                    "  id ", StringField(*doc, "id"));
    const std::string description = StringField(*doc, "description");
    if (!description.empty()) absl::StrAppend(&out, "  (", description, ")");
    out += "\n";
    std::vector<std::vector<std::string>> rows;
    if (const rapidjson::Value* endpoints = Endpoints(*doc)) {
      for (const rapidjson::Value& e : endpoints->GetArray()) {
        rows.push_back({StringField(e, "name"), StringField(e, "subject"),
                        StringField(e, "queue_group")});
      }
    }
    out += IndentLines(FormatTable({{"ENDPOINT"}, {"SUBJECT"}, {"QUEUE GROUP"}}, rows),
                       "  ");
  }
  return out;
}

std::string FormatStatsReplies(const std::vector<std::string>& replies) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& doc : ParseInstances(replies)) {
    const std::string instance =
        absl::StrCat(StringField(*doc, "name"), "/", StringField(*doc, "id"));
    const rapidjson::Value* endpoints = Endpoints(*doc);
    if (endpoints == nullptr) continue;
    for (const rapidjson::Value& e : endpoints->GetArray()) {
      rows.push_back({instance, StringField(e, "name"),
                      absl::StrCat(IntField(e, "num_requests")),
                      absl::StrCat(IntField(e, "num_errors")),
                      FormatNanos(IntField(e, "average_processing_time")),
                      StringField(e, "last_error")});
    }
  }
  return FormatTable({{"INSTANCE"},
                      {"ENDPOINT"},
                      {"REQUESTS", true},
                      {"ERRORS", true},
                      {"AVG LATENCY", true},
                      {"LAST ERROR"}},
                     rows);
}

}  // namespace kv::tools
