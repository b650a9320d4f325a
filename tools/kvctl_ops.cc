#include "tools/kvctl_ops.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tools/kvctl_args.h"

namespace kv::tools {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>,
                                     rapidjson::UTF8<>, rapidjson::CrtAllocator,
                                     rapidjson::kWriteValidateEncodingFlag>;

// Builds one JSON object; remembers the first string that is not UTF-8.
class RequestWriter {
 public:
  RequestWriter() : writer_(buffer_) { writer_.StartObject(); }

  void String(const char* key, absl::string_view value) {
    writer_.Key(key);
    if (!writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size())) &&
        status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("'", key, "' is not valid UTF-8"));
    }
  }
  void Int(const char* key, int64_t value) {
    writer_.Key(key);
    writer_.Int64(value);
  }
  void StringArray(const char* key, const std::vector<std::string>& values) {
    writer_.Key(key);
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

  absl::StatusOr<std::string> Finish() {
    if (!status_.ok()) return status_;
    writer_.EndObject();
    return std::string(buffer_.GetString(), buffer_.GetSize());
  }

 private:
  rapidjson::StringBuffer buffer_;
  JsonWriter writer_;
  absl::Status status_;
};

absl::Status CheckArgCount(const OpSpec& op, size_t n) {
  const bool too_few = static_cast<int>(n) < op.min_args;
  const bool too_many = op.max_args >= 0 && static_cast<int>(n) > op.max_args;
  if (!too_few && !too_many) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(op.name, " takes ", op.args, " (got ", n, " argument",
                   n == 1 ? "" : "s", ")"));
}

absl::Status AddShapedFields(const OpSpec& op, const std::vector<std::string>& args,
                             const RequestOptions& options, RequestWriter* w) {
  switch (op.request) {
    case RequestShape::kKey:
      w->String("key", args[0]);
      return absl::OkStatus();
    case RequestShape::kKeyValue:
      w->String("key", args[0]);
      w->String("value", args[1]);
      if (options.ttl_seconds) w->Int("expires", *options.ttl_seconds);
      return absl::OkStatus();
    case RequestShape::kKeyInt: {
      absl::StatusOr<int64_t> n = ParseInt("N", args[1]);
      if (!n.ok()) return n.status();
      w->String("key", args[0]);
      w->Int("value", *n);
      return absl::OkStatus();
    }
    case RequestShape::kKeyRange: {
      absl::StatusOr<int64_t> start = ParseInt("START", args[1]);
      if (!start.ok()) return start.status();
      absl::StatusOr<int64_t> stop = ParseInt("STOP", args[2]);
      if (!stop.ok()) return stop.status();
      w->String("key", args[0]);
      w->Int("start", *start);
      w->Int("stop", *stop);
      return absl::OkStatus();
    }
    case RequestShape::kKeys:
      w->StringArray("keys", args);
      return absl::OkStatus();
    case RequestShape::kScan:
      if (!args.empty()) w->String("prefix", args[0]);
      if (options.limit) w->Int("limit", *options.limit);
      if (!options.cursor.empty()) w->String("cursor", options.cursor);
      return absl::OkStatus();
  }
  return absl::InternalError("unknown request shape");
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
      absl::string_view(value->value.GetString(), value->value.GetStringLength()),
      "\n");
}

std::vector<OpSpec> MakeOps() {
  using R = RequestShape;
  using P = ReplyShape;
  return {
      {"get", "{\"key\"}", "KEY", "the value of KEY, or (nil) when absent",
       "{\"exists\": bool, \"value\": string}", R::kKey, P::kGet, "value", 1, 1,
       {"a"}},
      {"set", "{\"key\", \"value\", \"expires\"?: seconds}", "KEY VALUE [--ttl SECONDS]",
       "sets KEY (expiring after --ttl seconds)",
       "{\"ok\": true}", R::kKeyValue, P::kOk, "ok", 2, 2, {"a", "hello"}},
      {"del", "{\"key\"}", "KEY", "deletes KEY; true if it existed", "{\"deleted\": bool}",
       R::kKey, P::kBool, "deleted", 1, 1, {"a"}},
      {"exists", "{\"key\"}", "KEY", "true if KEY exists", "{\"exists\": bool}", R::kKey,
       P::kBool, "exists", 1, 1, {"a"}},
      {"add", "{\"key\", \"value\": int}", "KEY N", "adds N (may be < 0) to a counter; new value",
       "{\"value\": int}", R::kKeyInt, P::kInt, "value", 2, 2, {"hits", "1"}},
      {"push", "{\"key\", \"value\"}", "KEY VALUE", "appends VALUE to list KEY; new length",
       "{\"length\": int}", R::kKeyValue, P::kInt, "length", 2, 2, {"l", "x"}},
      {"range", "{\"key\", \"start\": int, \"stop\": int}", "KEY START STOP",
       "list items START..STOP; -1 is the last",
       "{\"values\": [..]}", R::kKeyRange, P::kList, "values", 3, 3,
       {"l", "0", "-1"}},
      {"list_del", "{\"key\", \"value\"}", "KEY VALUE", "removes each VALUE from list KEY; new length",
       "{\"length\": int}", R::kKeyValue, P::kInt, "length", 2, 2, {"l", "x"}},
      {"clear", "{\"key\"}", "KEY", "deletes list KEY; true if it existed",
       "{\"deleted\": bool}", R::kKey, P::kBool, "deleted", 1, 1, {"l"}},
      {"set_add", "{\"key\", \"value\"}", "KEY VALUE", "adds VALUE to set KEY; new size",
       "{\"size\": int}", R::kKeyValue, P::kInt, "size", 2, 2, {"s", "x"}},
      {"set_remove", "{\"key\", \"value\"}", "KEY VALUE", "removes VALUE from set KEY; new size",
       "{\"size\": int}", R::kKeyValue, P::kInt, "size", 2, 2, {"s", "x"}},
      {"set_query", "{\"key\"}", "KEY", "members of set KEY, sorted", "{\"values\": [..]}",
       R::kKey, P::kList, "values", 1, 1, {"s"}},
      {"set_union", "{\"keys\": [..]}", "KEY...", "union of the sets, sorted", "{\"values\": [..]}",
       R::kKeys, P::kList, "values", 1, -1, {"s", "t"}},
      {"set_intersection", "{\"keys\": [..]}", "KEY...", "intersection of the sets, sorted",
       "{\"values\": [..]}", R::kKeys, P::kList, "values", 1, -1, {"s", "t"}},
      {"keys", "{\"prefix\"?, \"limit\"?, \"cursor\"?}", "[PREFIX] [--limit N]",
       "keys (with PREFIX), every page; --limit caps",
       "{\"keys\": [..], \"cursor\"?: string} (pass \"cursor\" back for the next page)",
       R::kScan, P::kList, "keys", 0, 1, {"user:"}},
  };
}

constexpr const char* kDiscoveryHelp =
    "  ls                                running kv instances: name, id, version\n"
    "      nats micro ls kv              (request $SRV.PING.kv, every reply)\n"
    "  info                              endpoints and subjects of each instance\n"
    "      nats micro info kv            (request $SRV.INFO.kv, every reply)\n"
    "  stats                             requests, errors, latency per endpoint\n"
    "      nats micro stats kv           (request $SRV.STATS.kv, every reply)\n";

constexpr const char* kFlagsHelp =
    "flags (anywhere on the line; --help lists them all):\n"
    "  --server URL       NATS server(s), comma-separated (default "
    "nats://127.0.0.1:4222)\n"
    "  --link L           link name: subjects kv.<L>.<op> (default \"default\")\n"
    "  --timeout D        reply timeout (default 2s; for ls/info/stats the time to\n"
    "                     collect replies, default 500ms)\n"
    "  --json             print raw reply bodies (JSON) instead of text\n"
    "  --ttl SECONDS      set: expire the key after SECONDS\n"
    "  --limit N          keys: print at most N keys\n"
    "  auth and TLS       --creds, --nkey, --user/--password, --token, --tls_ca,\n"
    "                     --tls_cert, --tls_key (secrets also from NATS_CREDS,\n"
    "                     NATS_NKEY, NATS_USER, NATS_PASSWORD, NATS_TOKEN)\n"
    "\n"
    "exit status: 0 success (also for a missing key), 1 service error or no\n"
    "connection, 2 usage error.\n";

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
  if (absl::Status s = CheckArgCount(op, args.size()); !s.ok()) return s;
  if (options.ttl_seconds && absl::string_view(op.name) != "set") {
    return absl::InvalidArgumentError("--ttl applies to set only");
  }
  if (options.ttl_seconds && *options.ttl_seconds <= 0) {
    return absl::InvalidArgumentError("--ttl must be a positive number of seconds");
  }
  if (options.limit && *options.limit <= 0) {
    return absl::InvalidArgumentError("--limit must be positive");
  }
  RequestWriter w;
  if (absl::Status s = AddShapedFields(op, args, options, &w); !s.ok()) return s;
  return w.Finish();
}

absl::StatusOr<std::string> FormatReply(const OpSpec& op, absl::string_view body) {
  absl::StatusOr<rapidjson::Document> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  switch (op.reply_shape) {
    case ReplyShape::kGet:
      return FormatGet(*doc, body);
    case ReplyShape::kOk:
      return std::string("OK\n");
    case ReplyShape::kBool: {
      auto it = doc->FindMember(op.reply_field);
      if (it == doc->MemberEnd() || !it->value.IsBool()) {
        return MissingField(op.reply_field, "the boolean", body);
      }
      return std::string(it->value.GetBool() ? "true\n" : "false\n");
    }
    case ReplyShape::kInt: {
      auto it = doc->FindMember(op.reply_field);
      if (it == doc->MemberEnd() || !it->value.IsInt64()) {
        return MissingField(op.reply_field, "the integer", body);
      }
      return absl::StrCat(it->value.GetInt64(), "\n");
    }
    case ReplyShape::kList: {
      absl::StatusOr<std::vector<std::string>> items =
          StringList(*doc, op.reply_field, body);
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
  if (code != error->value.MemberEnd() && code->value.IsInt()) e.code = code->value.GetInt();
  auto message = error->value.FindMember("message");
  if (message != error->value.MemberEnd() && message->value.IsString()) {
    e.message = message->value.GetString();
  }
  return e;
}

std::string OpSubject(absl::string_view link, absl::string_view op) {
  return absl::StrCat("kv.", link, ".", op);
}

std::string NatsReqLine(const OpSpec& op, absl::string_view link) {
  absl::StatusOr<std::string> body = BuildRequest(op, op.example_args, {});
  return absl::StrCat("nats req ", OpSubject(link, op.name), " '",
                      body.ok() ? *body : "{}", "'");
}

std::string UsageText(absl::string_view link) {
  std::string out =
      "kvctl: command-line client for the natskv key-value service\n"
      "(request/reply on kv.<link>.<op> over NATS, JSON bodies).\n\n"
      "usage: kvctl [flags] <op> args...\n"
      "       kvctl help [op]\n\n"
      "operations (each with the equivalent raw request):\n";
  for (const OpSpec& op : AllOps()) {
    std::string head = absl::StrCat("  ", op.name, " ", op.args);
    if (head.size() < 34) head.resize(34, ' ');
    absl::StrAppend(&out, head, " ", op.summary, "\n      ", NatsReqLine(op, link),
                    "\n");
  }
  absl::StrAppend(&out, "\nservice discovery (NATS micro protocol):\n",
                  kDiscoveryHelp, "\n", kFlagsHelp);
  return out;
}

std::string OpHelp(const OpSpec& op, absl::string_view link) {
  std::string example = absl::StrCat("kvctl ", op.name);
  for (const std::string& a : op.example_args) absl::StrAppend(&example, " ", a);
  return absl::StrCat("usage: kvctl [flags] ", op.name, " ", op.args, "\n\n  ",
                      op.summary, "\n\n  subject: ", OpSubject(link, op.name),
                      "\n  request: ", op.request_doc, "\n  reply:   ",
                      op.reply, "\n\n  example: ", example, "\n  same as: ",
                      NatsReqLine(op, link), "\n");
}

}  // namespace kv::tools
