// kvd and kvctl as an operator runs them, against a real nats-server: systemd's
// notify protocol (READY=1 once every link answers, STOPPING=1 on SIGTERM),
// NATS_URL, --log_format=json, --flagfile, and --help without test-only flags.

#include <nats/nats.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"

namespace {

using ::testing_util::Call;
using ::testing_util::KeyBody;
using ::testing_util::KeyValueBody;
using ::testing_util::Process;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);
// A server nobody listens on: port 1 of loopback refuses connections.
constexpr char kDeadUrl[] = "nats://127.0.0.1:1";

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }
std::string KvctlPath() { return testing_util::RunfilePath("tools/kvctl"); }

// A unix datagram socket in the abstract namespace, as systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  NotifySocket() {
    name_ = absl::StrCat("natskv-notify-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // Abstract: a leading NUL, then the name (not NUL-terminated).
    std::memcpy(addr.sun_path + 1, name_.data(), name_.size());
    const socklen_t len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_.size());
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }

  bool ok() const { return bound_; }
  // NOTIFY_SOCKET's value: '@' stands for the abstract namespace.
  std::string env() const { return absl::StrCat("NOTIFY_SOCKET=@", name_); }

  // Every message received so far, appended to messages(); returns the new ones.
  std::vector<std::string> Drain() {
    std::vector<std::string> fresh;
    char buf[4096];
    while (true) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n < 0) break;
      fresh.emplace_back(buf, static_cast<size_t>(n));
    }
    messages_.insert(messages_.end(), fresh.begin(), fresh.end());
    return fresh;
  }
  // Whether a message received so far holds the line `assignment`.
  bool Has(absl::string_view assignment) const {
    for (const std::string& m : messages_) {
      for (absl::string_view line : absl::StrSplit(m, '\n')) {
        if (line == assignment) return true;
      }
    }
    return false;
  }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> messages_;
};

class DaemonTest : public testing_util::ServerTest {
 protected:
  std::unique_ptr<Process> Start(const std::string& path,
                                 const std::vector<std::string>& args,
                                 const std::vector<std::string>& env = {}) {
    auto p = Process::Start(path, args, env);
    if (!p.ok()) {
      ADD_FAILURE() << p.status();
      return nullptr;
    }
    return *std::move(p);
  }

  // Whether kv.<link>.* answers (not 503) within kTimeout.
  bool Serves(const std::string& link = "default") {
    return WaitFor(
        [&] {
          const Reply r = Call(nc_.get(), absl::StrCat("kv.", link, ".exists"),
                               KeyBody("probe"), absl::Seconds(2));
          return r.ok() && r.code() == 0;
        },
        kTimeout);
  }

  // Runs `path` to its end; its exit code and output.
  std::pair<int, std::string> Run(const std::string& path,
                                  const std::vector<std::string>& args,
                                  const std::vector<std::string>& env = {}) {
    auto p = Start(path, args, env);
    if (p == nullptr) return {-1, ""};
    const absl::StatusOr<int> code = p->Wait(kTimeout);
    if (!code.ok()) ADD_FAILURE() << code.status() << "\n" << p->Output();
    return {code.ok() ? *code : -1, p->Output()};
  }
};

// READY=1 comes once kvd answers requests (not before: a replicating node is
// 503 while it waits --first_replica_silence), STOPPING=1 when it starts
// draining on SIGTERM.
TEST_F(DaemonTest, NotifiesReadyOnceServingAndStoppingOnSigterm) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok()) << std::strerror(errno);
  auto kvd = Start(KvdPath(),
                   {absl::StrCat("--server=", server_->url()), "--heartbeat=100ms",
                    "--first_replica_silence=1500ms"},
                   {notify.env()});
  ASSERT_NE(kvd, nullptr);
  int unavailable = 0;
  bool ready = false;
  const absl::Time deadline = absl::Now() + kTimeout;
  while (!ready && absl::Now() < deadline && kvd->Running()) {
    notify.Drain();
    ready = notify.Has("READY=1");
    const Reply r =
        Call(nc_.get(), "kv.default.set", KeyValueBody("k", "v"), absl::Seconds(2));
    if (ready) {
      // READY=1 had arrived before this request was sent.
      ASSERT_TRUE(r.ok()) << natsStatus_GetText(r.status);
      EXPECT_EQ(r.code(), 0) << "READY=1 before kvd serves: " << r.data << "\n"
                             << kvd->Output();
    } else if (r.ok() && r.code() == 503) {
      ++unavailable;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(ready) << kvd->Output();
  EXPECT_GT(unavailable, 0) << "kvd was never 503: the test proves nothing";
  EXPECT_FALSE(notify.Has("STOPPING=1"));
  // A STATUS line while joining, then the one sent with READY=1.
  ASSERT_GE(notify.messages().size(), 2u);
  EXPECT_TRUE(absl::StrContains(notify.messages()[0], "STATUS=joining"))
      << notify.messages()[0];

  kvd->Signal(SIGTERM);
  EXPECT_TRUE(WaitFor(
      [&] {
        notify.Drain();
        return notify.Has("STOPPING=1");
      },
      kTimeout))
      << kvd->Output();
  const absl::StatusOr<int> code = kvd->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << kvd->Output();
}

// Without NOTIFY_SOCKET (not under systemd) nothing is sent and nothing fails.
TEST_F(DaemonTest, WithoutNotifySocketKvdRunsAsBefore) {
  auto kvd = Start(KvdPath(),
                   {absl::StrCat("--server=", server_->url()), "--replication=false"});
  ASSERT_NE(kvd, nullptr);
  EXPECT_TRUE(Serves()) << kvd->Output();
  EXPECT_FALSE(absl::StrContains(kvd->Output(), "notify")) << kvd->Output();
}

// flag > NATS_URL > nats://127.0.0.1:4222, as the nats CLI.
TEST_F(DaemonTest, KvdUsesNatsUrlWhenNoServerFlag) {
  auto kvd = Start(KvdPath(), {"--replication=false", "--link=fromenv"},
                   {absl::StrCat("NATS_URL=", server_->url())});
  ASSERT_NE(kvd, nullptr);
  EXPECT_TRUE(Serves("fromenv")) << kvd->Output();
  // The flag wins over NATS_URL.
  auto flagged = Start(KvdPath(),
                       {absl::StrCat("--server=", server_->url()), "--replication=false",
                        "--link=fromflag"},
                       {absl::StrCat("NATS_URL=", kDeadUrl)});
  ASSERT_NE(flagged, nullptr);
  EXPECT_TRUE(Serves("fromflag")) << flagged->Output();
}

TEST_F(DaemonTest, KvctlUsesNatsUrlWhenNoServerFlag) {
  auto kvd = Start(KvdPath(),
                   {absl::StrCat("--server=", server_->url()), "--replication=false"});
  ASSERT_NE(kvd, nullptr);
  ASSERT_TRUE(Serves()) << kvd->Output();
  const std::string good = absl::StrCat("NATS_URL=", server_->url());
  const std::string dead = absl::StrCat("NATS_URL=", kDeadUrl);
  EXPECT_EQ(Run(KvctlPath(), {"set", "greeting", "hello"}, {good}),
            std::make_pair(0, std::string("OK\n")));
  EXPECT_EQ(Run(KvctlPath(), {"get", "greeting"}, {good}),
            std::make_pair(0, std::string("hello\n")));
  // NATS_URL is what kvctl tries...
  const auto [code, out] = Run(KvctlPath(), {"--timeout=1s", "get", "greeting"}, {dead});
  EXPECT_EQ(code, 1) << out;
  EXPECT_TRUE(absl::StrContains(out, kDeadUrl)) << out;
  // ...unless --server says otherwise.
  EXPECT_EQ(Run(KvctlPath(), {"--server", server_->url(), "get", "greeting"}, {dead}),
            std::make_pair(0, std::string("hello\n")));
}

// One JSON object per line: time (RFC 3339, UTC), level, message, and the link
// for lines about one.
TEST_F(DaemonTest, JsonLogLines) {
  auto kvd = Start(KvdPath(), {absl::StrCat("--server=", server_->url()),
                               "--replication=false", "--log_format=json"});
  ASSERT_NE(kvd, nullptr);
  ASSERT_TRUE(Serves()) << kvd->Output();
  ASSERT_TRUE(kvd->WaitForOutput("service kv ", kTimeout)) << kvd->Output();
  kvd->Signal(SIGTERM);
  ASSERT_TRUE(kvd->Wait(kTimeout).ok());
  const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)");
  int lines = 0;
  bool serving_line = false;
  for (absl::string_view line : absl::StrSplit(kvd->Output(), '\n', absl::SkipEmpty())) {
    SCOPED_TRACE(line);
    ++lines;
    rapidjson::Document doc;
    doc.Parse(line.data(), line.size());
    ASSERT_FALSE(doc.HasParseError());
    ASSERT_TRUE(doc.IsObject());
    ASSERT_TRUE(doc.HasMember("time") && doc["time"].IsString());
    EXPECT_TRUE(std::regex_match(doc["time"].GetString(), rfc3339));
    ASSERT_TRUE(doc.HasMember("level") && doc["level"].IsString());
    EXPECT_TRUE(
        std::regex_match(doc["level"].GetString(), std::regex("info|warning|error")));
    ASSERT_TRUE(doc.HasMember("message") && doc["message"].IsString());
    if (absl::StartsWith(doc["message"].GetString(), "serving kv.default.*")) {
      serving_line = true;
      ASSERT_TRUE(doc.HasMember("link"));
      EXPECT_STREQ(doc["link"].GetString(), "default");
    }
  }
  EXPECT_GE(lines, 3);  // serving, service, draining, stopped
  EXPECT_TRUE(serving_line);

  const auto [code, out] = Run(KvdPath(), {"--log_format=xml"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_TRUE(absl::StrContains(out, "--log_format")) << out;
}

TEST_F(DaemonTest, FlagfileValuesAreUsed) {
  const std::string path = absl::StrCat(testing_util::TempDir(), "/kvd.flags");
  {
    std::ofstream f(path);
    f << "# natskv node\n--server=" << server_->url()
      << "\n--link=fromfile\n--replication=false\n";
  }
  auto kvd = Start(KvdPath(), {absl::StrCat("--flagfile=", path)});
  ASSERT_NE(kvd, nullptr);
  EXPECT_TRUE(Serves("fromfile")) << kvd->Output();
  EXPECT_EQ(Call(nc_.get(), "kv.default.exists", KeyBody("k"), absl::Seconds(1)).status,
            NATS_NO_RESPONDERS);
}

// --help lists the flags an operator uses, not those only tests use; those
// still work.
TEST_F(DaemonTest, HelpHidesTestOnlyFlags) {
  const auto [code, help] = Run(KvdPath(), {"--help"});
  EXPECT_EQ(code, 0) << help;
  EXPECT_TRUE(absl::StrContains(help, "--log_format")) << help;
  EXPECT_TRUE(absl::StrContains(help, "--drain_timeout")) << help;
  EXPECT_TRUE(absl::StrContains(help, "--server")) << help;
  EXPECT_FALSE(absl::StrContains(help, "test_drop_events")) << help;

  auto kvd = Start(KvdPath(), {absl::StrCat("--server=", server_->url()),
                               "--replication=false", "--test_drop_events=0.5"});
  ASSERT_NE(kvd, nullptr);
  EXPECT_TRUE(Serves()) << kvd->Output();
  const auto [bad, out] = Run(KvdPath(), {"--test_drop_events=2"});
  EXPECT_EQ(bad, 2) << out;
  EXPECT_TRUE(absl::StrContains(out, "--test_drop_events")) << out;
}

}  // namespace
