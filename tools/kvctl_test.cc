#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/codec/ops.h"
#include "tests/testing/harness.h"
#include "tools/kvctl_args.h"
#include "tools/kvctl_discovery.h"
#include "tools/kvctl_ops.h"
#include "tools/kvctl_table.h"
#include "tools/kvctl_values.h"

namespace kv::tools {
namespace {

bool TakesValue(absl::string_view name) {
  return name == "server" || name == "link" || name == "ttl" || name == "limit";
}

FlagKind Kind(absl::string_view name) {
  if (TakesValue(name)) return FlagKind::kTakesValue;
  return name == "json" ? FlagKind::kSwitch : FlagKind::kUnknown;
}

std::vector<std::string> Positional(const std::vector<std::string>& args) {
  ScannedArgs scanned = PreScanArgs(args, Kind);
  std::vector<std::string> flagless;
  for (size_t i = 1; i < scanned.for_flag_parser.size(); ++i) {
    const std::string& a = scanned.for_flag_parser[i];
    if (a.size() > 1 && a[0] == '-') {
      if (a.find('=') == std::string::npos && TakesValue(a.substr(2))) ++i;
      continue;
    }
    flagless.push_back(a);
  }
  return MergeNegatives(flagless, scanned.negatives);
}

TEST(PreScanArgs, NegativeIndicesStayPositional) {
  ScannedArgs s = PreScanArgs({"kvctl", "range", "l", "0", "-1"}, Kind);
  EXPECT_EQ(s.for_flag_parser, (std::vector<std::string>{"kvctl", "range", "l", "0"}));
  ASSERT_EQ(s.negatives.size(), 1u);
  EXPECT_EQ(s.negatives[0].first, 3u);
  EXPECT_EQ(Positional({"kvctl", "range", "l", "0", "-1"}),
            (std::vector<std::string>{"range", "l", "0", "-1"}));
  EXPECT_EQ(Positional({"kvctl", "--json", "range", "l", "-3", "-1", "--link", "x"}),
            (std::vector<std::string>{"range", "l", "-3", "-1"}));
}

TEST(PreScanArgs, FlagValuesAreNotPositional) {
  // "--ttl -5" gives the flag its (bad) value rather than an argument.
  ScannedArgs s = PreScanArgs({"kvctl", "set", "k", "v", "--ttl", "-5"}, Kind);
  EXPECT_TRUE(s.negatives.empty());
  EXPECT_EQ(Positional({"kvctl", "--server", "nats://h:1", "add", "c", "-7"}),
            (std::vector<std::string>{"add", "c", "-7"}));
  EXPECT_EQ(Positional({"kvctl", "add", "--link=x", "c", "-7"}),
            (std::vector<std::string>{"add", "c", "-7"}));
}

TEST(PreScanArgs, BeforeTheOpAndAfterDoubleDashLeftAlone) {
  ScannedArgs s = PreScanArgs({"kvctl", "-1", "get"}, Kind);
  EXPECT_TRUE(s.negatives.empty());
  s = PreScanArgs({"kvctl", "set", "k", "--", "-1"}, Kind);
  EXPECT_TRUE(s.negatives.empty());
  EXPECT_EQ(s.for_flag_parser.back(), "-1");
}

TEST(PreScanArgs, ReportsUnknownFlags) {
  ScannedArgs s = PreScanArgs({"kvctl", "--json", "set", "k", "-x", "--bogus=1"}, Kind);
  EXPECT_EQ(s.unknown_flags, (std::vector<std::string>{"-x", "--bogus=1"}));
  s = PreScanArgs({"kvctl", "set", "k", "--", "-x"}, Kind);
  EXPECT_TRUE(s.unknown_flags.empty());
}

TEST(IsNegativeNumber, OnlyDashDigits) {
  EXPECT_TRUE(IsNegativeNumber("-1"));
  EXPECT_TRUE(IsNegativeNumber("-1234"));
  EXPECT_FALSE(IsNegativeNumber("-"));
  EXPECT_FALSE(IsNegativeNumber("-1x"));
  EXPECT_FALSE(IsNegativeNumber("--1"));
  EXPECT_FALSE(IsNegativeNumber("12"));
}

TEST(ParseInt, AcceptsSignedRejectsGarbage) {
  EXPECT_EQ(*ParseInt("N", "-42"), -42);
  EXPECT_FALSE(ParseInt("N", "4x").ok());
  EXPECT_NE(ParseInt("N", "x").status().message().find("N must be an integer"),
            std::string::npos);
}

std::string Request(const char* op, const std::vector<std::string>& args,
                    RequestOptions options = {}) {
  absl::StatusOr<std::string> body = BuildRequest(*FindOp(op), args, options);
  return body.ok() ? *body : "ERROR: " + std::string(body.status().message());
}

TEST(BuildRequest, EveryShape) {
  EXPECT_EQ(Request("get", {"a"}), R"({"key":"a"})");
  EXPECT_EQ(Request("set", {"a", "b"}), R"({"key":"a","value":"b"})");
  RequestOptions ttl;
  ttl.ttl_seconds = 30;
  EXPECT_EQ(Request("set", {"a", "b"}, ttl), R"({"key":"a","value":"b","expires":30})");
  EXPECT_EQ(Request("add", {"c", "-5"}), R"({"key":"c","value":-5})");
  EXPECT_EQ(Request("range", {"l", "0", "-1"}), R"({"key":"l","start":0,"stop":-1})");
  EXPECT_EQ(Request("set_union", {"s", "t", "u"}), R"({"keys":["s","t","u"]})");
  EXPECT_EQ(Request("keys", {}), "{}");
  RequestOptions page;
  page.limit = 10;
  page.cursor = "k9";
  EXPECT_EQ(Request("keys", {"p"}, page), R"({"prefix":"p","limit":10,"cursor":"k9"})");
}

TEST(BuildRequest, EscapesArbitraryUtf8) {
  EXPECT_EQ(Request("set", {"k", "a\"b\\c\n\t\x01 é ☃"}),
            "{\"key\":\"k\",\"value\":\"a\\\"b\\\\c\\n\\t\\u0001 é ☃\"}");
  EXPECT_EQ(Request("set", {"k", std::string("a\0b", 3)}),
            R"({"key":"k","value":"a\u0000b"})");
  EXPECT_NE(Request("set", {"k", "\xff\xfe"}).find("not valid UTF-8"), std::string::npos);
}

TEST(BuildRequest, UsageErrors) {
  EXPECT_NE(Request("get", {}).find("get takes KEY (got 0 arguments)"),
            std::string::npos);
  EXPECT_NE(Request("get", {"a", "b"}).find("ERROR"), std::string::npos);
  EXPECT_NE(Request("add", {"c", "x"}).find("N must be an integer"), std::string::npos);
  EXPECT_NE(Request("range", {"l", "0", "end"}).find("STOP"), std::string::npos);
  EXPECT_NE(Request("set_union", {}).find("ERROR"), std::string::npos);
  RequestOptions ttl;
  ttl.ttl_seconds = 5;
  EXPECT_NE(Request("get", {"a"}, ttl)
                .find("--ttl applies to set, add, push, set_add, mset only"),
            std::string::npos);
  ttl.ttl_seconds = -1;
  EXPECT_NE(Request("set", {"a", "b"}, ttl).find("positive"), std::string::npos);
}

std::string Reply(const char* op, absl::string_view body) {
  absl::StatusOr<std::string> text = FormatReply(*FindOp(op), body);
  return text.ok() ? *text : "ERROR: " + std::string(text.status().message());
}

TEST(FormatReply, ReadsLikeText) {
  EXPECT_EQ(Reply("get", R"({"exists":true,"value":"hi there"})"), "hi there\n");
  EXPECT_EQ(Reply("get", R"({"exists":false,"value":""})"), "(nil)\n");
  EXPECT_EQ(Reply("set", R"({"ok":true})"), "OK\n");
  EXPECT_EQ(Reply("del", R"({"deleted":false})"), "false\n");
  EXPECT_EQ(Reply("exists", R"({"exists":true})"), "true\n");
  EXPECT_EQ(Reply("add", R"({"value":-3})"), "-3\n");
  EXPECT_EQ(Reply("push", R"({"length":2})"), "2\n");
  EXPECT_EQ(Reply("set_add", R"({"size":7})"), "7\n");
  EXPECT_EQ(Reply("range", R"({"values":["a","b"]})"), "a\nb\n");
  EXPECT_EQ(Reply("set_query", R"({"values":[]})"), "");
}

TEST(FormatReply, UnexpectedBodiesAreErrors) {
  EXPECT_NE(Reply("get", "not json").find("not a JSON object"), std::string::npos);
  EXPECT_NE(Reply("add", R"({"value":"x"})").find("'value'"), std::string::npos);
  EXPECT_NE(Reply("range", R"({"values":[1]})").find("ERROR"), std::string::npos);
}

TEST(ParseKeysPage, KeysAndCursor) {
  absl::StatusOr<KeysPage> page = ParseKeysPage(R"({"keys":["a","b"],"cursor":"b"})");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->keys, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(page->cursor, "b");
  page = ParseKeysPage(R"({"keys":[]})");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->cursor.empty());
}

TEST(FindServiceError, HeadersFirstThenBody) {
  auto e = FindServiceError("409", "wrong type", "");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 409);
  EXPECT_EQ(e->message, "wrong type");
  e = FindServiceError(nullptr, nullptr, R"({"error":{"code":400,"message":"bad key"}})");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 400);
  EXPECT_EQ(e->message, "bad key");
  EXPECT_FALSE(FindServiceError(nullptr, nullptr, R"({"ok":true})").has_value());
}

TEST(Help, EveryOpHasItsNatsReqLine) {
  const std::string usage = UsageText("default");
  for (const OpSpec& op : AllOps()) {
    EXPECT_NE(usage.find(NatsReqLine(op, "default")), std::string::npos) << op.name;
  }
  EXPECT_EQ(NatsReqLine(*FindOp("get"), "default"),
            R"(nats req kv.default.get '{"key":"a"}')");
  EXPECT_NE(usage.find("nats micro stats kv"), std::string::npos);
  const std::string help = OpHelp(*FindOp("range"), "blue");
  EXPECT_NE(help.find("kv.blue.range"), std::string::npos);
  EXPECT_NE(help.find("kvctl range l 0 -1"), std::string::npos);
  EXPECT_NE(help.find(R"(request: {"key", "start": int, "stop": int})"),
            std::string::npos);
  EXPECT_NE(help.find(R"(reply:   {"values": [..]})"), std::string::npos);
}

// The kvctl binary run with `args` (no NATS needed): its exit code and output.
std::pair<int, std::string> RunKvctl(const std::vector<std::string>& args) {
  auto p = testing_util::Process::Start(testing_util::RunfilePath("tools/kvctl"), args);
  if (!p.ok()) return {-1, std::string(p.status().message())};
  const absl::StatusOr<int> code = (*p)->Wait(absl::Seconds(10));
  return {code.ok() ? *code : -1, (*p)->Output()};
}

// `kvctl help <op>` prints that op's help (OpHelp, as `kvctl --help` lists every
// op); an unknown op is a usage error.
TEST(Help, KvctlHelpOpPrintsThatOp) {
  for (const OpSpec& op : AllOps()) {
    EXPECT_EQ(RunKvctl({"help", std::string(op.name)}),
              std::make_pair(0, OpHelp(op, "default")))
        << op.name;
  }
  EXPECT_EQ(RunKvctl({"--link", "blue", "help", "get"}),
            std::make_pair(0, OpHelp(*FindOp("get"), "blue")));
  const auto [code, out] = RunKvctl({"help", "nope"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_TRUE(absl::StrContains(out, "kvctl: unknown op 'nope'")) << out;
  EXPECT_EQ(RunKvctl({"help", "get", "set"}).first, 2);
  const auto [all_code, all] = RunKvctl({"help"});
  EXPECT_EQ(all_code, 0);
  EXPECT_EQ(all, UsageText("default"));
}

// kvctl's ops are the API table's: same names and order, and each op's example
// arguments build the table's example request.
TEST(AllOps, FollowTheApiTable) {
  ASSERT_EQ(AllOps().size(), codec::OpTable().size());
  for (size_t i = 0; i < AllOps().size(); ++i) {
    const OpSpec& op = AllOps()[i];
    EXPECT_EQ(op.api, &codec::OpTable()[i]);
    EXPECT_EQ(op.name, op.api->name);
    EXPECT_EQ(FindOp(op.name), &op);
    absl::StatusOr<std::string> body =
        BuildRequest(op, op.example_args, op.example_options);
    ASSERT_TRUE(body.ok()) << op.name << ": " << body.status();
    EXPECT_EQ(*body, op.api->example) << op.name;
  }
  EXPECT_EQ(FindOp("nope"), nullptr);
}

TEST(AllOps, ArgumentsFromTheRequestFields) {
  const std::vector<std::pair<const char*, const char*>> usage = {
      {"get", "KEY"},
      {"set", "KEY VALUE [--ttl SECONDS] [--if absent|present] [--revision N]"},
      {"del", "KEY [--revision N]"},
      {"pop", "KEY [--end left|right]"},
      {"add", "KEY N [--ttl SECONDS]"},
      {"push", "KEY VALUE [--ttl SECONDS]"},
      {"expire", "KEY SECONDS"},
      {"ttl", "KEY"},
      {"range", "KEY START STOP"},
      {"set_union", "KEY..."},
      {"keys", "[PREFIX] [--limit N]"},
  };
  for (const auto& [name, args] : usage) EXPECT_EQ(FindOp(name)->args, args) << name;
  EXPECT_EQ(FindOp("get")->min_args, 1);
  EXPECT_EQ(FindOp("get")->max_args, 1);
  EXPECT_EQ(FindOp("range")->min_args, 3);
  EXPECT_EQ(FindOp("range")->max_args, 3);
  EXPECT_EQ(FindOp("set_union")->min_args, 1);
  EXPECT_EQ(FindOp("set_union")->max_args, -1);
  EXPECT_EQ(FindOp("keys")->min_args, 0);
  EXPECT_EQ(FindOp("keys")->max_args, 1);
  EXPECT_TRUE(FindOp("keys")->paged);
  EXPECT_FALSE(FindOp("get")->paged);
  RequestOptions limit;
  limit.limit = 5;
  EXPECT_NE(Request("get", {"a"}, limit).find("--limit applies to keys, watch only"),
            std::string::npos);
}

TEST(BuildRequest, ConditionsAndPop) {
  RequestOptions absent;
  absent.if_state = "absent";
  absent.ttl_seconds = 30;
  EXPECT_EQ(Request("set", {"lock:x", "me"}, absent),
            R"({"key":"lock:x","value":"me","expires":30,"if":"absent"})");
  RequestOptions cas;
  cas.revision = 18446744073709551615u;
  EXPECT_EQ(Request("set", {"k", "v"}, cas),
            R"({"key":"k","value":"v","revision":18446744073709551615})");
  cas.revision = 0;
  EXPECT_EQ(Request("del", {"k"}, cas), R"({"key":"k","revision":0})");
  RequestOptions right;
  right.end = "right";
  EXPECT_EQ(Request("pop", {"q"}, right), R"({"key":"q","end":"right"})");
  EXPECT_EQ(Request("pop", {"q"}), R"({"key":"q"})");
  EXPECT_NE(Request("get", {"k"}, absent).find("--if applies to set only"),
            std::string::npos);
  EXPECT_NE(Request("push", {"k", "v"}, cas).find("--revision applies to set, del only"),
            std::string::npos);
  EXPECT_NE(Request("del", {"k"}, right).find("--end applies to pop only"),
            std::string::npos);
  EXPECT_EQ(Reply("pop", R"({"exists":true,"value":"a","revision":9})"), "a\n");
  EXPECT_EQ(Reply("pop", R"({"exists":false,"value":"","revision":0})"), "(nil)\n");
}

TEST(BuildRequest, Batches) {
  EXPECT_EQ(Request("mget", {"a", "b"}), R"({"keys":["a","b"]})");
  EXPECT_EQ(Request("mdel", {"a"}), R"({"keys":["a"]})");
  EXPECT_EQ(Request("mset", {"a", "1", "b", "2"}),
            R"({"entries":[{"key":"a","value":"1"},{"key":"b","value":"2"}]})");
  RequestOptions ttl;
  ttl.ttl_seconds = 30;
  EXPECT_EQ(Request("mset", {"a", "1"}, ttl),
            R"({"entries":[{"key":"a","value":"1","expires":30}]})");
  EXPECT_EQ(Request("mset", {"a", "1", "b"}),
            "ERROR: mset takes KEY VALUE pairs (got 3 arguments)");
  EXPECT_EQ(Request("mset", {"a"}),
            "ERROR: mset takes KEY VALUE... [--ttl SECONDS] (got 1 argument)");
  EXPECT_EQ(FindOp("mset")->args, "KEY VALUE... [--ttl SECONDS]");
  EXPECT_EQ(FindOp("mget")->args, "KEY...");
  EXPECT_NE(Request("mget", {"a"}, ttl)
                .find("--ttl applies to set, add, push, set_add, mset only"),
            std::string::npos);
}

TEST(BuildRequest, Base64AndValueSources) {
  RequestOptions b64;
  b64.base64 = true;
  // --base64: VALUE arguments are base64 already; keys stay text.
  EXPECT_EQ(Request("set", {"k", "AP8="}, b64),
            R"({"encoding":"base64","key":"k","value":"AP8="})");
  EXPECT_EQ(Request("get", {"k"}, b64), R"({"encoding":"base64","key":"k"})");
  EXPECT_EQ(Request("mset", {"a", "AA==", "b", "AQ=="}, b64),
            R"({"encoding":"base64","entries":[{"key":"a","value":"AA=="},)"
            R"({"key":"b","value":"AQ=="}]})");
  // "-" and "@file" are read (here by a fake reader) and sent as base64, as is
  // every other value of the request.
  RequestOptions files;
  std::vector<std::string> read;
  files.read_value = [&](absl::string_view source) -> absl::StatusOr<std::string> {
    read.emplace_back(source);
    if (source == "@missing") return absl::InvalidArgumentError("cannot read 'missing'");
    return std::string("\0\xff", 2);
  };
  EXPECT_EQ(Request("set", {"k", "@f.bin"}, files),
            R"({"encoding":"base64","key":"k","value":"AP8="})");
  EXPECT_EQ(Request("push", {"-", "-"}, files),
            R"({"encoding":"base64","key":"-","value":"AP8="})");
  EXPECT_EQ(Request("mset", {"a", "-", "b", "hi"}, files),
            R"({"encoding":"base64","entries":[{"key":"a","value":"AP8="},)"
            R"({"key":"b","value":"aGk="}]})");
  EXPECT_EQ(read, (std::vector<std::string>{"@f.bin", "-", "-"}));
  EXPECT_EQ(Request("set", {"k", "@missing"}, files), "ERROR: cannot read 'missing'");
  // "@@x" is the literal "@x"; keys are never read from files.
  EXPECT_EQ(Request("set", {"@k", "@@x"}, files), R"({"key":"@k","value":"@x"})");
  // stdin can be read once only.
  EXPECT_EQ(Request("mset", {"a", "-", "b", "-"}, files),
            "ERROR: at most one value may come from stdin (-)");
}

TEST(ReadValueSource, FilesDirectoriesAndMissingFiles) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/value.bin";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite("\0ab", 1, 3, f);
    std::fclose(f);
  }
  EXPECT_EQ(*ReadValueSource("@" + path), std::string("\0ab", 3));
  absl::StatusOr<std::string> d = ReadValueSource("@" + dir);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("directory"), std::string::npos) << d.status();
  EXPECT_FALSE(ReadValueSource("@" + dir + "/none").ok());
}

TEST(FormatReply, Batches) {
  EXPECT_EQ(
      *FormatReply(
          *FindOp("mget"),
          R"({"entries":[{"key":"a","exists":true,"value":"x"},)"
          R"({"key":"b","exists":false},{"key":"l","exists":true,"type":"list"}]})"),
      "x\n(nil)\n(list)\n");
  EXPECT_EQ(*FormatReply(*FindOp("mset"), R"({"ok":true,"count":2})"), "OK\n");
  EXPECT_EQ(*FormatReply(*FindOp("mdel"), R"({"deleted":2})"), "2\n");
}

TEST(FormatTable, AlignsColumns) {
  EXPECT_EQ(FormatTable({{"NAME"}, {"N", true}, {"NOTE"}},
                        {{"a", "1", "x"}, {"long name", "100"}}),
            "NAME         N  NOTE\n"
            "a            1  x\n"
            "long name  100\n");
}

TEST(Discovery, PingInfoStatsTables) {
  const std::vector<std::string> ping = {
      R"({"type":"io.nats.micro.v1.ping_response","name":"kv","id":"B2","version":"0.1.0"})",
      R"({"type":"io.nats.micro.v1.ping_response","name":"kv","id":"A1","version":"0.1.0"})",
      "garbage"};
  EXPECT_EQ(FormatPingReplies(ping),
            "NAME  ID  VERSION\n"
            "kv    A1  0.1.0\n"
            "kv    B2  0.1.0\n");
  const std::vector<std::string> info = {
      R"({"name":"kv","id":"A1","version":"0.1.0","description":"cache",
          "endpoints":[{"name":"get","subject":"kv.default.get","queue_group":"q"}]})"};
  EXPECT_EQ(FormatInfoReplies(info),
            "kv 0.1.0  id A1  (cache)\n"
            "  ENDPOINT  SUBJECT         QUEUE GROUP\n"
            "  get       kv.default.get  q\n");
  const std::vector<std::string> stats = {
      R"({"name":"kv","id":"A1","endpoints":[{"name":"get","num_requests":12,
          "num_errors":1,"last_error":"400:bad","average_processing_time":15300}]})"};
  EXPECT_EQ(FormatStatsReplies(stats),
            "INSTANCE  ENDPOINT  REQUESTS  ERRORS  AVG LATENCY  LAST ERROR\n"
            "kv/A1     get             12       1       15.3us  400:bad\n");
}

TEST(FormatNanos, PicksAUnit) {
  EXPECT_EQ(FormatNanos(850), "850ns");
  EXPECT_EQ(FormatNanos(12345), "12.3us");
  EXPECT_EQ(FormatNanos(4560000), "4.56ms");
  EXPECT_EQ(FormatNanos(1200000000), "1.20s");
}

}  // namespace
}  // namespace kv::tools
