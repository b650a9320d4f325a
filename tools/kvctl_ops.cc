#include "tools/kvctl_ops.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tools/kvctl_args.h"

namespace kv::tools {
namespace {

using JsonWriter =
    rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                      rapidjson::CrtAllocator, rapidjson::kWriteValidateEncodingFlag>;

// Builds one JSON object; remembers the first string that is not UTF-8.
class RequestWriter {
 public:
  RequestWriter() : writer_(buffer_) { writer_.StartObject(); }

  void String(absl::string_view key, absl::string_view value) {
    Key(key);
    if (!writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size())) &&
        status_.ok()) {
      status_ =
          absl::InvalidArgumentError(absl::StrCat("'", key, "' is not valid UTF-8"));
    }
  }
  void Int(absl::string_view key, int64_t value) {
    Key(key);
    writer_.Int64(value);
  }
  void Uint(absl::string_view key, uint64_t value) {
    Key(key);
    writer_.Uint64(value);
  }
  void StringArray(absl::string_view key, const std::vector<std::string>& values) {
    Key(key);
    writer_.StartArray();
    for (const std::string& v : values) {
      if (!writer_.String(v.data(), static_cast<rapidjson::SizeType>(v.size())) &&
          status_.ok()) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat("'", key, "' holds a string that is not valid UTF-8"));
      }
    }
    writer_.EndArray();
  }

  // mset's [{"key","value","expires"?}..] from KEY VALUE pairs.
  void Entries(absl::string_view key, const std::vector<std::string>& pairs,
               std::optional<int64_t> ttl) {
    Key(key);
    writer_.StartArray();
    for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
      writer_.StartObject();
      String("key", pairs[i]);
      String("value", pairs[i + 1]);
      if (ttl) Int("expires", *ttl);
      writer_.EndObject();
    }
    writer_.EndArray();
  }

  absl::StatusOr<std::string> Finish() {
    if (!status_.ok()) return status_;
    writer_.EndObject();
    return std::string(buffer_.GetString(), buffer_.GetSize());
  }

 private:
  void Key(absl::string_view key) {
    writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  }

  rapidjson::StringBuffer buffer_;
  JsonWriter writer_;
  absl::Status status_;
};

// The request fields kvctl fills from flags, and how its usage shows them.
struct FlagField {
  absl::string_view field;
  absl::string_view usage;  // empty: not for the user (cursor: kvctl pages)
};
constexpr FlagField kFlagFields[] = {
    {"expires", "[--ttl SECONDS]"},
    {"limit", "[--limit N]"},
    {"cursor", ""},
    {"if", "[--if absent|present]"},
    {"revision", "[--revision N]"},
    {"end", "[--end left|right]"},
};

bool TakesEntries(const codec::OpSpec& spec) {
  return spec.fields.size() == 1 && spec.fields[0].type == codec::FieldType::kEntries;
}

const FlagField* FlagFieldOf(absl::string_view field) {
  for (const FlagField& f : kFlagFields) {
    if (f.field == field) return &f;
  }
  return nullptr;
}

// The flag that fills `f`; nullptr when `f` is positional. A required field
// is always positional (expire KEY SECONDS), an optional one from its flag.
const FlagField* FlagFieldOf(const codec::FieldSpec& f) {
  return f.required ? nullptr : FlagFieldOf(f.name);
}

// Whether --ttl applies to `spec`: an optional "expires", or mset's entries.
bool TakesTtlFlag(const codec::OpSpec& spec) {
  const codec::FieldSpec* f = codec::FindField(spec, "expires");
  return (f != nullptr && !f->required) || TakesEntries(spec);
}

// The placeholder of a positional field in usage text and errors.
std::string Metavar(const codec::FieldSpec& f) {
  if (f.type == codec::FieldType::kKeyList) return "KEY...";
  if (f.type == codec::FieldType::kEntries) return "KEY VALUE...";
  if (f.type == codec::FieldType::kInt && f.name == "value") return "N";
  if (f.type == codec::FieldType::kSeconds) return "SECONDS";
  return absl::AsciiStrToUpper(f.name);
}

// Whether positional argument `i` of `op` is a VALUE (or mset's odd ones).
bool IsValueArg(const OpSpec& op, size_t i) {
  if (TakesEntries(*op.api)) return i % 2 == 1;
  size_t next = 0;
  for (const codec::FieldSpec& f : op.api->fields) {
    if (FlagFieldOf(f) != nullptr) continue;
    if (next == i) return f.name == "value" && f.type == codec::FieldType::kString;
    ++next;
  }
  return false;
}

// Whether `o` fills the optional field `field` (limit, if, revision, end).
bool Given(const RequestOptions& o, absl::string_view field) {
  if (field == "limit") return o.limit.has_value();
  if (field == "revision") return o.revision.has_value();
  return !(field == "if" ? o.if_state : field == "end" ? o.end : "").empty();
}

// "--ttl applies to set only": the ops whose requests have `field`.
absl::Status FlagNotApplicable(absl::string_view flag, absl::string_view field) {
  std::vector<absl::string_view> ops;
  for (const codec::OpSpec& spec : codec::OpTable()) {
    if (field == "expires" ? TakesTtlFlag(spec)
                           : codec::FindField(spec, field) != nullptr) {
      ops.push_back(spec.name);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " applies to ", absl::StrJoin(ops, ", "), " only"));
}

absl::Status CheckArgCount(const OpSpec& op, size_t n) {
  const bool too_few = static_cast<int>(n) < op.min_args;
  const bool too_many = op.max_args >= 0 && static_cast<int>(n) > op.max_args;
  if (!too_few && !too_many) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(op.name, " takes ", op.args, " (got ", n,
                                                 " argument", n == 1 ? "" : "s", ")"));
}

// Writes the request fields in table order: positional ones from `args` (a
// key list takes every argument left), the others from `options`.
absl::Status AddFields(const OpSpec& op, std::vector<std::string> args,
                       const RequestOptions& options, RequestWriter* w) {
  bool wire_base64 = options.base64;
  int from_stdin = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    wire_base64 |= IsValueArg(op, i) && IsValueSource(args[i]);
    from_stdin += IsValueArg(op, i) && args[i] == "-";
  }
  if (from_stdin > 1) {
    return absl::InvalidArgumentError("at most one value may come from stdin (-)");
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (!IsValueArg(op, i)) continue;
    absl::StatusOr<std::string> wire =
        WireValue(args[i], options.base64, wire_base64, options.read_value);
    if (!wire.ok()) return wire.status();
    args[i] = *std::move(wire);
  }
  if (wire_base64) w->String("encoding", "base64");
  size_t next = 0;
  for (const codec::FieldSpec& f : op.api->fields) {
    if (f.name == "expires" && !f.required) {
      if (options.ttl_seconds) w->Int(f.name, *options.ttl_seconds);
    } else if (f.name == "limit") {
      if (options.limit) w->Int(f.name, *options.limit);
    } else if (f.name == "cursor") {
      if (!options.cursor.empty()) w->String(f.name, options.cursor);
    } else if (f.name == "if" || f.name == "end") {
      const std::string& choice = f.name == "if" ? options.if_state : options.end;
      if (!choice.empty()) w->String(f.name, choice);
    } else if (f.name == "revision") {
      if (options.revision) w->Uint(f.name, *options.revision);
    } else if (next >= args.size()) {
      continue;  // an optional positional field left out
    } else if (f.type == codec::FieldType::kKeyList) {
      w->StringArray(f.name, std::vector<std::string>(args.begin() + next, args.end()));
      next = args.size();
    } else if (f.type == codec::FieldType::kEntries) {
      if ((args.size() - next) % 2 != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            op.name, " takes KEY VALUE pairs (got ", args.size() - next, " arguments)"));
      }
      w->Entries(f.name, std::vector<std::string>(args.begin() + next, args.end()),
                 options.ttl_seconds);
      next = args.size();
    } else if (f.type == codec::FieldType::kKey || f.type == codec::FieldType::kString) {
      w->String(f.name, args[next++]);
    } else {
      absl::StatusOr<int64_t> n = ParseInt(Metavar(f), args[next++]);
      if (!n.ok()) return n.status();
      w->Int(f.name, *n);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<rapidjson::Document> ParseObject(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InternalError(absl::StrCat("reply is not a JSON object: ", body));
  }
  return doc;
}

absl::Status MissingField(absl::string_view field, absl::string_view kind,
                          absl::string_view body) {
  return absl::InternalError(
      absl::StrCat("reply lacks ", kind, " '", field, "': ", body));
}

absl::StatusOr<std::vector<std::string>> StringList(const rapidjson::Value& obj,
                                                    const char* field,
                                                    absl::string_view body) {
  auto it = obj.FindMember(field);
  if (it == obj.MemberEnd() || !it->value.IsArray()) {
    return MissingField(field, "the array", body);
  }
  std::vector<std::string> out;
  for (const rapidjson::Value& v : it->value.GetArray()) {
    if (!v.IsString()) return MissingField(field, "a string array", body);
    out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return out;
}

absl::StatusOr<std::string> FormatGet(const rapidjson::Document& doc,
                                      absl::string_view body) {
  auto exists = doc.FindMember("exists");
  if (exists == doc.MemberEnd() || !exists->value.IsBool()) {
    return MissingField("exists", "the boolean", body);
  }
  if (!exists->value.GetBool()) return std::string("(nil)\n");
  auto value = doc.FindMember("value");
  if (value == doc.MemberEnd() || !value->value.IsString()) {
    return MissingField("value", "the string", body);
  }
  return absl::StrCat(
      absl::string_view(value->value.GetString(), value->value.GetStringLength()), "\n");
}

// One line per entry: its value, "(nil)" when absent, "(list)" or "(set)".
absl::StatusOr<std::string> FormatMget(const rapidjson::Document& doc,
                                       absl::string_view body) {
  auto entries = doc.FindMember("entries");
  if (entries == doc.MemberEnd() || !entries->value.IsArray()) {
    return MissingField("entries", "the array", body);
  }
  std::string out;
  for (const rapidjson::Value& e : entries->value.GetArray()) {
    if (!e.IsObject()) return MissingField("entries", "an object array", body);
    auto value = e.FindMember("value");
    auto type = e.FindMember("type");
    if (value != e.MemberEnd() && value->value.IsString()) {
      absl::StrAppend(
          &out,
          absl::string_view(value->value.GetString(), value->value.GetStringLength()),
          "\n");
    } else if (type != e.MemberEnd() && type->value.IsString()) {
      absl::StrAppend(&out, "(", type->value.GetString(), ")\n");
    } else {
      absl::StrAppend(&out, "(nil)\n");
    }
  }
  return out;
}

// The example request of `spec` as kvctl arguments and options.
void SetExample(const codec::OpSpec& spec, OpSpec* op) {
  rapidjson::Document doc;
  doc.Parse(spec.example.data(), spec.example.size());
  if (doc.HasParseError() || !doc.IsObject()) return;
  for (const codec::FieldSpec& f : spec.fields) {
    auto it = doc.FindMember(rapidjson::Value(rapidjson::StringRef(
        f.name.data(), static_cast<rapidjson::SizeType>(f.name.size()))));
    if (it == doc.MemberEnd()) continue;
    const rapidjson::Value& v = it->value;
    if (f.name == "expires" && !f.required && v.IsInt64()) {
      op->example_options.ttl_seconds = v.GetInt64();
    } else if (f.name == "limit" && v.IsInt64()) {
      op->example_options.limit = v.GetInt64();
    } else if (f.name == "cursor" && v.IsString()) {
      op->example_options.cursor = v.GetString();
    } else if (f.name == "if" && v.IsString()) {
      op->example_options.if_state = v.GetString();
    } else if (f.name == "revision" && v.IsUint64()) {
      op->example_options.revision = v.GetUint64();
    } else if (f.name == "end" && v.IsString()) {
      op->example_options.end = v.GetString();
    } else if (v.IsArray()) {
      for (const rapidjson::Value& item : v.GetArray()) {
        if (item.IsString()) op->example_args.push_back(item.GetString());
        if (item.IsObject() && item.HasMember("key") && item.HasMember("value")) {
          op->example_args.push_back(item["key"].GetString());
          op->example_args.push_back(item["value"].GetString());
        }
      }
    } else if (v.IsString()) {
      op->example_args.emplace_back(v.GetString(), v.GetStringLength());
    } else if (v.IsInt64()) {
      op->example_args.push_back(absl::StrCat(v.GetInt64()));
    }
  }
}

OpSpec MakeOp(const codec::OpSpec& spec) {
  OpSpec op;
  op.api = &spec;
  op.name = spec.name;
  std::vector<std::string> usage;
  std::vector<std::string> flags;
  for (const codec::FieldSpec& f : spec.fields) {
    if (const FlagField* flag = FlagFieldOf(f)) {
      if (!flag->usage.empty()) flags.emplace_back(flag->usage);
      op.paged |= f.name == "cursor";
      continue;
    }
    const bool list =
        f.type == codec::FieldType::kKeyList || f.type == codec::FieldType::kEntries;
    usage.push_back(f.required ? Metavar(f) : absl::StrCat("[", Metavar(f), "]"));
    if (f.required) op.min_args += f.type == codec::FieldType::kEntries ? 2 : 1;
    if (op.max_args >= 0) op.max_args = list ? -1 : op.max_args + 1;
  }
  if (TakesEntries(spec)) flags.emplace_back(FlagFieldOf("expires")->usage);
  usage.insert(usage.end(), flags.begin(), flags.end());
  op.args = absl::StrJoin(usage, " ");
  SetExample(spec, &op);
  return op;
}

std::vector<OpSpec> MakeOps() {
  std::vector<OpSpec> ops;
  for (const codec::OpSpec& spec : codec::OpTable()) ops.push_back(MakeOp(spec));
  return ops;
}

}  // namespace

const std::vector<OpSpec>& AllOps() {
  static const auto* ops = new std::vector<OpSpec>(MakeOps());
  return *ops;
}

const OpSpec* FindOp(absl::string_view name) {
  for (const OpSpec& op : AllOps()) {
    if (name == op.name) return &op;
  }
  return nullptr;
}

absl::StatusOr<std::string> BuildRequest(const OpSpec& op,
                                         const std::vector<std::string>& args,
                                         const RequestOptions& options) {
  for (absl::string_view field : {"limit", "if", "revision", "end"}) {
    if (Given(options, field) && codec::FindField(*op.api, field) == nullptr) {
      return FlagNotApplicable(absl::StrCat("--", field), field);
    }
  }
  if (absl::Status s = CheckArgCount(op, args.size()); !s.ok()) return s;
  if (options.ttl_seconds && !TakesTtlFlag(*op.api)) {
    return FlagNotApplicable("--ttl", "expires");
  }
  if (options.ttl_seconds && *options.ttl_seconds <= 0) {
    return absl::InvalidArgumentError("--ttl must be a positive number of seconds");
  }
  if (options.limit && *options.limit <= 0) {
    return absl::InvalidArgumentError("--limit must be positive");
  }
  RequestWriter w;
  if (absl::Status s = AddFields(op, args, options, &w); !s.ok()) return s;
  return w.Finish();
}

absl::StatusOr<std::string> FormatReply(const OpSpec& op, absl::string_view body) {
  absl::StatusOr<rapidjson::Document> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  const std::string field(op.api->reply_field);
  switch (op.api->reply) {
    case codec::ReplyShape::kGet:
      return FormatGet(*doc, body);
    case codec::ReplyShape::kOk:
    case codec::ReplyShape::kOkCount:
      return std::string("OK\n");
    case codec::ReplyShape::kBool: {
      auto it = doc->FindMember(field.c_str());
      if (it == doc->MemberEnd() || !it->value.IsBool()) {
        return MissingField(field, "the boolean", body);
      }
      return std::string(it->value.GetBool() ? "true\n" : "false\n");
    }
    case codec::ReplyShape::kInt: {
      auto it = doc->FindMember(field.c_str());
      if (it == doc->MemberEnd() || !it->value.IsInt64()) {
        return MissingField(field, "the integer", body);
      }
      return absl::StrCat(it->value.GetInt64(), "\n");
    }
    case codec::ReplyShape::kMget:
      return FormatMget(*doc, body);
    case codec::ReplyShape::kWatch:  // (kvctl watch prints entries itself)
      return absl::StrCat(body, "\n");
    case codec::ReplyShape::kTtl: {
      auto ttl = doc->FindMember("ttl");
      if (ttl == doc->MemberEnd() || !ttl->value.IsNumber()) {
        return MissingField("ttl", "the number", body);
      }
      const double seconds = ttl->value.GetDouble();
      return seconds < 0 ? std::string("-1\n") : absl::StrCat(seconds, "\n");
    }
    case codec::ReplyShape::kValues:
    case codec::ReplyShape::kKeys: {
      absl::StatusOr<std::vector<std::string>> items =
          StringList(*doc, field.c_str(), body);
      if (!items.ok()) return items.status();
      std::string out;
      for (const std::string& item : *items) absl::StrAppend(&out, item, "\n");
      return out;
    }
  }
  return absl::InternalError("unknown reply shape");
}

absl::StatusOr<KeysPage> ParseKeysPage(absl::string_view body) {
  absl::StatusOr<rapidjson::Document> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  KeysPage page;
  absl::StatusOr<std::vector<std::string>> keys = StringList(*doc, "keys", body);
  if (!keys.ok()) return keys.status();
  page.keys = *std::move(keys);
  auto cursor = doc->FindMember("cursor");
  if (cursor != doc->MemberEnd() && cursor->value.IsString()) {
    page.cursor.assign(cursor->value.GetString(), cursor->value.GetStringLength());
  }
  return page;
}

std::optional<ServiceError> FindServiceError(const char* code_header,
                                             const char* message_header,
                                             absl::string_view body) {
  if (code_header != nullptr || message_header != nullptr) {
    ServiceError e;
    if (code_header != nullptr && !absl::SimpleAtoi(code_header, &e.code)) e.code = 0;
    if (message_header != nullptr) e.message = message_header;
    return e;
  }
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  auto error = doc.FindMember("error");
  if (error == doc.MemberEnd() || !error->value.IsObject()) return std::nullopt;
  ServiceError e;
  auto code = error->value.FindMember("code");
  if (code != error->value.MemberEnd() && code->value.IsInt())
    e.code = code->value.GetInt();
  auto message = error->value.FindMember("message");
  if (message != error->value.MemberEnd() && message->value.IsString()) {
    e.message = message->value.GetString();
  }
  return e;
}

std::string OpSubject(absl::string_view link, absl::string_view op) {
  return absl::StrCat("kv.", link, ".", op);
}

}  // namespace kv::tools
