// kvctl status and kvctl check against real kvd nodes on a real nats-server:
// replicas that agree, and a standalone node on the same link with other data.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"

namespace {

using ::testing_util::Call;
using ::testing_util::KeyValueBody;
using ::testing_util::NodeIdOf;
using ::testing_util::Process;

constexpr absl::Duration kTimeout = absl::Seconds(20);

struct KvctlRun {
  int code = -1;
  std::string output;  // stdout and stderr
};

class KvctlReplicasTest : public testing_util::ServerTest {
 protected:
  // Starts a kvd and waits until its link is ready ("ready" in its log; a
  // standalone node is ready at once).
  std::unique_ptr<Process> StartKvd(std::vector<std::string> args) {
    args.insert(args.begin(), {absl::StrCat("--server=", server_->url()),
                               "--heartbeat=100ms", "--first_replica_silence=300ms"});
    auto kvd = Process::Start(testing_util::RunfilePath("kv/kvd"), args);
    if (!kvd.ok()) {
      ADD_FAILURE() << kvd.status();
      return nullptr;
    }
    std::unique_ptr<Process> p = *std::move(kvd);
    if (!p->WaitForOutput("service kv ", kTimeout)) {
      ADD_FAILURE() << "kvd did not start:\n" << p->Output();
      return nullptr;
    }
    return p;
  }

  bool WaitReady(const Process& kvd) { return kvd.WaitForOutput(": ready", kTimeout); }

  KvctlRun Kvctl(std::vector<std::string> args) {
    args.insert(args.begin(), absl::StrCat("--server=", server_->url()));
    auto p = Process::Start(testing_util::RunfilePath("tools/kvctl"), args);
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

  void Set(const std::string& key, const std::string& value) {
    const auto r = Call(nc_.get(), "kv.default.set", KeyValueBody(key, value));
    ASSERT_TRUE(r.ok() && r.code() == 0) << r.data;
  }
};

TEST_F(KvctlReplicasTest, ThreeReplicasAgree) {
  std::vector<std::unique_ptr<Process>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(StartKvd({}));
    ASSERT_NE(nodes.back(), nullptr);
    ASSERT_TRUE(WaitReady(*nodes.back())) << nodes.back()->Output();
  }
  for (int i = 0; i < 20; ++i) Set(absl::StrCat("k", i), "v");

  const KvctlRun check = Kvctl({"check", "--wait", "10s"});
  EXPECT_EQ(check.code, 0) << check.output;
  EXPECT_TRUE(absl::StrContains(check.output, "3 replicas of link default agree"))
      << check.output;

  const KvctlRun status = Kvctl({"status"});
  EXPECT_EQ(status.code, 0) << status.output;
  const std::vector<std::string> lines =
      absl::StrSplit(status.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << status.output;  // header + one row per node
  EXPECT_TRUE(absl::StartsWith(lines[0], "NODE/INSTANCE")) << status.output;
  for (const auto& node : nodes) {
    EXPECT_TRUE(absl::StrContains(status.output, NodeIdOf(*node) + "/")) << status.output;
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_TRUE(absl::StrContains(lines[i], " yes ")) << lines[i];  // ready
    EXPECT_TRUE(absl::EndsWith(lines[i], "yes")) << lines[i];       // agrees
    EXPECT_TRUE(absl::StrContains(lines[i], " 20 ")) << lines[i];   // keys
  }

  const KvctlRun other = Kvctl({"check", "--link", "nope"});
  EXPECT_EQ(other.code, 1);
  EXPECT_TRUE(absl::StrContains(other.output, "no replica of link nope")) << other.output;
  EXPECT_EQ(Kvctl({"status", "extra"}).code, 2);
}

// A one-winner write right after a node joined meets owners still settling
// (503, nothing changed); kvctl asks again until its timeout instead of
// failing.
TEST_F(KvctlReplicasTest, AOneWinnerWriteWaitsOutSettlingOwners) {
  std::vector<std::unique_ptr<Process>> nodes;
  for (int i = 0; i < 2; ++i) {
    nodes.push_back(StartKvd({}));
    ASSERT_NE(nodes.back(), nullptr);
    ASSERT_TRUE(WaitReady(*nodes.back())) << nodes.back()->Output();
  }
  const KvctlRun take = Kvctl({"--timeout=15s", "set", "lock:x", "me", "--if", "absent"});
  EXPECT_EQ(take.code, 0) << take.output;
  const KvctlRun again =
      Kvctl({"--timeout=15s", "set", "lock:x", "you", "--if", "absent"});
  EXPECT_EQ(again.code, 1) << again.output;  // taken: 412, not retried
  EXPECT_TRUE(absl::StrContains(again.output, "412")) << again.output;
}

TEST_F(KvctlReplicasTest, AStandaloneNodeWithOtherDataDiffers) {
  // Alone on the link, the standalone node takes a write the others never see.
  auto lone = StartKvd({"--replication=false"});
  ASSERT_NE(lone, nullptr);
  Set("only-here", "x");
  auto a = StartKvd({});
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitReady(*a)) << a->Output();
  auto b = StartKvd({});
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(WaitReady(*b)) << b->Output();

  const KvctlRun check = Kvctl({"check", "--wait", "1s"});
  EXPECT_EQ(check.code, 1) << check.output;
  EXPECT_TRUE(absl::StrContains(check.output, "replicas of link default differ"))
      << check.output;
  // The standalone node is the one marked.
  const std::string lone_id = NodeIdOf(*lone);
  ASSERT_FALSE(lone_id.empty());
  for (absl::string_view line : absl::StrSplit(check.output, '\n')) {
    if (absl::StrContains(line, " digest ")) {
      EXPECT_EQ(absl::StrContains(line, lone_id), absl::StrContains(line, "(differs)"))
          << check.output;
    }
  }
  const KvctlRun status = Kvctl({"status"});
  EXPECT_EQ(status.code, 0) << status.output;
  for (absl::string_view line : absl::StrSplit(status.output, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "NODE")) continue;
    EXPECT_EQ(absl::StartsWith(line, lone_id), absl::EndsWith(line, " no"))
        << status.output;
  }
}

}  // namespace
