#include "kv/metrics/node_metrics.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace kv::metrics {
namespace {

LinkFigures Link(const std::string& name, bool ready) {
  LinkFigures l;
  l.replica.link = name;
  l.replica.ready = ready;
  l.replica.keys = 7;
  l.replica.tombstones = 2;
  l.replica.memory_bytes = 4096;
  l.replica.max_memory_bytes = 1 << 20;
  l.replica.evicted = 5;
  l.replica.expired = 3;
  l.replica.peers = 2;
  l.replica.lag = 3;
  l.replica.events_in = 11;
  l.replica.events_out = 12;
  l.replica.catchups = 1;
  l.replica.bad_messages = 5;
  micro::EndpointMetrics get;
  get.name = name + "_get";
  get.metadata = {{"link", name}, {"op", "get"}};
  get.num_requests = 10;
  get.num_errors = 3;
  get.errors_by_code = {{400, 2}, {503, 1}};
  for (int i = 0; i < 10; ++i) get.latency.Add(200'000);  // 0.2 ms
  l.endpoints.push_back(get);
  return l;
}

TEST(NodeMetrics, RequestsByCodeWithSuccessesAs200) {
  const std::string text = NodeMetricsText({Link("a", true)});
  EXPECT_TRUE(absl::StrContains(
      text, "natskv_requests_total{link=\"a\",op=\"get\",code=\"200\"} 7\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "natskv_requests_total{link=\"a\",op=\"get\",code=\"400\"} 2\n"));
  EXPECT_TRUE(absl::StrContains(
      text, "natskv_requests_total{link=\"a\",op=\"get\",code=\"503\"} 1\n"));
}

TEST(NodeMetrics, RequestDurationHistogramInSeconds) {
  const std::string text = NodeMetricsText({Link("a", true)});
  EXPECT_TRUE(
      absl::StrContains(text, "# TYPE natskv_request_duration_seconds histogram"));
  EXPECT_TRUE(absl::StrContains(
      text,
      "natskv_request_duration_seconds_bucket{link=\"a\",op=\"get\",le=\"0.0001\"} 0\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text,
                                "natskv_request_duration_seconds_bucket{link=\"a\",op="
                                "\"get\",le=\"0.00025\"} 10\n"));
  EXPECT_TRUE(absl::StrContains(
      text,
      "natskv_request_duration_seconds_bucket{link=\"a\",op=\"get\",le=\"+Inf\"} 10\n"));
  EXPECT_TRUE(absl::StrContains(
      text, "natskv_request_duration_seconds_sum{link=\"a\",op=\"get\"} 0.002\n"));
  EXPECT_TRUE(absl::StrContains(
      text, "natskv_request_duration_seconds_count{link=\"a\",op=\"get\"} 10\n"));
}

TEST(NodeMetrics, ReplicaFiguresPerLink) {
  const std::string text = NodeMetricsText({Link("a", true), Link("b", false)});
  for (const char* line :
       {"natskv_ready{link=\"a\"} 1\n", "natskv_ready{link=\"b\"} 0\n",
        "natskv_keys{link=\"b\"} 7\n", "natskv_memory_bytes{link=\"a\"} 4096\n",
        "natskv_peers{link=\"a\"} 2\n", "natskv_replication_lag_ops{link=\"a\"} 3\n",
        "natskv_catchups_total{link=\"a\"} 1\n",
        "natskv_events_in_total{link=\"a\"} 11\n",
        "natskv_events_out_total{link=\"a\"} 12\n",
        "natskv_bad_messages_total{link=\"a\"} 5\n"}) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << " missing in\n" << text;
  }
}

TEST(NodeMetrics, MemoryFiguresPerLink) {
  const std::string text = NodeMetricsText({Link("a", true)});
  for (const char* sample :
       {"natskv_tombstones{link=\"a\"} 2\n",
        "natskv_max_memory_bytes{link=\"a\"} 1048576\n",
        "natskv_evicted_total{link=\"a\"} 5\n", "natskv_expired_total{link=\"a\"} 3\n"}) {
    EXPECT_TRUE(absl::StrContains(text, sample)) << sample << "\n" << text;
  }
}

TEST(NodeMetrics, ApplyLagBucketsFromWholeMilliseconds) {
  LinkFigures l = Link("a", true);
  l.replica.apply_lag.Add(0);     // <= 1 ms
  l.replica.apply_lag.Add(1);     // <= 1 ms
  l.replica.apply_lag.Add(2);     // <= 2 ms
  l.replica.apply_lag.Add(600);   // +Inf (above 500 ms)
  l.replica.apply_lag.Add(5000);  // +Inf
  const std::string text = NodeMetricsText({l});
  const std::string p = "natskv_replication_apply_lag_seconds_";
  EXPECT_TRUE(absl::StrContains(text, p + "bucket{link=\"a\",le=\"0.001\"} 2\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, p + "bucket{link=\"a\",le=\"0.002\"} 3\n"));
  EXPECT_TRUE(absl::StrContains(text, p + "bucket{link=\"a\",le=\"0.5\"} 3\n"));
  EXPECT_TRUE(absl::StrContains(text, p + "bucket{link=\"a\",le=\"+Inf\"} 5\n"));
  EXPECT_TRUE(absl::StrContains(text, p + "count{link=\"a\"} 5\n"));
  EXPECT_FALSE(absl::StrContains(text, p + "sum"));
}

TEST(NodeMetrics, EveryFamilyHasHelpAndType) {
  const std::string text = NodeMetricsText({Link("a", true)});
  for (const char* name :
       {"requests_total", "request_duration_seconds", "ready", "keys", "memory_bytes",
        "peers", "replication_lag_ops", "replication_apply_lag_seconds", "catchups_total",
        "events_in_total", "events_out_total", "bad_messages_total"}) {
    EXPECT_TRUE(absl::StrContains(text, absl::StrCat("# HELP natskv_", name, " ")))
        << name;
    EXPECT_TRUE(absl::StrContains(text, absl::StrCat("# TYPE natskv_", name, " ")))
        << name;
  }
}

TEST(NodeHealth, OkOnlyWhenEveryLinkIsReady) {
  EXPECT_TRUE(NodeHealth({Link("a", true), Link("b", true)}).ok);
  const Health h = NodeHealth({Link("a", true), Link("b", false)});
  EXPECT_FALSE(h.ok);
  EXPECT_EQ(h.body, "not ready: b joining or catching up\n");
  EXPECT_FALSE(NodeHealth({}).ok);
}

}  // namespace
}  // namespace kv::metrics
