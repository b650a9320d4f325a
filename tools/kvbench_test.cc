#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/kvbench_notify.h"
#include "tools/kvbench_report.h"
#include "tools/kvbench_workload.h"

namespace kv::tools {
namespace {

TEST(LatencyRecorder, NearestRankPercentiles) {
  LatencyRecorder r;
  EXPECT_EQ(r.Percentile(0.5), 0);
  EXPECT_EQ(r.Max(), 0);
  for (int i = 100; i >= 1; --i) r.Record(i);  // out of order on purpose
  EXPECT_EQ(r.count(), 100u);
  EXPECT_EQ(r.Percentile(0.5), 50);
  EXPECT_EQ(r.Percentile(0.9), 90);
  EXPECT_EQ(r.Percentile(0.99), 99);
  EXPECT_EQ(r.Percentile(0.0), 1);
  EXPECT_EQ(r.Percentile(1.0), 100);
  EXPECT_EQ(r.Max(), 100);
  r.Record(5);  // recording after reading sorts again
  EXPECT_EQ(r.Max(), 100);
  EXPECT_EQ(r.Percentile(0.05), 5);  // 1,2,3,4,5,5,...: rank 6 of 101
}

TEST(LatencyRecorder, SingleSample) {
  LatencyRecorder r;
  r.Record(42);
  EXPECT_EQ(r.Percentile(0.5), 42);
  EXPECT_EQ(r.Percentile(0.99), 42);
}

BenchRow Row(const char* target, int inflight, uint64_t requests, int64_t p50_us,
             const char* op = "get") {
  BenchRow r;
  r.target = target;
  r.op = op;
  r.inflight = inflight;
  r.seconds = 10;
  r.requests = requests;
  r.p50_ns = p50_us * 1000;
  r.p90_ns = r.p99_ns = r.max_ns = r.p50_ns * 2;
  return r;
}

TEST(FormatBenchTable, RatiosToTheEchoRowOfTheSameInflight) {
  const std::string table =
      FormatBenchTable({Row("echo", 1, 100000, 50), Row("kvd", 1, 90000, 60),
                        Row("echo", 128, 1000000, 500), Row("kvd", 128, 500000, 1000)});
  EXPECT_EQ(table,
            "target  op   in-flight   req/s  p50 us  p90 us  p99 us  max us  errors"
            "  req/s vs echo  p50 vs echo\n"
            "echo    get          1   10000    50.0   100.0   100.0   100.0       0\n"
            "kvd     get          1    9000    60.0   120.0   120.0   120.0       0"
            "          0.90x        1.20x\n"
            "echo    get        128  100000   500.0  1000.0  1000.0  1000.0       0\n"
            "kvd     get        128   50000  1000.0  2000.0  2000.0  2000.0       0"
            "          0.50x        2.00x\n");
}

TEST(FormatBenchTable, NoRatioColumnsWithoutEcho) {
  const std::string table = FormatBenchTable({Row("kvd", 1, 1000, 80)});
  EXPECT_EQ(table.find("vs echo"), std::string::npos);
}

TEST(FormatBenchJson, CarriesFiguresAndRatios) {
  const std::string json =
      FormatBenchJson({Row("echo", 1, 100000, 50), Row("kvd", 1, 90000, 60)});
  EXPECT_NE(json.find(R"("target":"kvd","op":"get","inflight":1)"), std::string::npos);
  EXPECT_NE(json.find(R"("requests_per_second":9000.0)"), std::string::npos);
  EXPECT_NE(json.find(R"("requests_per_second_vs_echo":0.9)"), std::string::npos);
  EXPECT_NE(json.find(R"("p50_vs_echo":1.2)"), std::string::npos);
}

TEST(FormatBenchTable, KvdRatiosToJetStreamAndEveryRowToEcho) {
  const std::string table = FormatBenchTable(
      {Row("echo", 1, 100000, 50, "set"), Row("kvd", 1, 90000, 60, "set"),
       Row("jetstream", 1, 120000, 40, "set"), Row("echo", 128, 1000000, 500, "set"),
       Row("kvd", 128, 500000, 1000, "set"), Row("jetstream", 128, 1000000, 500, "set")});
  EXPECT_EQ(table,
            "target     op   in-flight   req/s  p50 us  p90 us  p99 us  max us  errors"
            "  req/s vs echo  p50 vs echo  req/s vs jetstream  p50 vs jetstream\n"
            "echo       set          1   10000    50.0   100.0   100.0   100.0       0\n"
            "kvd        set          1    9000    60.0   120.0   120.0   120.0       0"
            "          0.90x        1.20x               0.75x             1.50x\n"
            "jetstream  put          1   12000    40.0    80.0    80.0    80.0       0"
            "          1.20x        0.80x\n"
            "echo       set        128  100000   500.0  1000.0  1000.0  1000.0       0\n"
            "kvd        set        128   50000  1000.0  2000.0  2000.0  2000.0       0"
            "          0.50x        2.00x               0.50x             2.00x\n"
            "jetstream  put        128  100000   500.0  1000.0  1000.0  1000.0       0"
            "          1.00x        1.00x\n");
}

TEST(FormatBenchTable, JetStreamWithoutEcho) {
  const std::string table =
      FormatBenchTable({Row("kvd", 4, 8000, 50), Row("jetstream", 4, 10000, 40)});
  EXPECT_EQ(table,
            "target     op   in-flight  req/s  p50 us  p90 us  p99 us  max us  errors"
            "  req/s vs jetstream  p50 vs jetstream\n"
            "kvd        get          4    800    50.0   100.0   100.0   100.0       0"
            "               0.80x             1.25x\n"
            "jetstream  get          4   1000    40.0    80.0    80.0    80.0       0\n");
}

TEST(FormatBenchTable, NoRatioWithoutARowOfTheSameInflight) {
  const std::string table = FormatBenchTable(
      {Row("echo", 1, 100000, 50), Row("kvd", 128, 90000, 60), Row("kvd", 1, 90000, 60)});
  EXPECT_EQ(table,
            "target  op   in-flight  req/s  p50 us  p90 us  p99 us  max us  errors"
            "  req/s vs echo  p50 vs echo\n"
            "echo    get          1  10000    50.0   100.0   100.0   100.0       0\n"
            "kvd     get        128   9000    60.0   120.0   120.0   120.0       0\n"
            "kvd     get          1   9000    60.0   120.0   120.0   120.0       0"
            "          0.90x        1.20x\n");
}

TEST(FormatBenchJson, JetStreamRatiosAndPut) {
  const std::string json =
      FormatBenchJson({Row("echo", 1, 100000, 50, "set"), Row("kvd", 1, 90000, 60, "set"),
                       Row("jetstream", 1, 120000, 40, "set")});
  EXPECT_NE(json.find(R"("requests_per_second_vs_jetstream":0.75)"), std::string::npos);
  EXPECT_NE(json.find(R"("p50_vs_jetstream":1.5)"), std::string::npos);
  EXPECT_NE(json.find(R"("target":"jetstream","op":"put")"), std::string::npos);
  EXPECT_NE(json.find(R"("requests_per_second_vs_echo":1.2)"), std::string::npos);
  // JetStream rows are not compared with themselves, echo rows with nothing.
  EXPECT_EQ(json.find(R"("target":"jetstream","op":"put","inflight":1,"seconds":10.0,)"
                      R"("requests":120000,"requests_per_second":12000.0,"errors":0,)"
                      R"("p50_us":40.0,"p90_us":80.0,"p99_us":80.0,"max_us":80.0})"),
            std::string::npos);
  EXPECT_NE(json.find(R"("target":"echo","op":"set","inflight":1,"seconds":10.0,)"
                      R"("requests":100000,"requests_per_second":10000.0,"errors":0,)"
                      R"("p50_us":50.0,"p90_us":100.0,"p99_us":100.0,"max_us":100.0})"),
            std::string::npos)
      << json;
}

TEST(DisplayOp, JetStreamSetIsAPut) {
  EXPECT_EQ(DisplayOp(Row("jetstream", 1, 1, 1, "set")), "put");
  EXPECT_EQ(DisplayOp(Row("jetstream", 1, 1, 1, "get")), "get");
  EXPECT_EQ(DisplayOp(Row("kvd", 1, 1, 1, "set")), "set");
}

TEST(ParseBaselines, EchoJetStreamOrBoth) {
  absl::StatusOr<Baselines> none = ParseBaselines("");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->echo);
  EXPECT_FALSE(none->jetstream);
  EXPECT_TRUE(ParseBaselines("echo")->echo);
  EXPECT_FALSE(ParseBaselines("echo")->jetstream);
  EXPECT_TRUE(ParseBaselines("jetstream")->jetstream);
  EXPECT_FALSE(ParseBaselines("jetstream")->echo);
  absl::StatusOr<Baselines> both = ParseBaselines("jetstream,echo");
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(both->echo && both->jetstream);
  for (const char* bad : {"js", "echo,", ",echo", "Echo", "echo jetstream"}) {
    absl::StatusOr<Baselines> b = ParseBaselines(bad);
    EXPECT_FALSE(b.ok()) << bad;
    EXPECT_NE(b.status().message().find("--baseline takes echo, jetstream"),
              std::string::npos);
  }
}

TEST(ParseInflightList, OneOrMany) {
  EXPECT_EQ(*ParseInflightList("1"), std::vector<int>{1});
  EXPECT_EQ(*ParseInflightList("1,128"), (std::vector<int>{1, 128}));
  EXPECT_FALSE(ParseInflightList("0").ok());
  EXPECT_FALSE(ParseInflightList("1,").ok());
  EXPECT_FALSE(ParseInflightList("x").ok());
  EXPECT_FALSE(ParseInflightList("100000").ok());
}

TEST(Workload, RealisticBodies) {
  absl::StatusOr<Workload> w = Workload::Create("get", 1000, 8);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->ops(), std::vector<std::string>{"get"});
  EXPECT_TRUE(w->reads());
  EXPECT_EQ(w->PreloadBody(123).substr(0, 27), R"({"key":"k:000123","value":")");
  EXPECT_EQ(w->PreloadBody(123).size(), 27u + 8 + 2);
  const WorkItem item = w->Next(7);
  EXPECT_EQ(item.op, 0u);
  EXPECT_EQ(item.body->substr(0, 10), R"({"key":"k:)");
  EXPECT_EQ(w->Next(7).body, item.body);  // depends on seq only

  absl::StatusOr<Workload> add = Workload::Create("add", 10, 0);
  ASSERT_TRUE(add.ok());
  EXPECT_FALSE(add->reads());
  EXPECT_EQ(add->Next(0).body->substr(0, 10), R"({"key":"c:)");
  EXPECT_NE(add->Next(0).body->find(R"("value":1})"), std::string::npos);
}

TEST(Workload, PopPopsListsThePreloadFilled) {
  absl::StatusOr<Workload> w = Workload::Create("pop", 10, 4);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->ops(), std::vector<std::string>{"pop"});
  EXPECT_TRUE(w->reads());  // preloaded
  EXPECT_EQ(w->preload_op(), "push");
  EXPECT_EQ(w->preload_count(), 10 * Workload::kPopItemsPerKey);
  EXPECT_NE(w->Next(3).body->find(R"("end":"left")"), std::string::npos);
  EXPECT_EQ(w->Next(3).body->substr(0, 10), R"({"key":"l:)");
  EXPECT_EQ(w->PreloadBody(13).substr(0, 10), R"({"key":"l:)");
  // The preload pushes every list the same number of items.
  EXPECT_EQ(w->PreloadBody(13), w->PreloadBody(13 + 10));
}

TEST(Workload, KeysSpreadAndMixedIsMostlyReads) {
  absl::StatusOr<Workload> w = Workload::Create("mixed", 100, 10);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->ops(), (std::vector<std::string>{"get", "set"}));
  std::set<const std::string*> seen;
  int gets = 0;
  for (uint64_t seq = 0; seq < 10000; ++seq) {
    WorkItem item = w->Next(seq);
    if (item.op == 0) ++gets;
    seen.insert(item.body);
  }
  EXPECT_GT(gets, 7700);
  EXPECT_LT(gets, 8300);
  EXPECT_GT(seen.size(), 190u);  // nearly every get and set body
}

TEST(JetStreamWorkload, DirectGetsAndPutsOfTheSameKeys) {
  absl::StatusOr<Workload> w = Workload::Create("mixed", 100, 10);
  ASSERT_TRUE(w.ok());
  absl::StatusOr<JetStreamWorkload> js = JetStreamWorkload::Create(*w, "b1", true);
  ASSERT_TRUE(js.ok());
  int gets = 0;
  for (uint64_t seq = 0; seq < 1000; ++seq) {
    const WorkItem kvd = w->Next(seq);
    const WorkItem item = js->Next(seq);
    ASSERT_NE(item.subject, nullptr);
    EXPECT_EQ(item.op, kvd.op);
    // The kvd body names key k:<n>; the JetStream subject ends in k_<n>.
    const std::string key = kvd.body->substr(8, 8);  // {"key":"k:000042"...
    const std::string js_key = "k_" + key.substr(2);
    if (item.op == 0) {
      ++gets;
      EXPECT_EQ(*item.subject, "$JS.API.DIRECT.GET.KV_b1.$KV.b1." + js_key);
      EXPECT_EQ(*item.body, "");
    } else {
      EXPECT_EQ(*item.subject, "$KV.b1." + js_key);
      EXPECT_EQ(*item.body, w->value());
      EXPECT_EQ(item.body->size(), 10u);
    }
  }
  EXPECT_GT(gets, 700);
  EXPECT_EQ(*js->Preload(101).subject, "$KV.b1.k_000001");
  EXPECT_EQ(*js->Preload(101).body, w->value());
}

TEST(JetStreamWorkload, MessageGetWithoutDirectGet) {
  absl::StatusOr<Workload> w = Workload::Create("get", 10, 10);
  ASSERT_TRUE(w.ok());
  absl::StatusOr<JetStreamWorkload> js = JetStreamWorkload::Create(*w, "b", false);
  ASSERT_TRUE(js.ok());
  const WorkItem item = js->Next(3);
  EXPECT_EQ(*item.subject, "$JS.API.STREAM.MSG.GET.KV_b");
  EXPECT_EQ(item.body->substr(0, 30), R"({"last_by_subj":"$KV.b.k_00000)");
}

TEST(JetStreamWorkload, OnlyGetSetAndMixed) {
  EXPECT_TRUE(JetStreamWorkload::CheckOp("set").ok());
  absl::StatusOr<Workload> add = Workload::Create("add", 10, 0);
  ASSERT_TRUE(add.ok());
  absl::StatusOr<JetStreamWorkload> js = JetStreamWorkload::Create(*add, "b", true);
  ASSERT_FALSE(js.ok());
  EXPECT_NE(js.status().message().find("not 'add'"), std::string::npos);
  EXPECT_FALSE(JetStreamWorkload::CheckOp("push").ok());
}

TEST(JetStreamReplyFailed, StatusHeadersAndErrorBodies) {
  EXPECT_FALSE(JetStreamReplyFailed("", R"({"stream":"KV_b","seq":12})"));
  EXPECT_FALSE(JetStreamReplyFailed("", "abcdef"));  // a direct get's value
  EXPECT_FALSE(JetStreamReplyFailed("", ""));
  EXPECT_TRUE(JetStreamReplyFailed("404", ""));  // no such key
  EXPECT_TRUE(JetStreamReplyFailed("503", ""));
  EXPECT_TRUE(JetStreamReplyFailed(
      "",
      R"({"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}})"));
}

TEST(Workload, MgetReadsBatchesOfConsecutiveKeys) {
  absl::StatusOr<Workload> w = Workload::Create("mget", 1000, 8, 100);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->ops(), std::vector<std::string>{"mget"});
  EXPECT_TRUE(w->reads());  // preloaded
  EXPECT_EQ(w->keys_per_request(), 100);
  const std::string& body = *w->Next(3).body;
  EXPECT_EQ(body.substr(0, 13), R"({"keys":["k:0)");
  EXPECT_EQ(std::count(body.begin(), body.end(), ','), 99);
  EXPECT_EQ(Workload::Create("get", 10, 8)->keys_per_request(), 1);
  // Wraps around a small key space.
  absl::StatusOr<Workload> small = Workload::Create("mget", 3, 8, 5);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(std::count(small->Next(0).body->begin(), small->Next(0).body->end(), ','), 4);
  EXPECT_FALSE(Workload::Create("mget", 10, 8, 0).ok());
}

TEST(Report, KeysPerSecondForBatches) {
  BenchRow get{"kvd", "get", 1, 1.0, 5000};
  BenchRow mget{"kvd", "mget", 1, 1.0, 3000};
  mget.keys_per_request = 100;
  EXPECT_EQ(FormatBenchTable({get}).find("keys/s"), std::string::npos);
  const std::string table = FormatBenchTable({get, mget});
  EXPECT_NE(table.find("keys/s"), std::string::npos) << table;
  EXPECT_NE(table.find("300000"), std::string::npos) << table;
  EXPECT_NE(FormatBenchJson({mget}).find(R"("keys_per_second":300000)"),
            std::string::npos)
      << FormatBenchJson({mget});
}

TEST(Workload, RejectsBadSettings) {
  EXPECT_FALSE(Workload::Create("scan", 10, 10).ok());
  EXPECT_FALSE(Workload::Create("get", 0, 10).ok());
  EXPECT_FALSE(Workload::Create("get", 10, -1).ok());
}

TEST(NotificationRevision, ReadsTheRevisionMember) {
  EXPECT_EQ(
      NotificationRevision(R"({"key":"k","op":"set","revision":123456,"type":"string"})"),
      123456);
  EXPECT_EQ(NotificationRevision(R"({"key":"k"})"), -1);
  EXPECT_EQ(NotificationRevision(R"({"revision":"x"})"), -1);
  EXPECT_EQ(NotificationRevision(R"({"revision":99999999999999999999})"), -1);
}

}  // namespace
}  // namespace kv::tools
