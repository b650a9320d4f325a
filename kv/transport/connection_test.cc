#include "kv/transport/connection.h"

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/harness.h"

namespace kv::transport {
namespace {

TEST(ReconnectBackoff, DoublesFrom100MsTo2sWithin20Percent) {
  absl::BitGen gen;
  const int64_t base_ms[] = {100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000};
  for (int attempt = 1; attempt <= 9; ++attempt) {
    const int64_t base = base_ms[attempt - 1];
    for (int i = 0; i < 200; ++i) {
      const absl::Duration d = ReconnectBackoff(attempt, gen);
      EXPECT_GE(d, absl::Milliseconds(base) * 0.8) << "attempt " << attempt;
      EXPECT_LT(d, absl::Milliseconds(base) * 1.2) << "attempt " << attempt;
    }
  }
  // Under a joining node's first-replica silence (3 s).
  EXPECT_LT(ReconnectBackoff(1000, gen), absl::Milliseconds(2400));
}

TEST(ReconnectBackoff, IsJittered) {
  absl::BitGen gen;
  std::set<int64_t> seen;
  for (int i = 0; i < 50; ++i) {
    seen.insert(absl::ToInt64Microseconds(ReconnectBackoff(5, gen)));
  }
  // 50 draws from a 640 ms wide interval: all equal would mean no jitter.
  EXPECT_GT(seen.size(), 40u);
}

TEST(RedactUrls, HidesUserInfoOfEveryUrl) {
  EXPECT_EQ(RedactUrls("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
  EXPECT_EQ(RedactUrls("nats://alice:s3cr3t@h:4222"), "nats://***@h:4222");
  EXPECT_EQ(RedactUrls("tls://tok@h:4222,nats://u:p@g:1/x@y"),
            "tls://***@h:4222,nats://***@g:1/x@y");
  EXPECT_EQ(RedactUrls("u:p@h:4222"), "***@h:4222");
  EXPECT_EQ(RedactUrls("nats://a:b@c@h"), "nats://***@h");
  EXPECT_EQ(RedactUrls(""), "");
}

// A connection owns its callbacks: they run until the connection is closed and are
// freed with it (LeakSanitizer fails this test under --config=asan otherwise).
TEST(CompanionOptions, NamedForTheRoleLogPrefixedWithoutHandlers) {
  ConnectOptions o;
  o.name = "kvd";
  o.servers = "nats://127.0.0.1:4222";
  std::vector<std::string> lines;
  o.log = [&lines](absl::string_view line) { lines.emplace_back(line); };
  o.on_closed = [] {};
  o.on_reconnected = [] {};
  const ConnectOptions c = CompanionOptions(o, "changes");
  EXPECT_EQ(c.name, "kvd-changes");
  EXPECT_EQ(c.servers, o.servers);
  EXPECT_FALSE(c.on_closed);
  EXPECT_FALSE(c.on_reconnected);
  ASSERT_TRUE(c.log);
  c.log("reconnected");
  EXPECT_THAT(lines, ::testing::ElementsAre("changes: reconnected"));
}

TEST(Connect, CallbacksLiveUntilClosedAndGoWithTheConnection) {
  auto server = testing_util::NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto lines = std::make_shared<std::vector<std::string>>();
  auto closed = std::make_shared<std::atomic<int>>(0);
  ConnectOptions options;
  options.servers = (*server)->url();
  options.reconnect_forever = true;
  options.log = [lines](absl::string_view line) { lines->emplace_back(line); };
  options.on_closed = [closed] { closed->fetch_add(1); };
  {
    auto nc = Connect(options);
    ASSERT_TRUE(nc.ok()) << nc.status();
    ASSERT_TRUE(testing_util::WaitFor(
        [&] { return natsConnection_Status(nc->get()) == NATS_CONN_STATUS_CONNECTED; },
        absl::Seconds(5)));
  }
  // The deleter returned only after the closed callback ran.
  EXPECT_EQ(closed->load(), 1);
  ASSERT_FALSE(lines->empty());
  EXPECT_EQ(lines->back(), "nats: connection closed");
}

// A service learns when its connection is back (kvd then heartbeats at once).
TEST(Connect, ReconnectedCallbackRunsAfterTheServerRestarts) {
  auto server = testing_util::NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto reconnects = std::make_shared<std::atomic<int>>(0);
  ConnectOptions options;
  options.servers = (*server)->url();
  options.reconnect_forever = true;
  options.on_reconnected = [reconnects] { reconnects->fetch_add(1); };
  auto nc = Connect(options);
  ASSERT_TRUE(nc.ok()) << nc.status();
  ASSERT_TRUE(testing_util::WaitFor(
      [&] { return natsConnection_Status(nc->get()) == NATS_CONN_STATUS_CONNECTED; },
      absl::Seconds(5)));
  EXPECT_EQ(reconnects->load(), 0);
  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_TRUE(
      testing_util::WaitFor([&] { return reconnects->load() == 1; }, absl::Seconds(10)));
}

}  // namespace
}  // namespace kv::transport
