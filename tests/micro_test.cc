// Integration tests of micro::Service against a real nats-server.

#include <nats/nats.h>
#include <rapidjson/document.h>

#include <atomic>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "micro/service.h"
#include "tests/testing/client.h"
#include "tests/testing/harness.h"

namespace {

using ::micro::EndpointConfig;
using ::micro::kErrorCodeHeader;
using ::micro::kErrorHeader;
using ::micro::Request;
using ::micro::RouterConfig;
using ::micro::Service;
using ::micro::ServiceConfig;
using ::testing_util::ConnectionPtr;
using ::testing_util::NatsServer;
using ::testing_util::Reply;
using ::testing_util::ToReply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(10);

// Sends one request and returns its reply, or nullopt on timeout / no
// responders.
absl::optional<Reply> Call(natsConnection* nc, const std::string& subject,
                           const std::string& data = "") {
  Reply r = testing_util::Call(nc, subject, data, kTimeout);
  if (!r.ok()) return absl::nullopt;
  return r;
}

// Sends a request with one header; returns the reply message (caller
// destroys it), or nullptr.
natsMsg* CallWithHeader(natsConnection* nc, const char* subject, const std::string& data,
                        const char* key, const std::string& value) {
  natsMsg* req = nullptr;
  natsMsg* resp = nullptr;
  natsStatus s =
      natsMsg_Create(&req, subject, nullptr, data.data(), static_cast<int>(data.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(req, key, value.c_str());
  if (s == NATS_OK) {
    s = natsConnection_RequestMsg(&resp, nc, req, absl::ToInt64Milliseconds(kTimeout));
  }
  natsMsg_Destroy(req);
  return s == NATS_OK ? resp : nullptr;
}

// Publishes a request with body "{}" to `subject` and collects the replies
// on an inbox until `expected` came (then waits `grace` for extra ones) or
// the deadline passes.
std::vector<std::string> Collect(natsConnection* nc, const std::string& subject,
                                 size_t expected,
                                 absl::Duration grace = absl::Milliseconds(200)) {
  std::vector<std::string> replies;
  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  EXPECT_EQ(natsInbox_Create(&inbox), NATS_OK);
  EXPECT_EQ(natsConnection_SubscribeSync(&sub, nc, inbox), NATS_OK);
  EXPECT_EQ(natsConnection_PublishRequestString(nc, subject.c_str(), inbox, "{}"),
            NATS_OK);
  const absl::Time deadline = absl::Now() + kTimeout;
  while (true) {
    const absl::Duration left =
        replies.size() < expected ? deadline - absl::Now() : grace;
    if (left <= absl::ZeroDuration()) break;
    natsMsg* msg = nullptr;
    if (natsSubscription_NextMsg(&msg, sub,
                                 std::max<int64_t>(1, absl::ToInt64Milliseconds(left))) !=
        NATS_OK) {
      break;
    }
    replies.push_back(ToReply(msg).data);
  }
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
  return replies;
}

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  EXPECT_FALSE(doc.HasParseError()) << json;
  return doc;
}

std::set<std::string> Keys(const rapidjson::Value& obj) {
  std::set<std::string> keys;
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    keys.insert(it->name.GetString());
  }
  return keys;
}

void ExpectStringMap(const rapidjson::Value& v,
                     const std::map<std::string, std::string>& want) {
  ASSERT_TRUE(v.IsObject());
  std::map<std::string, std::string> got;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    ASSERT_TRUE(it->value.IsString());
    got[it->name.GetString()] = it->value.GetString();
  }
  EXPECT_EQ(got, want);
}

void ExpectNanos(const rapidjson::Value& obj, const char* key) {
  ASSERT_TRUE(obj.HasMember(key)) << key;
  // An integer (never a float), non-negative.
  ASSERT_TRUE(obj[key].IsInt64()) << key;
  EXPECT_GE(obj[key].GetInt64(), 0) << key;
}

class MicroServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = NatsServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = NewConnection();
    ASSERT_NE(client_, nullptr);
  }

  ConnectionPtr NewConnection(testing_util::ConnectOptions options = {}) {
    auto nc = testing_util::Connect(server_->url(), std::move(options));
    EXPECT_TRUE(nc.ok()) << nc.status();
    return nc.ok() ? std::move(*nc) : nullptr;
  }

  // A service as kvd runs one: on a buffering connection, with a prompt one
  // for lone replies. Members go in reverse order: the service first.
  struct PromptService {
    ConnectionPtr nc;
    ConnectionPtr prompt;
    std::unique_ptr<Service> service;
  };
  PromptService StartPromptService(const std::string& name) {
    testing_util::ConnectOptions buffered;
    buffered.send_asap = false;
    PromptService p{NewConnection(buffered), NewConnection(), nullptr};
    ServiceConfig config = Config(name);
    config.prompt_nc = p.prompt.get();
    p.service = StartService(p.nc.get(), config);
    return p;
  }

  static std::unique_ptr<Service> StartService(natsConnection* nc, ServiceConfig config) {
    auto service = Service::Start(nc, std::move(config));
    EXPECT_TRUE(service.ok()) << service.status();
    return service.ok() ? std::move(*service) : nullptr;
  }

  static ServiceConfig Config(const std::string& name) {
    ServiceConfig config;
    config.name = name;
    config.version = "1.2.3-rc.1+build.7";
    return config;
  }

  std::unique_ptr<NatsServer> server_;
  ConnectionPtr client_;
};

TEST_F(MicroServiceTest, DiscoveryAtAllThreeLevelsWithTwoInstances) {
  ConnectionPtr nc1 = NewConnection();
  ConnectionPtr nc2 = NewConnection();
  ConnectionPtr nc3 = NewConnection();
  auto s1 = StartService(nc1.get(), Config("svc"));
  auto s2 = StartService(nc2.get(), Config("svc"));
  auto other = StartService(nc3.get(), Config("other"));
  ASSERT_TRUE(s1 && s2 && other);
  ASSERT_NE(s1->id(), s2->id());

  const std::map<std::string, std::string> types = {{"PING", micro::kPingResponseType},
                                                    {"INFO", micro::kInfoResponseType},
                                                    {"STATS", micro::kStatsResponseType}};
  for (const auto& [verb, type] : types) {
    SCOPED_TRACE(verb);
    // $SRV.<VERB>: every instance of every service.
    std::multiset<std::string> ids;
    for (const std::string& json : Collect(client_.get(), "$SRV." + verb, 3)) {
      rapidjson::Document doc = Parse(json);
      EXPECT_EQ(std::string(doc["type"].GetString()), type);
      ids.insert(doc["id"].GetString());
    }
    EXPECT_EQ(ids, (std::multiset<std::string>{s1->id(), s2->id(), other->id()}));
    // $SRV.<VERB>.<name>: the two instances of "svc".
    ids.clear();
    for (const std::string& json : Collect(client_.get(), "$SRV." + verb + ".svc", 2)) {
      rapidjson::Document doc = Parse(json);
      EXPECT_EQ(std::string(doc["name"].GetString()), "svc");
      ids.insert(doc["id"].GetString());
    }
    EXPECT_EQ(ids, (std::multiset<std::string>{s1->id(), s2->id()}));
    // $SRV.<VERB>.<name>.<id>: exactly that instance.
    const std::vector<std::string> one =
        Collect(client_.get(), "$SRV." + verb + ".svc." + s2->id(), 1);
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(std::string(Parse(one[0])["id"].GetString()), s2->id());
    // A wrong id or name gets no answer.
    natsMsg* msg = nullptr;
    EXPECT_NE(
        natsConnection_RequestString(&msg, client_.get(),
                                     ("$SRV." + verb + ".svc.nosuchid").c_str(), "", 200),
        NATS_OK);
  }
}

TEST_F(MicroServiceTest, ResponseShapesAndTypes) {
  ConnectionPtr nc = NewConnection();
  ServiceConfig config = Config("shapes");
  config.description = "a \"quoted\"\ndescription";
  config.stats_data = [](absl::string_view endpoint) -> std::string {
    return endpoint == "one" ? "{\"n\": 7}" : "";
  };
  auto service = StartService(nc.get(), config);
  ASSERT_TRUE(service);
  EndpointConfig one;
  one.name = "one";
  one.metadata = {{"k", "v"}};
  one.handler = [](Request& r) { return r.Respond("ok"); };
  ASSERT_TRUE(service->AddEndpoint(one).ok());
  EndpointConfig two;
  two.name = "two";
  two.subject = "shapes.two.*";
  two.queue_group = "workers";
  two.handler = one.handler;
  ASSERT_TRUE(service->AddEndpoint(two).ok());
  const absl::Time before_start = absl::Now() - absl::Seconds(5);

  // PING.
  auto ping = Call(client_.get(), "$SRV.PING.shapes." + service->id(), "{}");
  ASSERT_TRUE(ping.has_value());
  rapidjson::Document p = Parse(ping->data);
  EXPECT_EQ(Keys(p),
            (std::set<std::string>{"type", "name", "id", "version", "metadata"}));
  EXPECT_STREQ(p["type"].GetString(), "io.nats.micro.v1.ping_response");
  EXPECT_STREQ(p["name"].GetString(), "shapes");
  EXPECT_EQ(p["id"].GetString(), service->id());
  EXPECT_EQ(std::string(p["id"].GetString()).size(), 22u);
  EXPECT_STREQ(p["version"].GetString(), "1.2.3-rc.1+build.7");
  ExpectStringMap(p["metadata"], {});

  // INFO.
  auto info = Call(client_.get(), "$SRV.INFO.shapes." + service->id());
  ASSERT_TRUE(info.has_value());
  rapidjson::Document i = Parse(info->data);
  EXPECT_EQ(Keys(i), (std::set<std::string>{"type", "name", "id", "version", "metadata",
                                            "description", "endpoints"}));
  EXPECT_STREQ(i["type"].GetString(), "io.nats.micro.v1.info_response");
  EXPECT_EQ(std::string(i["description"].GetString()), config.description);
  ASSERT_TRUE(i["endpoints"].IsArray());
  ASSERT_EQ(i["endpoints"].Size(), 2u);
  const rapidjson::Value& e1 = i["endpoints"][0];
  EXPECT_EQ(Keys(e1),
            (std::set<std::string>{"name", "subject", "queue_group", "metadata"}));
  EXPECT_STREQ(e1["name"].GetString(), "one");
  EXPECT_STREQ(e1["subject"].GetString(), "one");
  EXPECT_STREQ(e1["queue_group"].GetString(), "q");
  ExpectStringMap(e1["metadata"], {{"k", "v"}});
  const rapidjson::Value& e2 = i["endpoints"][1];
  EXPECT_STREQ(e2["subject"].GetString(), "shapes.two.*");
  EXPECT_STREQ(e2["queue_group"].GetString(), "workers");
  ExpectStringMap(e2["metadata"], {});

  // STATS.
  auto stats = Call(client_.get(), "$SRV.STATS.shapes." + service->id());
  ASSERT_TRUE(stats.has_value());
  rapidjson::Document s = Parse(stats->data);
  EXPECT_EQ(Keys(s), (std::set<std::string>{"type", "name", "id", "version", "metadata",
                                            "started", "endpoints"}));
  EXPECT_STREQ(s["type"].GetString(), "io.nats.micro.v1.stats_response");
  const std::string started = s["started"].GetString();
  EXPECT_TRUE(std::regex_match(
      started, std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                          "(\\.[0-9]{1,9})?Z")))
      << started;
  absl::Time started_time;
  std::string err;
  ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", started, absl::UTCTimeZone(),
                              &started_time, &err))
      << err;
  EXPECT_GE(started_time, before_start);
  EXPECT_LE(started_time, absl::Now());
  ASSERT_EQ(s["endpoints"].Size(), 2u);
  const rapidjson::Value& st1 = s["endpoints"][0];
  EXPECT_EQ(Keys(st1),
            (std::set<std::string>{"name", "subject", "queue_group", "num_requests",
                                   "num_errors", "last_error", "processing_time",
                                   "average_processing_time", "data"}));
  ExpectNanos(st1, "num_requests");
  ExpectNanos(st1, "num_errors");
  ExpectNanos(st1, "processing_time");
  ExpectNanos(st1, "average_processing_time");
  EXPECT_STREQ(st1["last_error"].GetString(), "");
  ASSERT_TRUE(st1["data"].IsObject());
  EXPECT_EQ(st1["data"]["n"].GetInt(), 7);
  // The hook returned "" for "two": no data.
  EXPECT_FALSE(s["endpoints"][1].HasMember("data"));
}

TEST_F(MicroServiceTest, EscapesStringsInDiscovery) {
  ConnectionPtr nc = NewConnection();
  ServiceConfig config = Config("esc");
  config.description = "tab\there \\ \"q\" \x01 caf\xC3\xA9";
  config.metadata = {{"k\"ey", "line\nbreak"}};
  auto service = StartService(nc.get(), config);
  ASSERT_TRUE(service);
  auto info = Call(client_.get(), "$SRV.INFO.esc");
  ASSERT_TRUE(info.has_value());
  rapidjson::Document i = Parse(info->data);
  EXPECT_EQ(std::string(i["description"].GetString()), config.description);
  ExpectStringMap(i["metadata"], config.metadata);
  EXPECT_TRUE(i["endpoints"].IsArray());
  EXPECT_EQ(i["endpoints"].Size(), 0u);
}

TEST_F(MicroServiceTest, ErrorHeadersAndBody) {
  ConnectionPtr nc = NewConnection();
  ServiceConfig config = Config("err");
  config.error_code = [](const absl::Status& status) {
    return status.code() == absl::StatusCode::kPermissionDenied
               ? 403
               : micro::DefaultErrorCode(status);
  };
  config.error_body = [](int code, absl::string_view message, const absl::Status&) {
    return absl::StrCat("{\"code\":", code, ",\"message\":\"", message, "\"}");
  };
  auto service = StartService(nc.get(), config);
  ASSERT_TRUE(service);
  EndpointConfig e;
  e.name = "fail";
  e.handler = [](Request& r) {
    if (r.data() == "denied") return absl::PermissionDeniedError("not yours");
    return absl::FailedPreconditionError("wrong type");
  };
  ASSERT_TRUE(service->AddEndpoint(e).ok());
  EndpointConfig ok;
  ok.name = "hdr";
  ok.handler = [](Request& r) {
    const absl::optional<absl::string_view> h = r.header("X-In");
    const absl::Status sent =
        r.Respond(absl::StrCat("in=", h.value_or("none"), " subject=", r.subject()),
                  {{"X-Out", "a\r\nb"}, {"X-Out", "second"}});
    // A second reply is refused.
    EXPECT_EQ(r.Respond("again").code(), absl::StatusCode::kFailedPrecondition);
    return sent;
  };
  ASSERT_TRUE(service->AddEndpoint(ok).ok());

  // The configured mapping gives the code and the body.
  auto reply = Call(client_.get(), "fail");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->data, "{\"code\":409,\"message\":\"wrong type\"}");
  EXPECT_EQ(reply->headers["Nats-Service-Error"], "wrong type");
  EXPECT_EQ(reply->headers["Nats-Service-Error-Code"], "409");
  auto denied = Call(client_.get(), "fail", "denied");
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->data, "{\"code\":403,\"message\":\"not yours\"}");
  EXPECT_EQ(denied->headers["Nats-Service-Error"], "not yours");
  EXPECT_EQ(denied->headers["Nats-Service-Error-Code"], "403");

  natsMsg* resp = CallWithHeader(client_.get(), "hdr", "", "X-In", "yes");
  ASSERT_NE(resp, nullptr);
  const char** values = nullptr;
  int count = 0;
  ASSERT_EQ(natsMsgHeader_Values(resp, "X-Out", &values, &count), NATS_OK);
  ASSERT_EQ(count, 2);
  EXPECT_STREQ(values[0], "a  b");  // CR/LF cannot corrupt the headers
  EXPECT_STREQ(values[1], "second");
  free(values);
  Reply r = ToReply(resp);
  EXPECT_EQ(r.data, "in=yes subject=hdr");
  EXPECT_EQ(r.headers.count("Nats-Service-Error"), 0u);
}

TEST_F(MicroServiceTest, DefaultErrorCodesEmptyBodyAndErrorAfterReply) {
  ConnectionPtr nc = NewConnection();
  auto service = StartService(nc.get(), Config("codes"));
  ASSERT_TRUE(service);
  EndpointConfig e;
  e.name = "code";
  e.handler = [](Request& r) -> absl::Status {
    const std::string kind(r.data());
    if (kind == "arg") return absl::InvalidArgumentError("arg");
    if (kind == "missing") return absl::NotFoundError("missing");
    if (kind == "state") return absl::FailedPreconditionError("state");
    if (kind == "range") return absl::OutOfRangeError("range");
    if (kind == "big") return absl::ResourceExhaustedError("big");
    if (kind == "later") return absl::UnavailableError("later");
    if (kind == "replied") {
      // The reply stands; the error is counted.
      r.Respond("first").IgnoreError();
      return absl::InternalError("after reply");
    }
    return absl::DataLossError("other");
  };
  ASSERT_TRUE(service->AddEndpoint(e).ok());
  const std::pair<const char*, const char*> cases[] = {
      {"arg", "400"}, {"missing", "404"}, {"state", "409"}, {"range", "413"},
      {"big", "413"}, {"later", "503"},   {"other", "500"}};
  for (const auto& [kind, code] : cases) {
    auto reply = Call(client_.get(), "code", kind);
    ASSERT_TRUE(reply.has_value()) << kind;
    EXPECT_EQ(reply->headers[kErrorCodeHeader], code) << kind;
    EXPECT_EQ(reply->data, "") << kind;  // no error_body: empty
  }
  auto replied = Call(client_.get(), "code", "replied");
  ASSERT_TRUE(replied.has_value());
  EXPECT_EQ(replied->data, "first");
  EXPECT_EQ(replied->headers.count(kErrorCodeHeader), 0u);
  // An error returned after the reply is counted when the handler returns, which
  // may be after the client read the reply.
  rapidjson::Document s;
  EXPECT_TRUE(testing_util::WaitFor(
      [&] {
        s = Parse(service->StatsJson());
        return s["endpoints"][0]["num_errors"].GetInt64() == 8;
      },
      absl::Seconds(5)));
  EXPECT_EQ(s["endpoints"][0]["num_requests"].GetInt64(), 8);
  EXPECT_EQ(s["endpoints"][0]["num_errors"].GetInt64(), 8);
  EXPECT_STREQ(s["endpoints"][0]["last_error"].GetString(), "500:after reply");
}

TEST_F(MicroServiceTest, StatsCountRequestsErrorsAndTime) {
  ConnectionPtr nc = NewConnection();
  auto service = StartService(nc.get(), Config("count"));
  ASSERT_TRUE(service);
  EndpointConfig e;
  e.name = "op";
  e.handler = [](Request& r) {
    absl::SleepFor(absl::Milliseconds(2));  // known minimum processing time
    if (r.data() == "bad") {
      return absl::InvalidArgumentError(
          absl::StrCat("bad #", r.header("N").value_or("?")));
    }
    return r.Respond("ok");
  };
  ASSERT_TRUE(service->AddEndpoint(e).ok());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(Call(client_.get(), "op", "good"));
  for (int i = 0; i < 3; ++i) {
    natsMsg* resp = CallWithHeader(client_.get(), "op", "bad", "N", std::to_string(i));
    ASSERT_NE(resp, nullptr);
    natsMsg_Destroy(resp);
  }
  // Every request is counted before its reply leaves: no waiting needed.
  auto stats = Call(client_.get(), "$SRV.STATS.count");
  ASSERT_TRUE(stats.has_value());
  rapidjson::Document s = Parse(stats->data);
  const rapidjson::Value& op = s["endpoints"][0];
  EXPECT_EQ(op["num_requests"].GetInt64(), 10);
  EXPECT_EQ(op["num_errors"].GetInt64(), 3);
  EXPECT_STREQ(op["last_error"].GetString(), "400:bad #2");
  const int64_t total = op["processing_time"].GetInt64();
  EXPECT_GE(total, 10 * absl::ToInt64Nanoseconds(absl::Milliseconds(2)));
  EXPECT_EQ(op["average_processing_time"].GetInt64(), total / 10);
  // The same counters for export: errors by code, times in the histogram
  // (every request took 2 ms or more: none in the buckets up to 1 ms).
  std::vector<micro::EndpointMetrics> metrics = service->Metrics();
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0].name, "op");
  EXPECT_EQ(metrics[0].num_requests, 10);
  EXPECT_EQ(metrics[0].num_errors, 3);
  EXPECT_EQ(metrics[0].errors_by_code, (std::map<int, int64_t>{{400, 3}}));
  EXPECT_EQ(metrics[0].latency.count(), 10u);
  EXPECT_EQ(metrics[0].latency.sum_ns(), total);
  EXPECT_EQ(metrics[0].latency.counts()[4], 0u);  // <= 1 ms

  service->ResetStats();
  EXPECT_EQ(service->Metrics()[0].latency.count(), 0u);
  EXPECT_TRUE(service->Metrics()[0].errors_by_code.empty());
  rapidjson::Document r = Parse(service->StatsJson());
  EXPECT_EQ(r["endpoints"][0]["num_requests"].GetInt64(), 0);
  EXPECT_EQ(r["endpoints"][0]["processing_time"].GetInt64(), 0);
  EXPECT_EQ(r["endpoints"][0]["average_processing_time"].GetInt64(), 0);
  EXPECT_STREQ(r["endpoints"][0]["last_error"].GetString(), "");
}

TEST_F(MicroServiceTest, QueueGroupSharesLoadBetweenInstances) {
  ConnectionPtr nc1 = NewConnection();
  ConnectionPtr nc2 = NewConnection();
  auto s1 = StartService(nc1.get(), Config("lb"));
  auto s2 = StartService(nc2.get(), Config("lb"));
  ASSERT_TRUE(s1 && s2);
  for (Service* s : {s1.get(), s2.get()}) {
    EndpointConfig e;
    e.name = "who";
    const std::string id = s->id();
    e.handler = [id](Request& r) { return r.Respond(id); };
    ASSERT_TRUE(s->AddEndpoint(e).ok());
  }
  // Both subscriptions are registered at the server before requests flow.
  ASSERT_EQ(natsConnection_Flush(nc1.get()), NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc2.get()), NATS_OK);
  constexpr int kRequests = 200;
  std::map<std::string, int> served;
  for (int i = 0; i < kRequests; ++i) {
    auto reply = Call(client_.get(), "who");
    ASSERT_TRUE(reply.has_value());
    ++served[reply->data];
  }
  // Each request was answered once, by one of the two; both took a share.
  ASSERT_EQ(served.size(), 2u);
  EXPECT_GT(served[s1->id()], kRequests / 10);
  EXPECT_GT(served[s2->id()], kRequests / 10);
  int64_t counted = 0;
  for (Service* s : {s1.get(), s2.get()}) {
    rapidjson::Document d = Parse(s->StatsJson());
    counted += d["endpoints"][0]["num_requests"].GetInt64();
    EXPECT_EQ(d["endpoints"][0]["num_requests"].GetInt64(), served[s->id()]);
  }
  EXPECT_EQ(counted, kRequests);
}

TEST_F(MicroServiceTest, StopDrainsInFlightRequestsWithoutLosingReplies) {
  ConnectionPtr nc = NewConnection();
  auto service = StartService(nc.get(), Config("drain"));
  ASSERT_TRUE(service);
  std::atomic<int> started{0};
  EndpointConfig e;
  e.name = "slow";
  e.handler = [&started](Request& r) {
    ++started;
    absl::SleepFor(absl::Milliseconds(100));  // a slow handler, on purpose
    return r.Respond(r.data());
  };
  ASSERT_TRUE(service->AddEndpoint(e).ok());
  ASSERT_EQ(natsConnection_Flush(nc.get()), NATS_OK);

  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsInbox_Create(&inbox), NATS_OK);
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, client_.get(), inbox), NATS_OK);
  constexpr int kRequests = 5;
  for (int i = 0; i < kRequests; ++i) {
    const std::string body = std::to_string(i);
    ASSERT_EQ(natsConnection_PublishRequest(client_.get(), "slow", inbox, body.data(),
                                            body.size()),
              NATS_OK);
  }
  // The server has routed all requests once the client's flush returns.
  ASSERT_EQ(natsConnection_Flush(client_.get()), NATS_OK);
  ASSERT_TRUE(WaitFor([&] { return started.load() >= 1; }, kTimeout));

  ASSERT_TRUE(service->Stop().ok());
  // Every request was handled and its reply is out when Stop returns.
  EXPECT_EQ(started.load(), kRequests);
  std::set<std::string> bodies;
  for (int i = 0; i < kRequests; ++i) {
    natsMsg* msg = nullptr;
    ASSERT_EQ(natsSubscription_NextMsg(&msg, sub, 10000), NATS_OK) << i;
    bodies.insert(ToReply(msg).data);
  }
  EXPECT_EQ(bodies, (std::set<std::string>{"0", "1", "2", "3", "4"}));
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);

  // Stopped: nobody answers, adding is refused, Stop is idempotent.
  natsMsg* msg = nullptr;
  EXPECT_EQ(natsConnection_RequestString(&msg, client_.get(), "slow", "", 2000),
            NATS_NO_RESPONDERS);
  EXPECT_EQ(
      natsConnection_RequestString(&msg, client_.get(), "$SRV.PING.drain", "", 2000),
      NATS_NO_RESPONDERS);
  EXPECT_EQ(service->AddEndpoint(e).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(service->Stop().ok());
}

// Stop() drains for drain_timeout at most: past it, what is still queued is
// dropped, and Stop() says how many requests went unanswered.
TEST_F(MicroServiceTest, DrainIsBoundedAndCountsWhatItDropped) {
  ConnectionPtr nc = NewConnection();
  ServiceConfig config = Config("bounded");
  config.drain_timeout = absl::Milliseconds(500);
  auto service = StartService(nc.get(), config);
  ASSERT_TRUE(service);
  std::atomic<int> started{0};
  EndpointConfig e;
  e.name = "slow";
  e.handler = [&started](Request& r) {
    ++started;
    absl::SleepFor(absl::Milliseconds(200));  // a slow handler, on purpose
    return r.Respond(r.data());
  };
  ASSERT_TRUE(service->AddEndpoint(e).ok());
  ASSERT_EQ(natsConnection_Flush(nc.get()), NATS_OK);
  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsInbox_Create(&inbox), NATS_OK);
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, client_.get(), inbox), NATS_OK);
  constexpr int kRequests = 20;
  for (int i = 0; i < kRequests; ++i) {
    const std::string body = std::to_string(i);
    ASSERT_EQ(natsConnection_PublishRequest(client_.get(), "slow", inbox, body.data(),
                                            body.size()),
              NATS_OK);
  }
  ASSERT_EQ(natsConnection_Flush(client_.get()), NATS_OK);
  ASSERT_TRUE(WaitFor([&] { return started.load() >= 1; }, kTimeout));

  const absl::Time before = absl::Now();
  const absl::Status stopped = service->Stop();
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));
  EXPECT_EQ(stopped.code(), absl::StatusCode::kDeadlineExceeded) << stopped;
  // Every request is either answered or counted as dropped.
  int answered = 0;
  natsMsg* msg = nullptr;
  while (natsSubscription_NextMsg(&msg, sub, 500) == NATS_OK) {
    natsMsg_Destroy(msg);
    ++answered;
  }
  EXPECT_EQ(answered, started.load());
  EXPECT_LT(answered, kRequests);
  EXPECT_TRUE(absl::StrContains(
      stopped.message(),
      absl::StrCat(kRequests - answered, " queued requests dropped unanswered")))
      << stopped << " answered " << answered;
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
}

TEST_F(MicroServiceTest, HandlerExceptionOrNoReplyGives500) {
  ConnectionPtr nc = NewConnection();
  auto service = StartService(nc.get(), Config("boom"));
  ASSERT_TRUE(service);
  EndpointConfig thrower;
  thrower.name = "throw";
  thrower.handler = [](Request&) -> absl::Status { throw std::runtime_error("kaboom"); };
  ASSERT_TRUE(service->AddEndpoint(thrower).ok());
  EndpointConfig silent;
  silent.name = "silent";
  silent.handler = [](Request&) { return absl::OkStatus(); };
  ASSERT_TRUE(service->AddEndpoint(silent).ok());
  EndpointConfig throws_int;
  throws_int.name = "throwint";
  throws_int.handler = [](Request&) -> absl::Status { throw 42; };
  ASSERT_TRUE(service->AddEndpoint(throws_int).ok());

  auto r1 = Call(client_.get(), "throw");
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->headers["Nats-Service-Error-Code"], "500");
  EXPECT_TRUE(absl::StrContains(r1->headers["Nats-Service-Error"], "kaboom"));
  auto r2 = Call(client_.get(), "silent");
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->headers["Nats-Service-Error-Code"], "500");
  EXPECT_EQ(r2->headers["Nats-Service-Error"], "no response");
  auto r3 = Call(client_.get(), "throwint");
  ASSERT_TRUE(r3.has_value());
  EXPECT_EQ(r3->headers["Nats-Service-Error-Code"], "500");

  // The service still works and counted the errors.
  auto r4 = Call(client_.get(), "throw");
  ASSERT_TRUE(r4.has_value());
  rapidjson::Document s = Parse(service->StatsJson());
  EXPECT_EQ(s["endpoints"][0]["num_requests"].GetInt64(), 2);
  EXPECT_EQ(s["endpoints"][0]["num_errors"].GetInt64(), 2);
  EXPECT_TRUE(absl::StrContains(s["endpoints"][0]["last_error"].GetString(),
                                "500:handler failed: kaboom"));
  EXPECT_EQ(s["endpoints"][1]["num_errors"].GetInt64(), 1);
  EXPECT_STREQ(s["endpoints"][1]["last_error"].GetString(), "500:no response");
}

TEST_F(MicroServiceTest, RequestWithoutReplySubjectIsHandled) {
  ConnectionPtr nc = NewConnection();
  auto service = StartService(nc.get(), Config("noreply"));
  ASSERT_TRUE(service);
  absl::Mutex mu;
  std::vector<absl::StatusCode> codes;
  EndpointConfig e;
  e.name = "sink";
  e.handler = [&](Request& r) {
    const bool has_reply = r.has_reply();
    const absl::Status s = r.Respond("x");
    absl::MutexLock lock(&mu);
    codes.push_back(has_reply ? absl::StatusCode::kOk : s.code());
    return absl::OkStatus();
  };
  ASSERT_TRUE(service->AddEndpoint(e).ok());
  ASSERT_EQ(natsConnection_Flush(nc.get()), NATS_OK);
  ASSERT_EQ(natsConnection_PublishString(client_.get(), "sink", "fire"), NATS_OK);
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return codes.size() == 1;
      },
      kTimeout));
  ASSERT_TRUE(Call(client_.get(), "sink").has_value());
  absl::MutexLock lock(&mu);
  EXPECT_EQ(codes, (std::vector<absl::StatusCode>{absl::StatusCode::kFailedPrecondition,
                                                  absl::StatusCode::kOk}));
}

TEST_F(MicroServiceTest, ValidatesNamesVersionsAndEndpoints) {
  ConnectionPtr nc = NewConnection();
  for (const char* name : {"", "a.b", "a b", "a*", "caf\xC3\xA9"}) {
    ServiceConfig c = Config(name);
    EXPECT_EQ(Service::Start(nc.get(), c).status().code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
  for (const char* version :
       {"", "1", "1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0 "}) {
    ServiceConfig c = Config("v");
    c.version = version;
    EXPECT_EQ(Service::Start(nc.get(), c).status().code(),
              absl::StatusCode::kInvalidArgument)
        << version;
  }
  EXPECT_EQ(Service::Start(nullptr, Config("x")).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto service = StartService(nc.get(), Config("valid"));
  ASSERT_TRUE(service);
  const auto handler = [](Request& r) { return r.Respond(""); };
  EXPECT_EQ(service->AddEndpoint({"bad.name", "", "q", {}, handler}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service->AddEndpoint({"e", "a..b", "q", {}, handler}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service->AddEndpoint({"e", "a.>.b", "q", {}, handler}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service->AddEndpoint({"e", "a", "bad queue", {}, handler}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service->AddEndpoint({"e", "a", "q", {}, nullptr}).code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing invalid was registered.
  rapidjson::Document i = Parse(service->InfoJson());
  EXPECT_EQ(i["endpoints"].Size(), 0u);
}

TEST_F(MicroServiceTest, GroupsPrefixSubjectsAndEndpointsAddedLaterAppear) {
  ConnectionPtr nc = NewConnection();
  auto service = StartService(nc.get(), Config("grp"));
  ASSERT_TRUE(service);
  EXPECT_EQ(Parse(service->InfoJson())["endpoints"].Size(), 0u);
  micro::Group kv = service->AddGroup("kv").AddGroup("default");
  EXPECT_EQ(kv.prefix(), "kv.default");
  ASSERT_TRUE(
      kv.AddEndpoint(
            {"get", "", "q", {}, [](Request& r) { return r.Respond(r.subject()); }})
          .ok());
  ASSERT_TRUE(
      kv.AddEndpoint(
            {"any", "x.*", "", {}, [](Request& r) { return r.Respond(r.subject()); }})
          .ok());
  auto get = Call(client_.get(), "kv.default.get");
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->data, "kv.default.get");
  auto any = Call(client_.get(), "kv.default.x.y");
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->data, "kv.default.x.y");

  auto info = Call(client_.get(), "$SRV.INFO.grp");
  ASSERT_TRUE(info.has_value());
  rapidjson::Document i = Parse(info->data);
  ASSERT_EQ(i["endpoints"].Size(), 2u);
  EXPECT_STREQ(i["endpoints"][0]["subject"].GetString(), "kv.default.get");
  EXPECT_STREQ(i["endpoints"][1]["subject"].GetString(), "kv.default.x.*");
  // No queue group: a plain subscription, reported without queue_group.
  EXPECT_FALSE(i["endpoints"][1].HasMember("queue_group"));
}

TEST_F(MicroServiceTest, RouterServesEndpointsOnOneSubscription) {
  ConnectionPtr nc = NewConnection();
  auto service = StartService(nc.get(), Config("routed"));
  ASSERT_TRUE(service);
  RouterConfig router;
  router.prefix = "app.v1";
  for (const char* name : {"alpha", "beta"}) {
    EndpointConfig e;
    e.name = name;
    e.handler = [name](Request& r) {
      if (r.data() == "bad") return absl::FailedPreconditionError("conflict");
      return r.Respond(absl::StrCat(name, ":", r.data()));
    };
    router.endpoints.push_back(std::move(e));
  }
  router.unmatched = [](Request& r) {
    return absl::NotFoundError(absl::StrCat("no ", r.subject()));
  };
  ASSERT_TRUE(service->AddRouter(router).ok());

  auto a = Call(client_.get(), "app.v1.alpha", "x");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->data, "alpha:x");
  auto b = Call(client_.get(), "app.v1.beta", "y");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->data, "beta:y");
  auto bad = Call(client_.get(), "app.v1.beta", "bad");
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->headers[kErrorCodeHeader], "409");
  auto unknown = Call(client_.get(), "app.v1.gamma", "z");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->headers[kErrorCodeHeader], "404");
  EXPECT_EQ(unknown->headers[kErrorHeader], "no app.v1.gamma");

  // INFO lists each endpoint with its own subject and the router's queue group;
  // STATS counts per endpoint, and the unmatched request in none.
  rapidjson::Document info = Parse(service->InfoJson());
  ASSERT_EQ(info["endpoints"].Size(), 2u);
  EXPECT_STREQ(info["endpoints"][0]["subject"].GetString(), "app.v1.alpha");
  EXPECT_STREQ(info["endpoints"][1]["subject"].GetString(), "app.v1.beta");
  EXPECT_STREQ(info["endpoints"][1]["queue_group"].GetString(), "q");
  rapidjson::Document stats = Parse(service->StatsJson());
  EXPECT_EQ(stats["endpoints"][0]["num_requests"].GetInt64(), 1);
  EXPECT_EQ(stats["endpoints"][1]["num_requests"].GetInt64(), 2);
  EXPECT_EQ(stats["endpoints"][1]["num_errors"].GetInt64(), 1);
  EXPECT_STREQ(stats["endpoints"][1]["last_error"].GetString(), "409:conflict");

  // Invalid routers are refused.
  RouterConfig nested = router;
  nested.prefix = "app.v2";
  nested.endpoints[0].subject = "a.b";
  EXPECT_EQ(service->AddRouter(nested).code(), absl::StatusCode::kInvalidArgument);
  RouterConfig twice = router;
  twice.prefix = "app.v3";
  twice.endpoints[1].subject = "alpha";
  EXPECT_EQ(service->AddRouter(twice).code(), absl::StatusCode::kInvalidArgument);
  RouterConfig no_unmatched = router;
  no_unmatched.prefix = "app.v4";
  no_unmatched.unmatched = nullptr;
  EXPECT_EQ(service->AddRouter(no_unmatched).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MicroServiceTest, RemoveRouterUnsubscribesOnlyThatRouter) {
  ConnectionPtr nc = NewConnection();
  auto service = StartService(nc.get(), Config("removable"));
  ASSERT_TRUE(service);
  micro::Service* raw = service.get();
  for (const char* prefix : {"app.a", "app.b", "app.c"}) {
    RouterConfig router;
    router.prefix = prefix;
    EndpointConfig e;
    e.name = absl::StrCat("x_", absl::string_view(prefix).substr(4));  // x_a, x_b, x_c
    e.subject = "x";
    e.handler = [prefix](Request& r) { return r.Respond(prefix); };
    router.endpoints.push_back(std::move(e));
    // app.c's unmatched handler removes its own router, then answers.
    const bool self_removing = absl::string_view(prefix) == "app.c";
    router.unmatched = [raw, prefix, self_removing](Request& r) {
      if (self_removing) {
        if (absl::Status s = raw->RemoveRouter(prefix); !s.ok()) return s;
      }
      return r.Respond("bye");
    };
    ASSERT_TRUE(service->AddRouter(router).ok());
  }
  for (const char* subject : {"app.a.x", "app.b.x", "app.c.x"}) {
    auto reply = Call(client_.get(), subject);
    ASSERT_TRUE(reply.has_value()) << subject;
  }

  ASSERT_TRUE(service->RemoveRouter("app.a").ok());
  // Once the server has the unsubscription, nobody answers.
  ASSERT_EQ(natsConnection_Flush(nc.get()), NATS_OK);
  natsMsg* msg = nullptr;
  EXPECT_EQ(natsConnection_RequestString(&msg, client_.get(), "app.a.x", "", 2000),
            NATS_NO_RESPONDERS);
  EXPECT_EQ(service->RemoveRouter("app.a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service->RemoveRouter("app").code(), absl::StatusCode::kNotFound);
  auto b = Call(client_.get(), "app.b.x");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->data, "app.b");

  // Removed from within its own handler: that request is still answered (its
  // reply follows the unsubscription on the service's connection).
  auto bye = Call(client_.get(), "app.c.other");
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(bye->data, "bye");
  EXPECT_EQ(natsConnection_RequestString(&msg, client_.get(), "app.c.x", "", 2000),
            NATS_NO_RESPONDERS);

  // INFO lists the remaining router's endpoint only; Stop has nothing to
  // complain about.
  rapidjson::Document info = Parse(service->InfoJson());
  ASSERT_EQ(info["endpoints"].Size(), 1u);
  EXPECT_STREQ(info["endpoints"][0]["subject"].GetString(), "app.b.x");
  EXPECT_TRUE(service->Stop().ok());
  EXPECT_EQ(service->RemoveRouter("app.b").code(), absl::StatusCode::kFailedPrecondition);
}

// With a prompt connection, lone replies leave on it and bursts are buffered on
// the service's connection; either way every request gets its own reply.
TEST_F(MicroServiceTest, PromptConnectionAnswersLoneAndPipelinedRequests) {
  auto [nc, prompt, service] = StartPromptService("prompt");
  ASSERT_TRUE(service);
  EndpointConfig e;
  e.name = "echo";
  e.handler = [](Request& r) { return r.Respond(r.data()); };
  ASSERT_TRUE(service->AddEndpoint(e).ok());

  for (int i = 0; i < 5; ++i) {
    auto reply = Call(client_.get(), "echo", absl::StrCat("lone ", i));
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->data, absl::StrCat("lone ", i));
  }
  // 300 requests published at once: replies are buffered while others wait.
  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsInbox_Create(&inbox), NATS_OK);
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, client_.get(), inbox), NATS_OK);
  constexpr int kBurst = 300;
  for (int i = 0; i < kBurst; ++i) {
    ASSERT_EQ(natsConnection_PublishRequestString(client_.get(), "echo", inbox,
                                                  absl::StrCat(i).c_str()),
              NATS_OK);
  }
  std::set<std::string> got;
  for (int i = 0; i < kBurst; ++i) {
    natsMsg* msg = nullptr;
    ASSERT_EQ(natsSubscription_NextMsg(&msg, sub, absl::ToInt64Milliseconds(kTimeout)),
              NATS_OK);
    got.insert(ToReply(msg).data);
  }
  EXPECT_EQ(got.size(), static_cast<size_t>(kBurst));
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
  EXPECT_TRUE(service->Stop().ok());
}

// Request::Publish sends on the connection of the reply, before it: a client
// subscribed to the published subject has the message before the reply, for
// lone requests (prompt connection) as for pipelined ones (buffered).
TEST_F(MicroServiceTest, PublishLeavesBeforeTheReplyOnTheSameConnection) {
  auto [nc, prompt, service] = StartPromptService("publish");
  ASSERT_TRUE(service);
  EndpointConfig e;
  e.name = "write";
  e.handler = [](Request& r) {
    if (absl::Status s = r.Publish("evt", r.data()); !s.ok()) return s;
    return r.Respond(r.data());
  };
  ASSERT_TRUE(service->AddEndpoint(e).ok());
  natsSubscription* events = nullptr;
  ASSERT_EQ(natsConnection_SubscribeSync(&events, client_.get(), "evt"), NATS_OK);
  ASSERT_EQ(natsConnection_Flush(client_.get()), NATS_OK);
  int reply_first = 0;
  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    auto reply = Call(client_.get(), "write", absl::StrCat(i));
    ASSERT_TRUE(reply.has_value());
    int pending = 0;
    natsSubscription_GetPending(events, &pending, nullptr);
    if (pending == 0) ++reply_first;
    natsMsg* msg = nullptr;
    ASSERT_EQ(natsSubscription_NextMsg(&msg, events, 5000), NATS_OK);
    EXPECT_EQ(std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)),
              absl::StrCat(i));
    natsMsg_Destroy(msg);
  }
  EXPECT_EQ(reply_first, 0) << "replies that overtook their event";
  natsSubscription_Destroy(events);
  EXPECT_TRUE(service->Stop().ok());
}

// Request::Forward hands a request on with its headers and the requester's
// reply subject: the service behind the second subject answers the requester
// directly, and the forwarding endpoint counts it without an error.
TEST_F(MicroServiceTest, ForwardLetsAnotherSubjectAnswerTheRequester) {
  auto service = StartService(client_.get(), Config("forward"));
  ASSERT_TRUE(service);
  EndpointConfig front;
  front.name = "front";
  front.handler = [](Request& r) { return r.Forward("back"); };
  ASSERT_TRUE(service->AddEndpoint(front).ok());
  EndpointConfig back;
  back.name = "back";
  back.handler = [](Request& r) {
    const std::string h(r.header("X-Token").value_or("none"));
    return r.Respond(absl::StrCat(r.data(), "/", h));
  };
  ASSERT_TRUE(service->AddEndpoint(back).ok());
  natsMsg* msg = nullptr;
  ASSERT_EQ(natsMsg_Create(&msg, "front", nullptr, "body", 4), NATS_OK);
  natsMsgHeader_Set(msg, "X-Token", "t1");
  natsMsg* reply = nullptr;
  ASSERT_EQ(natsConnection_RequestMsg(&reply, client_.get(), msg, 5000), NATS_OK);
  EXPECT_EQ(std::string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply)), "body/t1");
  natsMsg_Destroy(reply);
  natsMsg_Destroy(msg);
  for (const micro::EndpointMetrics& m : service->Metrics()) {
    EXPECT_EQ(m.num_requests, 1) << m.name;
    EXPECT_EQ(m.num_errors, 0) << m.name;
  }
  EXPECT_TRUE(service->Stop().ok());
}

// RouterConfig::before_held_replies: the replies to a burst are held and
// written after the hook ran, so what the hook published for a held request
// reaches the client before that request's reply; several requests share one
// hook call.
TEST_F(MicroServiceTest, HeldRepliesOfABurstLeaveAfterTheHook) {
  auto [nc, prompt, service] = StartPromptService("held");
  ASSERT_TRUE(service);
  natsInbox* inbox = nullptr;
  ASSERT_EQ(natsInbox_Create(&inbox), NATS_OK);
  const std::string base = inbox;
  natsInbox_Destroy(inbox);

  absl::Mutex mu;
  std::vector<std::string> batch;  // held requests since the last hook
  std::set<std::string> held;      // every held request
  int hooks = 0;
  RouterConfig router;
  router.prefix = "held";
  EndpointConfig e;
  e.name = "write";
  e.handler = [&](Request& r) {
    absl::SleepFor(absl::Microseconds(100));  // let a burst queue up
    if (r.held()) {
      absl::MutexLock lock(&mu);
      batch.emplace_back(r.data());
      held.emplace(r.data());
    }
    return r.Respond(r.data());
  };
  router.endpoints.push_back(e);
  router.unmatched = [](Request& r) { return r.Respond("?"); };
  router.before_held_replies = [&](const micro::Publisher& publish) {
    std::string joined;
    {
      absl::MutexLock lock(&mu);
      joined = absl::StrJoin(batch, ",");
      batch.clear();
      ++hooks;
    }
    (void)publish(absl::StrCat(base, ".hook"), joined);
  };
  ASSERT_TRUE(service->AddRouter(router).ok());

  // One subscription gets the hook's messages and the replies, in the order
  // the server forwarded them.
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, client_.get(), (base + ".>").c_str()),
            NATS_OK);
  ASSERT_EQ(natsConnection_Flush(client_.get()), NATS_OK);
  constexpr int kBurst = 300;
  for (int i = 0; i < kBurst; ++i) {
    const std::string reply = absl::StrCat(base, ".r");
    ASSERT_EQ(natsConnection_PublishRequestString(client_.get(), "held.write",
                                                  reply.c_str(), absl::StrCat(i).c_str()),
              NATS_OK);
  }
  std::set<std::string> hooked;  // requests a hook message named so far
  std::vector<std::string> replied_before_hook;
  int replies = 0;
  while (replies < kBurst) {
    natsMsg* msg = nullptr;
    ASSERT_EQ(natsSubscription_NextMsg(&msg, sub, absl::ToInt64Milliseconds(kTimeout)),
              NATS_OK);
    const std::string subject = natsMsg_GetSubject(msg);
    const std::string data(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
    if (absl::EndsWith(subject, ".hook")) {
      for (absl::string_view id : absl::StrSplit(data, ',', absl::SkipEmpty())) {
        hooked.emplace(id);
      }
      continue;
    }
    ++replies;
    if (hooked.count(data) == 0) replied_before_hook.push_back(data);
  }
  absl::MutexLock lock(&mu);
  EXPECT_GT(held.size(), static_cast<size_t>(kBurst / 2));
  EXPECT_LT(hooks, static_cast<int>(held.size()) / 2) << "hooks ran per request";
  for (const std::string& id : replied_before_hook) {
    EXPECT_EQ(held.count(id), 0u) << "held request " << id << " replied before its hook";
  }
  natsSubscription_Destroy(sub);
  EXPECT_TRUE(service->Stop().ok());
}

// A burst whose last request the unmatched handler takes still ends: the
// replies held before it are written then, not at the next burst.
TEST_F(MicroServiceTest, HeldRepliesLeaveWhenTheUnmatchedHandlerEndsTheBurst) {
  auto [nc, prompt, service] = StartPromptService("held_unmatched");
  ASSERT_TRUE(service);
  std::atomic<int> held{0};
  RouterConfig router;
  router.prefix = "hu";
  EndpointConfig e;
  e.name = "write";
  e.handler = [&](Request& r) {
    // The unmatched request published right after this one is queued by then.
    absl::SleepFor(absl::Milliseconds(5));
    if (r.held()) ++held;
    return r.Respond(r.data());
  };
  router.endpoints.push_back(e);
  router.unmatched = [](Request& r) { return r.Respond("?"); };
  router.before_held_replies = [](const micro::Publisher&) {};
  ASSERT_TRUE(service->AddRouter(router).ok());
  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsInbox_Create(&inbox), NATS_OK);
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, client_.get(), inbox), NATS_OK);
  for (const char* subject : {"hu.write", "hu.nope"}) {
    ASSERT_EQ(natsConnection_PublishRequestString(client_.get(), subject, inbox, "x"),
              NATS_OK);
  }
  for (int i = 0; i < 2; ++i) {
    natsMsg* msg = nullptr;
    // No later request comes to end the burst.
    ASSERT_EQ(natsSubscription_NextMsg(&msg, sub, 3000), NATS_OK) << "reply " << i;
    natsMsg_Destroy(msg);
  }
  EXPECT_EQ(held.load(), 1);
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
  EXPECT_TRUE(service->Stop().ok());
}

TEST_F(MicroServiceTest, EndpointsRunConcurrently) {
  ConnectionPtr nc = NewConnection();
  auto service = StartService(nc.get(), Config("conc"));
  ASSERT_TRUE(service);
  absl::Notification release;
  EndpointConfig wait;
  wait.name = "wait";
  wait.handler = [&release](Request& r) {
    const bool released = release.WaitForNotificationWithTimeout(absl::Seconds(10));
    return r.Respond(released ? "released" : "timeout");
  };
  ASSERT_TRUE(service->AddEndpoint(wait).ok());
  EndpointConfig go;
  go.name = "go";
  go.handler = [&release](Request& r) {
    release.Notify();
    return r.Respond("go");
  };
  ASSERT_TRUE(service->AddEndpoint(go).ok());
  ConnectionPtr other = NewConnection();
  std::thread waiter([&] {
    auto reply = Call(other.get(), "wait");
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->data, "released");
  });
  // "go" is answered while "wait" still blocks its own thread.
  auto reply = Call(client_.get(), "go");
  ASSERT_TRUE(reply.has_value());
  waiter.join();
}

TEST_F(MicroServiceTest, SurvivesServerRestart) {
  std::atomic<int> reconnects{0};
  testing_util::ConnectOptions options;
  options.on_reconnected = [&reconnects] { ++reconnects; };
  ConnectionPtr nc = NewConnection(options);
  auto service = StartService(nc.get(), Config("restart"));
  ASSERT_TRUE(service);
  ASSERT_TRUE(
      service
          ->AddEndpoint(
              {"echo", "", "q", {}, [](Request& r) { return r.Respond(r.data()); }})
          .ok());
  ASSERT_TRUE(Call(client_.get(), "echo", "1").has_value());
  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return reconnects.load() >= 1; }, kTimeout));
  // The client reconnects too; the resubscribed endpoint answers again.
  ASSERT_TRUE(WaitFor(
      [&] {
        natsMsg* m = nullptr;
        if (natsConnection_RequestString(&m, client_.get(), "echo", "2", 500) !=
            NATS_OK) {
          return false;
        }
        natsMsg_Destroy(m);
        return true;
      },
      kTimeout));
  EXPECT_EQ(Collect(client_.get(), "$SRV.PING.restart", 1).size(), 1u);
}

// A server with a tiny max_pending cuts a connection that does not read fast
// enough ("Slow Consumer Detected"); nats.c reconnects and resubscribes, and
// the service answers again.
TEST(MicroServiceSlowConsumer, SurvivesSlowConsumerDisconnect) {
  const std::string conf = testing_util::TempDir() + "/slow_consumer.conf";
  {
    FILE* f = fopen(conf.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("max_pending: 16384\nmax_payload: 8192\n", f);
    fclose(f);
  }
  auto server = NatsServer::Start({"-c", conf});
  ASSERT_TRUE(server.ok()) << server.status();
  std::atomic<int> disconnects{0};
  std::atomic<int> reconnects{0};
  testing_util::ConnectOptions options;
  options.on_disconnected = [&disconnects] { ++disconnects; };
  options.on_reconnected = [&reconnects] { ++reconnects; };
  auto nc = testing_util::Connect((*server)->url(), options);
  ASSERT_TRUE(nc.ok()) << nc.status();
  auto client = testing_util::Connect((*server)->url());
  ASSERT_TRUE(client.ok()) << client.status();
  auto flooder = testing_util::Connect((*server)->url());
  ASSERT_TRUE(flooder.ok()) << flooder.status();

  ServiceConfig config;
  config.name = "slow";
  config.version = "1.0.0";
  auto service = Service::Start(nc->get(), config);
  ASSERT_TRUE(service.ok()) << service.status();
  ASSERT_TRUE((*service)
                  ->AddEndpoint({"sink",
                                 "",
                                 "q",
                                 {},
                                 [](Request& r) {
                                   // Replies fail while the connection is cut.
                                   if (r.has_reply()) {
                                     r.Respond("alive").IgnoreError();
                                   }
                                   return absl::OkStatus();
                                 }})
                  .ok());
  ASSERT_EQ(natsConnection_Flush(nc->get()), NATS_OK);

  // Flood the endpoint until the server cuts the service's connection.
  const std::string payload(8000, 'x');
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int i = 0; i < 200; ++i) {
          natsConnection_Publish(flooder->get(), "sink", payload.data(),
                                 static_cast<int>(payload.size()));
        }
        natsConnection_Flush(flooder->get());
        return disconnects.load() >= 1;
      },
      absl::Seconds(30)))
      << (*server)->Output();
  EXPECT_TRUE(absl::StrContains((*server)->Output(), "Slow Consumer"))
      << (*server)->Output();
  ASSERT_TRUE(WaitFor([&] { return reconnects.load() >= 1; }, kTimeout));
  // Resubscribed: the endpoint and discovery answer again.
  ASSERT_TRUE(WaitFor(
      [&] {
        natsMsg* m = nullptr;
        if (natsConnection_RequestString(&m, client->get(), "sink", "", 500) != NATS_OK) {
          return false;
        }
        natsMsg_Destroy(m);
        return true;
      },
      kTimeout));
  EXPECT_EQ(Collect(client->get(), "$SRV.PING.slow", 1).size(), 1u);
}

}  // namespace
