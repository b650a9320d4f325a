// Nats-Msg-Id on one node (Handle); across replicas: kv/replication tests and
// tests/dedup_test.cc.
#include "kv/service/idempotent.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kv/service/service.h"
#include "kv/service/standalone_test_fixture.h"
#include "kv/store/store.h"

namespace kv::service {
namespace {

using codec::Op;

TEST(AsDuplicate, AddsTheMember) {
  EXPECT_EQ(AsDuplicate(R"({"value":3,"revision":9})"),
            R"({"value":3,"revision":9,"duplicate":true})");
  EXPECT_EQ(AsDuplicate("{}"), R"({"duplicate":true})");
}

// A standalone replica (ready at once) with a dedup window of 2 minutes.
class IdempotentTest : public StandaloneReplicaTest {
 protected:
  void SetUp() override {
    store::Limits limits;
    limits.dedup_window = absl::Minutes(2);
    Start(limits);
  }
  absl::StatusOr<std::string> Call(Op op, absl::string_view body,
                                   std::optional<absl::string_view> id) {
    return Handle(op, body, *replica_, nullptr, BatchLimits(), id);
  }
  std::string Get(absl::string_view key) {
    auto reply = Call(Op::kGet, absl::StrCat(R"({"key":")", key, R"("})"), std::nullopt);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : "";
  }
};

TEST_F(IdempotentTest, ARetryIsAnsweredTheFirstReplyAndAppliesNothing) {
  auto first = Call(Op::kAdd, R"({"key":"n","value":5})", "x");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(absl::StartsWith(*first, R"({"value":5,"revision":)")) << *first;
  // Something else changes the key meanwhile: the retry still gets the first reply.
  ASSERT_TRUE(Call(Op::kAdd, R"({"key":"n","value":1})", std::nullopt).ok());
  auto retry = Call(Op::kAdd, R"({"key":"n","value":5})", "x");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(*retry, AsDuplicate(*first));
  EXPECT_TRUE(absl::StrContains(Get("n"), R"("value":"6")")) << Get("n");
  // Another id is another write.
  ASSERT_TRUE(Call(Op::kAdd, R"({"key":"n","value":5})", "y").ok());
  EXPECT_TRUE(absl::StrContains(Get("n"), R"("value":"11")")) << Get("n");
}

TEST_F(IdempotentTest, EveryKeyLevelWriteTakesAnId) {
  struct Case {
    Op op;
    const char* body;
  };
  const Case cases[] = {
      {Op::kSet, R"({"key":"s","value":"v"})"},
      {Op::kExpire, R"({"key":"s","expires":60})"},
      {Op::kPersist, R"({"key":"s"})"},
      {Op::kDel, R"({"key":"s"})"},
      {Op::kPush, R"({"key":"l","value":"a"})"},
      {Op::kListDel, R"({"key":"l","value":"a"})"},
      {Op::kPush, R"({"key":"l2","value":"a"})"},
      {Op::kClear, R"({"key":"l2"})"},
      {Op::kSetAdd, R"({"key":"t","value":"m"})"},
      {Op::kSetRemove, R"({"key":"t","value":"m"})"},
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string id = absl::StrCat("id-", i++);
    auto first = Call(c.op, c.body, id);
    ASSERT_TRUE(first.ok()) << c.body << ": " << first.status();
    auto retry = Call(c.op, c.body, id);
    ASSERT_TRUE(retry.ok()) << c.body << ": " << retry.status();
    EXPECT_EQ(*retry, AsDuplicate(*first)) << c.body;
  }
  // A push retried is not pushed twice.
  auto range = Call(Op::kPush, R"({"key":"l3","value":"a"})", "p");
  ASSERT_TRUE(Call(Op::kPush, R"({"key":"l3","value":"a"})", "p").ok());
  auto values = Call(Op::kRange, R"({"key":"l3","start":0,"stop":-1})", std::nullopt);
  ASSERT_TRUE(values.ok());
  EXPECT_TRUE(absl::StartsWith(*values, R"({"values":["a"]})")) << *values;
}

TEST_F(IdempotentTest, AfterTheWindowTheIdIsNew) {
  ASSERT_TRUE(Call(Op::kAdd, R"({"key":"n","value":1})", "x").ok());
  net_.clock()->Advance(absl::Minutes(2) - absl::Milliseconds(10));
  auto retry = Call(Op::kAdd, R"({"key":"n","value":1})", "x");
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(absl::StrContains(*retry, "duplicate")) << *retry;
  net_.clock()->Advance(absl::Milliseconds(20));
  auto late = Call(Op::kAdd, R"({"key":"n","value":1})", "x");
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(absl::StrContains(*late, "duplicate")) << *late;
  EXPECT_TRUE(absl::StrContains(Get("n"), R"("value":"2")"));
}

TEST_F(IdempotentTest, AFailedWriteRecordsNothing) {
  ASSERT_TRUE(Call(Op::kSet, R"({"key":"k","value":"v"})", std::nullopt).ok());
  auto wrong = Call(Op::kPush, R"({"key":"k","value":"a"})", "x");
  EXPECT_EQ(ErrorCode(wrong.status()), 409);
  ASSERT_TRUE(Call(Op::kDel, R"({"key":"k"})", std::nullopt).ok());
  auto again = Call(Op::kPush, R"({"key":"k","value":"a"})", "x");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(absl::StrContains(*again, "duplicate")) << *again;
}

TEST_F(IdempotentTest, BadIdsAndBatchesAre400AndChangeNothing) {
  for (const std::string& id :
       {std::string(), std::string(129, 'x'), std::string("a\tb")}) {
    auto r = Call(Op::kAdd, R"({"key":"n","value":1})", id);
    EXPECT_EQ(ErrorCode(r.status()), 400) << id;
    EXPECT_TRUE(absl::StrContains(r.status().message(), "Nats-Msg-Id")) << r.status();
  }
  auto mset = Call(Op::kMset, R"({"entries":[{"key":"a","value":"1"}]})", "x");
  EXPECT_EQ(ErrorCode(mset.status()), 400);
  EXPECT_TRUE(absl::StrContains(mset.status().message(), "not supported on batches"));
  auto mdel = Call(Op::kMdel, R"({"keys":["a"]})", "x");
  EXPECT_EQ(ErrorCode(mdel.status()), 400);
  EXPECT_EQ(Get("n"), R"({"exists":false,"value":"","revision":0})");
  EXPECT_TRUE(absl::StrContains(Get("a"), R"("exists":false)"));
  // Reads ignore it, even an invalid one.
  EXPECT_TRUE(Call(Op::kGet, R"({"key":"n"})", "x").ok());
  EXPECT_TRUE(Call(Op::kGet, R"({"key":"n"})", std::string(200, 'x')).ok());
  EXPECT_TRUE(Call(Op::kMget, R"({"keys":["n"]})", std::string(200, 'x')).ok());
}

TEST_F(IdempotentTest, TheEventCarriesRoomForTheRecord) {
  store::Limits limits;
  limits.dedup_window = absl::Minutes(2);
  limits.max_write_bytes = 2000;
  Start(limits);
  const std::string value(1000, 'v');
  const std::string body = absl::StrCat(R"({"key":"k","value":")", value, R"("})");
  EXPECT_TRUE(Call(Op::kSet, body, std::nullopt).ok());
  auto r = Call(Op::kSet, body, "x");
  EXPECT_EQ(ErrorCode(r.status()), 413) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "Nats-Msg-Id")) << r.status();
}

TEST_F(IdempotentTest, ZeroWindowIgnoresTheHeader) {
  Start(store::Limits());
  ASSERT_TRUE(Call(Op::kAdd, R"({"key":"n","value":1})", "x").ok());
  auto again = Call(Op::kAdd, R"({"key":"n","value":1})", "x");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(absl::StrContains(*again, "duplicate"));
  EXPECT_TRUE(absl::StrContains(Get("n"), R"("value":"2")"));
  // Not even checked.
  EXPECT_TRUE(Call(Op::kAdd, R"({"key":"n","value":1})", std::string(200, 'x')).ok());
}

}  // namespace
}  // namespace kv::service
