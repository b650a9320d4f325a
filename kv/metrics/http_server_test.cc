#include "kv/metrics/http_server.h"

#include <atomic>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kv/metrics/prometheus.h"
#include "tests/testing/http.h"

namespace kv::metrics {
namespace {

using ::testing_util::HttpGet;

TEST(ListeningPort, AcceptsHostPortForms) {
  EXPECT_EQ(*ListeningPort("127.0.0.1:9464"), "127.0.0.1:9464");
  EXPECT_EQ(*ListeningPort("0.0.0.0:0"), "0.0.0.0:0");
  EXPECT_EQ(*ListeningPort("localhost:80"), "127.0.0.1:80");
  EXPECT_EQ(*ListeningPort("[::1]:9464"), "[::1]:9464");
}

TEST(ListeningPort, RefusesWhatIsNotHostPort) {
  for (const char* bad :
       {"", "9464", ":9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:9x", "example.com:80", "1.2.3:80", "[zz]:80", "[]:80"}) {
    EXPECT_EQ(ListeningPort(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpHandlers handlers;
    handlers.metrics = [this] { return "m " + std::to_string(++scrapes_) + "\n"; };
    handlers.health = [this] {
      Health h;
      h.ok = ready_.load();
      h.body = h.ok ? "ok\n" : "not ready\n";
      return h;
    };
    auto server = MetricsServer::Start("127.0.0.1:0", handlers);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }

  std::atomic<int> scrapes_{0};
  std::atomic<bool> ready_{false};
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesMetricsWithTheTextFormatsContentType) {
  auto r = HttpGet("127.0.0.1", server_->port(), "/metrics");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "m 1\n");
  EXPECT_EQ(r->headers["Content-Type"], kContentType);
  r = HttpGet("127.0.0.1", server_->port(), "/metrics");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "m 2\n");
}

TEST_F(MetricsServerTest, HealthzIs503UntilReadyThen200) {
  auto r = HttpGet("127.0.0.1", server_->port(), "/healthz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "not ready\n");
  ready_ = true;
  r = HttpGet("127.0.0.1", server_->port(), "/healthz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");
}

TEST_F(MetricsServerTest, OtherPathsAre404AndOtherMethods405) {
  auto r = HttpGet("127.0.0.1", server_->port(), "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  r = HttpGet("127.0.0.1", server_->port(), "/metrics/x");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  r = HttpGet("127.0.0.1", server_->port(), "/metrics", "POST");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 405);
  r = HttpGet("127.0.0.1", server_->port(), "/metrics", "HEAD");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
}

TEST_F(MetricsServerTest, ABusyPortIsUnavailable) {
  const std::string addr = "127.0.0.1:" + std::to_string(server_->port());
  auto second = MetricsServer::Start(addr, HttpHandlers{});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(second.status().message(), addr)) << second.status();
}

}  // namespace
}  // namespace kv::metrics
