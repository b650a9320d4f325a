#include "kv/service/service.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "kv/codec/binary.h"
#include "kv/codec/encoding.h"
#include "kv/replication/replica_stats.h"
#include "kv/service/standalone_test_fixture.h"
#include "kv/store/store.h"

namespace kv::service {
namespace {

TEST(StatsData, PrintsTheWholeVectorWithinItsBudget) {
  replication::ReplicaStats s;
  s.vv = {{1, 5}, {2, 7}};
  const std::string data = StatsData(s, {}, 1024);
  EXPECT_TRUE(
      absl::StrContains(data, "\"vv\":{\"0000000000000001\":5,\"0000000000000002\":7}}"))
      << data;
  EXPECT_FALSE(absl::StrContains(data, "vv_omitted")) << data;
}

// A vector of many origins (every node id a link ever had) is capped: the
// highest seqs are kept and the others counted, so STATS stays small.
TEST(StatsData, CapsTheVectorByBytesKeepingTheHighestSeqs) {
  replication::ReplicaStats s;
  for (uint64_t n = 1; n <= 10000; ++n) s.vv[n] = n;
  const std::string data = StatsData(s, {}, 1024);
  EXPECT_LT(data.size(), 2048u) << data.size();
  EXPECT_TRUE(absl::StrContains(data, "\"vv_omitted\":")) << data;
  EXPECT_TRUE(absl::StrContains(data, absl::StrFormat("\"%016x\":10000", 10000)));
  EXPECT_FALSE(absl::StrContains(data, absl::StrFormat("\"%016x\":1,", 1)));
  const size_t kept = 10000 - std::stoul(data.substr(data.find("vv_omitted\":") + 12));
  EXPECT_GT(kept, 30u);
  EXPECT_LT(kept, 50u);
}

TEST(StatsVvBytes, IsAShareOfTheReplyBudget) {
  store::Limits limits;
  EXPECT_EQ(StatsVvBytes(limits), 0u);
  limits.max_reply_bytes = 1 << 20;
  EXPECT_EQ(StatsVvBytes(limits), 16u * 1024);
  limits.max_reply_bytes = 3000;
  EXPECT_EQ(StatsVvBytes(limits), 1024u);
}

// A standalone replica (no replication: ready at once) for Handle.
class HandleTest : public StandaloneReplicaTest {
 protected:
  void SetUp() override { Start(store::Limits()); }
  absl::StatusOr<std::string> Call(codec::Op op, absl::string_view body) {
    return Handle(op, body, *replica_, nullptr, batch_);
  }
  // The reply without its "revision" member (RevisionOf reads it).
  std::string Ok(codec::Op op, absl::string_view body) {
    auto reply = Call(op, body);
    EXPECT_TRUE(reply.ok()) << body << ": " << reply.status();
    if (!reply.ok()) return "";
    std::string out = *reply;
    const size_t at = out.find(",\"revision\":");
    if (at != std::string::npos) out.erase(at, out.find('}', at) - at);
    return out;
  }
  // The "revision" of a reply (-1 when it has none).
  int64_t RevisionOf(codec::Op op, absl::string_view body) {
    auto reply = Call(op, body);
    EXPECT_TRUE(reply.ok()) << body << ": " << reply.status();
    if (!reply.ok()) return -1;
    const size_t at = reply->find("\"revision\":");
    if (at == std::string::npos) return -1;
    return std::stoll(reply->substr(at + 11));
  }

  BatchLimits batch_;
};

using codec::Op;

TEST_F(HandleTest, MgetAnswersInRequestOrderWithTypes) {
  Ok(Op::kSet, R"({"key":"a","value":"x"})");
  Ok(Op::kAdd, R"({"key":"n","value":7})");
  Ok(Op::kPush, R"({"key":"l","value":"i"})");
  Ok(Op::kSetAdd, R"({"key":"s","value":"m"})");
  EXPECT_EQ(Ok(Op::kMget, R"({"keys":["s","a","nope","n","l","a"]})"),
            R"({"entries":[{"key":"s","exists":true,"type":"set"},)"
            R"({"key":"a","exists":true,"value":"x"},{"key":"nope","exists":false},)"
            R"({"key":"n","exists":true,"value":"7"},)"
            R"({"key":"l","exists":true,"type":"list"},)"
            R"({"key":"a","exists":true,"value":"x"}]})");
  EXPECT_EQ(Ok(Op::kMget, R"({"keys":[]})"), R"({"entries":[]})");
}

TEST_F(HandleTest, TypeOfNamesEveryType) {
  Ok(Op::kSet, R"({"key":"a","value":"x"})");
  Ok(Op::kAdd, R"({"key":"n","value":7})");
  Ok(Op::kPush, R"({"key":"l","value":"i"})");
  Ok(Op::kSetAdd, R"({"key":"s","value":"m"})");
  replica_->Read([](const store::Store& s) {
    EXPECT_EQ(*TypeOf(s, "a"), "string");
    EXPECT_EQ(*TypeOf(s, "n"), "counter");
    EXPECT_EQ(*TypeOf(s, "l"), "list");
    EXPECT_EQ(*TypeOf(s, "s"), "set");
    EXPECT_EQ(*TypeOf(s, "none"), "");
    return 0;
  });
}

TEST_F(HandleTest, MsetIsAllOrNothingAndTheLastEntryOfAKeyWins) {
  Ok(Op::kPush, R"({"key":"l","value":"i"})");
  auto wrong =
      Call(Op::kMset, R"({"entries":[{"key":"a","value":"1"},{"key":"l","value":"2"}]})");
  EXPECT_EQ(ErrorCode(wrong.status()), 409);
  EXPECT_NE(wrong.status().message().find("key 'l' (entries[1]) holds a list"),
            std::string::npos)
      << wrong.status();
  EXPECT_EQ(Ok(Op::kExists, R"({"key":"a"})"), R"({"exists":false})");

  EXPECT_EQ(Ok(Op::kMset, R"({"entries":[{"key":"a","value":"1"},)"
                          R"({"key":"b","value":"2","expires":60},)"
                          R"({"key":"a","value":"3"}]})"),
            R"({"ok":true,"count":2})");
  EXPECT_EQ(Ok(Op::kMget, R"({"keys":["a","b"]})"),
            R"({"entries":[{"key":"a","exists":true,"value":"3"},)"
            R"({"key":"b","exists":true,"value":"2"}]})");
  auto ttl = Call(Op::kMset, R"({"entries":[{"key":"c","value":"1","expires":1e10}]})");
  EXPECT_EQ(ErrorCode(ttl.status()), 400);
  EXPECT_NE(ttl.status().message().find("entries[0].expires"), std::string::npos);
}

TEST_F(HandleTest, MdelCountsEachKeyOnce) {
  Ok(Op::kMset, R"({"entries":[{"key":"a","value":"1"},{"key":"b","value":"2"}]})");
  Ok(Op::kPush, R"({"key":"l","value":"i"})");
  EXPECT_EQ(Ok(Op::kMdel, R"({"keys":["a","a","l","zz"]})"), R"({"deleted":2})");
  EXPECT_EQ(Ok(Op::kMget, R"({"keys":["a","b","l"]})"),
            R"({"entries":[{"key":"a","exists":false},)"
            R"({"key":"b","exists":true,"value":"2"},{"key":"l","exists":false}]})");
}

TEST_F(HandleTest, BatchLimitsAre413) {
  batch_.max_batch_keys = 2;
  for (auto [op, body] : {std::pair{Op::kMget, R"({"keys":["a","b","c"]})"},
                          std::pair{Op::kMdel, R"({"keys":["a","b","c"]})"},
                          std::pair{Op::kMset, R"({"entries":[{"key":"a","value":""},)"
                                               R"({"key":"b","value":""},)"
                                               R"({"key":"c","value":""}]})"}}) {
    auto r = Call(op, body);
    EXPECT_EQ(ErrorCode(r.status()), 413) << body;
    EXPECT_NE(r.status().message().find("at most 2 "), std::string::npos) << r.status();
  }
  // set_union keeps its own limit.
  EXPECT_TRUE(Call(Op::kSetUnion, R"({"keys":["a","b","c"]})").ok());
}

TEST_F(HandleTest, BatchBytesAreBoundedByThePayload) {
  store::Limits limits;
  limits.max_write_bytes = 1000;
  limits.max_value_bytes = 900;
  limits.max_reply_bytes = 1000;
  Start(limits);
  const std::string v(400, 'v');
  const std::string two = absl::StrCat(R"({"entries":[{"key":"a","value":")", v,
                                       R"("},{"key":"b","value":")", v, R"("}]})");
  EXPECT_TRUE(Call(Op::kMset, two).ok());
  // Three such entries' events could not fit in one message.
  const std::string three =
      absl::StrCat(R"({"entries":[{"key":"a","value":")", v, R"("},{"key":"b","value":")",
                   v, R"("},{"key":"c","value":")", v, R"("}]})");
  auto over = Call(Op::kMset, three);
  EXPECT_EQ(ErrorCode(over.status()), 413);
  EXPECT_NE(over.status().message().find(
                absl::StrCat("the limit is ", 1000 + codec::MaxEventOverhead())),
            std::string::npos)
      << over.status();
  EXPECT_EQ(Ok(Op::kExists, R"({"key":"c"})"), R"({"exists":false})");
  // Two 400-byte values fit in the 1000-byte reply, three do not.
  EXPECT_TRUE(Call(Op::kMget, R"({"keys":["a","b"]})").ok());
  auto big = Call(Op::kMget, R"({"keys":["a","b","a"]})");
  EXPECT_EQ(ErrorCode(big.status()), 413) << big.status();
  // mdel of keys whose deletes could not fit.
  for (int i = 0; i < 40; ++i) {
    Ok(Op::kPush, absl::StrCat(R"({"key":"l","value":"item)", i, R"("})"));
  }
  auto del = Call(Op::kMdel, R"({"keys":["l","a"]})");
  EXPECT_EQ(ErrorCode(del.status()), 413) << del.status();
  EXPECT_EQ(Ok(Op::kExists, R"({"key":"a"})"), R"({"exists":true})");
}

TEST_F(HandleTest, Base64ValuesInAndOut) {
  // \x00\xff\x80 is not UTF-8.
  Ok(Op::kSet, R"({"key":"bin","value":"AP+A","encoding":"base64"})");
  EXPECT_EQ(Ok(Op::kGet, R"({"key":"bin","encoding":"base64"})"),
            R"({"exists":true,"value":"AP+A"})");
  auto text = Call(Op::kGet, R"({"key":"bin"})");
  EXPECT_EQ(ErrorCode(text.status()), codec::kNotUtf8Code);
  EXPECT_NE(text.status().message().find("key 'bin' is not valid UTF-8"),
            std::string::npos)
      << text.status();
  // UTF-8 written as base64 reads back as text, and text as base64.
  Ok(Op::kSet, R"({"key":"t","value":"w7Y=","encoding":"base64"})");
  EXPECT_EQ(Ok(Op::kGet, R"({"key":"t"})"), "{\"exists\":true,\"value\":\"\xC3\xB6\"}");
  EXPECT_EQ(Ok(Op::kMget, R"({"keys":["t","bin"],"encoding":"base64"})"),
            R"({"entries":[{"key":"t","exists":true,"value":"w7Y="},)"
            R"({"key":"bin","exists":true,"value":"AP+A"}]})");
  EXPECT_EQ(ErrorCode(Call(Op::kMget, R"({"keys":["t","bin"]})").status()), 422);
  Ok(Op::kPush, R"({"key":"l","value":"AA==","encoding":"base64"})");
  EXPECT_EQ(Ok(Op::kRange, R"({"key":"l","start":0,"stop":-1,"encoding":"base64"})"),
            R"({"values":["AA=="]})");
  EXPECT_EQ(Ok(Op::kRange, R"({"key":"l","start":0,"stop":-1})"),
            std::string("{\"values\":[\"\\u0000\"]}"));
  Ok(Op::kSetAdd, R"({"key":"s","value":"/w==","encoding":"base64"})");
  Ok(Op::kSetAdd, R"({"key":"s2","value":"/w==","encoding":"base64"})");
  EXPECT_EQ(Ok(Op::kSetQuery, R"({"key":"s","encoding":"base64"})"),
            R"({"values":["/w=="]})");
  EXPECT_EQ(ErrorCode(Call(Op::kSetQuery, R"({"key":"s"})").status()), 422);
  EXPECT_EQ(Ok(Op::kSetIntersection, R"({"keys":["s","s2"],"encoding":"base64"})"),
            R"({"values":["/w=="]})");
  EXPECT_EQ(Ok(Op::kSetUnion, R"({"keys":["s","s2"],"encoding":"base64"})"),
            R"({"values":["/w=="]})");
  EXPECT_EQ(Ok(Op::kSetRemove, R"({"key":"s","value":"/w==","encoding":"base64"})"),
            R"({"size":0})");
  EXPECT_EQ(Ok(Op::kListDel, R"({"key":"l","value":"AA==","encoding":"base64"})"),
            R"({"length":0})");
  EXPECT_EQ(
      Ok(Op::kMset, R"({"encoding":"base64","entries":[{"key":"m","value":"AQI="}]})"),
      R"({"ok":true,"count":1})");
  EXPECT_EQ(Ok(Op::kGet, R"({"key":"m","encoding":"base64"})"),
            R"({"exists":true,"value":"AQI="})");
  auto bad = Call(Op::kSet, R"({"key":"k","value":"AP8","encoding":"base64"})");
  EXPECT_EQ(ErrorCode(bad.status()), 400);
  EXPECT_NE(bad.status().message().find("field 'value' must be base64"),
            std::string::npos);
}

TEST_F(HandleTest, KeyRepliesCarryTheRevision) {
  EXPECT_EQ(RevisionOf(Op::kGet, R"({"key":"k"})"), 0);
  const int64_t set = RevisionOf(Op::kSet, R"({"key":"k","value":"v"})");
  EXPECT_GT(set, 0);
  EXPECT_EQ(RevisionOf(Op::kGet, R"({"key":"k"})"), set);
  const int64_t expire = RevisionOf(Op::kExpire, R"({"key":"k","expires":60})");
  EXPECT_GT(expire, set);
  EXPECT_GT(RevisionOf(Op::kPersist, R"({"key":"k"})"), expire);
  EXPECT_EQ(RevisionOf(Op::kDel, R"({"key":"k"})"), 0);
  const int64_t push = RevisionOf(Op::kPush, R"({"key":"l","value":"a"})");
  EXPECT_GT(RevisionOf(Op::kPush, R"({"key":"l","value":"b"})"), push);
  EXPECT_GT(RevisionOf(Op::kAdd, R"({"key":"c","value":1})"), 0);
  EXPECT_GT(RevisionOf(Op::kSetAdd, R"({"key":"s","value":"x"})"), 0);
  EXPECT_EQ(RevisionOf(Op::kExists, R"({"key":"s"})"), -1);
}

// A failed condition: 412, changes nothing, emits no event.
class ConditionTest : public HandleTest {
 protected:
  // Runs a request that must fail its condition; checks that nothing changed
  // and returns the error body (whose "revision" is the key's).
  std::string Refused(Op op, absl::string_view body) {
    const store::Digest before =
        replica_->Read([](const store::Store& s) { return s.digest(); });
    replication::MutationContext context;
    auto reply = Handle(op, body, *replica_, &context, batch_);
    EXPECT_FALSE(reply.ok()) << body << ": " << *reply;
    if (reply.ok()) return "";
    EXPECT_EQ(ErrorCode(reply.status()), 412) << body << ": " << reply.status();
    EXPECT_FALSE(context.dot.has_value()) << body << ": an event left";
    EXPECT_EQ(replica_->Read([](const store::Store& s) { return s.digest(); }), before)
        << body;
    return ErrorBody(412, reply.status().message(), reply.status());
  }
  std::string Body412(uint64_t revision) {
    return absl::StrCat("\"revision\":", revision, "}}");
  }
};

TEST_F(ConditionTest, SetIfAbsentWinsOnceThen412WithTheRevision) {
  const int64_t rev = RevisionOf(Op::kSet, R"({"key":"k","value":"a","if":"absent"})");
  ASSERT_GT(rev, 0);
  const std::string body = Refused(Op::kSet, R"({"key":"k","value":"b","if":"absent"})");
  EXPECT_TRUE(absl::StartsWith(
      body, R"({"error":{"code":412,"message":"condition failed: key 'k' exists)"))
      << body;
  EXPECT_TRUE(absl::EndsWith(body, Body412(rev))) << body;
  EXPECT_EQ(Ok(Op::kGet, R"({"key":"k"})"), R"({"exists":true,"value":"a"})");
  // "revision":0 is "if":"absent".
  Refused(Op::kSet, R"({"key":"k","value":"b","revision":0})");
  EXPECT_GT(RevisionOf(Op::kSet, R"({"key":"k2","value":"b","revision":0})"), 0);
}

TEST_F(ConditionTest, SetIfPresentNeedsTheKey) {
  EXPECT_TRUE(absl::EndsWith(
      Refused(Op::kSet, R"({"key":"k","value":"b","if":"present"})"), Body412(0)));
  EXPECT_EQ(Ok(Op::kExists, R"({"key":"k"})"), R"({"exists":false})");
  Ok(Op::kSet, R"({"key":"k","value":"a"})");
  Ok(Op::kSet, R"({"key":"k","value":"b","if":"present"})");
  EXPECT_EQ(Ok(Op::kGet, R"({"key":"k"})"), R"({"exists":true,"value":"b"})");
}

TEST_F(ConditionTest, CompareAndSetOnTheRevision) {
  const int64_t r1 = RevisionOf(Op::kSet, R"({"key":"k","value":"1"})");
  const int64_t r2 = RevisionOf(
      Op::kSet, absl::StrCat(R"({"key":"k","value":"2","revision":)", r1, "}"));
  EXPECT_GT(r2, r1);
  // The stale revision loses, and learns the current one.
  const std::string body =
      Refused(Op::kSet, absl::StrCat(R"({"key":"k","value":"3","revision":)", r1, "}"));
  EXPECT_TRUE(absl::EndsWith(body, Body412(r2))) << body;
  EXPECT_EQ(Ok(Op::kGet, R"({"key":"k"})"), R"({"exists":true,"value":"2"})");
}

TEST_F(ConditionTest, DelWithTheRevision) {
  const int64_t rev = RevisionOf(Op::kSet, R"({"key":"lock","value":"me"})");
  Refused(Op::kDel, absl::StrCat(R"({"key":"lock","revision":)", rev + 1, "}"));
  Refused(Op::kDel, R"({"key":"lock","revision":0})");
  EXPECT_EQ(Ok(Op::kDel, absl::StrCat(R"({"key":"lock","revision":)", rev, "}")),
            R"({"deleted":true})");
  // A key that does not exist has revision 0.
  EXPECT_EQ(Ok(Op::kDel, R"({"key":"lock","revision":0})"), R"({"deleted":false})");
  Refused(Op::kDel, absl::StrCat(R"({"key":"lock","revision":)", rev, "}"));
}

// Conditions look at a key of any type; the write's own type check follows.
TEST_F(ConditionTest, ConditionsApplyToEveryTypeThenTheTypeCheck) {
  const int64_t rev = RevisionOf(Op::kPush, R"({"key":"l","value":"x"})");
  Refused(Op::kSet, R"({"key":"l","value":"v","if":"absent"})");
  auto wrong = Call(Op::kSet, R"({"key":"l","value":"v","if":"present"})");
  EXPECT_EQ(ErrorCode(wrong.status()), 409) << wrong.status();
  EXPECT_EQ(ErrorBody(409, "m", wrong.status()),
            R"({"error":{"code":409,"message":"m"}})");
  EXPECT_EQ(Ok(Op::kDel, absl::StrCat(R"({"key":"l","revision":)", rev, "}")),
            R"({"deleted":true})");
}

TEST_F(ConditionTest, BothConditionsAre400) {
  const std::string long_key(2000, 'k');
  auto too_long = Call(Op::kSet, absl::StrCat(R"({"key":")", long_key,
                                              R"(","value":"v","if":"present"})"));
  EXPECT_EQ(ErrorCode(too_long.status()), 400) << too_long.status();
  auto both = Call(Op::kSet, R"({"key":"k","value":"v","if":"absent","revision":0})");
  EXPECT_EQ(ErrorCode(both.status()), 400);
  EXPECT_NE(both.status().message().find("'if' and 'revision'"), std::string::npos);
}

TEST_F(HandleTest, PopTakesOneItemAtATime) {
  for (const char* v : {"a", "b", "a", "c"}) {
    Ok(Op::kPush, absl::StrCat(R"({"key":"q","value":")", v, R"("})"));
  }
  EXPECT_EQ(Ok(Op::kPop, R"({"key":"q"})"), R"({"exists":true,"value":"a"})");
  EXPECT_EQ(Ok(Op::kPop, R"({"key":"q","end":"right"})"),
            R"({"exists":true,"value":"c"})");
  EXPECT_EQ(Ok(Op::kRange, R"({"key":"q","start":0,"stop":-1})"),
            R"({"values":["b","a"]})");
  EXPECT_GT(RevisionOf(Op::kPop, R"({"key":"q","end":"left"})"), 0);  // b
  EXPECT_EQ(Call(Op::kPop, R"({"key":"q","encoding":"base64"})").value_or(""),
            R"({"exists":true,"value":"YQ==","revision":0})");
  EXPECT_EQ(Call(Op::kPop, R"({"key":"q"})").value_or(""),
            R"({"exists":false,"value":"","revision":0})");
  Ok(Op::kSet, R"({"key":"str","value":"v"})");
  EXPECT_EQ(ErrorCode(Call(Op::kPop, R"({"key":"str"})").status()), 409);
  EXPECT_EQ(ErrorCode(Call(Op::kPop, R"({"key":"q","end":"up"})").status()), 400);
}

// A page of every type as notifications state it, and the vector it was read
// at (the rule's position).
TEST_F(HandleTest, WatchPagesKeysWithTheirStateAndThePosition) {
  Ok(Op::kSet, R"({"key":"u.a","value":"x"})");
  Ok(Op::kAdd, R"({"key":"u.n","value":7})");
  Ok(Op::kPush, R"({"key":"u.l","value":"i"})");
  Ok(Op::kSetAdd, R"({"key":"u.s","value":"m"})");
  Ok(Op::kSet, R"({"key":"v","value":"y"})");
  Ok(Op::kSet, R"({"key":"u.gone","value":"y"})");
  Ok(Op::kDel, R"({"key":"u.gone"})");
  const std::string position = absl::StrFormat("%016x:7", replica_->node());
  auto first = Call(Op::kWatch, R"({"prefix":"u.","limit":2})");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string rev_a = absl::StrCat(
      replica_->Read([](const store::Store& s) { return s.Revision("u.a"); }));
  EXPECT_EQ(*first,
            absl::StrCat(
                R"({"entries":[{"key":"u.a","revision":)", rev_a,
                R"(,"type":"string","value":"x"},{"key":"u.l",)", R"("revision":)",
                replica_->Read([](const store::Store& s) { return s.Revision("u.l"); }),
                R"(,"type":"list","length":1}],"cursor":"u.l",)", R"("position":")",
                position, R"("})"));
  auto rest = Call(Op::kWatch, R"({"prefix":"u.","cursor":"u.l"})");
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_TRUE(absl::StrContains(*rest, R"("key":"u.n")")) << *rest;
  EXPECT_TRUE(absl::StrContains(*rest, R"("type":"counter","value":7})")) << *rest;
  EXPECT_TRUE(absl::StrContains(*rest, R"("type":"set","size":1})")) << *rest;
  EXPECT_FALSE(absl::StrContains(*rest, "cursor")) << *rest;
  EXPECT_FALSE(absl::StrContains(*rest, "u.gone")) << *rest;
  EXPECT_FALSE(absl::StrContains(*rest, R"("key":"v")")) << *rest;
  EXPECT_EQ(ErrorCode(Call(Op::kWatch, R"({"limit":0})").status()), 400);
  EXPECT_EQ(ErrorCode(Call(Op::kWatch, R"({"limit":10001})").status()), 413);
}

// The reply stays within the reply budget: the page ends early (its cursor
// goes on), and a value alone over it is cut rather than refused.
TEST_F(HandleTest, WatchPagesStayWithinTheReplyBudget) {
  store::Limits limits;
  limits.max_reply_bytes = 4096;
  limits.max_key_bytes = 64;
  Start(limits);
  for (int i = 0; i < 10; ++i) {
    Ok(Op::kSet, absl::StrCat(R"({"key":"k)", i, R"(","value":")",
                              std::string(1000, 'a' + i), R"("})"));
  }
  std::string quotes;  // 3,000 '"' in JSON: twice that in a reply
  for (int i = 0; i < 3000; ++i) quotes += "\\\"";
  Ok(Op::kSet, absl::StrCat(R"({"key":"z","value":")", quotes, "\"}"));
  auto page = Call(Op::kWatch, "{}");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_LE(page->size(), 4096u);
  EXPECT_TRUE(absl::StrContains(*page, R"("cursor":"k2")")) << page->size();
  auto big = Call(Op::kWatch, R"({"cursor":"k9"})");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_LE(big->size(), 4096u);
  EXPECT_TRUE(absl::StrContains(*big, R"("truncated":true)")) << *big;
  EXPECT_TRUE(absl::StrContains(*big, R"("cursor":"z")")) << *big;
}

}  // namespace
}  // namespace kv::service
