// Attacks from anyone who can publish on the replication subjects (_kv.>), against
// real kvd processes: the node stays up and serving, its memory stays bounded, and
// its data is unchanged.
#include <nats/nats.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
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
#include "tests/testing/fixture.h"
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

class HostileTest : public testing_util::ServerTest {
 protected:
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

  // kvd's bad_peer_messages figure (STATS), -1 if unreadable.
  int64_t BadPeerMessages() { return Stat("bad_peer_messages"); }

  std::string Get(const std::string& key) {
    const Reply r = Call(nc_.get(), "kv.default.get", KeyBody(key), absl::Seconds(2));
    return r.ok() ? r.data : absl::StrCat("error ", r.status);
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
  const std::string node = testing_util::NodeIdOf(*a);
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
  // Alone: every read is the joiner's. A request the server routed to a node
  // just stopped is lost: wait until requests are answered again.
  nodes[0].reset();
  nodes[1].reset();
  ASSERT_TRUE(testing_util::WaitFor(
      [&] {
        return Call(nc_.get(), "kv.default.exists", KeyBody("probe"),
                    absl::Milliseconds(500))
            .ok();
      },
      absl::Seconds(10)));
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

// A 44-byte catch-up request makes a node send its whole store: 1,000 of them
// from one forged node id, then 1,000 from as many ids, all at once. The node
// serves at most 16 at once plus 8 per second (and 64 MiB/s), refuses the rest,
// and keeps serving clients.
TEST_F(HostileTest, SyncRequestFloodSendsBoundedBytes) {
  auto kvd = StartKvd();
  ASSERT_NE(kvd, nullptr);
  const std::string node = testing_util::NodeIdOf(*kvd);
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
    const std::string request =
        kv::codec::EncodeSyncRequest(kv::codec::SyncRequest{from, false, {}});
    const std::string reply = absl::StrCat("_INBOX.hostile.", n);
    ASSERT_EQ(
        natsConnection_PublishRequest(attacker->get(), subject.c_str(), reply.c_str(),
                                      request.data(), static_cast<int>(request.size())),
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
