// Idempotent retries (Nats-Msg-Id) with real processes: two kvd nodes, each on
// its own server of a two-server cluster (the events cross the route). The
// queue group picks the node of each request; a retry meant for the other
// node than the one that applied the first try is sent until that node's
// STATS show it served one (every try in between must be a duplicate too).
// Once the first try's event reached it, the other node answers the first
// reply with "duplicate":true and applies nothing.

#include <nats/nats.h>
#include <rapidjson/document.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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
    // Writes with an id are decided by their key's owner: wait until the two
    // nodes agree on the owners (docs/ownership.md).
    Reply warm;
    ASSERT_TRUE(WaitFor(
        [&] {
          warm = CallWithHeaders(conns_[0].get(), "kv.default.add", KeyIntBody("warm", 1),
                                 {{"Nats-Msg-Id", "warm"}});
          return warm.ok() && warm.code() != 503;
        },
        kLinkTimeout))
        << warm.data;
  }

  // The node id a write's Kv-Position names ("" when none).
  static std::string Writer(const Reply& r) {
    auto it = r.headers.find("Kv-Position");
    return it == r.headers.end() ? "" : it->second.substr(0, 16);
  }
  // The index of the node that wrote `r` (-1: none).
  int NodeOf(const Reply& r) {
    for (size_t i = 0; i < kvds_.size(); ++i) {
      if (kvds_[i]->node_id() == Writer(r)) return static_cast<int>(i);
    }
    return -1;
  }
  // The add requests node `i` served (its STATS), -1 when unreadable.
  int64_t Adds(int i) {
    const Reply r =
        Call(conns_[0].get(), absl::StrCat("$SRV.STATS.kv.", kvds_[i]->service_id()), "");
    rapidjson::Document d = Parse(r.data);
    if (!r.ok() || !d.IsObject() || !d.HasMember("endpoints")) return -1;
    for (const auto& e : d["endpoints"].GetArray()) {
      if (e.HasMember("name") && std::string(e["name"].GetString()) == "default_add") {
        return e["num_requests"].GetInt64();
      }
    }
    return -1;
  }
  // Sends the add `body` with `headers` until node `i` served it (at most 50
  // tries); every reply, whichever node gave it, must be a duplicate of
  // `first`. Returns node i's reply.
  Reply RetryOn(int i, const std::string& body, const Headers& headers,
                const Reply& first) {
    Reply r;
    for (int attempt = 0; attempt < 50; ++attempt) {
      const int64_t before = Adds(i);
      r = CallWithHeaders(conns_[0].get(), "kv.default.add", body, headers);
      ExpectDuplicateOf(first, r);
      if (Adds(i) > before) return r;
    }
    ADD_FAILURE() << "node " << i << " served none of 50 retries";
    return r;
  }
  static void ExpectDuplicateOf(const Reply& first, const Reply& retry) {
    ASSERT_TRUE(retry.ok());
    ASSERT_EQ(retry.code(), 0) << retry.data;
    rapidjson::Document doc = Parse(retry.data);
    ASSERT_TRUE(doc.IsObject()) << retry.data;
    EXPECT_EQ(doc["value"].GetInt64(), Parse(first.data)["value"].GetInt64())
        << retry.data;
    EXPECT_EQ(doc["revision"].GetUint64(), static_cast<uint64_t>(first.revision));
    ASSERT_TRUE(doc.HasMember("duplicate")) << retry.data;
    EXPECT_TRUE(doc["duplicate"].GetBool());
  }
  // The counter `key` as the node the queue group picks reads it.
  std::string Counter(const std::string& key) {
    const Reply r = Call(conns_[0].get(), "kv.default.get", KeyBody(key));
    rapidjson::Document doc = Parse(r.data);
    if (!r.ok() || !doc.IsObject() || !doc.HasMember("value")) return "?";
    return doc["value"].GetString();
  }

  std::vector<std::unique_ptr<NatsServer>> servers_;
  std::vector<std::unique_ptr<KvdNode>> kvds_;
  std::vector<ConnectionPtr> conns_;
};

TEST_F(DedupTest, ARetryOnTheOtherNodeIsAppliedOnce) {
  const std::string body = KeyIntBody("n", 5);
  const Headers id = {{"Nats-Msg-Id", "X"}};
  const Reply first = CallWithHeaders(conns_[0].get(), "kv.default.add", body, id);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first.code(), 0) << first.data;
  EXPECT_EQ(first.data, R"({"value":5})");
  const int a = NodeOf(first);
  ASSERT_NE(a, -1) << Writer(first);
  const int b = 1 - a;
  // Node B has A's event: the nodes converged (equal vectors and digests).
  const absl::Status converged = testing_util::WaitConverged(
      conns_[0].get(), {kvds_[0].get(), kvds_[1].get()}, absl::Seconds(10));
  ASSERT_TRUE(converged.ok()) << converged;
  const Reply retry = RetryOn(b, body, id, first);
  EXPECT_EQ(retry.headers.count("Kv-Position"), 0u);  // it wrote nothing
  // And again on A.
  RetryOn(a, body, id, first);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Counter("n"), "5");
  // A bad id is refused.
  const Reply bad = CallWithHeaders(conns_[0].get(), "kv.default.add", body,
                                    {{"Nats-Msg-Id", std::string(129, 'x')}});
  EXPECT_EQ(bad.code(), 400) << bad.data;
}

TEST_F(DedupTest, HundredIdsEachSentTwiceCountHundred) {
  int cross = 0;  // retries answered by the other node than the first try's
  for (int i = 0; i < 100; ++i) {
    const std::string body = KeyIntBody("hundred", 1);
    const Headers id = {{"Nats-Msg-Id", absl::StrCat("retry-", i)}};
    const Reply first = CallWithHeaders(conns_[i % 2].get(), "kv.default.add", body, id);
    ASSERT_TRUE(first.ok());
    ASSERT_EQ(first.code(), 0) << first.data;
    const int a = NodeOf(first);
    ASSERT_NE(a, -1);
    // The retry runs once the other node applied the first (Kv-After).
    Headers after = id;
    after.emplace_back("Kv-After", first.headers.at("Kv-Position"));
    const Reply second = RetryOn(1 - a, body, after, first);
    ASSERT_TRUE(second.ok());
    ++cross;
  }
  EXPECT_EQ(cross, 100);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Counter("hundred"), "100");
}

// Prints what an id costs a sequential client (no assertion on time): 500
// adds without an id, then 500 with distinct ids, then their 500 retries.
TEST_F(DedupTest, PrintsTheCostOfIds) {
  natsConnection* nc = conns_[0].get();
  const std::string body = KeyIntBody("cost", 1);
  auto run = [&](const char* what, auto headers_of) {
    const absl::Time start = absl::Now();
    for (int i = 0; i < 500; ++i) {
      const Reply r = CallWithHeaders(nc, "kv.default.add", body, headers_of(i));
      ASSERT_EQ(r.code(), 0) << r.data;
    }
    std::printf("%s: %.1f us per request\n", what,
                absl::ToDoubleMicroseconds(absl::Now() - start) / 500);
  };
  run("add without id", [](int) { return Headers(); });
  run("add with a new id", [](int i) {
    return Headers{{"Nats-Msg-Id", absl::StrCat("cost-", i)}};
  });
  run("retry (duplicate)", [](int i) {
    return Headers{{"Nats-Msg-Id", absl::StrCat("cost-", i)}};
  });
  EXPECT_EQ(Counter("cost"), "1000");
}

}  // namespace
