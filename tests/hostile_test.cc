// Attacks from anyone who can publish on the replication subjects (_kv.>), against
// real kvd processes: the node stays up and serving, its memory stays bounded, and
// its data is unchanged.
#include <nats/nats.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
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

// The node id kvd serves its first link under (from its log), "" if none.
std::string NodeOf(const Process& kvd) {
  std::smatch m;
  const std::string out = kvd.Output();
  if (!std::regex_search(out, m,
                         std::regex("serving kv\\.default\\.\\* \\(node (\\w+)"))) {
    return "";
  }
  return m[1];
}

// A sync request in the layout of format 2 (which carried the subject to answer
// to in the payload) under the current format version: the old layout with a
// reply_to that, written raw after PUB, would end the line and unsubscribe
// kvd's subscriptions. Decoding it now fails (the layout has no string).
std::string SyncRequestWithReplyTo(uint64_t from, const std::string& reply_to) {
  std::string b(1, '\x01');  // cereal portable binary: little endian
  auto le = [&b](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  le(0x6b76736e, 4);  // magic
  le(static_cast<uint8_t>(kv::codec::MessageKind::kSyncRequest), 1);
  le(kv::codec::kFormatVersion, 4);
  le(from, 8);
  le(reply_to.size(), 8);
  b += reply_to;
  le(0, 8);  // empty vector
  return b;
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
  std::unique_ptr<Process> StartKvd() {
    auto kvd =
        Process::Start(KvdPath(), {absl::StrCat("--server=", server_->url()),
                                   "--heartbeat=100ms", "--first_replica_silence=300ms"});
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

  // kvd's bad_peer_messages figure (STATS), -1 if unreadable.
  int64_t BadPeerMessages() {
    const Reply r = Call(nc_.get(), "$SRV.STATS.kv", "");
    std::smatch m;
    int64_t n = -1;
    if (r.ok() &&
        std::regex_search(r.data, m, std::regex("\"bad_peer_messages\":(\\d+)"))) {
      absl::SimpleAtoi(std::string(m[1]), &n);
    }
    return n;
  }

  std::string Get(const std::string& key) {
    const Reply r = Call(nc_.get(), "kv.default.get", KeyBody(key), absl::Seconds(2));
    return r.ok() ? r.data : absl::StrCat("error ", r.status);
  }

  std::unique_ptr<NatsServer> server_;
  testing_util::ConnectionPtr nc_;
};

// Sync requests whose payload carries protocol text ("\r\n", "UNSUB") where
// format 2 had the subject to answer to, on both sync subjects, with and
// without a reply subject: kvd answers only on the NATS reply subject (which
// the server validated), so its subscriptions stay: it still serves kv requests,
// serves a well-formed request on its reply subject, a second node joins it and
// writes replicate both ways.
TEST_F(HostileTest, ReplySubjectInjectionLeavesTheNodeSubscribed) {
  auto a = StartKvd();
  ASSERT_NE(a, nullptr);
  const std::string node = NodeOf(*a);
  ASSERT_FALSE(node.empty()) << a->Output();
  ASSERT_EQ(Call(nc_.get(), "kv.default.set", KeyValueBody("keep", "me")).code(), 0);

  // Answers to our own reply subject.
  absl::Mutex mu;
  std::vector<std::string> answers;
  natsSubscription* sub = nullptr;
  auto on_answer = [](natsConnection*, natsSubscription*, natsMsg* msg, void* arg) {
    auto* ctx = static_cast<std::pair<absl::Mutex*, std::vector<std::string>*>*>(arg);
    absl::MutexLock lock(ctx->first);
    ctx->second->emplace_back(natsMsg_GetData(msg),
                              static_cast<size_t>(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
  };
  std::pair<absl::Mutex*, std::vector<std::string>*> ctx{&mu, &answers};
  ASSERT_EQ(
      natsConnection_Subscribe(&sub, nc_.get(), "_INBOX.hostile.>", on_answer, &ctx),
      NATS_OK);

  std::string inject = "_INBOX.x 0\r\n\r\n";
  for (int sid = 1; sid <= 64; ++sid) absl::StrAppend(&inject, "UNSUB ", sid, "\r\n");
  absl::StrAppend(&inject, "PUB _INBOX.y");
  const std::string crafted = SyncRequestWithReplyTo(0xbad, inject);
  for (const std::string& subject :
       {absl::StrCat("_kv.default.sync.", node), std::string("_kv.default.sync.any")}) {
    ASSERT_EQ(natsConnection_Publish(nc_.get(), subject.c_str(), crafted.data(),
                                     static_cast<int>(crafted.size())),
              NATS_OK);
    ASSERT_EQ(
        natsConnection_PublishRequest(nc_.get(), subject.c_str(), "_INBOX.hostile.0",
                                      crafted.data(), static_cast<int>(crafted.size())),
        NATS_OK);
  }
  // A well-formed request with a reply subject is answered there.
  const std::string request =
      kv::codec::EncodeSyncRequest(kv::codec::SyncRequest{0xbad, false, {}});
  const std::string direct = absl::StrCat("_kv.default.sync.", node);
  ASSERT_EQ(
      natsConnection_PublishRequest(nc_.get(), direct.c_str(), "_INBOX.hostile.1",
                                    request.data(), static_cast<int>(request.size())),
      NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        for (const std::string& answer : answers) {
          auto chunk = kv::codec::DecodeDeltaChunk(answer);
          if (chunk.ok() && chunk->last && chunk->delta.entries.size() == 1) return true;
        }
        return false;
      },
      kTimeout));
  EXPECT_TRUE(WaitFor([&] { return BadPeerMessages() >= 4; }, kTimeout))
      << BadPeerMessages();

  // Still serving kv requests and replication.
  EXPECT_EQ(Get("keep"), R"({"exists":true,"value":"me"})");
  auto b = StartKvd();
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(absl::StrContains(b->Output(), "ready: caught up with")) << b->Output();
  ASSERT_EQ(Call(nc_.get(), "kv.default.set", KeyValueBody("after", "1")).code(), 0);
  ASSERT_EQ(Call(nc_.get(), "kv.default.set", KeyValueBody("after2", "2")).code(), 0);
  // Requests go to either node (queue group): both keys on both means both
  // directions replicate; each node's STATS shows the other as a live peer.
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int i = 0; i < 6; ++i) {
          if (Get("after") != R"({"exists":true,"value":"1"})" ||
              Get("after2") != R"({"exists":true,"value":"2"})" ||
              Get("keep") != R"({"exists":true,"value":"me"})") {
            return false;
          }
        }
        return true;
      },
      kTimeout));
  EXPECT_TRUE(a->Running()) << a->Output();
  EXPECT_TRUE(b->Running()) << b->Output();
  natsSubscription_Destroy(sub);
}

// One forged event stamped at 2^64-1 on a key would make every later set on it
// report ok while the old value stayed: it is refused and counted (as is a
// heartbeat stamped so), and a later set changes the key.
TEST_F(HostileTest, ForgedFutureStampIsRefused) {
  auto kvd = StartKvd();
  ASSERT_NE(kvd, nullptr);
  ASSERT_EQ(Call(nc_.get(), "kv.default.set", KeyValueBody("k", "v1")).code(), 0);
  const int64_t bad_before = BadPeerMessages();
  ASSERT_GE(bad_before, 0);

  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  kv::store::Event forged;
  forged.dot = {0xbad, 1};
  forged.delta.key = "k";
  forged.delta.reg =
      kv::store::RegisterState{kv::store::Stamp{kMax, 0xbad}, 1, true, "forged", 0};
  const std::string events = kv::codec::EncodeEvents({forged});
  ASSERT_EQ(natsConnection_Publish(nc_.get(), "_kv.default.events", events.data(),
                                   static_cast<int>(events.size())),
            NATS_OK);
  kv::codec::Heartbeat hb;
  hb.node = 0xbad;
  hb.hlc = kMax;
  const std::string beat = kv::codec::EncodeHeartbeat(hb);
  ASSERT_EQ(natsConnection_Publish(nc_.get(), "_kv.default.hb", beat.data(),
                                   static_cast<int>(beat.size())),
            NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  EXPECT_TRUE(WaitFor([&] { return BadPeerMessages() >= bad_before + 2; }, kTimeout))
      << BadPeerMessages();
  EXPECT_EQ(Get("k"), R"({"exists":true,"value":"v1"})");
  ASSERT_EQ(Call(nc_.get(), "kv.default.set", KeyValueBody("k", "v2")).code(), 0);
  EXPECT_EQ(Get("k"), R"({"exists":true,"value":"v2"})");
  EXPECT_TRUE(kvd->Running()) << kvd->Output();
}

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

// A write whose event would exceed the max payload is refused (413) before
// anything changes: on a 1 MiB server, a 1,024-byte key with a 1,047,500-byte
// value (accepted before, it never replicated).
TEST_F(HostileTest, AWriteWhoseEventWouldNotFitIsRefused) {
  auto kvd = StartKvd();
  ASSERT_NE(kvd, nullptr);
  const std::string key(1024, 'k');
  const Reply r = Call(nc_.get(), "kv.default.set",
                       KeyValueBody(key, std::string(1047500, 'v')), absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status;
  EXPECT_EQ(r.code(), 413) << r.data.substr(0, 300);
  EXPECT_EQ(Call(nc_.get(), "kv.default.get", KeyBody(key)).data,
            R"({"exists":false,"value":""})");
  EXPECT_EQ(kvd->Output().find("cannot publish"), std::string::npos) << kvd->Output();
}

// On a server with a 4 KiB max payload, writes of maximal keys and values
// replicate, a joiner becomes ready, and it holds every value: no event or
// catch-up chunk exceeds the max payload (kvd logs none that could not be
// published). STATS does not fit 4 KiB, so the joiner is read alone.
TEST_F(HostileTest, SmallMaxPayloadStillReplicatesMaxSizeValuesAndJoins) {
  const std::string conf = absl::StrCat(testing_util::TempDir(), "/payload4k.conf");
  {
    std::ofstream f(conf);
    f << "max_payload: 4096\n";
  }
  nc_.reset();
  server_.reset();
  auto server = NatsServer::Start({"-c", conf});
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  auto nc = testing_util::Connect(server_->url());
  ASSERT_TRUE(nc.ok()) << nc.status();
  nc_ = *std::move(nc);

  std::vector<std::unique_ptr<Process>> nodes;
  nodes.push_back(StartKvd());
  nodes.push_back(StartKvd());
  ASSERT_TRUE(nodes[0] && nodes[1]);
  const std::string out = nodes[0]->Output();
  const size_t at = out.find("; max value ");
  ASSERT_NE(at, std::string::npos) << out;
  size_t max_value = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(out.substr(at + 12, out.find(' ', at + 12) - at - 12), &max_value))
      << out;
  ASSERT_GT(max_value, 2000u);
  ASSERT_LT(max_value, 3072u);

  auto key = [](const char* kind, int i) {
    const std::string head = absl::StrCat(kind, i, "-");
    return head + std::string(1024 - head.size(), 'k');
  };
  auto value = [&](int i) {
    const std::string head = absl::StrCat(i, "-");
    return head + std::string(max_value - head.size(), 'v');
  };
  constexpr int kKeys = 8;
  for (int i = 0; i < kKeys; ++i) {
    for (const auto& [op, kind] : {std::pair<const char*, const char*>{"set", "r"},
                                   {"push", "l"},
                                   {"set_add", "s"}}) {
      const Reply r = Call(nc_.get(), absl::StrCat("kv.default.", op),
                           KeyValueBody(key(kind, i), value(i)));
      ASSERT_TRUE(r.ok() && r.code() == 0) << op << " " << r.code() << " " << r.data;
    }
  }
  // One byte more does not fit.
  EXPECT_EQ(
      Call(nc_.get(), "kv.default.set", KeyValueBody(key("r", 0), value(0) + "v")).code(),
      413);

  nodes.push_back(StartKvd());  // the joiner
  ASSERT_NE(nodes[2], nullptr);
  for (int n = 0; n < 2; ++n) {
    const std::string log = nodes[n]->Output();
    EXPECT_EQ(log.find("cannot publish"), std::string::npos) << log;
    EXPECT_EQ(log.find("failed after"), std::string::npos) << log;
  }
  // Alone: every read is the joiner's.
  nodes[0].reset();
  nodes[1].reset();
  for (int i = 0; i < kKeys; ++i) {
    const std::string v = absl::StrCat("\"", value(i), "\"");
    EXPECT_EQ(Call(nc_.get(), "kv.default.get", KeyBody(key("r", i))).data,
              absl::StrCat(R"({"exists":true,"value":)", v, "}"))
        << i;
    EXPECT_EQ(
        Call(nc_.get(), "kv.default.range", testing_util::RangeBody(key("l", i), 0, -1))
            .data,
        absl::StrCat(R"({"values":[)", v, "]}"))
        << i;
    EXPECT_EQ(Call(nc_.get(), "kv.default.set_query", KeyBody(key("s", i))).data,
              absl::StrCat(R"({"values":[)", v, "]}"))
        << i;
  }
  const std::string joiner = nodes[2]->Output();
  EXPECT_EQ(joiner.find("cannot publish"), std::string::npos) << joiner;
  EXPECT_NE(joiner.find("ready: caught up with"), std::string::npos) << joiner;
}

}  // namespace
