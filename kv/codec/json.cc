#include "kv/codec/json.h"

#include <array>
#include <cmath>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace kv::codec {
namespace {

absl::string_view View(const rapidjson::Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

bool HasMember(const rapidjson::Value& obj, absl::string_view name) {
  for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m) {
    if (View(m->name) == name) return true;
  }
  return false;
}

constexpr char kValidUtf8[] =
    "valid UTF-8 (a lone surrogate escape such as \\udc00 is not)";

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..U+DFFF, which a
// lone "\udc00" escape decodes to), nothing above U+10FFFF.
bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// `s` as an error message quotes it: at most 64 bytes, C-escaped, with the full
// length when cut, so a message never echoes unbounded or binary input.
std::string Shown(absl::string_view s) {
  constexpr size_t kMax = 64;
  std::string shown = absl::CHexEscape(s.substr(0, kMax));
  if (s.size() > kMax) absl::StrAppend(&shown, "... (", s.size(), " bytes)");
  return shown;
}

absl::Status FieldError(absl::string_view field, absl::string_view accepted) {
  return absl::InvalidArgumentError(
      absl::StrCat("field '", field, "' must be ", accepted));
}

// Reads member `name` of `obj` into `out`, checking its type.
absl::Status ReadString(const rapidjson::Value& v, absl::string_view name, bool non_empty,
                        std::string* out) {
  if (!v.IsString() || (non_empty && v.GetStringLength() == 0)) {
    return FieldError(name, non_empty ? "a non-empty string" : "a string");
  }
  if (!ValidUtf8(View(v))) return FieldError(name, kValidUtf8);
  out->assign(v.GetString(), v.GetStringLength());
  return absl::OkStatus();
}

absl::Status ReadInt(const rapidjson::Value& v, absl::string_view name, int64_t* out) {
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

// Where a string or integer field of the table lands in ApiRequest; nullptr
// when ApiRequest has no place for it. "value" is the delta where it is an int.
std::string* StringSlot(absl::string_view name, ApiRequest* r) {
  if (name == "key") return &r->key;
  if (name == "value") return &r->value;
  if (name == "prefix") return &r->prefix;
  if (name == "cursor") return &r->cursor;
  return nullptr;
}

int64_t* IntSlot(absl::string_view name, ApiRequest* r) {
  if (name == "value") return &r->delta;
  if (name == "start") return &r->start;
  if (name == "stop") return &r->stop;
  return nullptr;
}

absl::Status NoSlot(absl::string_view name) {
  return absl::InternalError(absl::StrCat("no place for field '", name, "'"));
}

// Reads `v`, the value of field `f`, into `r` as the field's type demands.
absl::Status ReadField(const FieldSpec& f, const rapidjson::Value& v, size_t max_keys,
                       ApiRequest* r) {
  const absl::string_view name = f.name;
  switch (f.type) {
    case FieldType::kKey:
    case FieldType::kString: {
      std::string* out = StringSlot(name, r);
      if (out == nullptr) return NoSlot(name);
      return ReadString(v, name, f.type == FieldType::kKey, out);
    }
    case FieldType::kInt: {
      int64_t* out = IntSlot(name, r);
      if (out == nullptr) return NoSlot(name);
      return ReadInt(v, name, out);
    }
    case FieldType::kSeconds:
      if (!v.IsNumber() || !(v.GetDouble() > 0)) {
        return FieldError(name, "a positive number of seconds");
      }
      r->expires = v.GetDouble();
      return absl::OkStatus();
    case FieldType::kPositiveInt:
      if (!v.IsUint64() || v.GetUint64() == 0) {
        return FieldError(name, "a positive integer");
      }
      r->limit = v.GetUint64();
      return absl::OkStatus();
    case FieldType::kKeyList:
      if (!v.IsArray()) return FieldError(name, "an array of non-empty strings");
      if (v.Size() > max_keys) {
        return absl::OutOfRangeError(
            absl::StrCat("field '", name, "' must list at most ", max_keys, " keys"));
      }
      for (const auto& k : v.GetArray()) {
        if (!k.IsString() || k.GetStringLength() == 0) {
          return FieldError(name, "an array of non-empty strings");
        }
        if (!ValidUtf8(View(k))) return FieldError(name, kValidUtf8);
        r->keys.emplace_back(k.GetString(), k.GetStringLength());
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unknown field type");
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

absl::StatusOr<ApiRequest> ParseRequest(Op op, absl::string_view body, size_t max_keys) {
  const OpSpec& spec = SpecOf(op);
  std::vector<absl::string_view> names;
  for (const FieldSpec& f : spec.fields) names.push_back(f.name);
  const std::string accepted = absl::StrJoin(names, ", ");

  rapidjson::Document doc;
  // Iterative parsing: no recursion, so no nesting depth can exhaust the stack.
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(
      body.data(), body.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "body is not valid JSON (", rapidjson::GetParseError_En(doc.GetParseError()),
        " at offset ", doc.GetErrorOffset(), "); expected an object with ", accepted));
  }
  if (!doc.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body must be a JSON object with ", accepted));
  }
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    if (FindField(spec, View(m->name)) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field '", Shown(View(m->name)), "' for ", spec.name,
                       "; accepted: ", accepted));
    }
  }
  for (const FieldSpec& f : spec.fields) {
    if (f.required && !HasMember(doc, f.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", f.name, "' is required for ", spec.name));
    }
  }

  ApiRequest r;
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    const FieldSpec* f = FindField(spec, View(m->name));
    if (absl::Status s = ReadField(*f, m->value, max_keys, &r); !s.ok()) return s;
  }
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

std::string ValuesReply(absl::string_view field, const std::vector<std::string>& values) {
  Json j;
  j.Key(field).w().StartArray();
  for (const std::string& v : values) String(j.w(), v);
  j.w().EndArray();
  return j.Done();
}

std::string KeysReply(const std::vector<std::string>& keys, absl::string_view cursor) {
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

std::string Reply(Op op, bool result) {
  const OpSpec& spec = SpecOf(op);
  return spec.reply == ReplyShape::kOk ? OkReply() : BoolReply(spec.reply_field, result);
}

std::string Reply(Op op, int64_t result) {
  return IntReply(SpecOf(op).reply_field, result);
}

std::string Reply(Op op, const std::vector<std::string>& result) {
  return ValuesReply(SpecOf(op).reply_field, result);
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
