#include "kv/codec/json.h"

#include <array>
#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kv/codec/encoding.h"
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
  if (name == "if") return &r->if_state;
  if (name == "end") return &r->end;
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

// A "value" string of a base64 request, decoded in place.
absl::Status DecodeValue(absl::string_view name, bool base64, std::string* value) {
  if (!base64 || !absl::EndsWith(name, "value")) return absl::OkStatus();
  absl::StatusOr<std::string> decoded = DecodeBase64(name, *value);
  if (!decoded.ok()) return decoded.status();
  *value = *std::move(decoded);
  return absl::OkStatus();
}

// mset's "entries": [{"key","value","expires"?}..], at most `max_entries`.
absl::Status ReadEntries(const rapidjson::Value& v, absl::string_view name,
                         size_t max_entries, ApiRequest* r) {
  constexpr absl::string_view kShape =
      "an array of objects {\"key\", \"value\", \"expires\"?}";
  if (!v.IsArray()) return FieldError(name, kShape);
  if (v.Size() > max_entries) {
    return absl::OutOfRangeError(absl::StrCat("field '", name, "' must list at most ",
                                              max_entries, " entries (got ", v.Size(),
                                              ")"));
  }
  r->entries.reserve(v.Size());
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    const rapidjson::Value& e = v[i];
    const std::string at = absl::StrCat(name, "[", i, "]");
    if (!e.IsObject()) return FieldError(at, kShape);
    BatchEntry entry;
    bool has_key = false;
    bool has_value = false;
    for (auto m = e.MemberBegin(); m != e.MemberEnd(); ++m) {
      const absl::string_view member = View(m->name);
      const std::string field = absl::StrCat(at, ".", Shown(member));
      absl::Status s;
      if (member == "key") {
        has_key = true;
        s = ReadString(m->value, field, true, &entry.key);
      } else if (member == "value") {
        has_value = true;
        s = ReadString(m->value, field, false, &entry.value);
        if (s.ok()) s = DecodeValue(field, r->base64, &entry.value);
      } else if (member == "expires") {
        if (!m->value.IsNumber() || !(m->value.GetDouble() > 0)) {
          s = FieldError(field, "a positive number of seconds");
        } else {
          entry.expires = m->value.GetDouble();
        }
      } else {
        s = absl::InvalidArgumentError(absl::StrCat(
            "unknown field '", field, "'; an entry takes key, value, expires"));
      }
      if (!s.ok()) return s;
    }
    if (!has_key || !has_value) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", at, ".", has_key ? "value" : "key", "' is required"));
    }
    r->entries.push_back(std::move(entry));
  }
  return absl::OkStatus();
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
      if (absl::Status s = ReadString(v, name, f.type == FieldType::kKey, out); !s.ok())
        return s;
      return DecodeValue(name, r->base64, out);
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
    case FieldType::kEntries:
      return ReadEntries(v, name, max_keys, r);
    case FieldType::kChoice: {
      std::string* out = StringSlot(name, r);
      if (out == nullptr) return NoSlot(name);
      for (absl::string_view choice : absl::StrSplit(f.choices, '|')) {
        if (v.IsString() && View(v) == choice) {
          out->assign(choice.data(), choice.size());
          return absl::OkStatus();
        }
      }
      return FieldError(
          name,
          absl::StrCat("\"", absl::StrJoin(absl::StrSplit(f.choices, '|'), "\" or \""),
                       "\""));
    }
    case FieldType::kRevision:
      if (!v.IsUint64()) {
        return FieldError(
            name, "an integer between 0 and 2^64-1 (a key's revision; 0: absent)");
      }
      r->revision = v.GetUint64();
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
  names.push_back(kEncodingField);
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
  ApiRequest r;
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    if (View(m->name) == kEncodingField) {
      if (!m->value.IsString() ||
          (View(m->value) != kBase64 && View(m->value) != kUtf8)) {
        return FieldError(kEncodingField, "\"base64\" or \"utf8\" (the default)");
      }
      r.base64 = View(m->value) == kBase64;
      continue;
    }
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

  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    if (View(m->name) == kEncodingField) continue;
    const FieldSpec* f = FindField(spec, View(m->name));
    if (absl::Status s = ReadField(*f, m->value, max_keys, &r); !s.ok()) return s;
  }
  if (!r.if_state.empty() && r.revision.has_value()) {
    return absl::InvalidArgumentError(
        "fields 'if' and 'revision' exclude each other: give one (\"revision\":0 "
        "means \"if\":\"absent\")");
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

std::string WithRevision(std::string reply, uint64_t revision) {
  const size_t close = reply.rfind('}');
  if (close == std::string::npos) return reply;
  reply.insert(close, absl::StrCat(close > 1 ? "," : "", "\"revision\":", revision));
  return reply;
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

std::string ErrorReply(int code, absl::string_view message,
                       std::optional<uint64_t> revision) {
  Json j;
  j.Key("error").w().StartObject();
  j.Key("code").w().Int(code);
  j.Key("message");
  String(j.w(), message);
  if (revision.has_value()) j.Key("revision").w().Uint64(*revision);
  j.w().EndObject();
  return j.Done();
}

std::string MgetReply(const std::vector<MgetEntry>& entries) {
  Json j;
  j.Key("entries").w().StartArray();
  for (const MgetEntry& e : entries) {
    j.w().StartObject();
    j.Key("key");
    String(j.w(), e.key);
    j.Key("exists").w().Bool(e.exists);
    if (e.value.has_value()) {
      j.Key("value");
      String(j.w(), *e.value);
    } else if (e.exists) {
      j.Key("type");
      String(j.w(), e.type);
    }
    j.w().EndObject();
  }
  j.w().EndArray();
  return j.Done();
}

std::string TtlReply(bool exists, std::optional<double> seconds) {
  Json j;
  j.Key("exists").w().Bool(exists);
  if (seconds.has_value()) {
    j.Key("ttl").w().Double(*seconds);
  } else {
    j.Key("ttl").w().Int(-1);
  }
  return j.Done();
}

std::string OkCountReply(absl::string_view field, int64_t count) {
  Json j;
  j.Key("ok").w().Bool(true);
  j.Key(field).w().Int64(count);
  return j.Done();
}

namespace {

// `note` as one JSON object; a watch entry (no op) has no op, origin nor seq.
void WriteNote(rapidjson::Writer<rapidjson::StringBuffer>& w, const ChangeNote& note) {
  w.StartObject();
  String(w, "key");
  String(w, note.key);
  if (!note.op.empty()) {
    String(w, "op");
    String(w, note.op);
  }
  String(w, "revision");
  w.Uint64(note.revision);
  String(w, "type");
  String(w, note.type);
  if (note.value.has_value()) {
    String(w, "value");
    String(w, *note.value);
  } else if (!note.count_field.empty()) {
    String(w, note.count_field);
    w.Int64(note.count);
  }
  if (!note.op.empty()) {
    String(w, "origin");
    String(w, note.origin);
    if (note.seq != 0) {
      String(w, "seq");
      w.Uint64(note.seq);
    }
    if (!note.vv.empty()) {
      String(w, "vv");
      String(w, note.vv);
    }
  }
  if (note.base64) {
    String(w, "encoding");
    String(w, kBase64);
  }
  if (note.truncated) {
    String(w, "truncated");
    w.Bool(true);
  }
  w.EndObject();
}

}  // namespace

std::string ChangeBody(const ChangeNote& note) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  WriteNote(w, note);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string WatchReply(const std::vector<std::string>& entries, absl::string_view cursor,
                       absl::string_view position) {
  Json j;
  j.Key("entries").w().StartArray();
  for (const std::string& e : entries) {
    j.w().RawValue(e.data(), e.size(), rapidjson::kObjectType);
  }
  j.w().EndArray();
  if (!cursor.empty()) {
    j.Key("cursor");
    String(j.w(), cursor);
  }
  j.Key("position");
  String(j.w(), position);
  return j.Done();
}

bool IsSubjectKey(absl::string_view key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  if (key == "_b64" || absl::StartsWith(key, "_b64.") || key == "_h" ||
      absl::StartsWith(key, "_h.")) {
    return false;
  }
  char prev = 0;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e || c == '*' || c == '>') return false;
    if (c == '.' && prev == '.') return false;
    prev = c;
  }
  return true;
}

}  // namespace kv::codec
