// Operations that must have one winner, end to end: three replicating kvd
// nodes decide them at the key's owner (docs/ownership.md).
#include <nats/nats.h>

#include <csignal>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/replication/ownership.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"
#include "tests/testing/kvd_node.h"

namespace {

using ::testing_util::KvdNode;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

uint64_t Id(const KvdNode& node) {
  uint64_t id = 0;
  EXPECT_TRUE(absl::SimpleHexAtoi(node.node_id(), &id)) << node.node_id();
  return id;
}

class OwnerTest : public testing_util::ServerTest {
 protected:
  void StartNodes(int n) {
    for (int i = 0; i < n; ++i) {
      auto node = KvdNode::Start(KvdPath(), server_->url());
      ASSERT_TRUE(node.ok()) << node.status();
      nodes_.push_back(*std::move(node));
    }
    std::vector<KvdNode*> raw;
    for (auto& node : nodes_) raw.push_back(node.get());
    ASSERT_TRUE(testing_util::WaitConverged(nc_.get(), raw, kTimeout).ok());
  }

  // `op` with a Nats-Msg-Id header, on whichever node the queue group picks.
  Reply CallWithId(const std::string& op, const std::string& body, const std::string& id,
                   absl::Duration timeout = absl::Seconds(5)) {
    natsMsg* msg = nullptr;
    const std::string subject = absl::StrCat("kv.default.", op);
    EXPECT_EQ(natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(),
                             static_cast<int>(body.size())),
              NATS_OK);
    natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
    natsMsg* reply = nullptr;
    Reply r;
    r.status = natsConnection_RequestMsg(&reply, nc_.get(), msg,
                                         absl::ToInt64Milliseconds(timeout));
    natsMsg_Destroy(msg);
    if (r.status == NATS_OK) r = testing_util::ToReply(reply);
    return r;
  }

  // Retries while the answer is 503 (owners settle after nodes come and go).
  Reply Decided(const std::string& op, const std::string& body, const std::string& id) {
    Reply r;
    EXPECT_TRUE(WaitFor(
        [&] {
          r = CallWithId(op, body, id);
          return r.ok() && r.code() != 503;
        },
        kTimeout))
        << r.data;
    return r;
  }

  std::vector<std::unique_ptr<KvdNode>> nodes_;
};

TEST_F(OwnerTest, EachKeysOneWinnerOperationsAreDecidedByItsOwner) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3));
  const std::vector<uint64_t> view = {Id(*nodes_[0]), Id(*nodes_[1]), Id(*nodes_[2])};
  std::map<std::string, int> by_node;
  for (int i = 0; i < 30; ++i) {
    const std::string key = absl::StrCat("counter.", i);
    const Reply r =
        Decided("add", testing_util::KeyIntBody(key, 1), absl::StrCat("id", i));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.code(), 0) << r.data;
    const uint64_t owner = kv::replication::Ownership::OwnerOf(key, view);
    uint64_t decided_by = 0;
    ASSERT_TRUE(absl::SimpleHexAtoi(r.headers.at("Kv-Decided-By"), &decided_by));
    EXPECT_EQ(decided_by, owner) << key;
    ++by_node[r.headers.at("Kv-Decided-By")];
  }
  EXPECT_EQ(by_node.size(), 3u);  // every node owns some of 30 keys
  // A plain write is decided wherever it lands.
  const Reply plain =
      testing_util::Call(nc_.get(), "kv.default.add", testing_util::KeyIntBody("p", 1));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain.headers.count("Kv-Decided-By"), 0u);
}

TEST_F(OwnerTest, ANodeThatSeesNoMajorityAnswers503AndPlainWritesGoOn) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3));
  ASSERT_EQ(Decided("add", testing_util::KeyIntBody("k", 1), "first").code(), 0);
  // Two of three nodes paused: the third sees one of three known nodes.
  nodes_[1]->process().Signal(SIGSTOP);
  nodes_[2]->process().Signal(SIGSTOP);
  Reply r;
  // Requests routed to a paused node time out; the live one answers 503, and
  // once its view lost the others, because it sees no majority.
  EXPECT_TRUE(WaitFor(
      [&] {
        r = CallWithId("add", testing_util::KeyIntBody("k", 1), "second",
                       absl::Milliseconds(300));
        EXPECT_TRUE(!r.ok() || r.code() == 503) << r.data;
        return r.ok() && r.data.find("not a majority") != std::string::npos;
      },
      kTimeout))
      << r.data;
  Reply plain;
  EXPECT_TRUE(WaitFor(
      [&] {
        plain = testing_util::Call(nc_.get(), "kv.default.add",
                                   testing_util::KeyIntBody("plain", 1),
                                   absl::Milliseconds(300));
        return plain.ok();
      },
      kTimeout));
  EXPECT_EQ(plain.code(), 0) << plain.data;
  nodes_[1]->process().Signal(SIGCONT);
  nodes_[2]->process().Signal(SIGCONT);
  const Reply third = Decided("add", testing_util::KeyIntBody("k", 1), "third");
  EXPECT_EQ(third.code(), 0) << third.data << "\n"
                             << nodes_[0]->Output() << nodes_[1]->Output()
                             << nodes_[2]->Output();
}

}  // namespace
