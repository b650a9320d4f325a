// Idempotent retries (Nats-Msg-Id) with real processes: two kvd nodes, each on
// its own server of a two-server cluster, so that a client of server i is
// answered by node i (NATS prefers a queue subscriber on the client's server)
// and the events cross the route. A write retried on the other node, once the
// first one's event reached it, is answered the first reply with
// "duplicate":true and applied once.

#include <nats/nats.h>
#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/client.h"
#include "tests/testing/harness.h"
#include "tests/testing/kvd_node.h"
#include "tests/testing/topology.h"

namespace {

using ::testing_util::Call;
using ::testing_util::CallWithHeaders;
using ::testing_util::ConnectionPtr;
using ::testing_util::KeyBody;
using ::testing_util::KeyIntBody;
using ::testing_util::KvdNode;
using ::testing_util::NatsServer;
using ::testing_util::Reply;
using ::testing_util::WaitFor;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr absl::Duration kLinkTimeout = absl::Seconds(20);

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  return doc;
}

class DedupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto servers = testing_util::StartCluster("dedup", 2);
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = *std::move(servers);
    ASSERT_TRUE(testing_util::WaitAllForwarding({servers_[0].get(), servers_[1].get()},
                                                kLinkTimeout)
                    .ok());
    for (const auto& server : servers_) {
      auto kvd = KvdNode::Start(testing_util::RunfilePath("kv/kvd"), server->url());
      ASSERT_TRUE(kvd.ok()) << kvd.status();
      kvds_.push_back(*std::move(kvd));
      auto nc = testing_util::Connect(server->url());
      ASSERT_TRUE(nc.ok()) << nc.status();
      conns_.push_back(*std::move(nc));
    }
  }

  // The node id a write's Kv-Position names ("" when none).
  static std::string Writer(const Reply& r) {
    auto it = r.headers.find("Kv-Position");
    return it == r.headers.end() ? "" : it->second.substr(0, 16);
  }
  // The counter `key` as node `i` reads it.
  std::string Counter(int i, const std::string& key) {
    const Reply r = Call(conns_[i].get(), "kv.default.get", KeyBody(key));
    rapidjson::Document doc = Parse(r.data);
    if (!r.ok() || !doc.IsObject() || !doc.HasMember("value")) return "?";
    return doc["value"].GetString();
  }

  std::vector<std::unique_ptr<NatsServer>> servers_;
  std::vector<std::unique_ptr<KvdNode>> kvds_;
  std::vector<ConnectionPtr> conns_;
};

TEST_F(DedupTest, ARetryOnTheOtherNodeIsAppliedOnce) {
  // Each client is answered by the node on its server.
  const Reply plain = Call(conns_[1].get(), "kv.default.add", KeyIntBody("other", 1));
  ASSERT_TRUE(plain.ok());
  ASSERT_EQ(Writer(plain), kvds_[1]->node_id());

  const std::string body = KeyIntBody("n", 5);
  const Reply first =
      CallWithHeaders(conns_[0].get(), "kv.default.add", body, {{"Nats-Msg-Id", "X"}});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first.code(), 0) << first.data;
  ASSERT_EQ(Writer(first), kvds_[0]->node_id());
  EXPECT_EQ(first.data, R"({"value":5})");
  // Node B has A's event.
  ASSERT_TRUE(WaitFor([&] { return Counter(1, "n") == "5"; }, absl::Seconds(10)));

  const Reply retry =
      CallWithHeaders(conns_[1].get(), "kv.default.add", body, {{"Nats-Msg-Id", "X"}});
  ASSERT_TRUE(retry.ok());
  ASSERT_EQ(retry.code(), 0) << retry.data;
  rapidjson::Document doc = Parse(retry.data);
  ASSERT_TRUE(doc.IsObject()) << retry.data;
  EXPECT_EQ(doc["value"].GetInt64(), 5) << retry.data;
  EXPECT_EQ(doc["revision"].GetUint64(), static_cast<uint64_t>(first.revision));
  ASSERT_TRUE(doc.HasMember("duplicate")) << retry.data;
  EXPECT_TRUE(doc["duplicate"].GetBool());
  EXPECT_EQ(retry.headers.count("Kv-Position"), 0u);  // it wrote nothing
  // And again on A.
  const Reply again =
      CallWithHeaders(conns_[0].get(), "kv.default.add", body, {{"Nats-Msg-Id", "X"}});
  EXPECT_TRUE(Parse(again.data).HasMember("duplicate")) << again.data;
  EXPECT_EQ(Counter(0, "n"), "5");
  EXPECT_EQ(Counter(1, "n"), "5");
  // A bad id is refused.
  const Reply bad = CallWithHeaders(conns_[0].get(), "kv.default.add", body,
                                    {{"Nats-Msg-Id", std::string(129, 'x')}});
  EXPECT_EQ(bad.code(), 400) << bad.data;
}

TEST_F(DedupTest, HundredIdsEachSentTwiceCountHundred) {
  int duplicates = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string id = absl::StrCat("retry-", i);
    const std::string body = KeyIntBody("hundred", 1);
    natsConnection* first_node = conns_[i % 2].get();
    natsConnection* second_node = conns_[(i + 1) % 2].get();
    const Reply first =
        CallWithHeaders(first_node, "kv.default.add", body, {{"Nats-Msg-Id", id}});
    ASSERT_TRUE(first.ok());
    ASSERT_EQ(first.code(), 0) << first.data;
    ASSERT_EQ(first.headers.count("Kv-Position"), 1u);
    // The retry runs once the other node applied the first (Kv-After).
    const Reply second = CallWithHeaders(
        second_node, "kv.default.add", body,
        {{"Nats-Msg-Id", id}, {"Kv-After", first.headers.at("Kv-Position")}});
    ASSERT_TRUE(second.ok());
    ASSERT_EQ(second.code(), 0) << second.data;
    rapidjson::Document doc = Parse(second.data);
    ASSERT_TRUE(doc.IsObject()) << second.data;
    if (doc.HasMember("duplicate")) ++duplicates;
    EXPECT_EQ(doc["value"].GetInt64(), Parse(first.data)["value"].GetInt64());
  }
  EXPECT_EQ(duplicates, 100);
  EXPECT_EQ(Counter(0, "hundred"), "100");
  ASSERT_TRUE(WaitFor([&] { return Counter(1, "hundred") == "100"; }, absl::Seconds(10)))
      << Counter(1, "hundred");
}

}  // namespace
