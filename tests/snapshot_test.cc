// Warm restarts with real processes (docs/replication.md, "Warm restarts"):
// kvd nodes with --data_dir on a real nats-server, stopped with SIGTERM or
// killed, and started again from their snapshot files.

#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"
#include "tests/testing/kvd_node.h"

namespace {

using ::testing_util::Call;
using ::testing_util::KeyBody;
using ::testing_util::KeyValueBody;
using ::testing_util::KvdNode;
using ::testing_util::Process;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(30);

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

class SnapshotTest : public testing_util::ServerTest {
 protected:
  // Per test and node.
  std::string DataDir(int i) {
    return absl::StrCat(testing_util::TempDir(), "/",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                        "-node", i);
  }

  std::unique_ptr<KvdNode> Start(int i, std::vector<std::string> extra = {}) {
    extra.push_back(absl::StrCat("--data_dir=", DataDir(i)));
    auto node = KvdNode::Start(KvdPath(), server_->url(), extra, kTimeout);
    if (!node.ok()) {
      ADD_FAILURE() << node.status();
      return nullptr;
    }
    return *std::move(node);
  }

  // SIGTERM, then the exit code (the snapshot is written after the drain).
  int Stop(KvdNode& node) {
    node.process().Signal(SIGTERM);
    auto rc = node.process().Wait(kTimeout);
    return rc.ok() ? *rc : -1;
  }

  // Retried (it is idempotent) on no answer: a request the server routed to a
  // node just killed, before it saw the connection close, is lost.
  bool Set(absl::string_view key, absl::string_view value) {
    return WaitFor(
        [&] {
          const auto r = Call(nc_.get(), "kv.default.set", KeyValueBody(key, value),
                              absl::Seconds(2));
          return r.ok() && r.code() == 0;
        },
        kTimeout);
  }

  // The value of `key`; nullopt when absent or on an error.
  std::optional<std::string> Get(absl::string_view key) {
    const auto r = Call(nc_.get(), "kv.default.get", KeyBody(key));
    if (!r.ok() || r.code() != 0 || !absl::StrContains(r.data, "\"exists\":true")) {
      return std::nullopt;
    }
    return r.data;
  }

  absl::Status Converged(const std::vector<std::unique_ptr<KvdNode>>& nodes) {
    std::vector<KvdNode*> raw;
    for (const auto& n : nodes) raw.push_back(n.get());
    return testing_util::WaitConverged(nc_.get(), raw, kTimeout);
  }
};

// Three nodes take writes, are all stopped with SIGTERM and started again: the
// data is there and they converge.
TEST_F(SnapshotTest, EveryNodeStoppedAndStartedAgainKeepsTheData) {
  std::vector<std::unique_ptr<KvdNode>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(Start(i));
    ASSERT_TRUE(nodes.back());
  }
  for (int k = 0; k < 300; ++k) {
    ASSERT_TRUE(Set(absl::StrCat("key", k), absl::StrCat("value", k)));
  }
  ASSERT_TRUE(Converged(nodes).ok());
  for (auto& n : nodes) {
    EXPECT_EQ(Stop(*n), 0);
    EXPECT_TRUE(absl::StrContains(n->Output(), "snapshot saved")) << n->Output();
  }
  // Nothing answers now: the cache would be empty without the snapshots.
  EXPECT_FALSE(Call(nc_.get(), "kv.default.get", KeyBody("key0"), absl::Seconds(1)).ok());
  std::vector<std::string> old_ids;
  for (auto& n : nodes) old_ids.push_back(n->node_id());
  nodes.clear();
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(Start(i));
    ASSERT_TRUE(nodes.back());
    EXPECT_TRUE(absl::StrContains(nodes.back()->Output(), "loaded snapshot"))
        << nodes.back()->Output();
    EXPECT_NE(nodes.back()->node_id(), old_ids[i]);  // never reused
  }
  absl::Status converged = Converged(nodes);
  ASSERT_TRUE(converged.ok()) << converged;
  for (int k = 0; k < 300; ++k) {
    const std::optional<std::string> v = Get(absl::StrCat("key", k));
    ASSERT_TRUE(v.has_value()) << "key" << k;
    EXPECT_TRUE(absl::StrContains(*v, absl::StrCat("\"value", k, "\""))) << *v;
  }
  for (auto& n : nodes) {
    EXPECT_FALSE(absl::StrContains(n->Output(), "snapshot stale")) << n->Output();
    EXPECT_EQ(Stop(*n), 0);
  }
}

// A node killed with SIGKILL restarts from its last periodic snapshot and
// catches up what it missed (a merge from its loaded vector).
TEST_F(SnapshotTest, KilledNodeRestartsFromItsPeriodicSnapshotAndCatchesUp) {
  std::vector<std::unique_ptr<KvdNode>> nodes;
  nodes.push_back(Start(0));
  nodes.push_back(Start(1, {"--snapshot_interval=200ms"}));
  ASSERT_TRUE(nodes[0] && nodes[1]);
  for (int k = 0; k < 100; ++k) ASSERT_TRUE(Set(absl::StrCat("before", k), "v"));
  ASSERT_TRUE(Converged(nodes).ok());
  // Two saves after the writes converged: the last one holds them.
  const int saved = Count(nodes[1]->Output(), "snapshot saved");
  ASSERT_TRUE(WaitFor(
      [&] { return Count(nodes[1]->Output(), "snapshot saved") >= saved + 2; }, kTimeout))
      << nodes[1]->Output();
  nodes[1]->process().Signal(SIGKILL);
  ASSERT_TRUE(nodes[1]->process().Wait(kTimeout).ok());
  for (int k = 0; k < 50; ++k) ASSERT_TRUE(Set(absl::StrCat("during", k), "v"));
  nodes[1] = Start(1, {"--snapshot_interval=200ms"});
  ASSERT_TRUE(nodes[1]);
  const std::string out = nodes[1]->Output();
  EXPECT_TRUE(absl::StrContains(out, "loaded snapshot")) << out;
  EXPECT_FALSE(absl::StrContains(out, ": 0 keys (")) << out;
  EXPECT_TRUE(absl::StrContains(out, "merged the snapshot with peer")) << out;
  absl::Status converged = Converged(nodes);
  ASSERT_TRUE(converged.ok()) << converged;
  // Only the restarted node answers now: it has both.
  EXPECT_EQ(Stop(*nodes[0]), 0);
  for (int k = 0; k < 100; ++k) EXPECT_TRUE(Get(absl::StrCat("before", k))) << k;
  for (int k = 0; k < 50; ++k) EXPECT_TRUE(Get(absl::StrCat("during", k))) << k;
  EXPECT_EQ(Stop(*nodes[1]), 0);
}

// A corrupt snapshot file is logged and ignored: the node joins as a new one.
TEST_F(SnapshotTest, CorruptSnapshotIsLoggedAndTheNodeJoinsNormally) {
  std::vector<std::unique_ptr<KvdNode>> nodes;
  nodes.push_back(Start(0));
  ASSERT_TRUE(nodes[0]);
  ASSERT_TRUE(Set("kept", "v"));
  ASSERT_EQ(mkdir(DataDir(1).c_str(), 0700), 0);
  std::ofstream(absl::StrCat(DataDir(1), "/default.snap")) << "NKVSNAP\n\x01garbage";
  nodes.push_back(Start(1));
  ASSERT_TRUE(nodes[1]);
  const std::string out = nodes[1]->Output();
  EXPECT_TRUE(absl::StrContains(out, "cannot load snapshot")) << out;
  EXPECT_TRUE(absl::StrContains(out, "ignored: joining as a new replica")) << out;
  absl::Status converged = Converged(nodes);
  ASSERT_TRUE(converged.ok()) << converged;
  EXPECT_EQ(Stop(*nodes[0]), 0);
  EXPECT_TRUE(Get("kept"));
  EXPECT_EQ(Stop(*nodes[1]), 0);  // and its snapshot is now a good one
  EXPECT_TRUE(absl::StrContains(nodes[1]->Output(), "snapshot saved"));
}

// Bad flags exit 2; a data directory another kvd holds exits 1, saying so.
TEST_F(SnapshotTest, FlagsAndTheDirectoryLock) {
  auto bad = Process::Start(KvdPath(), {absl::StrCat("--server=", server_->url()),
                                        "--data_dir=/tmp/x", "--snapshot_interval=-1s"});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(*(*bad)->Wait(kTimeout), 2);
  EXPECT_TRUE(absl::StrContains((*bad)->Output(), "--snapshot_interval"))
      << (*bad)->Output();
  std::unique_ptr<KvdNode> first = Start(0);
  ASSERT_TRUE(first);
  auto second = Process::Start(KvdPath(), {absl::StrCat("--server=", server_->url()),
                                           absl::StrCat("--data_dir=", DataDir(0))});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*(*second)->Wait(kTimeout), 1);
  EXPECT_TRUE(absl::StrContains((*second)->Output(), "in use by another kvd"))
      << (*second)->Output();
  EXPECT_EQ(Stop(*first), 0);
}

}  // namespace
