// kvbench --baseline jetstream against a real nats-server with JetStream and a
// real kvd: the JetStream rows appear with figures and no errors, the bucket
// is deleted afterwards, and a server without JetStream gets a clear error.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/testing/harness.h"

namespace {

using ::testing_util::NatsServer;
using ::testing_util::Process;
using ::testing_util::RunfilePath;

constexpr absl::Duration kTimeout = absl::Seconds(60);

struct KvbenchRun {
  int code = -1;
  std::string output;  // stdout and stderr
};

class KvbenchJetStreamTest : public ::testing::Test {
 protected:
  // A nats-server with (or without) JetStream and one standalone kvd on it
  // (which serves once it logged its service).
  void Start(bool jetstream) {
    std::vector<std::string> args;
    if (jetstream) args = {"-js", "-sd", absl::StrCat(testing_util::TempDir(), "/js")};
    auto server = NatsServer::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto kvd = Process::Start(
        RunfilePath("kv/kvd"),
        {absl::StrCat("--server=", server_->url()), "--replication=false"});
    ASSERT_TRUE(kvd.ok()) << kvd.status();
    kvd_ = *std::move(kvd);
    ASSERT_TRUE(kvd_->WaitForOutput("service kv ", kTimeout)) << kvd_->Output();
  }

  KvbenchRun Kvbench(std::vector<std::string> args) {
    args.insert(args.begin(), {absl::StrCat("--server=", server_->url()), "--keys=200",
                               "--warmup=100ms", "--duration=500ms", "--timeout=2s"});
    auto p = Process::Start(RunfilePath("tools/kvbench"), args);
    if (!p.ok()) {
      ADD_FAILURE() << p.status();
      return {};
    }
    auto rc = (*p)->Wait(kTimeout);
    if (!rc.ok()) {
      ADD_FAILURE() << rc.status();
      return {};
    }
    return {*rc, (*p)->Output()};
  }

  // Whether the server still has the stream of bucket `bucket`.
  bool StreamExists(const std::string& bucket) {
    auto nc = testing_util::Connect(server_->url());
    if (!nc.ok()) {
      ADD_FAILURE() << nc.status();
      return false;
    }
    natsMsg* reply = nullptr;
    const std::string subject = absl::StrCat("$JS.API.STREAM.INFO.KV_", bucket);
    natsStatus s =
        natsConnection_RequestString(&reply, nc->get(), subject.c_str(), "", 2000);
    EXPECT_EQ(s, NATS_OK);
    const std::string body = reply == nullptr ? ""
                                              : std::string(natsMsg_GetData(reply),
                                                            natsMsg_GetDataLength(reply));
    natsMsg_Destroy(reply);
    return !absl::StrContains(body, "stream not found");
  }

  std::unique_ptr<NatsServer> server_;
  std::unique_ptr<Process> kvd_;
};

// The {"results":[...]} line of kvbench --json's output.
std::string ResultsLine(const std::string& output) {
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StartsWith(line, R"({"results")")) return std::string(line);
  }
  return "";
}

TEST_F(KvbenchJetStreamTest, GetRowsWithFiguresAndRatios) {
  ASSERT_NO_FATAL_FAILURE(Start(true));
  const KvbenchRun run = Kvbench({"--op=get", "--inflight=1,8", "--baseline=jetstream",
                                  "--bucket=smoke_get", "--json"});
  ASSERT_EQ(run.code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(
      run.output,
      "get: direct get ($JS.API.DIRECT.GET.KV_smoke_get.$KV.smoke_get.<key>)"))
      << run.output;
  rapidjson::Document doc;
  doc.Parse(ResultsLine(run.output).c_str());
  ASSERT_FALSE(doc.HasParseError()) << run.output;
  const auto& results = doc["results"];
  ASSERT_EQ(results.Size(), 4u) << run.output;  // kvd, jetstream at 1 and 8
  int jetstream_rows = 0;
  for (const auto& r : results.GetArray()) {
    const std::string target = r["target"].GetString();
    SCOPED_TRACE(absl::StrCat(target, " x", r["inflight"].GetInt()));
    EXPECT_STREQ(r["op"].GetString(), "get");
    EXPECT_GT(r["requests"].GetUint64(), 20u);
    EXPECT_EQ(r["errors"].GetUint64(), 0u);
    EXPECT_GT(r["requests_per_second"].GetDouble(), 0);
    EXPECT_GT(r["p50_us"].GetDouble(), 0);
    if (target == "jetstream") {
      ++jetstream_rows;
      EXPECT_FALSE(r.HasMember("requests_per_second_vs_jetstream"));
    } else {
      ASSERT_TRUE(r.HasMember("requests_per_second_vs_jetstream"));
      EXPECT_GT(r["requests_per_second_vs_jetstream"].GetDouble(), 0);
      EXPECT_GT(r["p50_vs_jetstream"].GetDouble(), 0);
    }
  }
  EXPECT_EQ(jetstream_rows, 2);
  EXPECT_FALSE(StreamExists("smoke_get"));  // kvbench deleted its bucket
}

TEST_F(KvbenchJetStreamTest, PutRowsInTheTable) {
  ASSERT_NO_FATAL_FAILURE(Start(true));
  const KvbenchRun run =
      Kvbench({"--op=set", "--inflight=2", "--baseline=echo,jetstream"});
  ASSERT_EQ(run.code, 0) << run.output;
  int rows = 0;
  for (absl::string_view line : absl::StrSplit(run.output, '\n')) {
    if (!absl::StartsWith(line, "jetstream ") && !absl::StartsWith(line, "kvd "))
      continue;
    ++rows;
    // target op in-flight req/s p50 p90 p99 max errors, then the ratios.
    std::vector<std::string> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
    ASSERT_GE(cells.size(), 11u) << line;
    EXPECT_EQ(cells[1], absl::StartsWith(line, "kvd") ? "set" : "put") << line;
    EXPECT_EQ(cells[2], "2") << line;
    double rate = 0;
    EXPECT_TRUE(absl::SimpleAtod(cells[3], &rate) && rate > 0) << line;
    EXPECT_EQ(cells[8], "0") << line;  // errors
    EXPECT_TRUE(absl::EndsWith(cells.back(), "x")) << line;
    EXPECT_EQ(cells.size(), absl::StartsWith(line, "kvd") ? 13u : 11u) << line;
  }
  EXPECT_EQ(rows, 2) << run.output;
}

TEST_F(KvbenchJetStreamTest, ServerWithoutJetStreamIsAClearError) {
  ASSERT_NO_FATAL_FAILURE(Start(false));
  const KvbenchRun run = Kvbench({"--op=get", "--baseline=jetstream"});
  EXPECT_EQ(run.code, 1) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "no JetStream on the server")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "nats-server -js")) << run.output;
}

TEST_F(KvbenchJetStreamTest, OpsJetStreamLacksAreAUsageError) {
  ASSERT_NO_FATAL_FAILURE(Start(true));
  const KvbenchRun run = Kvbench({"--op=push", "--baseline=jetstream"});
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "not 'push'")) << run.output;
}

}  // namespace
