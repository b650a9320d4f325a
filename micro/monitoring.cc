// The $SRV.PING / INFO / STATS verbs: their subscriptions, their handling, and
// the marshalling of their io.nats.micro.v1 responses.

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "micro/json.h"
#include "micro/service.h"
#include "micro/service_internal.h"
#include "micro/status_macros.h"

namespace micro {
namespace {

// True if `json` looks like the text of a JSON object.
bool LooksLikeObject(absl::string_view json) {
  json = absl::StripAsciiWhitespace(json);
  return json.size() >= 2 && json.front() == '{' && json.back() == '}';
}

void WriteCommonFields(JsonWriter& w, const char* type, const ServiceConfig& config,
                       absl::string_view id) {
  w.Key("type");
  w.String(type);
  w.Key("name");
  w.String(config.name);
  w.Key("id");
  w.String(id);
  w.Key("version");
  w.String(config.version);
  w.Key("metadata");
  w.StringMap(config.metadata);
}

// The name, subject and (unless none) queue group of an endpoint, as INFO
// and STATS report them.
void WriteEndpointIdentity(JsonWriter& w, const internal::EndpointInfo& e) {
  w.Key("name");
  w.String(e.name);
  w.Key("subject");
  w.String(e.subject);
  if (!e.queue_group.empty()) {
    w.Key("queue_group");
    w.String(e.queue_group);
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Marshalling

namespace internal {

std::string MarshalPing(const ServiceConfig& config, absl::string_view id) {
  JsonWriter w;
  w.BeginObject();
  WriteCommonFields(w, kPingResponseType, config, id);
  w.EndObject();
  return w.Take();
}

std::string MarshalInfo(const ServiceConfig& config, absl::string_view id,
                        const std::vector<const EndpointInfo*>& endpoints) {
  JsonWriter w;
  w.BeginObject();
  WriteCommonFields(w, kInfoResponseType, config, id);
  w.Key("description");
  w.String(config.description);
  w.Key("endpoints");
  w.BeginArray();
  for (const EndpointInfo* e : endpoints) {
    w.BeginObject();
    WriteEndpointIdentity(w, *e);
    w.Key("metadata");
    w.StringMap(e->metadata);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

std::string MarshalStats(const ServiceConfig& config, absl::string_view id,
                         absl::Time started,
                         const std::vector<EndpointReport>& endpoints) {
  JsonWriter w;
  w.BeginObject();
  WriteCommonFields(w, kStatsResponseType, config, id);
  w.Key("started");
  w.String(absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", started, absl::UTCTimeZone()));
  w.Key("endpoints");
  w.BeginArray();
  for (const EndpointReport& e : endpoints) {
    const EndpointStats& s = e.stats;
    w.BeginObject();
    WriteEndpointIdentity(w, *e.info);
    w.Key("num_requests");
    w.Int(s.num_requests);
    w.Key("num_errors");
    w.Int(s.num_errors);
    w.Key("last_error");
    w.String(s.last_error);
    w.Key("processing_time");
    w.Int(s.processing_time_ns);
    w.Key("average_processing_time");
    w.Int(s.num_requests == 0 ? 0 : s.processing_time_ns / s.num_requests);
    if (LooksLikeObject(e.data)) {
      w.Key("data");
      w.Raw(absl::StripAsciiWhitespace(e.data));
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

}  // namespace internal

// ---------------------------------------------------------------------------
// Handling

absl::Status Service::SubscribeMonitoring() {
  static const char* const kVerbNames[] = {"PING", "INFO", "STATS"};
  for (Verb verb : {Verb::kPing, Verb::kInfo, Verb::kStats}) {
    const std::string base = absl::StrCat("$SRV.", kVerbNames[static_cast<int>(verb)]);
    const std::string subjects[] = {base, absl::StrCat(base, ".", config_.name),
                                    absl::StrCat(base, ".", config_.name, ".", id_)};
    for (const std::string& subject : subjects) {
      auto sub = std::make_unique<Subscription>();
      sub->verb = verb;
      // No queue group: every instance answers.
      MICRO_RETURN_IF_ERROR(Subscribe(std::move(sub), subject, ""));
    }
  }
  return absl::OkStatus();
}

void Service::HandleMonitoring(Verb verb, natsConnection* nc, natsMsg* msg) const {
  // The request body (often "{}") carries nothing: ignore it.
  const char* reply = natsMsg_GetReply(msg);
  if (reply == nullptr || reply[0] == '\0') return;
  std::string body;
  switch (verb) {
    case Verb::kPing:
      body = PingJson();
      break;
    case Verb::kInfo:
      body = InfoJson();
      break;
    case Verb::kStats:
      body = StatsJson();
      break;
  }
  natsConnection_Publish(nc, reply, body.data(), static_cast<int>(body.size()));
}

std::string Service::PingJson() const { return internal::MarshalPing(config_, id_); }

std::string Service::InfoJson() const {
  // Endpoints live as long as the service and their info is constant.
  std::vector<const internal::EndpointInfo*> endpoints;
  {
    absl::MutexLock lock(&mu_);
    endpoints.reserve(endpoints_.size());
    for (const internal::Endpoint* e : endpoints_) endpoints.push_back(&e->info);
  }
  return internal::MarshalInfo(config_, id_, endpoints);
}

std::string Service::StatsJson() const {
  std::vector<internal::EndpointReport> reports;
  {
    absl::MutexLock lock(&mu_);
    reports.reserve(endpoints_.size());
    for (const internal::Endpoint* e : endpoints_) {
      absl::MutexLock endpoint_lock(&e->mu);
      reports.push_back({&e->info, e->stats, ""});
    }
  }
  // With no service lock held: stats_data may take its own locks.
  if (config_.stats_data) {
    for (internal::EndpointReport& r : reports) {
      try {
        r.data = config_.stats_data(r.info->name);
      } catch (...) {
        r.data.clear();
      }
    }
  }
  return internal::MarshalStats(config_, id_, started_, reports);
}

std::vector<EndpointMetrics> Service::Metrics() const {
  std::vector<EndpointMetrics> out;
  absl::MutexLock lock(&mu_);
  out.reserve(endpoints_.size());
  for (const internal::Endpoint* e : endpoints_) {
    EndpointMetrics m;
    m.name = e->info.name;
    m.metadata = e->info.metadata;
    absl::MutexLock endpoint_lock(&e->mu);
    m.num_requests = e->stats.num_requests;
    m.num_errors = e->stats.num_errors;
    m.errors_by_code = e->stats.errors_by_code;
    m.latency = e->stats.latency;
    out.push_back(std::move(m));
  }
  return out;
}

void Service::ResetStats() {
  absl::MutexLock lock(&mu_);
  for (internal::Endpoint* e : endpoints_) {
    absl::MutexLock endpoint_lock(&e->mu);
    e->stats = internal::EndpointStats();
  }
}

}  // namespace micro
