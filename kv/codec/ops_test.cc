#include "kv/codec/ops.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "kv/codec/json.h"

namespace kv::codec {
namespace {

constexpr size_t kMaxKeys = 8;

// A JSON value the parser accepts for `f`.
std::string GoodValue(const FieldSpec& f) {
  switch (f.type) {
    case FieldType::kKey:
      return "\"k\"";
    case FieldType::kString:
      return "\"\"";
    case FieldType::kInt:
      return "-3";
    case FieldType::kSeconds:
      return "1.5";
    case FieldType::kPositiveInt:
      return "10";
    case FieldType::kKeyList:
      return "[\"a\",\"b\"]";
    case FieldType::kEntries:
      return "[{\"key\":\"a\",\"value\":\"x\",\"expires\":2}]";
    case FieldType::kChoice:
      return absl::StrCat("\"", f.choices.substr(0, f.choices.find('|')), "\"");
    case FieldType::kRevision:
      return "0";
  }
  return "null";
}

// A JSON value the parser refuses for `f`.
std::string BadValue(const FieldSpec& f) {
  switch (f.type) {
    case FieldType::kKey:
      return "\"\"";
    case FieldType::kString:
      return "5";
    case FieldType::kInt:
      return "\"5\"";
    case FieldType::kSeconds:
      return "0";
    case FieldType::kPositiveInt:
      return "0";
    case FieldType::kKeyList:
      return "[\"a\",1]";
    case FieldType::kEntries:
      return "{}";
    case FieldType::kChoice:
      return "\"neither\"";
    case FieldType::kRevision:
      return "-1";
  }
  return "null";
}

// An object with every field of `spec` but `skip`, `bad` holding a bad value.
// Of "if" and "revision", which exclude each other, "if" (or `bad`).
std::string Body(const OpSpec& spec, absl::string_view skip = "",
                 absl::string_view bad = "") {
  const bool exclusive = FindField(spec, "if") != nullptr;
  std::vector<std::string> members;
  for (const FieldSpec& f : spec.fields) {
    if (f.name == skip) continue;
    if (exclusive && f.name == (bad == "revision" ? "if" : "revision")) continue;
    members.push_back(
        absl::StrCat("\"", f.name, "\":", f.name == bad ? BadValue(f) : GoodValue(f)));
  }
  return absl::StrCat("{", absl::StrJoin(members, ","), "}");
}

std::string Accepted(const OpSpec& spec) {
  std::vector<absl::string_view> names;
  for (const FieldSpec& f : spec.fields) names.push_back(f.name);
  names.push_back("encoding");
  return absl::StrJoin(names, ", ");
}

TEST(OpTable, RowsFollowTheEnumAndNamesAreUnique) {
  ASSERT_EQ(OpTable().size(), 23u);
  std::set<absl::string_view> names;
  for (size_t i = 0; i < OpTable().size(); ++i) {
    const OpSpec& spec = OpTable()[i];
    EXPECT_EQ(static_cast<size_t>(spec.op), i) << spec.name;
    EXPECT_EQ(&SpecOf(spec.op), &spec);
    EXPECT_EQ(FindSpec(spec.name), &spec);
    EXPECT_TRUE(names.insert(spec.name).second) << spec.name;
    EXPECT_FALSE(spec.summary.empty()) << spec.name;
    std::set<absl::string_view> fields;
    for (const FieldSpec& f : spec.fields) {
      EXPECT_TRUE(fields.insert(f.name).second) << spec.name << " " << f.name;
    }
  }
  EXPECT_EQ(FindSpec("nope"), nullptr);
  EXPECT_EQ(AllOps().size(), OpTable().size());
}

// The parser takes exactly the table's fields: every field (of its type) is
// accepted, each missing required field is named, any other field refused.
TEST(OpTable, ParserAgreesWithTheTable) {
  for (const OpSpec& spec : OpTable()) {
    SCOPED_TRACE(spec.name);
    auto example = ParseRequest(spec.op, spec.example, kMaxKeys);
    EXPECT_TRUE(example.ok()) << spec.example << ": " << example.status();
    auto full = ParseRequest(spec.op, Body(spec), kMaxKeys);
    EXPECT_TRUE(full.ok()) << Body(spec) << ": " << full.status();

    for (const FieldSpec& f : spec.fields) {
      auto without = ParseRequest(spec.op, Body(spec, f.name), kMaxKeys);
      if (f.required) {
        EXPECT_EQ(without.status(),
                  absl::InvalidArgumentError(
                      absl::StrCat("field '", f.name, "' is required for ", spec.name)));
      } else {
        EXPECT_TRUE(without.ok()) << f.name << ": " << without.status();
      }
      auto bad = ParseRequest(spec.op, Body(spec, "", f.name), kMaxKeys);
      EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << f.name;
      EXPECT_TRUE(absl::StartsWith(bad.status().message(),
                                   absl::StrCat("field '", f.name, "' must be ")))
          << bad.status();
    }

    std::string extra = Body(spec);
    extra.insert(extra.size() - 1, extra.size() > 2 ? ",\"zzz\":1" : "\"zzz\":1");
    EXPECT_EQ(
        ParseRequest(spec.op, extra, kMaxKeys).status(),
        absl::InvalidArgumentError(absl::StrCat("unknown field 'zzz' for ", spec.name,
                                                "; accepted: ", Accepted(spec))));
    // A field another op takes is unknown here.
    for (const OpSpec& other : OpTable()) {
      for (const FieldSpec& f : other.fields) {
        if (FindField(spec, f.name) != nullptr) continue;
        const std::string body = absl::StrCat("{\"", f.name, "\":", GoodValue(f), "}");
        EXPECT_TRUE(
            absl::StartsWith(ParseRequest(spec.op, body, kMaxKeys).status().message(),
                             absl::StrCat("unknown field '", f.name, "'")))
            << body;
      }
    }
  }
}

TEST(OpTable, DocsReadLikeTheApiTable) {
  EXPECT_EQ(RequestDoc(SpecOf(Op::kGet)), R"({"key"})");
  EXPECT_EQ(RequestDoc(SpecOf(Op::kSet)),
            R"({"key", "value", "expires"?: seconds, "if"?: "absent"|"present", )"
            R"("revision"?: int})");
  EXPECT_EQ(RequestDoc(SpecOf(Op::kDel)), R"({"key", "revision"?: int})");
  EXPECT_EQ(RequestDoc(SpecOf(Op::kPop)), R"({"key", "end"?: "left"|"right"})");
  EXPECT_EQ(ReplyDoc(SpecOf(Op::kPop)),
            R"({"exists": bool, "value": string, "revision": int})");
  EXPECT_EQ(RequestDoc(SpecOf(Op::kRange)), R"({"key", "start": int, "stop": int})");
  EXPECT_EQ(RequestDoc(SpecOf(Op::kSetUnion)), R"({"keys": [..]})");
  EXPECT_EQ(RequestDoc(SpecOf(Op::kKeys)), R"({"prefix"?, "limit"?, "cursor"?})");
  EXPECT_EQ(ReplyDoc(SpecOf(Op::kGet)),
            R"({"exists": bool, "value": string, "revision": int})");
  EXPECT_EQ(ReplyDoc(SpecOf(Op::kSet)), R"({"ok": true, "revision": int})");
  EXPECT_EQ(ReplyDoc(SpecOf(Op::kDel)), R"({"deleted": bool, "revision": int})");
  EXPECT_EQ(ReplyDoc(SpecOf(Op::kPush)), R"({"length": int, "revision": int})");
  EXPECT_EQ(ReplyDoc(SpecOf(Op::kSetQuery)), R"({"values": [..]})");
  EXPECT_EQ(RequestDoc(SpecOf(Op::kMset)),
            R"({"entries": [{"key", "value", "expires"?}..]})");
  EXPECT_EQ(ReplyDoc(SpecOf(Op::kMset)), R"({"ok": true, "count": int})");
  EXPECT_EQ(ReplyDoc(SpecOf(Op::kMdel)), R"({"deleted": int})");
}

}  // namespace
}  // namespace kv::codec
