#include "tools/kvctl_status.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/document.h"
#include "tools/kvctl_table.h"

namespace kv::tools {
namespace {

std::string String(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<int64_t> Int(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsNumber()) return std::nullopt;
  if (it->value.IsInt64()) return it->value.GetInt64();
  return static_cast<int64_t>(it->value.GetDouble());
}

std::string Optional(const std::optional<int64_t>& v) {
  return v.has_value() ? absl::StrCat(*v) : "-";
}

// "<node>/<instance>" for messages.
std::string Who(const ReplicaRow& r) { return absl::StrCat(r.node, "/", r.instance); }

}  // namespace

std::vector<ReplicaRow> ParseReplicaRows(const std::vector<std::string>& replies,
                                         const std::string& link) {
  std::vector<ReplicaRow> rows;
  for (const std::string& reply : replies) {
    rapidjson::Document doc;
    doc.Parse(reply.data(), reply.size());
    if (doc.HasParseError() || !doc.IsObject()) continue;
    auto endpoints = doc.FindMember("endpoints");
    if (endpoints == doc.MemberEnd() || !endpoints->value.IsArray()) continue;
    const std::string instance = String(doc, "id");
    std::set<std::string> seen;  // links of this instance
    for (const rapidjson::Value& e : endpoints->value.GetArray()) {
      if (!e.IsObject()) continue;
      auto data = e.FindMember("data");
      if (data == e.MemberEnd() || !data->value.IsObject()) continue;
      const rapidjson::Value& d = data->value;
      ReplicaRow row;
      row.link = String(d, "link");
      row.node = String(d, "node");
      if (row.link.empty() || row.node.empty()) continue;
      if (!link.empty() && row.link != link) continue;
      if (!seen.insert(row.link).second) continue;
      row.instance = instance;
      auto ready = d.FindMember("ready");
      row.ready =
          ready != d.MemberEnd() && ready->value.IsBool() && ready->value.GetBool();
      row.keys = Int(d, "live_keys").value_or(Int(d, "keys").value_or(0));
      row.tombstones = Int(d, "tombstones");
      row.memory_bytes = Int(d, "memory_bytes");
      row.peers = Int(d, "peers").value_or(0);
      row.lag = Int(d, "lag").value_or(0);
      row.digest = String(d, "digest");
      rows.push_back(std::move(row));
    }
  }
  std::sort(rows.begin(), rows.end(), [](const ReplicaRow& a, const ReplicaRow& b) {
    return std::tie(a.link, a.node, a.instance) < std::tie(b.link, b.node, b.instance);
  });
  return rows;
}

std::vector<bool> Disagreeing(const std::vector<ReplicaRow>& rows) {
  // Per link: how many replicas hold each digest.
  std::map<std::string, std::map<std::string, int>> counts;
  for (const ReplicaRow& r : rows) ++counts[r.link][r.digest];
  std::map<std::string, std::string> agreed;  // link -> the strict plurality
  for (const auto& [link, by_digest] : counts) {
    int best = 0;
    int holders = 0;
    std::string digest;
    for (const auto& [d, n] : by_digest) {
      if (n > best) {
        best = n;
        holders = 1;
        digest = d;
      } else if (n == best) {
        ++holders;
      }
    }
    if (holders == 1) agreed[link] = digest;
  }
  std::vector<bool> out;
  out.reserve(rows.size());
  for (const ReplicaRow& r : rows) {
    auto it = agreed.find(r.link);
    out.push_back(it == agreed.end() || it->second != r.digest);
  }
  return out;
}

std::string FormatReplicaRows(const std::vector<ReplicaRow>& rows) {
  const std::vector<bool> differs = Disagreeing(rows);
  std::vector<std::vector<std::string>> cells;
  for (size_t i = 0; i < rows.size(); ++i) {
    const ReplicaRow& r = rows[i];
    cells.push_back({Who(r), r.link, r.ready ? "yes" : "no", absl::StrCat(r.keys),
                     Optional(r.tombstones), Optional(r.memory_bytes),
                     absl::StrCat(r.peers), absl::StrCat(r.lag), r.digest,
                     differs[i] ? "no" : "yes"});
  }
  return FormatTable({{"NODE/INSTANCE"},
                      {"LINK"},
                      {"READY"},
                      {"KEYS", true},
                      {"TOMBSTONES", true},
                      {"MEMORY", true},
                      {"PEERS", true},
                      {"LAG", true},
                      {"DIGEST"},
                      {"AGREES"}},
                     cells);
}

Agreement CheckAgreement(const std::vector<ReplicaRow>& rows, const std::string& link) {
  Agreement a;
  if (rows.empty()) {
    a.message = absl::StrCat("no replica of link ", link, " answered");
    return a;
  }
  std::vector<std::string> not_ready;
  for (const ReplicaRow& r : rows) {
    if (!r.ready) not_ready.push_back(Who(r));
  }
  std::map<std::string, std::vector<std::string>> by_digest;
  for (const ReplicaRow& r : rows) by_digest[r.digest].push_back(Who(r));
  if (not_ready.empty() && by_digest.size() == 1) {
    a.ok = true;
    a.message = absl::StrCat(rows.size(), rows.size() == 1 ? " replica" : " replicas",
                             " of link ", link, " agree: digest ", rows[0].digest);
    return a;
  }
  std::vector<std::string> lines;
  if (!not_ready.empty()) {
    lines.push_back(absl::StrCat("not ready: ", absl::StrJoin(not_ready, ", ")));
  }
  if (by_digest.size() > 1) {
    lines.push_back(absl::StrCat("replicas of link ", link, " differ:"));
    const std::vector<bool> differs = Disagreeing(rows);
    for (size_t i = 0; i < rows.size(); ++i) {
      lines.push_back(absl::StrCat("  ", Who(rows[i]), " digest ", rows[i].digest,
                                   " keys ", rows[i].keys,
                                   differs[i] ? "  (differs)" : ""));
    }
  }
  a.message = absl::StrJoin(lines, "\n");
  return a;
}

}  // namespace kv::tools
