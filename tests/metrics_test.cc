// kvd's --metrics_addr against a real nats-server: /healthz while joining and
// once ready, /metrics values moving with requests, the scrape accepted by
// Prometheus's `promtool check metrics`, and the flag's errors.

#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"
#include "tests/testing/http.h"

namespace {

using ::testing_util::Call;
using ::testing_util::HttpGet;
using ::testing_util::HttpResponse;
using ::testing_util::KeyBody;
using ::testing_util::KeyValueBody;
using ::testing_util::Process;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

// The value of the sample written exactly as `series` (name and labels) in
// the exposition `text`; -1 when absent.
double Sample(const std::string& text, const std::string& series) {
  const std::string mark = series + " ";
  size_t at = 0;
  while ((at = text.find(mark, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const size_t end = text.find('\n', at);
      double v = -1;
      if (absl::SimpleAtod(text.substr(at + mark.size(), end - at - mark.size()), &v)) {
        return v;
      }
      return -1;
    }
    at += mark.size();
  }
  return -1;
}

class MetricsTest : public testing_util::ServerTest {
 protected:
  // Starts kvd with --metrics_addr=127.0.0.1:0 and `args`; sets port_ from its
  // log. nullptr (with a test failure) if it does not start.
  std::unique_ptr<Process> StartKvd(std::vector<std::string> args) {
    args.insert(args.begin(), {absl::StrCat("--server=", server_->url()),
                               "--metrics_addr=127.0.0.1:0"});
    auto kvd = Process::Start(KvdPath(), args);
    if (!kvd.ok()) {
      ADD_FAILURE() << kvd.status();
      return nullptr;
    }
    std::unique_ptr<Process> p = *std::move(kvd);
    if (!p->WaitForOutput("service kv ", kTimeout)) {
      ADD_FAILURE() << "kvd did not start; output:\n" << p->Output();
      return nullptr;
    }
    std::smatch m;
    const std::string out = p->Output();
    if (!std::regex_search(
            out, m, std::regex("metrics on 127\\.0\\.0\\.1:0 \\(port ([0-9]+)\\)"))) {
      ADD_FAILURE() << "no metrics port in the log:\n" << out;
      return nullptr;
    }
    port_ = std::stoi(m[1]);
    return p;
  }

  HttpResponse Get(const std::string& path) {
    auto r = HttpGet("127.0.0.1", port_, path);
    if (!r.ok()) {
      ADD_FAILURE() << r.status();
      return HttpResponse();
    }
    return *r;
  }

  int port_ = 0;
};

TEST_F(MetricsTest, HealthzIs503WhileJoiningAnd200OnceReady) {
  // Alone on its server, the node is the first replica after the silence.
  auto kvd = StartKvd({"--heartbeat=100ms", "--first_replica_silence=3s"});
  ASSERT_NE(kvd, nullptr);
  HttpResponse h = Get("/healthz");
  EXPECT_EQ(h.status, 503) << h.body;
  EXPECT_TRUE(absl::StrContains(h.body, "not ready: default")) << h.body;
  EXPECT_EQ(Sample(Get("/metrics").body, "natskv_ready{link=\"default\"}"), 0);
  EXPECT_TRUE(WaitFor([&] { return Get("/healthz").status == 200; }, kTimeout))
      << kvd->Output();
  EXPECT_EQ(Get("/healthz").body, "ok\n");
  EXPECT_EQ(Sample(Get("/metrics").body, "natskv_ready{link=\"default\"}"), 1);
}

TEST_F(MetricsTest, ValuesMoveWithRequestsAndPromtoolAcceptsTheScrape) {
  auto kvd = StartKvd({"--heartbeat=100ms", "--first_replica_silence=300ms"});
  ASSERT_NE(kvd, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Get("/healthz").status == 200; }, kTimeout));
  const std::string before = Get("/metrics").body;
  const std::string set_ok =
      "natskv_requests_total{link=\"default\",op=\"set\",code=\"200\"}";
  const std::string set_400 =
      "natskv_requests_total{link=\"default\",op=\"set\",code=\"400\"}";
  const std::string set_count =
      "natskv_request_duration_seconds_count{link=\"default\",op=\"set\"}";
  const std::string set_le_inf =
      "natskv_request_duration_seconds_bucket{link=\"default\",op=\"set\",le=\"+Inf\"}";
  EXPECT_EQ(Sample(before, set_ok), 0) << before;
  EXPECT_EQ(Sample(before, set_400), -1);  // no such error yet
  EXPECT_EQ(Sample(before, "natskv_keys{link=\"default\"}"), 0);

  for (int i = 0; i < 3; ++i) {
    const auto r =
        Call(nc_.get(), "kv.default.set", KeyValueBody(absl::StrCat("k", i), "v"));
    ASSERT_TRUE(r.ok() && r.code() == 0) << r.data;
  }
  const auto bad = Call(nc_.get(), "kv.default.set", "{\"key\":1}");
  ASSERT_EQ(bad.code(), 400) << bad.data;
  const auto get = Call(nc_.get(), "kv.default.get", KeyBody("k0"));
  ASSERT_EQ(get.code(), 0);

  const std::string after = Get("/metrics").body;
  EXPECT_EQ(Sample(after, set_ok), 3) << after;
  EXPECT_EQ(Sample(after, set_400), 1);
  EXPECT_EQ(Sample(after, set_count), 4);
  EXPECT_EQ(Sample(after, set_le_inf), 4);
  EXPECT_GT(
      Sample(after, "natskv_request_duration_seconds_sum{link=\"default\",op=\"set\"}"),
      0);
  EXPECT_EQ(
      Sample(after, "natskv_requests_total{link=\"default\",op=\"get\",code=\"200\"}"),
      1);
  EXPECT_EQ(Sample(after, "natskv_keys{link=\"default\"}"), 3);
  EXPECT_GT(Sample(after, "natskv_memory_bytes{link=\"default\"}"), 0);
  EXPECT_EQ(Sample(after, "natskv_events_out_total{link=\"default\"}"), 3);
  EXPECT_EQ(Sample(after, "natskv_peers{link=\"default\"}"), 0);
  EXPECT_EQ(Sample(after, "natskv_replication_lag_ops{link=\"default\"}"), 0);
  EXPECT_EQ(Sample(after, "natskv_bad_messages_total{link=\"default\"}"), 0);
  EXPECT_EQ(Sample(after, "natskv_replication_apply_lag_seconds_count{link=\"default\"}"),
            0);
  // The memory families: no limit set, nothing evicted or expired.
  EXPECT_EQ(Sample(after, "natskv_max_memory_bytes{link=\"default\"}"), 0);
  EXPECT_EQ(Sample(after, "natskv_evicted_total{link=\"default\"}"), 0);
  EXPECT_EQ(Sample(after, "natskv_expired_total{link=\"default\"}"), 0);
  EXPECT_EQ(Sample(after, "natskv_tombstones{link=\"default\"}"), 0);

  // Prometheus's own checker (Debian's `prometheus` package).
  const std::string file = absl::StrCat(testing_util::TempDir(), "/scrape.txt");
  std::ofstream(file) << after;
  auto promtool = Process::Start(
      "/bin/sh", {"-c", absl::StrCat("promtool check metrics < '", file, "'")});
  ASSERT_TRUE(promtool.ok()) << promtool.status();
  auto rc = (*promtool)->Wait(kTimeout);
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, 0) << "promtool check metrics:\n" << (*promtool)->Output();
}

TEST_F(MetricsTest, AnotherNodesEventsCountIn) {
  auto a = StartKvd({"--heartbeat=100ms", "--first_replica_silence=300ms"});
  ASSERT_NE(a, nullptr);
  const int port_a = port_;
  ASSERT_TRUE(WaitFor([&] { return Get("/healthz").status == 200; }, kTimeout));
  auto b = StartKvd({"--heartbeat=100ms", "--first_replica_silence=300ms"});
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Get("/healthz").status == 200; }, kTimeout));
  // Writes on whichever node the queue group picks: each node either made or
  // received every one of them.
  for (int i = 0; i < 10; ++i) {
    const auto r =
        Call(nc_.get(), "kv.default.set", KeyValueBody(absl::StrCat("k", i), "v"));
    ASSERT_TRUE(r.ok() && r.code() == 0) << r.data;
  }
  for (int port : {port_a, port_}) {
    port_ = port;
    EXPECT_TRUE(WaitFor(
        [&] {
          const std::string m = Get("/metrics").body;
          return Sample(m, "natskv_events_in_total{link=\"default\"}") +
                         Sample(m, "natskv_events_out_total{link=\"default\"}") ==
                     10 &&
                 Sample(m, "natskv_peers{link=\"default\"}") == 1 &&
                 Sample(m, "natskv_keys{link=\"default\"}") == 10;
        },
        kTimeout))
        << Get("/metrics").body;
  }
}

TEST_F(MetricsTest, BadAddressExits2AndBusyPortExits1) {
  auto bad = Process::Start(KvdPath(), {absl::StrCat("--server=", server_->url()),
                                        "--metrics_addr=example.com:80"});
  ASSERT_TRUE(bad.ok());
  auto rc = (*bad)->Wait(kTimeout);
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 2);
  EXPECT_TRUE(absl::StrContains((*bad)->Output(), "--metrics_addr")) << (*bad)->Output();

  auto first = StartKvd({"--replication=false"});
  ASSERT_NE(first, nullptr);
  auto busy =
      Process::Start(KvdPath(), {absl::StrCat("--server=", server_->url()),
                                 absl::StrCat("--metrics_addr=127.0.0.1:", port_)});
  ASSERT_TRUE(busy.ok());
  rc = (*busy)->Wait(kTimeout);
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 1);
  EXPECT_TRUE(absl::StrContains((*busy)->Output(), "cannot serve metrics on"))
      << (*busy)->Output();
}

}  // namespace
