#include "tests/testing/kvd_node.h"

#include <rapidjson/document.h>

#include <regex>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/testing/client.h"

namespace testing_util {

uint64_t KvdNode::node_number() const {
  uint64_t id = 0;
  return absl::SimpleHexAtoi(node_id_, &id) ? id : 0;
}
namespace {

uint64_t U64(const rapidjson::Value& obj, const char* field) {
  return obj.HasMember(field) && obj[field].IsUint64() ? obj[field].GetUint64() : 0;
}

// The last `lines` lines of `text`.
std::string Tail(const std::string& text, size_t lines) {
  std::vector<std::string> all = absl::StrSplit(text, '\n');
  const size_t from = all.size() > lines ? all.size() - lines : 0;
  return absl::StrJoin(all.begin() + from, all.end(), "\n");
}

}  // namespace

absl::StatusOr<std::unique_ptr<KvdNode>> KvdNode::Start(
    const std::string& kvd_path, const std::string& servers,
    const std::vector<std::string>& extra, absl::Duration timeout) {
  std::vector<std::string> args = {absl::StrCat("--server=", servers),
                                   "--heartbeat=200ms", "--first_replica_silence=400ms"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto process = Process::Start(kvd_path, args);
  if (!process.ok()) return process.status();
  std::unique_ptr<KvdNode> node(new KvdNode(*std::move(process)));
  Process& p = *node->process_;
  // kvd logs "serving kv.default.* (node ...)" and then "service kv ... id ...":
  // wait for the later line, so both ids can be read.
  if (!p.WaitForOutput("service kv ", timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("kvd did not start; output:\n", p.Output()));
  }
  const std::string out = p.Output();
  std::smatch m;
  if (std::regex_search(out, m, std::regex("service kv \\S+ id (\\w+)"))) {
    node->service_id_ = m[1];
  }
  if (std::regex_search(out, m,
                        std::regex("serving kv\\.default\\.\\* \\(node (\\w+)"))) {
    node->node_id_ = m[1];
  }
  if (node->service_id_.empty() || node->node_id_.empty()) {
    return absl::InternalError(absl::StrCat("cannot read ids from:\n", out));
  }
  if (!p.WaitForOutput(absl::StrCat("link default node ", node->node_id_, ": ready"),
                       timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("kvd not ready; output:\n", p.Output()));
  }
  return node;
}

std::string ReplicaStats::ToString() const {
  if (!error.empty()) return absl::StrCat(service_id, ": ", error);
  std::vector<std::string> v;
  for (const auto& [n, s] : vv) v.push_back(absl::StrCat(n, ":", s));
  return absl::StrCat(service_id, " node=", node, " ready=", ready, " keys=", keys,
                      " peers=", peers, " lag=", lag, " gaps=", gaps,
                      " catchups=", catchups, " digest=", digest, " vv={",
                      absl::StrJoin(v, ","), "}");
}

ReplicaStats StatsOf(natsConnection* nc, const std::string& service_id,
                     absl::Duration timeout) {
  ReplicaStats s;
  s.service_id = service_id;
  const Reply r = Call(nc, absl::StrCat("$SRV.STATS.kv.", service_id), "", timeout);
  if (!r.ok()) {
    s.error = "no STATS reply";
    return s;
  }
  rapidjson::Document d;
  d.Parse(r.data.c_str(), r.data.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("endpoints") ||
      !d["endpoints"].IsArray()) {
    s.error = absl::StrCat("bad STATS reply: ", r.data);
    return s;
  }
  for (const auto& e : d["endpoints"].GetArray()) {
    if (!e.HasMember("name") || !e["name"].IsString() ||
        std::string(e["name"].GetString()).rfind("default_", 0) != 0 ||
        !e.HasMember("data") || !e["data"].IsObject()) {
      continue;
    }
    const auto& data = e["data"];
    if (!data.HasMember("node") || !data["node"].IsString() || !data.HasMember("ready") ||
        !data["ready"].IsBool() || !data.HasMember("digest") ||
        !data["digest"].IsString() || !data.HasMember("vv") || !data["vv"].IsObject()) {
      s.error = absl::StrCat("incomplete STATS data: ", r.data);
      return s;
    }
    s.node = data["node"].GetString();
    s.ready = data["ready"].GetBool();
    s.keys = U64(data, "keys");
    s.peers = U64(data, "peers");
    s.lag = U64(data, "lag");
    s.gaps = U64(data, "gaps");
    s.catchups = U64(data, "catchups");
    s.tombstones = U64(data, "tombstones");
    s.memory_bytes = U64(data, "memory_bytes");
    s.max_memory = U64(data, "max_memory");
    s.evicted = U64(data, "evicted");
    s.expired = U64(data, "expired");
    s.digest = data["digest"].GetString();
    for (auto it = data["vv"].MemberBegin(); it != data["vv"].MemberEnd(); ++it) {
      s.vv[it->name.GetString()] = it->value.IsUint64() ? it->value.GetUint64() : 0;
    }
    return s;
  }
  s.error = absl::StrCat("no data for link default in: ", r.data);
  return s;
}

bool Converged(const std::vector<ReplicaStats>& stats) {
  if (stats.empty()) return false;
  for (const ReplicaStats& s : stats) {
    if (!s.error.empty() || !s.ready) return false;
    if (s.digest != stats[0].digest || s.vv != stats[0].vv) return false;
  }
  return true;
}

absl::Status WaitConverged(natsConnection* nc, const std::vector<KvdNode*>& nodes,
                           absl::Duration timeout) {
  std::vector<ReplicaStats> last;
  const bool ok = WaitFor(
      [&] {
        last.clear();
        for (KvdNode* n : nodes) last.push_back(StatsOf(nc, n->service_id()));
        return Converged(last);
      },
      timeout);
  if (ok) return absl::OkStatus();
  std::string out =
      absl::StrCat("no convergence after ", absl::FormatDuration(timeout), ":\n");
  for (const ReplicaStats& s : last) absl::StrAppend(&out, "  ", s.ToString(), "\n");
  for (KvdNode* n : nodes) {
    absl::StrAppend(&out, "---- log of kvd ", n->service_id(), "\n",
                    Tail(n->Output(), 40), "\n");
  }
  return absl::DeadlineExceededError(out);
}

}  // namespace testing_util
