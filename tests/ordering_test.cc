// Ordering of one client's requests across kvd nodes (docs/guarantees.md): a
// client that waits for each reply sees its writes applied in its order on every
// node, and requests that queued at a paused node do not run late. Real kvd
// processes on a real nats-server; requests are spread over the nodes by the
// queue group.

#include <nats/nats.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/replication/nats_bus.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"

namespace {

using ::testing_util::Call;
using ::testing_util::ConnectionPtr;
using ::testing_util::KeyBody;
using ::testing_util::KeyValueBody;
using ::testing_util::NatsServer;
using ::testing_util::Process;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kRequestTimeout = absl::Seconds(10);

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  return doc;
}

// Starts `n` kvd nodes on `url` and waits until each is ready and every node
// has seen the others (so the queue group spreads requests over all of them).
std::vector<std::unique_ptr<Process>> StartNodes(const std::string& url, int n) {
  std::vector<std::unique_ptr<Process>> nodes;
  for (int i = 0; i < n; ++i) {
    auto p = Process::Start(testing_util::RunfilePath("kv/kvd"),
                            {absl::StrCat("--server=", url), "--heartbeat=200ms"});
    if (!p.ok()) {
      ADD_FAILURE() << p.status();
      return {};
    }
    if (!(*p)->WaitForOutput(": ready", kStartTimeout)) {
      ADD_FAILURE() << "kvd not ready:\n" << (*p)->Output();
      return {};
    }
    nodes.push_back(*std::move(p));
  }
  for (auto& p : nodes) {
    const bool all_seen = WaitFor(
        [&] {
          size_t seen = 0;
          for (size_t pos = 0;
               (pos = p->Output().find(" seen (", pos)) != std::string::npos; ++pos) {
            ++seen;
          }
          return seen >= nodes.size() - 1;
        },
        kStartTimeout);
    if (!all_seen) ADD_FAILURE() << "peers not seen:\n" << p->Output();
  }
  return nodes;
}

// `kv.default.<op>` with `body`; the parsed reply, or a null document (with a
// failure) when it failed.
rapidjson::Document Op(natsConnection* nc, absl::string_view op,
                       const std::string& body) {
  const Reply r = Call(nc, absl::StrCat("kv.default.", op), body, kRequestTimeout);
  rapidjson::Document doc;
  if (!r.ok() || r.code() != 0) {
    ADD_FAILURE() << op << " " << body << ": " << (r.ok() ? r.data : "no answer");
    return doc;
  }
  doc = Parse(r.data);
  if (doc.HasParseError() || !doc.IsObject()) doc.SetNull();
  return doc;
}

class OrderingTest : public testing_util::ServerTest {
 protected:
};

// The scenario: `set k` then `del k` (and `set_add` then `set_remove`),
// each waiting for the previous reply, spread over the nodes. The second write
// must always see the first: `del` answers deleted:true, `set_remove` size 0.
void ExpectWritesInOrder(natsConnection* nc, int trials) {
  int del_missed = 0;
  int remove_missed = 0;
  const absl::Time start = absl::Now();
  for (int i = 0; i < trials; ++i) {
    const std::string key = absl::StrCat("k", i);
    Op(nc, "set", KeyValueBody(key, "v"));
    rapidjson::Document del = Op(nc, "del", KeyBody(key));
    if (!del.IsObject() || !del["deleted"].GetBool()) ++del_missed;
    const std::string set_key = absl::StrCat("s", i);
    Op(nc, "set_add", KeyValueBody(set_key, "x"));
    rapidjson::Document rm = Op(nc, "set_remove", KeyValueBody(set_key, "x"));
    if (!rm.IsObject() || rm["size"].GetInt64() != 0) ++remove_missed;
  }
  std::printf("%d trials in %s\n", trials,
              absl::FormatDuration(absl::Now() - start).c_str());
  EXPECT_EQ(del_missed, 0) << "del ran before the set it followed";
  EXPECT_EQ(remove_missed, 0) << "set_remove ran before the set_add it followed";
}

TEST_F(OrderingTest, SequentialClientSeesItsWritesInOrderOn3Nodes) {
  auto nodes = StartNodes(server_->url(), 3);
  ASSERT_EQ(nodes.size(), 3u);
  ExpectWritesInOrder(nc_.get(), 300);
}

TEST_F(OrderingTest, SequentialClientSeesItsWritesInOrderOn5Nodes) {
  auto nodes = StartNodes(server_->url(), 5);
  ASSERT_EQ(nodes.size(), 5u);
  ExpectWritesInOrder(nc_.get(), 300);
}

// Requests that queue at a stopped node must not run when it resumes: they are
// refused (503) or never answered, and none overrides a write acknowledged by
// another node while it was stopped.
TEST_F(OrderingTest, RequestsQueuedAtAPausedNodeDoNotOverrideLaterWrites) {
  auto nodes = StartNodes(server_->url(), 3);
  ASSERT_EQ(nodes.size(), 3u);
  Process& paused = *nodes[1];
  paused.Signal(SIGSTOP);
  const absl::Time stopped = absl::Now();
  constexpr int kKeys = 40;
  // "stale" writes: those that reach the stopped node wait there (the client
  // gives up after 100 ms); the others are acknowledged at once.
  int waited = 0;
  for (int i = 0; i < kKeys; ++i) {
    const Reply r =
        Call(nc_.get(), "kv.default.set", KeyValueBody(absl::StrCat("p", i), "stale"),
             absl::Milliseconds(200));
    if (!r.ok()) ++waited;
  }
  // Later writes of every key, each acknowledged (retried until a running node
  // takes it).
  for (int i = 0; i < kKeys; ++i) {
    const std::string body = KeyValueBody(absl::StrCat("p", i), "fresh");
    const bool acked = WaitFor(
        [&] {
          const Reply r =
              Call(nc_.get(), "kv.default.set", body, absl::Milliseconds(100));
          return r.ok() && r.code() == 0;
        },
        absl::Seconds(20));
    ASSERT_TRUE(acked) << "no running node acknowledged key p" << i;
  }
  // Stopped for longer than --max_pause (1 s) in total.
  absl::SleepFor(absl::Milliseconds(1500) - (absl::Now() - stopped));
  paused.Signal(SIGCONT);
  std::printf("%d of %d stale writes waited at the stopped node\n", waited, kKeys);
  ASSERT_GT(waited, 0) << "no request reached the stopped node";
  // Every key must end (and stay) "fresh" on every node.
  std::vector<std::string> stale;
  const bool fresh = WaitFor(
      [&] {
        stale.clear();
        for (int i = 0; i < kKeys; ++i) {
          for (int read = 0; read < 3; ++read) {
            const Reply r = Call(nc_.get(), "kv.default.get",
                                 KeyBody(absl::StrCat("p", i)), kRequestTimeout);
            if (r.ok() && absl::StrContains(r.data, "\"stale\"")) {
              stale.push_back(absl::StrCat("p", i));
              break;
            }
          }
        }
        return stale.empty();
      },
      absl::Seconds(5));
  EXPECT_TRUE(fresh) << stale.size() << " keys were overridden by stale requests, e.g. "
                     << stale.front() << "\n"
                     << paused.Output();
  EXPECT_TRUE(paused.Running());
  // The node refused what had queued at it.
  const std::string out = paused.Output();
  const size_t id_at = out.find(" id ");
  ASSERT_NE(id_at, std::string::npos);
  const std::string id = out.substr(id_at + 4, out.find(';', id_at) - id_at - 4);
  const Reply stats = Call(nc_.get(), absl::StrCat("$SRV.STATS.kv.", id), "");
  ASSERT_TRUE(stats.ok());
  EXPECT_TRUE(absl::StrContains(stats.data, "503:this node was paused; retry"))
      << stats.data;
}

// kv.default.<op> with header Kv-After: `after`.
Reply CallAfter(natsConnection* nc, absl::string_view op, const std::string& body,
                const std::string& after) {
  const std::string subject = absl::StrCat("kv.default.", op);
  natsMsg* request = nullptr;
  natsMsg* reply = nullptr;
  Reply r;
  r.status = natsMsg_Create(&request, subject.c_str(), nullptr, body.data(),
                            static_cast<int>(body.size()));
  if (r.status == NATS_OK)
    r.status = natsMsgHeader_Set(request, "Kv-After", after.c_str());
  if (r.status == NATS_OK)
    r.status = natsConnection_RequestMsg(&reply, nc, request, 10000);
  natsMsg_Destroy(request);
  if (r.status != NATS_OK) return r;
  return testing_util::ToReply(reply);
}

// Writes reply Kv-Position; a request with Kv-After runs once the node applied
// it and its reply carries the position advanced by its own write; a malformed
// one is a 400, one no node will ever apply a 503.
TEST_F(OrderingTest, PositionHeaders) {
  auto nodes = StartNodes(server_->url(), 2);
  ASSERT_EQ(nodes.size(), 2u);
  const Reply set = Call(nc_.get(), "kv.default.set", KeyValueBody("a", "1"));
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set.headers.count("Kv-Position"), 1u);
  const std::string first = set.headers.at("Kv-Position");
  EXPECT_TRUE(std::regex_match(first, std::regex("[0-9a-f]{16}:[0-9]+"))) << first;
  const Reply get = Call(nc_.get(), "kv.default.get", KeyBody("a"));
  EXPECT_EQ(get.headers.count("Kv-Position"), 0u);  // a read without Kv-After
  std::string position = first;
  for (int i = 0; i < 20; ++i) {  // over both nodes
    const Reply r = CallAfter(nc_.get(), "add", "{\"key\":\"n\",\"value\":1}", position);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.code(), 0) << r.data;
    ASSERT_EQ(r.headers.count("Kv-Position"), 1u);
    position = r.headers.at("Kv-Position");
    EXPECT_TRUE(absl::StrContains(position, first.substr(0, 16))) << position;
  }
  const Reply read = CallAfter(nc_.get(), "get", KeyBody("n"), position);
  EXPECT_TRUE(absl::StrContains(read.data, "\"value\":\"20\"")) << read.data;
  EXPECT_EQ(read.headers.at("Kv-Position"), position);
  EXPECT_EQ(CallAfter(nc_.get(), "get", KeyBody("a"), "nonsense").code(), 400);
  EXPECT_EQ(CallAfter(nc_.get(), "get", KeyBody("a"), "0:1").code(), 400);
  EXPECT_EQ(CallAfter(nc_.get(), "get", KeyBody("a"), "abc:1").code(), 503);
}

// The bus's "await received": a request handler waits for the event messages
// the connection had received before it (queued behind a slow handler).
TEST(NatsBus, AwaitReceivedWaitsForWhatWasReceivedBeforeTheCall) {
  auto server = NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto nc = testing_util::Connect((*server)->url());
  ASSERT_TRUE(nc.ok()) << nc.status();
  auto publisher = testing_util::Connect((*server)->url());
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  kv::replication::NatsBus bus(nc->get());
  absl::Notification entered;
  absl::Notification release;
  std::atomic<int> handled{0};
  auto sub = bus.Subscribe("t", "", [&](const kv::replication::Message&) {
    if (!entered.HasBeenNotified()) entered.Notify();
    release.WaitForNotification();
    ++handled;
  });
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_EQ(natsConnection_Flush(nc->get()), NATS_OK);       // subscribed
  EXPECT_TRUE((*sub)->AwaitReceived(absl::ZeroDuration()));  // nothing received
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(natsConnection_PublishString(publisher->get(), "t", "m"), NATS_OK);
  }
  ASSERT_EQ(natsConnection_Flush(publisher->get()), NATS_OK);
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // A PING/PONG: every message the server sent before the PONG is received.
  ASSERT_EQ(natsConnection_Flush(nc->get()), NATS_OK);
  EXPECT_FALSE((*sub)->AwaitReceived(absl::Milliseconds(50)));
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(100));
    release.Notify();
  });
  EXPECT_TRUE((*sub)->AwaitReceived(absl::Seconds(10)));
  EXPECT_EQ(handled.load(), 3);
  releaser.join();
  sub->reset();
}

}  // namespace
