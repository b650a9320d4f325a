#include "tests/testing/harness.h"

#include <signal.h>

#include <atomic>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace testing_util {
namespace {

TEST(Process, CapturesOutputAndExitCode) {
  auto p = Process::Start("/bin/sh", {"-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<int> code = (*p)->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3);
  EXPECT_TRUE(absl::StrContains((*p)->Output(), "out\n"));
  EXPECT_TRUE(absl::StrContains((*p)->Output(), "err\n"));
  // Reaped once: the code is remembered.
  EXPECT_EQ(*(*p)->Wait(absl::ZeroDuration()), 3);
}

TEST(Process, PassesExtraEnvironment) {
  auto p = Process::Start("/bin/sh", {"-c", "echo \"v=$NATSKV_X\""}, {"NATSKV_X=42"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE((*p)->WaitForOutput("v=42", absl::Seconds(10)));
}

TEST(Process, WaitTimesOutThenSignalReportsSignal) {
  auto p = Process::Start("/bin/sleep", {"60"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->Wait(absl::Milliseconds(20)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  (*p)->Signal(SIGTERM);
  absl::StatusOr<int> code = (*p)->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 128 + SIGTERM);
}

TEST(Process, MissingBinaryIsNotFound) {
  auto p = Process::Start("/nonexistent/binary", {});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
}

TEST(Process, DestructorKillsAndReaps) {
  pid_t pid;
  {
    auto p = Process::Start("/bin/sleep", {"60"});
    ASSERT_TRUE(p.ok());
    pid = (*p)->pid();
  }
  // Reaped: the pid no longer names our child.
  EXPECT_NE(kill(pid, 0), 0);
}

TEST(NatsServer, StartsOnFreePortAndRestartsOnSamePort) {
  auto server = NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  EXPECT_GT(port, 0);
  EXPECT_EQ((*server)->url(), "nats://127.0.0.1:" + std::to_string(port));

  std::atomic<int> reconnects{0};
  ConnectOptions options;
  options.on_reconnected = [&reconnects] { ++reconnects; };
  auto nc = Connect((*server)->url(), options);
  ASSERT_TRUE(nc.ok()) << nc.status();

  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_EQ((*server)->port(), port);
  EXPECT_TRUE(WaitFor([&] { return reconnects.load() >= 1; }, absl::Seconds(10)));
  EXPECT_EQ(natsConnection_Status(nc->get()), NATS_CONN_STATUS_CONNECTED);
}

TEST(NatsServer, ExtraArgumentsReachTheServer) {
  auto server = NatsServer::Start({"--user", "u", "--pass", "p"});
  ASSERT_TRUE(server.ok()) << server.status();
  ConnectOptions no_reconnect;
  no_reconnect.max_reconnect = 0;
  EXPECT_FALSE(Connect((*server)->url(), no_reconnect).ok());
  const std::string with_auth =
      "nats://u:p@127.0.0.1:" + std::to_string((*server)->port());
  EXPECT_TRUE(Connect(with_auth, no_reconnect).ok());
}

TEST(NatsServer, BadArgumentsFailWithOutput) {
  auto server = NatsServer::Start({"--no-such-flag"});
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StrContains(server.status().message(), "nats-server"));
}

TEST(WaitFor, TrueAndTimeout) {
  int calls = 0;
  EXPECT_TRUE(WaitFor([&] { return ++calls >= 3; }, absl::Seconds(5)));
  EXPECT_FALSE(WaitFor([] { return false; }, absl::Milliseconds(20)));
}

}  // namespace
}  // namespace testing_util
