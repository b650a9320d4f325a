#include "kv/codec/json.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace kv::codec {
namespace {

TEST(Json, OpNamesRoundTrip) {
  ASSERT_EQ(AllOps().size(), 23u);
  for (Op op : AllOps()) EXPECT_EQ(OpFromName(OpName(op)), op);
  EXPECT_EQ(OpFromName("nope"), std::nullopt);
  EXPECT_EQ(OpName(Op::kSetIntersection), "set_intersection");
}

TEST(Json, ParsesEveryField) {
  auto set = ParseRequest(Op::kSet, R"({"key":"k","value":"v\u0000w","expires":1.5})", 8);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->key, "k");
  EXPECT_EQ(set->value, std::string("v\0w", 3));
  EXPECT_EQ(set->expires, 1.5);

  auto add = ParseRequest(Op::kAdd, R"({"key":"c","value":-7})", 8);
  ASSERT_TRUE(add.ok());
  EXPECT_EQ(add->delta, -7);

  auto range = ParseRequest(Op::kRange, R"({"key":"l","start":0,"stop":-1})", 8);
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->start, 0);
  EXPECT_EQ(range->stop, -1);

  auto uni = ParseRequest(Op::kSetUnion, R"({"keys":["a","b"]})", 8);
  ASSERT_TRUE(uni.ok());
  EXPECT_EQ(uni->keys, (std::vector<std::string>{"a", "b"}));

  auto keys = ParseRequest(Op::kKeys, "{}", 8);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->limit, 0u);
  auto page = ParseRequest(Op::kKeys, R"({"prefix":"p:","limit":10,"cursor":"p:9"})", 8);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->prefix, "p:");
  EXPECT_EQ(page->limit, 10u);
  EXPECT_EQ(page->cursor, "p:9");
}

// Each bad body is rejected with a message that names the field or the problem.
TEST(Json, RejectsBadRequestsNamingTheField) {
  struct Case {
    Op op;
    const char* body;
    const char* says;
  };
  const Case cases[] = {
      {Op::kGet, "", "not valid JSON"},
      {Op::kGet, "[1]", "must be a JSON object"},
      {Op::kGet, "{}", "field 'key' is required"},
      {Op::kGet, R"({"key":""})", "field 'key' must be a non-empty string"},
      {Op::kGet, R"({"key":1})", "field 'key' must be a non-empty string"},
      {Op::kGet, R"({"key":"a","extra":1})", "unknown field 'extra'"},
      {Op::kSet, R"({"key":"a"})", "field 'value' is required"},
      {Op::kSet, R"({"key":"a","value":5})", "field 'value' must be a string"},
      {Op::kSet, R"({"key":"a","value":"v","expires":0})", "field 'expires'"},
      {Op::kSet, R"({"key":"a","value":"v","expires":"5"})", "field 'expires'"},
      {Op::kAdd, R"({"key":"a","value":"5"})", "field 'value' must be an integer"},
      {Op::kAdd, R"({"key":"a","value":1.5})", "field 'value' must be an integer"},
      {Op::kAdd, R"({"key":"a","value":1e300})", "field 'value' must be an integer"},
      {Op::kRange, R"({"key":"a","start":0})", "field 'stop' is required"},
      {Op::kSetUnion, R"({"keys":"a"})", "field 'keys' must be an array"},
      {Op::kSetUnion, R"({"keys":["a",2]})", "field 'keys' must be an array"},
      {Op::kKeys, R"({"limit":-1})", "field 'limit' must be a positive integer"},
      {Op::kGet, "{\"key\":\"\xff\"}", "not valid JSON"},
      // Escapes that decode to a lone surrogate are not UTF-8 either.
      {Op::kSet, R"({"key":"a","value":"\udc00"})", "field 'value' must be valid UTF-8"},
      {Op::kSet, R"({"key":"\ud800x","value":"v"})", "not valid JSON"},
      {Op::kGet, R"({"key":"a\udfff"})", "field 'key' must be valid UTF-8"},
      {Op::kSetUnion, R"({"keys":["a","\udc00"]})", "field 'keys' must be valid UTF-8"},
  };
  for (const Case& c : cases) {
    auto r = ParseRequest(c.op, c.body, 8);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos)
        << c.body << " -> " << r.status().message();
  }
  auto many = ParseRequest(Op::kSetUnion, R"({"keys":["a","b","c"]})", 2);
  EXPECT_EQ(many.status().code(), absl::StatusCode::kOutOfRange);
}

TEST(Json, ParsesBatches) {
  auto mset = ParseRequest(
      Op::kMset,
      R"({"entries":[{"key":"a","value":"x"},{"expires":2,"value":"","key":"b"}]})", 8);
  ASSERT_TRUE(mset.ok()) << mset.status();
  ASSERT_EQ(mset->entries.size(), 2u);
  EXPECT_EQ(mset->entries[0].key, "a");
  EXPECT_EQ(mset->entries[0].value, "x");
  EXPECT_EQ(mset->entries[0].expires, std::nullopt);
  EXPECT_EQ(mset->entries[1].key, "b");
  EXPECT_EQ(mset->entries[1].expires, 2.0);
  auto mget = ParseRequest(Op::kMget, R"({"keys":["a","a"]})", 8);
  ASSERT_TRUE(mget.ok());
  EXPECT_EQ(mget->keys, (std::vector<std::string>{"a", "a"}));

  const std::pair<const char*, const char*> bad[] = {
      {R"({"entries":{}})", "field 'entries' must be an array of objects"},
      {R"({"entries":[1]})", "field 'entries[0]' must be an array of objects"},
      {R"({"entries":[{"key":"a"}]})", "field 'entries[0].value' is required"},
      {R"({"entries":[{"value":"a"}]})", "field 'entries[0].key' is required"},
      {R"({"entries":[{"key":"","value":"a"}]})", "field 'entries[0].key' must be"},
      {R"({"entries":[{"key":"a","value":1}]})", "field 'entries[0].value' must be"},
      {R"({"entries":[{"key":"a","value":"x","expires":0}]})",
       "field 'entries[0].expires' must be a positive number"},
      {R"({"entries":[{"key":"a","value":"x","ttl":1}]})",
       "unknown field 'entries[0].ttl'"},
  };
  for (const auto& [body, says] : bad) {
    auto r = ParseRequest(Op::kMset, body, 8);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_NE(r.status().message().find(says), std::string::npos)
        << body << " -> " << r.status().message();
  }
  auto many = ParseRequest(
      Op::kMset, R"({"entries":[{"key":"a","value":""},{"key":"b","value":""}]})", 1);
  EXPECT_EQ(many.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(many.status().message().find("at most 1 entries"), std::string::npos);
}

TEST(Json, Base64ValuesAreDecodedWhereverTheEncodingSaysSo) {
  auto set =
      ParseRequest(Op::kSet, R"({"value":"AP8=","key":"k","encoding":"base64"})", 8);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->base64);
  EXPECT_EQ(set->key, "k");  // keys stay text
  EXPECT_EQ(set->value, std::string("\0\xff", 2));
  auto mset = ParseRequest(
      Op::kMset, R"({"encoding":"base64","entries":[{"key":"k","value":"aGk="}]})", 8);
  ASSERT_TRUE(mset.ok()) << mset.status();
  EXPECT_EQ(mset->entries[0].value, "hi");
  auto text =
      ParseRequest(Op::kSet, R"({"key":"k","value":"AP8=","encoding":"utf8"})", 8);
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->base64);
  EXPECT_EQ(text->value, "AP8=");
  // Any op takes it, even one without values.
  EXPECT_TRUE(ParseRequest(Op::kDel, R"({"key":"k","encoding":"base64"})", 8).ok());

  const std::pair<const char*, const char*> bad[] = {
      {R"({"key":"k","value":"AP8","encoding":"base64"})",
       "field 'value' must be base64"},
      {R"({"key":"k","value":"A P8=","encoding":"base64"})",
       "field 'value' must be base64"},
      {R"({"key":"k","value":"AP-_","encoding":"base64"})",
       "field 'value' must be base64"},
      {R"({"key":"k","value":"x","encoding":"hex"})", "field 'encoding' must be"},
      {R"({"key":"k","value":"x","encoding":1})", "field 'encoding' must be"},
  };
  for (const auto& [body, says] : bad) {
    auto r = ParseRequest(Op::kSet, body, 8);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_NE(r.status().message().find(says), std::string::npos)
        << body << " -> " << r.status().message();
  }
  auto entry = ParseRequest(
      Op::kMset, R"({"encoding":"base64","entries":[{"key":"k","value":"!"}]})", 8);
  EXPECT_NE(entry.status().message().find("field 'entries[0].value' must be base64"),
            std::string::npos)
      << entry.status();
}

TEST(Json, DeepNestingIsAnErrorNotACrash) {
  const std::string deep(1 << 20, '[');
  auto r = ParseRequest(Op::kGet, deep, 8);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_FALSE(ParseRequest(Op::kGet, objects, 8).ok());
}

TEST(Json, WritesCompactReplies) {
  EXPECT_EQ(GetReply(std::string("a\"b")), R"({"exists":true,"value":"a\"b"})");
  EXPECT_EQ(GetReply(std::nullopt), R"({"exists":false,"value":""})");
  EXPECT_EQ(OkReply(), R"({"ok":true})");
  EXPECT_EQ(WithRevision(OkReply(), 7), R"({"ok":true,"revision":7})");
  EXPECT_EQ(WithRevision("{}", 0), R"({"revision":0})");
  EXPECT_EQ(BoolReply("deleted", false), R"({"deleted":false})");
  EXPECT_EQ(IntReply("value", -3), R"({"value":-3})");
  EXPECT_EQ(ValuesReply("values", {"x", "y"}), R"({"values":["x","y"]})");
  EXPECT_EQ(KeysReply({"a"}, ""), R"({"keys":["a"]})");
  EXPECT_EQ(KeysReply({"a"}, "a"), R"({"keys":["a"],"cursor":"a"})");
  EXPECT_EQ(ErrorReply(400, "bad"), R"({"error":{"code":400,"message":"bad"}})");
  EXPECT_EQ(GetReply(std::string("\x01", 1)), R"({"exists":true,"value":"\u0001"})");
  EXPECT_EQ(MgetReply({{"a", true, "x", ""},
                       {"b", false, std::nullopt, ""},
                       {"l", true, std::nullopt, "list"}}),
            R"({"entries":[{"key":"a","exists":true,"value":"x"},)"
            R"({"key":"b","exists":false},{"key":"l","exists":true,"type":"list"}]})");
  EXPECT_EQ(OkCountReply("count", 2), R"({"ok":true,"count":2})");
}

TEST(Json, PairedSurrogatesAndAllOfUnicodeAreAccepted) {
  auto r =
      ParseRequest(Op::kSet, R"({"key":"\ud83d\ude00","value":"\u00e9\u4e2d\uffff"})", 8);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->key, "\xF0\x9F\x98\x80");
  EXPECT_EQ(r->value, "\xC3\xA9\xE4\xB8\xAD\xEF\xBF\xBF");
}

TEST(Json, UnknownFieldNamesAreShownCutAndEscaped) {
  const std::string name(100000, 'x');
  auto r = ParseRequest(Op::kGet, absl::StrCat(R"({"key":"a",")", name, R"(":1})"), 8);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 300u);
  EXPECT_NE(r.status().message().find("... (100000 bytes)"), std::string::npos);
  auto bin = ParseRequest(Op::kGet, "{\"key\":\"a\",\"\\u0001\\n\":1}", 8);
  ASSERT_FALSE(bin.ok());
  EXPECT_NE(bin.status().message().find("unknown field '\\x01\\n'"), std::string::npos)
      << bin.status().message();
}

TEST(Reply, ShapeAndFieldComeFromTheOperationTable) {
  EXPECT_EQ(Reply(Op::kSet, true), R"({"ok":true})");
  EXPECT_EQ(Reply(Op::kDel, false), R"({"deleted":false})");
  EXPECT_EQ(Reply(Op::kExists, true), R"({"exists":true})");
  EXPECT_EQ(Reply(Op::kClear, true), R"({"deleted":true})");
  EXPECT_EQ(Reply(Op::kAdd, int64_t{-7}), R"({"value":-7})");
  EXPECT_EQ(Reply(Op::kPush, int64_t{3}), R"({"length":3})");
  EXPECT_EQ(Reply(Op::kSetAdd, int64_t{2}), R"({"size":2})");
  EXPECT_EQ(Reply(Op::kSetQuery, std::vector<std::string>{"a", "b"}),
            R"({"values":["a","b"]})");
}

}  // namespace
}  // namespace kv::codec
