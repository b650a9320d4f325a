#include "kv/codec/ops.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kv::codec {
namespace {

std::vector<OpSpec> MakeTable() {
  constexpr bool kRequired = true;
  constexpr bool kOptional = false;
  const FieldSpec key = {"key", FieldType::kKey, kRequired};
  const FieldSpec value = {"value", FieldType::kString, kRequired};
  // Conditions (412 when they fail; "if" and "revision" exclude each other).
  const FieldSpec if_state = {"if", FieldType::kChoice, kOptional, "absent|present"};
  const FieldSpec revision = {"revision", FieldType::kRevision, kOptional};
  using T = FieldType;
  using R = ReplyShape;
  return {
      {Op::kGet,
       "get",
       "the value of a key (a counter in decimal)",
       {key},
       R::kGet,
       "",
       R"({"key":"a"})"},
      {Op::kSet,
       "set",
       "sets a string value, optionally expiring",
       {key, value, {"expires", T::kSeconds, kOptional}, if_state, revision},
       R::kOk,
       "",
       R"({"key":"a","value":"hello"})"},
      {Op::kDel,
       "del",
       "deletes a key; true if it existed",
       {key, revision},
       R::kBool,
       "deleted",
       R"({"key":"a"})"},
      {Op::kExists,
       "exists",
       "true if the key exists",
       {key},
       R::kBool,
       "exists",
       R"({"key":"a"})"},
      {Op::kAdd,
       "add",
       "adds to a counter (created at 0); new value",
       {key, {"value", T::kInt, kRequired}, {"expires", T::kSeconds, kOptional}},
       R::kInt,
       "value",
       R"({"key":"hits","value":1})"},
      {Op::kPush,
       "push",
       "appends to a list; new length",
       {key, value, {"expires", T::kSeconds, kOptional}},
       R::kInt,
       "length",
       R"({"key":"l","value":"x"})"},
      {Op::kRange,
       "range",
       "list items start..stop; -1 is the last",
       {key, {"start", T::kInt, kRequired}, {"stop", T::kInt, kRequired}},
       R::kValues,
       "values",
       R"({"key":"l","start":0,"stop":-1})"},
      {Op::kListDel,
       "list_del",
       "removes equal items from a list; new length",
       {key, value},
       R::kInt,
       "length",
       R"({"key":"l","value":"x"})"},
      {Op::kClear,
       "clear",
       "deletes a list; true if it existed",
       {key},
       R::kBool,
       "deleted",
       R"({"key":"l"})"},
      {Op::kSetAdd,
       "set_add",
       "adds a member to a set; new size",
       {key, value, {"expires", T::kSeconds, kOptional}},
       R::kInt,
       "size",
       R"({"key":"s","value":"x"})"},
      {Op::kSetRemove,
       "set_remove",
       "removes a member from a set; new size",
       {key, value},
       R::kInt,
       "size",
       R"({"key":"s","value":"x"})"},
      {Op::kSetQuery,
       "set_query",
       "members of a set, sorted",
       {key},
       R::kValues,
       "values",
       R"({"key":"s"})"},
      {Op::kSetUnion,
       "set_union",
       "union of the sets, sorted",
       {{"keys", T::kKeyList, kRequired}},
       R::kValues,
       "values",
       R"({"keys":["s","t"]})"},
      {Op::kSetIntersection,
       "set_intersection",
       "intersection of the sets, sorted",
       {{"keys", T::kKeyList, kRequired}},
       R::kValues,
       "values",
       R"({"keys":["s","t"]})"},
      {Op::kKeys,
       "keys",
       "keys (with a prefix) in byte order, paged",
       {{"prefix", T::kString, kOptional},
        {"limit", T::kPositiveInt, kOptional},
        {"cursor", T::kString, kOptional}},
       R::kKeys,
       "keys",
       R"({"prefix":"user:"})"},
      // Batches: keep this block together (issue 11).
      {Op::kMget,
       "mget",
       "values of several keys, in request order",
       {{"keys", T::kKeyList, kRequired}},
       R::kMget,
       "entries",
       R"({"keys":["a","b"]})"},
      {Op::kMset,
       "mset",
       "sets several string values at once (all or nothing)",
       {{"entries", T::kEntries, kRequired}},
       R::kOkCount,
       "count",
       R"({"entries":[{"key":"a","value":"x"},{"key":"b","value":"y"}]})"},
      {Op::kMdel,
       "mdel",
       "deletes several keys; how many existed",
       {{"keys", T::kKeyList, kRequired}},
       R::kInt,
       "deleted",
       R"({"keys":["a","b"]})"},
      {Op::kTtl,
       "ttl",
       "the key's remaining time to live in seconds (-1: none)",
       {key},
       R::kTtl,
       "ttl",
       R"({"key":"a"})"},
      {Op::kExpire,
       "expire",
       "sets the key's time to live; false when there is no such key",
       {key, {"expires", T::kSeconds, kRequired}},
       R::kBool,
       "updated",
       R"({"key":"a","expires":30})"},
      {Op::kPersist,
       "persist",
       "removes the key's time to live; false when it had none or does not exist",
       {key},
       R::kBool,
       "updated",
       R"({"key":"a"})"},
      {Op::kPop,
       "pop",
       "removes and returns one list item from an end (left: the oldest)",
       {key, {"end", T::kChoice, kOptional, "left|right"}},
       R::kGet,
       "",
       R"({"key":"l"})"},
      {Op::kWatch,
       "watch",
       "a consistent page of the keys (with a prefix) as change notifications "
       "show them, and the position to merge notifications from",
       {{"prefix", T::kString, kOptional},
        {"limit", T::kPositiveInt, kOptional},
        {"cursor", T::kString, kOptional}},
       R::kWatch,
       "entries",
       R"({"prefix":"user."})"},
  };
}

// How RequestDoc marks a field's type; strings and keys go unmarked.
absl::string_view TypeDoc(FieldType type) {
  switch (type) {
    case FieldType::kInt:
      return ": int";
    case FieldType::kSeconds:
      return ": seconds";
    case FieldType::kKeyList:
      return ": [..]";
    case FieldType::kEntries:
      return ": [{\"key\", \"value\", \"expires\"?}..]";
    case FieldType::kRevision:
      return ": int";
    case FieldType::kChoice:  // RequestDoc lists the choices
    case FieldType::kKey:
    case FieldType::kString:
    case FieldType::kPositiveInt:
      break;
  }
  return "";
}

}  // namespace

const std::vector<OpSpec>& OpTable() {
  static const auto* table = new std::vector<OpSpec>(MakeTable());
  return *table;
}

const OpSpec& SpecOf(Op op) { return OpTable()[static_cast<size_t>(op)]; }

const OpSpec* FindSpec(absl::string_view name) {
  for (const OpSpec& spec : OpTable()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

const FieldSpec* FindField(const OpSpec& spec, absl::string_view name) {
  for (const FieldSpec& field : spec.fields) {
    if (field.name == name) return &field;
  }
  return nullptr;
}

std::string RequestDoc(const OpSpec& spec) {
  std::vector<std::string> parts;
  for (const FieldSpec& f : spec.fields) {
    std::string type(TypeDoc(f.type));
    if (f.type == FieldType::kChoice) {
      type = absl::StrCat(": \"", absl::StrJoin(absl::StrSplit(f.choices, '|'), "\"|\""),
                          "\"");
    }
    parts.push_back(absl::StrCat("\"", f.name, "\"", f.required ? "" : "?", type));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

bool CarriesRevision(Op op) {
  switch (op) {
    case Op::kGet:
    case Op::kSet:
    case Op::kDel:
    case Op::kAdd:
    case Op::kPush:
    case Op::kListDel:
    case Op::kClear:
    case Op::kSetAdd:
    case Op::kSetRemove:
    case Op::kExpire:
    case Op::kPersist:
    case Op::kPop:
      return true;
    default:
      return false;
  }
}

namespace {

std::string ShapeDoc(const OpSpec& spec) {
  switch (spec.reply) {
    case ReplyShape::kGet:
      return "{\"exists\": bool, \"value\": string}";
    case ReplyShape::kOk:
      return "{\"ok\": true}";
    case ReplyShape::kBool:
      return absl::StrCat("{\"", spec.reply_field, "\": bool}");
    case ReplyShape::kInt:
      return absl::StrCat("{\"", spec.reply_field, "\": int}");
    case ReplyShape::kValues:
      return absl::StrCat("{\"", spec.reply_field, "\": [..]}");
    case ReplyShape::kKeys:
      return "{\"keys\": [..], \"cursor\"?: string} (pass \"cursor\" back for the "
             "next page)";
    case ReplyShape::kMget:
      return "{\"entries\": [{\"key\", \"exists\": bool, \"value\"?: string, "
             "\"type\"?: string}..]} (in request order; \"type\" for a list or set)";
    case ReplyShape::kOkCount:
      return absl::StrCat("{\"ok\": true, \"", spec.reply_field, "\": int}");
    case ReplyShape::kTtl:
      return "{\"exists\": bool, \"ttl\": seconds} (-1 when the key has none)";
    case ReplyShape::kWatch:
      return "{\"entries\": [{\"key\", \"type\", \"revision\": int, \"value\"?|"
             "\"length\"?|\"size\"?}..], \"cursor\"?: string, \"position\": string}";
  }
  return "";
}

}  // namespace

std::string ReplyDoc(const OpSpec& spec) {
  std::string doc = ShapeDoc(spec);
  if (!CarriesRevision(spec.op)) return doc;
  const size_t close = doc.find('}');
  doc.insert(close, ", \"revision\": int");
  return doc;
}

const std::vector<Op>& AllOps() {
  static const auto* ops = [] {
    auto* v = new std::vector<Op>;
    for (const OpSpec& spec : OpTable()) v->push_back(spec.op);
    return v;
  }();
  return *ops;
}

absl::string_view OpName(Op op) { return SpecOf(op).name; }

std::optional<Op> OpFromName(absl::string_view name) {
  const OpSpec* spec = FindSpec(name);
  if (spec == nullptr) return std::nullopt;
  return spec->op;
}

}  // namespace kv::codec
