// kvd's memory limit with real processes: --max_memory and --eviction across
// three replicating nodes, the process's RSS, noeviction's 507, flag errors.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
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
#include "tests/testing/kvd_node.h"

namespace {

using testing_util::Call;
using testing_util::KeyBody;
using testing_util::KeyValueBody;
using testing_util::KvdNode;
using testing_util::Process;
using testing_util::Reply;

constexpr uint64_t kMiB = 1 << 20;

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

// Resident set size of `pid` in bytes (VmRSS), 0 if unreadable.
uint64_t RssBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, "VmRSS:")) continue;
    uint64_t kib = 0;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits.push_back(c);
    }
    return absl::SimpleAtoi(digits, &kib) ? kib * 1024 : 0;
  }
  return 0;
}

class MemoryTest : public testing_util::ServerTest {
 protected:
  std::unique_ptr<KvdNode> Start(const std::vector<std::string>& flags) {
    auto node = KvdNode::Start(KvdPath(), server_->url(), flags);
    if (!node.ok()) {
      ADD_FAILURE() << node.status();
      return nullptr;
    }
    return *std::move(node);
  }
};

// Three replicating nodes with an 8 MiB limit take 24 MiB of writes: each
// node's account stays within the limit (plus an eighth: evictions in
// flight), its RSS within the limit plus a fixed overhead, keys are evicted,
// and the replicas converge.
TEST_F(MemoryTest, ThreeNodesUnderThreeTimesTheLimit) {
  const std::vector<std::string> flags = {"--max_memory=8MiB", "--gc_interval=1s"};
  std::vector<std::unique_ptr<KvdNode>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(Start(flags));
    ASSERT_TRUE(nodes.back());
  }
  std::vector<uint64_t> rss_before;
  for (auto& n : nodes) rss_before.push_back(RssBytes(n->process().pid()));
  const std::string value(1024, 'v');
  uint64_t written = 0;
  for (int i = 0; written < 24 * kMiB; ++i) {
    const Reply r =
        Call(nc_.get(), "kv.default.set", KeyValueBody(absl::StrCat("key:", i), value));
    ASSERT_TRUE(r.ok() && r.code() == 0) << i << ": " << r.data;
    written += value.size();
  }
  std::vector<KvdNode*> raw;
  for (auto& n : nodes) raw.push_back(n.get());
  ASSERT_TRUE(testing_util::WaitConverged(nc_.get(), raw, absl::Seconds(30)).ok());
  uint64_t evicted = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto s = testing_util::StatsOf(nc_.get(), nodes[i]->service_id());
    const uint64_t rss = RssBytes(nodes[i]->process().pid());
    std::printf(
        "node %zu: keys %llu tombstones %llu memory_bytes %llu (limit %llu) evicted %llu "
        "RSS %.1f MiB -> %.1f MiB\n",
        i, (unsigned long long)s.keys, (unsigned long long)s.tombstones,
        (unsigned long long)s.memory_bytes, (unsigned long long)s.max_memory,
        (unsigned long long)s.evicted, rss_before[i] / double(kMiB), rss / double(kMiB));
    EXPECT_EQ(s.max_memory, 8 * kMiB);
    EXPECT_LE(s.memory_bytes, 8 * kMiB + kMiB);
    EXPECT_GT(s.keys, 1000u);
    // The overhead stated in the README: RSS grows by at most the limit plus
    // 4 MiB (allocator free lists and fragmentation, buffers; measured: 1 MiB).
    EXPECT_LE(rss, rss_before[i] + 8 * kMiB + 4 * kMiB) << i;
    evicted += s.evicted;
  }
  EXPECT_GT(evicted, 10000u);
}

// noeviction: past the limit a write answers 507 naming the limit; reads and
// deletes work; nothing is evicted.
TEST_F(MemoryTest, NoEvictionAnswers507AndKeepsReads) {
  auto node = Start({"--max_memory=1MiB", "--eviction=noeviction"});
  ASSERT_TRUE(node);
  const std::string value(1024, 'v');
  Reply refused;
  int i = 0;
  for (; i < 5000; ++i) {
    refused =
        Call(nc_.get(), "kv.default.set", KeyValueBody(absl::StrCat("k", i), value));
    ASSERT_TRUE(refused.ok());
    if (refused.code() != 0) break;
  }
  ASSERT_EQ(refused.code(), 507) << refused.data;
  EXPECT_TRUE(absl::StrContains(refused.data, "1048576")) << refused.data;
  EXPECT_TRUE(absl::StrContains(refused.data, "noeviction")) << refused.data;
  const Reply push = Call(nc_.get(), "kv.default.push", KeyValueBody("list", "x"));
  EXPECT_EQ(push.code(), 507) << push.data;
  const Reply get = Call(nc_.get(), "kv.default.get", KeyBody("k0"));
  EXPECT_EQ(get.code(), 0);
  EXPECT_TRUE(absl::StrContains(get.data, "\"exists\":true")) << get.data;
  const Reply del = Call(nc_.get(), "kv.default.del", KeyBody("k0"));
  EXPECT_EQ(del.code(), 0) << del.data;
  const auto s = testing_util::StatsOf(nc_.get(), node->service_id());
  EXPECT_EQ(s.evicted, 0u);
  EXPECT_EQ(s.keys, static_cast<uint64_t>(i - 1));
}

TEST_F(MemoryTest, BadFlagsExit2) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--max_memory=12apples"},
        std::vector<std::string>{"--eviction=lru"}}) {
    std::vector<std::string> all = {absl::StrCat("--server=", server_->url())};
    all.insert(all.end(), args.begin(), args.end());
    auto p = Process::Start(KvdPath(), all);
    ASSERT_TRUE(p.ok());
    auto code = (*p)->Wait(absl::Seconds(10));
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(*code, 2) << (*p)->Output();
    EXPECT_TRUE(absl::StrContains((*p)->Output(), args[0].substr(2, 8)))
        << (*p)->Output();
  }
}

}  // namespace
