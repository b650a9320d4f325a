// TTL control with real processes: expires on every write, ttl, expire and
// persist through raw requests, replicated to another node; --default_ttl;
// kvctl's ttl, expire and persist.
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
using testing_util::KvdNode;
using testing_util::Process;
using testing_util::Reply;
using testing_util::WaitFor;

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }
std::string KvctlPath() { return testing_util::RunfilePath("tools/kvctl"); }

class TtlTest : public testing_util::ServerTest {
 protected:
  std::unique_ptr<KvdNode> Start(const std::vector<std::string>& flags = {}) {
    auto node = KvdNode::Start(KvdPath(), server_->url(), flags);
    if (!node.ok()) {
      ADD_FAILURE() << node.status();
      return nullptr;
    }
    return *std::move(node);
  }
  Reply Req(absl::string_view op, absl::string_view body) {
    return Call(nc_.get(), absl::StrCat("kv.default.", op), body);
  }
  // The "ttl" a ttl request answers for `key` (-1: none), or -2 on an error.
  double TtlOf(absl::string_view key) {
    const Reply r = Req("ttl", absl::StrCat(R"({"key":")", key, R"("})"));
    const size_t at = r.data.find("\"ttl\":");
    double ttl = -2;
    if (r.code() != 0 || at == std::string::npos) return -2;
    std::string number = r.data.substr(at + 6);
    number = number.substr(0, number.find_first_of(",}"));
    return absl::SimpleAtod(number, &ttl) ? ttl : -2;
  }
};

TEST_F(TtlTest, EveryWriteTakesExpiresAndTtlExpirePersistWork) {
  auto node = Start();
  ASSERT_TRUE(node);
  EXPECT_EQ(Req("set", R"({"key":"s","value":"v","expires":30})").code(), 0);
  EXPECT_EQ(Req("add", R"({"key":"c","value":2,"expires":30})").code(), 0);
  EXPECT_EQ(Req("push", R"({"key":"l","value":"x","expires":30})").code(), 0);
  EXPECT_EQ(Req("set_add", R"({"key":"t","value":"m","expires":30})").code(), 0);
  for (const char* key : {"s", "c", "l", "t"}) {
    const double ttl = TtlOf(key);
    EXPECT_GT(ttl, 25) << key;
    EXPECT_LE(ttl, 30) << key;
  }
  // A write without expires keeps the TTL; set replaces it.
  EXPECT_EQ(Req("push", R"({"key":"l","value":"y"})").code(), 0);
  EXPECT_GT(TtlOf("l"), 25);
  EXPECT_EQ(Req("set", R"({"key":"s","value":"w"})").code(), 0);
  EXPECT_EQ(TtlOf("s"), -1);
  // expire / persist.
  Reply r = Req("expire", R"({"key":"s","expires":100})");
  EXPECT_TRUE(absl::StrContains(r.data, R"("updated":true)")) << r.data;
  EXPECT_GT(TtlOf("s"), 95);
  r = Req("persist", R"({"key":"s"})");
  EXPECT_TRUE(absl::StrContains(r.data, R"("updated":true)")) << r.data;
  EXPECT_EQ(TtlOf("s"), -1);
  r = Req("persist", R"({"key":"s"})");
  EXPECT_TRUE(absl::StrContains(r.data, R"("updated":false)")) << r.data;
  r = Req("expire", R"({"key":"nope","expires":5})");
  EXPECT_TRUE(absl::StrContains(r.data, R"("updated":false)")) << r.data;
  r = Req("ttl", R"({"key":"nope"})");
  EXPECT_EQ(r.data, R"({"exists":false,"ttl":-1})");
  // Bad input: 400 naming the field.
  r = Req("expire", R"({"key":"s","expires":0})");
  EXPECT_EQ(r.code(), 400);
  EXPECT_TRUE(absl::StrContains(r.data, "expires")) << r.data;
  EXPECT_EQ(Req("expire", R"({"key":"s"})").code(), 400);
  // A list expires whole; a write afterwards starts it anew.
  EXPECT_EQ(Req("expire", R"({"key":"l","expires":0.3})").code(), 0);
  ASSERT_TRUE(WaitFor(
      [&] { return absl::StrContains(Req("exists", R"({"key":"l"})").data, "false"); },
      absl::Seconds(5)));
  r = Req("push", R"({"key":"l","value":"z"})");
  EXPECT_TRUE(absl::StrContains(r.data, R"("length":1)")) << r.data;
  EXPECT_EQ(TtlOf("l"), -1);
}

TEST_F(TtlTest, TtlsReplicate) {
  auto a = Start();
  auto b = Start();
  ASSERT_TRUE(a && b);
  // The queue group picks either node; every change must show on both.
  EXPECT_EQ(Req("push", R"({"key":"l","value":"x"})").code(), 0);
  EXPECT_EQ(Req("expire", R"({"key":"l","expires":50})").code(), 0);
  std::vector<KvdNode*> nodes = {a.get(), b.get()};
  ASSERT_TRUE(testing_util::WaitConverged(nc_.get(), nodes, absl::Seconds(10)).ok());
  for (int i = 0; i < 10; ++i) EXPECT_GT(TtlOf("l"), 40) << i;  // whichever answers
  EXPECT_EQ(Req("persist", R"({"key":"l"})").code(), 0);
  ASSERT_TRUE(testing_util::WaitConverged(nc_.get(), nodes, absl::Seconds(10)).ok());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(TtlOf("l"), -1) << i;
}

TEST_F(TtlTest, DefaultTtlAndKvctl) {
  auto node = Start({"--default_ttl=40s"});
  ASSERT_TRUE(node);
  EXPECT_EQ(Req("set", R"({"key":"d","value":"v"})").code(), 0);
  EXPECT_GT(TtlOf("d"), 35);
  EXPECT_LE(TtlOf("d"), 40);
  auto kvctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), absl::StrCat("--server=", server_->url()));
    auto p = Process::Start(KvctlPath(), args);
    if (!p.ok()) {
      ADD_FAILURE() << p.status();
      return std::string();
    }
    auto code = (*p)->Wait(absl::Seconds(10));
    EXPECT_TRUE(code.ok() && *code == 0) << (*p)->Output();
    return (*p)->Output();
  };
  EXPECT_EQ(kvctl({"persist", "d"}), "true\n");
  EXPECT_EQ(kvctl({"ttl", "d"}), "-1\n");
  EXPECT_EQ(kvctl({"expire", "d", "60"}), "true\n");
  double ttl = 0;
  ASSERT_TRUE(absl::SimpleAtod(kvctl({"ttl", "d"}), &ttl));
  EXPECT_GT(ttl, 55);
  EXPECT_EQ(kvctl({"push", "q", "x", "--ttl", "60"}), "1\n");
  EXPECT_GT(TtlOf("q"), 55);
  auto bad = Process::Start(
      KvdPath(), {absl::StrCat("--server=", server_->url()), "--default_ttl=-1s"});
  ASSERT_TRUE(bad.ok());
  auto code = (*bad)->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2) << (*bad)->Output();
}

}  // namespace
