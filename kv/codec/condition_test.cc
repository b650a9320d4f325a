// Conditional requests: parsing of "if", "revision" and "end", the 400s, which
// requests are conditional, the check and the 412 it answers.
#include "kv/codec/condition.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kv/codec/encoding.h"
#include "kv/codec/json.h"

namespace kv::codec {
namespace {

ApiRequest Parse(Op op, absl::string_view body) {
  absl::StatusOr<ApiRequest> r = ParseRequest(op, body, 8);
  EXPECT_TRUE(r.ok()) << body << ": " << r.status();
  return r.ok() ? *r : ApiRequest{};
}

absl::Status ParseError(Op op, absl::string_view body) {
  return ParseRequest(op, body, 8).status();
}

TEST(Condition, FieldsAreParsed) {
  EXPECT_EQ(Parse(Op::kSet, R"({"key":"k","value":"v","if":"absent"})").if_state,
            "absent");
  EXPECT_EQ(Parse(Op::kSet, R"({"key":"k","value":"v","if":"present"})").if_state,
            "present");
  EXPECT_EQ(Parse(Op::kSet, R"({"key":"k","value":"v","revision":0})").revision, 0u);
  EXPECT_EQ(Parse(Op::kDel, R"({"key":"k","revision":18446744073709551615})").revision,
            18446744073709551615u);
  EXPECT_FALSE(Parse(Op::kDel, R"({"key":"k"})").revision.has_value());
  EXPECT_EQ(Parse(Op::kPop, R"({"key":"q"})").end, "");
  EXPECT_EQ(Parse(Op::kPop, R"({"key":"q","end":"right"})").end, "right");
  EXPECT_EQ(Parse(Op::kPop, R"({"key":"q","end":"left","encoding":"base64"})").end,
            "left");
}

TEST(Condition, BadFieldsAre400sNamingThem) {
  EXPECT_EQ(ParseError(Op::kSet, R"({"key":"k","value":"v","if":"maybe"})"),
            absl::InvalidArgumentError("field 'if' must be \"absent\" or \"present\""));
  EXPECT_EQ(ParseError(Op::kSet, R"({"key":"k","value":"v","if":1})").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseError(Op::kPop, R"({"key":"q","end":"middle"})"),
            absl::InvalidArgumentError("field 'end' must be \"left\" or \"right\""));
  for (const char* bad : {"-1", "1.5", "\"3\"", "null", "18446744073709551616"}) {
    const absl::Status s =
        ParseError(Op::kDel, absl::StrCat(R"({"key":"k","revision":)", bad, "}"));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message().rfind("field 'revision' must be ", 0), 0u) << s;
  }
  const absl::Status both =
      ParseError(Op::kSet, R"({"key":"k","value":"v","if":"absent","revision":0})");
  EXPECT_EQ(both.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(both.message().find("fields 'if' and 'revision' exclude each other"),
            std::string::npos)
      << both;
  // Only set takes "if"; pop takes no condition.
  EXPECT_EQ(ParseError(Op::kDel, R"({"key":"k","if":"absent"})").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseError(Op::kPop, R"({"key":"k","revision":1})").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseError(Op::kAdd, R"({"key":"k","value":1,"revision":1})").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Condition, IsConditional) {
  EXPECT_TRUE(IsConditional(Op::kSet,
                            Parse(Op::kSet, R"({"key":"k","value":"v","if":"absent"})")));
  EXPECT_TRUE(IsConditional(Op::kSet,
                            Parse(Op::kSet, R"({"key":"k","value":"v","revision":3})")));
  EXPECT_FALSE(IsConditional(Op::kSet, Parse(Op::kSet, R"({"key":"k","value":"v"})")));
  EXPECT_TRUE(IsConditional(Op::kDel, Parse(Op::kDel, R"({"key":"k","revision":0})")));
  EXPECT_FALSE(IsConditional(Op::kDel, Parse(Op::kDel, R"({"key":"k"})")));
  EXPECT_TRUE(IsConditional(Op::kPop, Parse(Op::kPop, R"({"key":"k"})")));
  EXPECT_FALSE(IsConditional(Op::kPush, Parse(Op::kPush, R"({"key":"k","value":"v"})")));
  EXPECT_FALSE(IsConditional(Op::kGet, Parse(Op::kGet, R"({"key":"k"})")));
}

TEST(Condition, CheckAgainstTheCurrentRevision) {
  const ApiRequest absent = Parse(Op::kSet, R"({"key":"k","value":"v","if":"absent"})");
  const ApiRequest present = Parse(Op::kSet, R"({"key":"k","value":"v","if":"present"})");
  const ApiRequest at7 = Parse(Op::kDel, R"({"key":"k","revision":7})");
  const ApiRequest at0 = Parse(Op::kSet, R"({"key":"k","value":"v","revision":0})");
  const ApiRequest none = Parse(Op::kSet, R"({"key":"k","value":"v"})");
  EXPECT_TRUE(CheckCondition(absent, 0).ok());
  EXPECT_TRUE(CheckCondition(present, 9).ok());
  EXPECT_TRUE(CheckCondition(at7, 7).ok());
  EXPECT_TRUE(CheckCondition(at0, 0).ok());
  EXPECT_TRUE(CheckCondition(none, 0).ok());
  EXPECT_TRUE(CheckCondition(none, 5).ok());

  struct Failing {
    const ApiRequest* r;
    uint64_t current;
  };
  for (const Failing& f : {Failing{&absent, 9}, Failing{&present, 0}, Failing{&at7, 8},
                           Failing{&at7, 0}, Failing{&at0, 3}}) {
    const absl::Status s = CheckCondition(*f.r, f.current);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_EQ(s.GetPayload(kApiCodePayload).value_or(absl::Cord()), "412");
    EXPECT_EQ(ErrorRevision(s), f.current);
    EXPECT_NE(s.message().find("key 'k'"), std::string::npos) << s;
  }
  EXPECT_EQ(ErrorRevision(absl::InvalidArgumentError("x")), std::nullopt);
}

TEST(Condition, ErrorBodyCarriesTheRevision) {
  EXPECT_EQ(ErrorReply(412, "no", 42),
            R"({"error":{"code":412,"message":"no","revision":42}})");
  EXPECT_EQ(ErrorReply(412, "no", 0),
            R"({"error":{"code":412,"message":"no","revision":0}})");
  EXPECT_EQ(ErrorReply(409, "no"), R"({"error":{"code":409,"message":"no"}})");
}

}  // namespace
}  // namespace kv::codec
