// Attacks from anyone who can publish on the replication subjects (_kv.>), against
// real kvd processes: the node stays up and serving, its memory stays bounded, and
// its data is unchanged.
#include <nats/nats.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/codec/binary.h"
#include "tests/testing/client.h"
#include "tests/testing/harness.h"

namespace {

using ::testing_util::Call;
using ::testing_util::KeyBody;
using ::testing_util::KeyValueBody;
using ::testing_util::NatsServer;
using ::testing_util::Process;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

// A field of /proc/<pid>/status in KiB ("VmRSS", "VmHWM"); -1 if unreadable.
int64_t StatusKiB(pid_t pid, absl::string_view field) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(f, line)) {
    if (!absl::StartsWith(line, absl::StrCat(field, ":"))) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    int64_t kib = -1;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib;
  }
  return -1;
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = NatsServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto nc = testing_util::Connect(server_->url());
    ASSERT_TRUE(nc.ok()) << nc.status();
    nc_ = *std::move(nc);
  }

  // A replicating kvd, ready.
  std::unique_ptr<Process> StartKvd(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {absl::StrCat("--server=", server_->url()),
                                     "--heartbeat=100ms",
                                     "--first_replica_silence=300ms"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto kvd = Process::Start(KvdPath(), args);
    if (!kvd.ok()) {
      ADD_FAILURE() << kvd.status();
      return nullptr;
    }
    if (!(*kvd)->WaitForOutput("ready:", kTimeout)) {
      ADD_FAILURE() << "kvd not ready: " << (*kvd)->Output();
      return nullptr;
    }
    return *std::move(kvd);
  }

  // The node id a kvd logged when it started serving.
  static std::string NodeOf(Process& kvd) {
    const std::string out = kvd.Output();
    const std::string mark = "(node ";
    const size_t at = out.find(mark);
    if (at == std::string::npos) return "";
    return out.substr(at + mark.size(), 16);
  }

  // A number in the node's STATS data; -1 if absent.
  int64_t Stat(absl::string_view field) {
    const Reply r = Call(nc_.get(), "$SRV.STATS.kv", "", absl::Seconds(2));
    const std::string key = absl::StrCat("\"", field, "\":");
    const size_t at = r.data.find(key);
    if (at == std::string::npos) return -1;
    const size_t start = at + key.size();
    size_t end = start;
    while (end < r.data.size() && absl::ascii_isdigit(r.data[end])) ++end;
    int64_t n = -1;
    return absl::SimpleAtoi(r.data.substr(start, end - start), &n) ? n : -1;
  }

  std::unique_ptr<NatsServer> server_;
  testing_util::ConnectionPtr nc_;
};

// Counts the bytes published on a subject (and its subtree).
class ByteCounter {
 public:
  ByteCounter(natsConnection* nc, const std::string& subject) {
    natsConnection_Subscribe(&sub_, nc, subject.c_str(), &ByteCounter::OnMsg, this);
    natsConnection_Flush(nc);
  }
  ~ByteCounter() { natsSubscription_Destroy(sub_); }
  uint64_t bytes() const { return bytes_.load(); }
  uint64_t messages() const { return messages_.load(); }
  // Waits until no message came for `quiet`.
  void AwaitQuiet(absl::Duration quiet) const {
    uint64_t seen = messages();
    for (;;) {
      absl::SleepFor(quiet);  // the condition is "nothing more arrives"
      if (messages() == seen) return;
      seen = messages();
    }
  }

 private:
  static void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
    auto* c = static_cast<ByteCounter*>(self);
    c->bytes_ += static_cast<uint64_t>(natsMsg_GetDataLength(msg));
    ++c->messages_;
    natsMsg_Destroy(msg);
  }
  natsSubscription* sub_ = nullptr;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> messages_{0};
};

// 400 MB of heartbeats, each with a 60,000-entry vector (slow to handle), from
// one forged node, as fast as they can be sent: the node's pending messages are
// bounded (64 MiB per subscription), so its peak memory stays within that of a
// normal node plus the bound.
TEST_F(HostileTest, HeartbeatFloodKeepsMemoryBounded) {
  auto kvd = StartKvd();
  ASSERT_NE(kvd, nullptr);
  ASSERT_EQ(Call(nc_.get(), "kv.default.set", KeyValueBody("keep", "me")).code(), 0);
  const int64_t before_kib = StatusKiB(kvd->pid(), "VmRSS");
  ASSERT_GT(before_kib, 0);

  auto flooder = testing_util::Connect(server_->url());
  ASSERT_TRUE(flooder.ok()) << flooder.status();
  kv::codec::Heartbeat hb;
  hb.node = 0xdead;
  for (uint64_t n = 1; n <= 60000; ++n) hb.vv[n] = 1;
  const std::string bytes = kv::codec::EncodeHeartbeat(hb);
  ASSERT_GT(bytes.size(), 900000u);
  for (int i = 0; i < 400; ++i) {  // 400 MB
    ASSERT_EQ(natsConnection_Publish(flooder->get(), "_kv.default.hb", bytes.data(),
                                     static_cast<int>(bytes.size())),
              NATS_OK);
  }
  natsConnection_FlushTimeout(flooder->get(), 30000);

  // Still serving, data unchanged.
  EXPECT_TRUE(WaitFor(
      [&] {
        const Reply r =
            Call(nc_.get(), "kv.default.get", KeyBody("keep"), absl::Seconds(2));
        return r.ok() && r.data == R"({"exists":true,"value":"me"})";
      },
      kTimeout))
      << kvd->Output();
  EXPECT_TRUE(kvd->Running());
  const int64_t peak_kib = StatusKiB(kvd->pid(), "VmHWM");
  std::printf("kvd RSS %lld KiB before the flood, peak %lld KiB\n",
              static_cast<long long>(before_kib), static_cast<long long>(peak_kib));
  // The bound: 64 MiB of pending messages, plus what their handling costs.
  EXPECT_LT(peak_kib - before_kib, 160 * 1024)
      << "peak " << peak_kib << " KiB, before " << before_kib << " KiB";
}

// A 44-byte catch-up request makes a node send its whole store: 1,000 of them
// from one forged node id, then 1,000 from as many ids, all at once. The node
// serves at most 16 at once plus 8 per second (and 64 MiB/s), refuses the rest,
// and keeps serving clients.
TEST_F(HostileTest, SyncRequestFloodSendsBoundedBytes) {
  auto kvd = StartKvd();
  ASSERT_NE(kvd, nullptr);
  const std::string node = NodeOf(*kvd);
  ASSERT_EQ(node.size(), 16u) << kvd->Output();
  const std::string value(4000, 'v');
  for (int i = 0; i < 250; ++i) {  // 1 MB
    ASSERT_EQ(Call(nc_.get(), "kv.default.set", KeyValueBody(absl::StrCat("k", i), value))
                  .code(),
              0);
  }
  auto attacker = testing_util::Connect(server_->url());
  ASSERT_TRUE(attacker.ok()) << attacker.status();
  ByteCounter counter(attacker->get(), "_INBOX.hostile.>");
  const std::string subject = absl::StrCat("_kv.default.sync.", node);
  auto send = [&](uint64_t from, int n) {
    const std::string request = kv::codec::EncodeSyncRequest(
        kv::codec::SyncRequest{from, absl::StrCat("_INBOX.hostile.", n), {}});
    ASSERT_EQ(natsConnection_Publish(attacker->get(), subject.c_str(), request.data(),
                                     static_cast<int>(request.size())),
              NATS_OK);
  };
  send(1, 0);
  natsConnection_Flush(attacker->get());
  ASSERT_TRUE(WaitFor([&] { return counter.bytes() > 1000000; }, kTimeout));
  counter.AwaitQuiet(absl::Milliseconds(300));
  const uint64_t one = counter.bytes();
  for (bool many_ids : {false, true}) {
    SCOPED_TRACE(many_ids ? "many ids" : "one id");
    const uint64_t before = counter.bytes();
    const absl::Time start = absl::Now();
    for (int i = 1; i <= 1000; ++i) send(many_ids ? 1000 + i : 7, i);
    natsConnection_Flush(attacker->get());
    counter.AwaitQuiet(absl::Milliseconds(500));
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const uint64_t sent = counter.bytes() - before;
    std::printf("%s: %llu bytes sent for 1,000 requests in %.1f s (one catch-up: %llu)\n",
                many_ids ? "many ids" : "one id", static_cast<unsigned long long>(sent),
                seconds, static_cast<unsigned long long>(one));
    // The burst plus the rate over the time it took (unbounded: 1,000 x one).
    EXPECT_LE(sent, static_cast<uint64_t>((16 + 8 * seconds + 1) * one));
    const Reply r = Call(nc_.get(), "kv.default.get", KeyBody("k7"), absl::Seconds(2));
    EXPECT_TRUE(r.ok() && r.data.find(value) != std::string::npos);
  }
  EXPECT_GE(Stat("catchups_refused"), 1000);
  EXPECT_TRUE(kvd->Running());
}

// Forged heartbeats of a node that never published an event nor answered a
// catch-up, with a vector far ahead, a watermark nobody applied and members
// nobody heard: the node does not lag in its stats, does not reset, and still
// collects tombstones while they come.
TEST_F(HostileTest, ForgedHeartbeatsNeitherLagNorStopCollection) {
  auto kvd = StartKvd({"--gc_interval=300ms"});
  ASSERT_NE(kvd, nullptr);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(
        Call(nc_.get(), "kv.default.set", KeyValueBody(absl::StrCat("k", i), "v")).code(),
        0);
  }
  auto attacker = testing_util::Connect(server_->url());
  ASSERT_TRUE(attacker.ok()) << attacker.status();
  kv::codec::Heartbeat hb;
  hb.node = 0xfa4e;
  hb.vv[0xfa4e] = 1000000;
  hb.hlc = 1;
  hb.collected[0xfa4e] = 999999;
  hb.members = {0xabcdef};
  const std::string bytes = kv::codec::EncodeHeartbeat(hb);
  for (int round = 0; round < 30; ++round) {  // 3 s
    ASSERT_EQ(natsConnection_Publish(attacker->get(), "_kv.default.hb", bytes.data(),
                                     static_cast<int>(bytes.size())),
              NATS_OK);
    natsConnection_Flush(attacker->get());
    if (round == 5) {
      for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(Call(nc_.get(), "kv.default.del", KeyBody(absl::StrCat("k", i))).code(),
                  0);
      }
    }
    absl::SleepFor(absl::Milliseconds(100));  // the attack's pace
    ASSERT_EQ(Stat("lag"), 0) << Call(nc_.get(), "$SRV.STATS.kv", "").data;
  }
  EXPECT_TRUE(WaitFor([&] { return Stat("tombstones_collected") >= 10; }, kTimeout))
      << Call(nc_.get(), "$SRV.STATS.kv", "").data << kvd->Output();
  EXPECT_EQ(Stat("stale_resets"), 0);
  EXPECT_EQ(Stat("peers"), 0);
  const Reply r = Call(nc_.get(), "kv.default.get", KeyBody("k15"));
  EXPECT_EQ(r.data, R"({"exists":true,"value":"v"})");
  EXPECT_TRUE(kvd->Running());
}

}  // namespace
