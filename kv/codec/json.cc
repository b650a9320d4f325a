#include "kv/codec/json.h"

#include <array>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace kv::codec {
namespace {

// Fields each op accepts, and which of them are required.
struct Field {
  const char* name;
  bool required;
};
struct OpSpec {
  Op op;
  const char* name;
  std::vector<Field> fields;
};

const std::vector<OpSpec>& Specs() {
  static const auto* specs = new std::vector<OpSpec>{
      {Op::kGet, "get", {{"key", true}}},
      {Op::kSet, "set", {{"key", true}, {"value", true}, {"expires", false}}},
      {Op::kDel, "del", {{"key", true}}},
      {Op::kExists, "exists", {{"key", true}}},
      {Op::kAdd, "add", {{"key", true}, {"value", true}}},
      {Op::kPush, "push", {{"key", true}, {"value", true}}},
      {Op::kRange, "range", {{"key", true}, {"start", true}, {"stop", true}}},
      {Op::kListDel, "list_del", {{"key", true}, {"value", true}}},
      {Op::kClear, "clear", {{"key", true}}},
      {Op::kSetAdd, "set_add", {{"key", true}, {"value", true}}},
      {Op::kSetRemove, "set_remove", {{"key", true}, {"value", true}}},
      {Op::kSetQuery, "set_query", {{"key", true}}},
      {Op::kSetUnion, "set_union", {{"keys", true}}},
      {Op::kSetIntersection, "set_intersection", {{"keys", true}}},
      {Op::kKeys, "keys", {{"prefix", false}, {"limit", false}, {"cursor", false}}},
  };
  return *specs;
}

const OpSpec& SpecOf(Op op) { return Specs()[static_cast<size_t>(op)]; }

absl::string_view View(const rapidjson::Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

absl::Status FieldError(absl::string_view field, absl::string_view accepted) {
  return absl::InvalidArgumentError(
      absl::StrCat("field '", field, "' must be ", accepted));
}

// Reads member `name` of `obj` into `out`, checking its type.
absl::Status ReadString(const rapidjson::Value& v, absl::string_view name,
                        bool non_empty, std::string* out) {
  if (!v.IsString() || (non_empty && v.GetStringLength() == 0)) {
    return FieldError(name, non_empty ? "a non-empty string" : "a string");
  }
  out->assign(v.GetString(), v.GetStringLength());
  return absl::OkStatus();
}

absl::Status ReadInt(const rapidjson::Value& v, absl::string_view name,
                     int64_t* out) {
  if (!v.IsInt64()) {
    // Accept 5.0 but not 5.5 or 1e300.
    if (v.IsDouble()) {
      const double d = v.GetDouble();
      if (std::trunc(d) == d && d >= -9.2e18 && d <= 9.2e18) {
        *out = static_cast<int64_t>(d);
        return absl::OkStatus();
      }
    }
    return FieldError(name, "an integer between -2^63 and 2^63-1");
  }
  *out = v.GetInt64();
  return absl::OkStatus();
}

template <typename Writer>
void String(Writer& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

class Json {
 public:
  Json() : w_(buf_) { w_.StartObject(); }
  Json& Key(absl::string_view k) {
    String(w_, k);
    return *this;
  }
  rapidjson::Writer<rapidjson::StringBuffer>& w() { return w_; }
  std::string Done() {
    w_.EndObject();
    return std::string(buf_.GetString(), buf_.GetSize());
  }

 private:
  rapidjson::StringBuffer buf_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

}  // namespace

const std::vector<Op>& AllOps() {
  static const auto* ops = [] {
    auto* v = new std::vector<Op>;
    for (const OpSpec& s : Specs()) v->push_back(s.op);
    return v;
  }();
  return *ops;
}

absl::string_view OpName(Op op) { return SpecOf(op).name; }

std::optional<Op> OpFromName(absl::string_view name) {
  for (const OpSpec& s : Specs()) {
    if (name == s.name) return s.op;
  }
  return std::nullopt;
}

absl::StatusOr<ApiRequest> ParseRequest(Op op, absl::string_view body,
                                        size_t max_keys) {
  const OpSpec& spec = SpecOf(op);
  std::vector<std::string> names;
  for (const Field& f : spec.fields) names.push_back(f.name);
  const std::string accepted = absl::StrJoin(names, ", ");

  rapidjson::Document doc;
  // Iterative parsing: no recursion, so no nesting depth can exhaust the stack.
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(
      body.data(), body.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "body is not valid JSON (", rapidjson::GetParseError_En(doc.GetParseError()),
        " at offset ", doc.GetErrorOffset(), "); expected an object with ",
        accepted));
  }
  if (!doc.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body must be a JSON object with ", accepted));
  }
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    bool known = false;
    for (const Field& f : spec.fields) known |= View(m->name) == f.name;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field '", View(m->name), "' for ", spec.name, "; accepted: ",
          accepted));
    }
  }
  for (const Field& f : spec.fields) {
    if (f.required && !doc.HasMember(f.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", f.name, "' is required for ", spec.name));
    }
  }

  ApiRequest r;
  absl::Status s;
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd() && s.ok(); ++m) {
    const absl::string_view name = View(m->name);
    const rapidjson::Value& v = m->value;
    if (name == "key") {
      s = ReadString(v, name, true, &r.key);
    } else if (name == "value") {
      s = op == Op::kAdd ? ReadInt(v, name, &r.delta)
                         : ReadString(v, name, false, &r.value);
    } else if (name == "expires") {
      if (!v.IsNumber() || !(v.GetDouble() > 0)) {
        s = FieldError(name, "a positive number of seconds");
      } else {
        r.expires = v.GetDouble();
      }
    } else if (name == "start") {
      s = ReadInt(v, name, &r.start);
    } else if (name == "stop") {
      s = ReadInt(v, name, &r.stop);
    } else if (name == "keys") {
      if (!v.IsArray()) {
        s = FieldError(name, "an array of non-empty strings");
      } else if (v.Size() > max_keys) {
        s = absl::OutOfRangeError(absl::StrCat(
            "field 'keys' must list at most ", max_keys, " keys"));
      } else {
        for (const auto& k : v.GetArray()) {
          if (!k.IsString() || k.GetStringLength() == 0) {
            s = FieldError(name, "an array of non-empty strings");
            break;
          }
          r.keys.emplace_back(k.GetString(), k.GetStringLength());
        }
      }
    } else if (name == "prefix") {
      s = ReadString(v, name, false, &r.prefix);
    } else if (name == "cursor") {
      s = ReadString(v, name, false, &r.cursor);
    } else if (name == "limit") {
      if (!v.IsUint64() || v.GetUint64() == 0) {
        s = FieldError(name, "a positive integer");
      } else {
        r.limit = v.GetUint64();
      }
    }
  }
  if (!s.ok()) return s;
  return r;
}

std::string GetReply(const std::optional<std::string>& value) {
  Json j;
  j.Key("exists").w().Bool(value.has_value());
  j.Key("value");
  String(j.w(), value.has_value() ? *value : "");
  return j.Done();
}

std::string OkReply() {
  Json j;
  j.Key("ok").w().Bool(true);
  return j.Done();
}

std::string BoolReply(absl::string_view field, bool value) {
  Json j;
  j.Key(field).w().Bool(value);
  return j.Done();
}

std::string IntReply(absl::string_view field, int64_t value) {
  Json j;
  j.Key(field).w().Int64(value);
  return j.Done();
}

std::string ValuesReply(absl::string_view field,
                        const std::vector<std::string>& values) {
  Json j;
  j.Key(field).w().StartArray();
  for (const std::string& v : values) String(j.w(), v);
  j.w().EndArray();
  return j.Done();
}

std::string KeysReply(const std::vector<std::string>& keys,
                      absl::string_view cursor) {
  Json j;
  j.Key("keys").w().StartArray();
  for (const std::string& k : keys) String(j.w(), k);
  j.w().EndArray();
  if (!cursor.empty()) {
    j.Key("cursor");
    String(j.w(), cursor);
  }
  return j.Done();
}

std::string ErrorReply(int code, absl::string_view message) {
  Json j;
  j.Key("error").w().StartObject();
  j.Key("code").w().Int(code);
  j.Key("message");
  String(j.w(), message);
  j.w().EndObject();
  return j.Done();
}

}  // namespace kv::codec
