// Integration tests of kvd (the kv.<link>.<op> service) against a real
// nats-server: every operation of the API table (kv/codec/ops.h, README.md) through NATS
// request/reply, every error code, 1,000 malformed requests, two isolated
// links, SIGTERM drain, reconnect after a server restart, discovery, and
// standalone mode staying off the replication subjects.
//
// Each test starts its own nats-server and kvd child processes.

#include <nats/nats.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/codec/binary.h"
#include "kv/codec/ops.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"

namespace {

using ::testing_util::Call;
using ::testing_util::ConnectionPtr;
using ::testing_util::KeyBody;
using ::testing_util::KeyIntBody;
using ::testing_util::KeysBody;
using ::testing_util::KeyValueBody;
using ::testing_util::NatsServer;
using ::testing_util::Process;
using ::testing_util::Quote;
using ::testing_util::RangeBody;
using ::testing_util::Reply;
using ::testing_util::ToReply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);
// A replicating kvd alone on its server is the first replica after
// --first_replica_silence: keep that short where it is not the subject.
const std::vector<std::string> kFastJoin = {"--heartbeat=100ms",
                                            "--first_replica_silence=300ms"};

// Every op name, in the order of the API's operation table.
const std::vector<std::string>& Ops() {
  static const auto* ops = [] {
    auto* names = new std::vector<std::string>;
    for (kv::codec::Op op : kv::codec::AllOps()) {
      names->emplace_back(kv::codec::OpName(op));
    }
    return names;
  }();
  return *ops;
}

// The kvd binary: from the runfiles under Bazel, else relative to the cwd.
std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

// Parses and re-serializes JSON (compact, member order kept), so replies
// compare as text independent of whitespace. "<invalid JSON: ...>" if the
// text does not parse.
std::string Canon(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) return absl::StrCat("<invalid JSON: ", json, ">");
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// Checks that `r` is an error reply with `code`: both headers, and the body
// {"error":{"code":code,"message":<the header's message>}}, whose message
// contains `needle`.
void ExpectError(const Reply& r, int code, absl::string_view needle,
                 const std::string& context = "") {
  SCOPED_TRACE(context);
  ASSERT_TRUE(r.ok()) << "no reply: " << natsStatus_GetText(r.status);
  auto err = r.headers.find("Nats-Service-Error");
  auto err_code = r.headers.find("Nats-Service-Error-Code");
  ASSERT_NE(err, r.headers.end()) << "no Nats-Service-Error; body " << r.data;
  ASSERT_NE(err_code, r.headers.end()) << "no Nats-Service-Error-Code; body " << r.data;
  EXPECT_EQ(err_code->second, absl::StrCat(code)) << err->second;
  EXPECT_TRUE(absl::StrContains(err->second, needle))
      << "message '" << err->second << "' lacks '" << needle << "'";
  rapidjson::Document doc;
  doc.Parse(r.data.data(), r.data.size());
  ASSERT_FALSE(doc.HasParseError()) << r.data;
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("error") && doc["error"].IsObject())
      << r.data;
  const auto& e = doc["error"];
  ASSERT_TRUE(e.HasMember("code") && e["code"].IsInt()) << r.data;
  ASSERT_TRUE(e.HasMember("message") && e["message"].IsString()) << r.data;
  EXPECT_EQ(e["code"].GetInt(), code) << r.data;
  EXPECT_EQ(std::string(e["message"].GetString(), e["message"].GetStringLength()),
            err->second);
}

class KvdTest : public testing_util::ServerTest {
 protected:
  // Starts kvd against the test's server with `args` and waits until every
  // link in `links` answers (not 503). nullptr (with a test failure) if it
  // does not come up.
  std::unique_ptr<Process> StartKvd(std::vector<std::string> args,
                                    const std::vector<std::string>& links = {"default"},
                                    bool wait_ready = true) {
    args.insert(args.begin(), absl::StrCat("--server=", server_->url()));
    auto kvd = Process::Start(KvdPath(), args);
    if (!kvd.ok()) {
      ADD_FAILURE() << kvd.status();
      return nullptr;
    }
    std::unique_ptr<Process> p = *std::move(kvd);
    if (!p->WaitForOutput("service kv ", kTimeout)) {
      ADD_FAILURE() << "kvd did not start; output:\n" << p->Output();
      return nullptr;
    }
    if (!wait_ready) return p;
    for (const std::string& link : links) {
      const bool ready = WaitFor(
          [&] {
            const Reply r = Call(nc_.get(), absl::StrCat("kv.", link, ".exists"),
                                 KeyBody("ready-probe"), absl::Seconds(2));
            return r.ok() && r.code() == 0;
          },
          kTimeout);
      if (!ready) {
        ADD_FAILURE() << "kvd link " << link << " not ready; output:\n" << p->Output();
        return nullptr;
      }
    }
    return p;
  }

  Reply Req(const std::string& op, const std::string& body,
            const std::string& link = "default") {
    return Call(nc_.get(), absl::StrCat("kv.", link, ".", op), body);
  }

  // A successful request's reply in canonical form; a test failure (and
  // "<error ...>") if it was an error or got no reply.
  std::string Ok(const std::string& op, const std::string& body,
                 const std::string& link = "default") {
    const Reply r = Req(op, body, link);
    if (!r.ok()) {
      ADD_FAILURE() << op << " " << body << ": " << natsStatus_GetText(r.status);
      return "<no reply>";
    }
    if (r.code() != 0 || r.headers.count("Nats-Service-Error") != 0) {
      ADD_FAILURE() << op << " " << body.substr(0, 200) << ": error " << r.code() << " "
                    << r.data;
      return absl::StrCat("<error ", r.code(), ">");
    }
    return Canon(r.data);
  }

  // A successful reply, parsed.
  rapidjson::Document OkDoc(const std::string& op, const std::string& body,
                            const std::string& link = "default") {
    rapidjson::Document doc;
    const std::string text = Ok(op, body, link);
    doc.Parse(text.data(), text.size());
    return doc;
  }

  // The value of a string key, byte-exact; nullopt-like "<absent>" marker
  // is avoided by returning exists separately.
  std::pair<bool, std::string> Get(const std::string& key,
                                   const std::string& link = "default") {
    rapidjson::Document doc = OkDoc("get", KeyBody(key), link);
    if (!doc.IsObject() || !doc.HasMember("exists") || !doc.HasMember("value")) {
      ADD_FAILURE() << "bad get reply for " << key;
      return {false, ""};
    }
    return {doc["exists"].GetBool(),
            std::string(doc["value"].GetString(), doc["value"].GetStringLength())};
  }

  // Every key of `link` with `prefix`, through keys paging of `limit`.
  std::vector<std::string> AllKeys(const std::string& prefix = "", int limit = 10000,
                                   const std::string& link = "default",
                                   int* pages = nullptr) {
    std::vector<std::string> keys;
    std::string cursor;
    int n = 0;
    for (int guard = 0; guard < 100000; ++guard) {
      std::string body =
          absl::StrCat("{\"prefix\":", Quote(prefix), ",\"limit\":", limit);
      if (!cursor.empty()) absl::StrAppend(&body, ",\"cursor\":", Quote(cursor));
      body += "}";
      rapidjson::Document doc = OkDoc("keys", body, link);
      if (!doc.IsObject() || !doc.HasMember("keys")) break;
      ++n;
      EXPECT_LE(static_cast<int>(doc["keys"].Size()), limit);
      for (const auto& k : doc["keys"].GetArray()) {
        keys.emplace_back(k.GetString(), k.GetStringLength());
      }
      if (!doc.HasMember("cursor")) break;
      cursor.assign(doc["cursor"].GetString(), doc["cursor"].GetStringLength());
    }
    if (pages != nullptr) *pages = n;
    return keys;
  }

  // The parsed reply of $SRV.<verb>.kv (one service instance expected).
  rapidjson::Document Discover(const std::string& verb) {
    rapidjson::Document doc;
    const Reply r = Call(nc_.get(), absl::StrCat("$SRV.", verb, ".kv"), "");
    if (!r.ok()) {
      ADD_FAILURE() << verb << ": " << natsStatus_GetText(r.status);
      return doc;
    }
    doc.Parse(r.data.data(), r.data.size());
    if (doc.HasParseError() || !doc.IsObject()) {
      ADD_FAILURE() << verb << ": " << r.data;
      doc.SetObject();
    }
    return doc;
  }

  // Sum of num_errors over the endpoints, and the unknown_ops figure of the
  // default link's data.
  std::pair<int64_t, int64_t> ErrorStats() {
    rapidjson::Document doc = Discover("STATS");
    int64_t errors = 0, unknown = -1;
    if (!doc.HasMember("endpoints")) return {-1, -1};
    for (const auto& e : doc["endpoints"].GetArray()) {
      errors += e["num_errors"].GetInt64();
      if (e.HasMember("data") && e["data"].HasMember("unknown_ops")) {
        unknown = e["data"]["unknown_ops"].GetInt64();
      }
    }
    return {errors, unknown};
  }
};

// ---------------------------------------------------------------------------
// Operations

TEST_F(KvdTest, GetSetDelExists) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  EXPECT_EQ(Ok("get", KeyBody("k")), R"({"exists":false,"value":""})");
  EXPECT_EQ(Ok("exists", KeyBody("k")), R"({"exists":false})");
  EXPECT_EQ(Ok("set", KeyValueBody("k", "v1")), R"({"ok":true})");
  EXPECT_EQ(Ok("get", KeyBody("k")), R"({"exists":true,"value":"v1"})");
  EXPECT_EQ(Ok("exists", KeyBody("k")), R"({"exists":true})");
  EXPECT_EQ(Ok("set", KeyValueBody("k", "v2")), R"({"ok":true})");
  EXPECT_EQ(Ok("get", KeyBody("k")), R"({"exists":true,"value":"v2"})");
  // The empty string is a value.
  EXPECT_EQ(Ok("set", KeyValueBody("empty", "")), R"({"ok":true})");
  EXPECT_EQ(Ok("get", KeyBody("empty")), R"({"exists":true,"value":""})");
  EXPECT_EQ(Ok("exists", KeyBody("empty")), R"({"exists":true})");
  EXPECT_EQ(Ok("del", KeyBody("k")), R"({"deleted":true})");
  EXPECT_EQ(Ok("del", KeyBody("k")), R"({"deleted":false})");
  EXPECT_EQ(Ok("del", KeyBody("never")), R"({"deleted":false})");
  EXPECT_EQ(Ok("get", KeyBody("k")), R"({"exists":false,"value":""})");
  EXPECT_EQ(Ok("exists", KeyBody("k")), R"({"exists":false})");
  // A deleted key can be written again.
  EXPECT_EQ(Ok("set", KeyValueBody("k", "v3")), R"({"ok":true})");
  EXPECT_EQ(Ok("get", KeyBody("k")), R"({"exists":true,"value":"v3"})");
  // del works on every type.
  Ok("add", KeyIntBody("c", 1));
  Ok("push", KeyValueBody("l", "x"));
  Ok("set_add", KeyValueBody("s", "x"));
  for (const char* key : {"c", "l", "s"}) {
    EXPECT_EQ(Ok("del", KeyBody(key)), R"({"deleted":true})") << key;
    EXPECT_EQ(Ok("exists", KeyBody(key)), R"({"exists":false})") << key;
  }
}

TEST_F(KvdTest, SetWithExpiresDisappears) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  EXPECT_EQ(Ok("set", R"({"key":"ttl","value":"soon gone","expires":1})"),
            R"({"ok":true})");
  EXPECT_EQ(Ok("set", R"({"key":"fractional","value":"x","expires":0.5})"),
            R"({"ok":true})");
  EXPECT_EQ(Ok("set", R"({"key":"long","value":"stays","expires":3600})"),
            R"({"ok":true})");
  const absl::Time set_at = absl::Now();
  EXPECT_EQ(Ok("get", KeyBody("ttl")), R"({"exists":true,"value":"soon gone"})");
  EXPECT_TRUE(WaitFor(
      [&] { return Ok("get", KeyBody("ttl")) == R"({"exists":false,"value":""})"; },
      kTimeout));
  EXPECT_GE(absl::Now() - set_at, absl::Milliseconds(900));
  EXPECT_TRUE(WaitFor(
      [&] { return Ok("exists", KeyBody("fractional")) == R"({"exists":false})"; },
      kTimeout));
  EXPECT_EQ(Ok("exists", KeyBody("ttl")), R"({"exists":false})");
  EXPECT_EQ(AllKeys(), std::vector<std::string>{"long"});
  EXPECT_EQ(Ok("get", KeyBody("long")), R"({"exists":true,"value":"stays"})");
  // A set without expires clears an earlier TTL.
  EXPECT_EQ(Ok("set", R"({"key":"ttl2","value":"a","expires":1})"), R"({"ok":true})");
  EXPECT_EQ(Ok("set", KeyValueBody("ttl2", "b")), R"({"ok":true})");
  EXPECT_TRUE(
      WaitFor([&] { return absl::Now() - set_at > absl::Seconds(2.5); }, kTimeout));
  EXPECT_EQ(Ok("get", KeyBody("ttl2")), R"({"exists":true,"value":"b"})");
}

TEST_F(KvdTest, Counters) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  EXPECT_EQ(Ok("add", KeyIntBody("c", 5)), R"({"value":5})");
  EXPECT_EQ(Ok("add", KeyIntBody("c", -7)), R"({"value":-2})");
  EXPECT_EQ(Ok("get", KeyBody("c")), R"({"exists":true,"value":"-2"})");
  EXPECT_EQ(Ok("add", KeyIntBody("zero", 0)), R"({"value":0})");
  EXPECT_EQ(Ok("exists", KeyBody("zero")), R"({"exists":true})");
  EXPECT_EQ(Ok("get", KeyBody("zero")), R"({"exists":true,"value":"0"})");
  EXPECT_EQ(Ok("add", KeyIntBody("neg", -3)), R"({"value":-3})");
  // A deleted counter starts again at 0.
  EXPECT_EQ(Ok("del", KeyBody("c")), R"({"deleted":true})");
  EXPECT_EQ(Ok("add", KeyIntBody("c", 1)), R"({"value":1})");

  // Overflow in both directions: 413, value unchanged.
  EXPECT_EQ(Ok("add", KeyIntBody("max", INT64_MAX)), R"({"value":9223372036854775807})");
  ExpectError(Req("add", KeyIntBody("max", 1)), 413, "overflow");
  EXPECT_EQ(Ok("get", KeyBody("max")),
            R"({"exists":true,"value":"9223372036854775807"})");
  EXPECT_EQ(Ok("add", R"({"key":"min","value":-9223372036854775808})"),
            R"({"value":-9223372036854775808})");
  ExpectError(Req("add", KeyIntBody("min", -1)), 413, "overflow");
  EXPECT_EQ(Ok("add", KeyIntBody("min", 0)), R"({"value":-9223372036854775808})");
  EXPECT_EQ(Ok("add", KeyIntBody("min", 1)), R"({"value":-9223372036854775807})");
}

TEST_F(KvdTest, Lists) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  EXPECT_EQ(Ok("range", RangeBody("l", 0, -1)), R"({"values":[]})");
  int n = 0;
  for (const char* v : {"a", "b", "c", "d", "e"}) {
    EXPECT_EQ(Ok("push", KeyValueBody("l", v)), absl::StrCat("{\"length\":", ++n, "}"));
  }
  EXPECT_EQ(Ok("range", RangeBody("l", 0, -1)), R"({"values":["a","b","c","d","e"]})");
  EXPECT_EQ(Ok("range", RangeBody("l", 1, 2)), R"({"values":["b","c"]})");
  EXPECT_EQ(Ok("range", RangeBody("l", -2, -1)), R"({"values":["d","e"]})");
  EXPECT_EQ(Ok("range", RangeBody("l", -3, 3)), R"({"values":["c","d"]})");
  EXPECT_EQ(Ok("range", RangeBody("l", -100, 1)), R"({"values":["a","b"]})");
  EXPECT_EQ(Ok("range", RangeBody("l", 3, 100)), R"({"values":["d","e"]})");
  EXPECT_EQ(Ok("range", RangeBody("l", 0, 0)), R"({"values":["a"]})");
  EXPECT_EQ(Ok("range", RangeBody("l", -1, -1)), R"({"values":["e"]})");
  EXPECT_EQ(Ok("range", RangeBody("l", 3, 1)), R"({"values":[]})");
  EXPECT_EQ(Ok("range", RangeBody("l", 5, 10)), R"({"values":[]})");
  EXPECT_EQ(Ok("range", RangeBody("l", -1, -2)), R"({"values":[]})");
  EXPECT_EQ(Ok("range", RangeBody("l", 0, -6)), R"({"values":[]})");
  EXPECT_EQ(Ok("range", RangeBody("l", INT64_MIN, INT64_MAX)),
            R"({"values":["a","b","c","d","e"]})");

  // Duplicates are kept in order; list_del removes every equal item.
  EXPECT_EQ(Ok("push", KeyValueBody("l", "b")), R"({"length":6})");
  EXPECT_EQ(Ok("list_del", KeyValueBody("l", "b")), R"({"length":4})");
  EXPECT_EQ(Ok("range", RangeBody("l", 0, -1)), R"({"values":["a","c","d","e"]})");
  EXPECT_EQ(Ok("list_del", KeyValueBody("l", "zzz")), R"({"length":4})");
  EXPECT_EQ(Ok("list_del", KeyValueBody("absent", "a")), R"({"length":0})");

  EXPECT_EQ(Ok("clear", KeyBody("l")), R"({"deleted":true})");
  EXPECT_EQ(Ok("range", RangeBody("l", 0, -1)), R"({"values":[]})");
  EXPECT_EQ(Ok("clear", KeyBody("absent")), R"({"deleted":false})");
  // A cleared list can grow again.
  EXPECT_EQ(Ok("push", KeyValueBody("l", "z")), R"({"length":1})");
  EXPECT_EQ(Ok("range", RangeBody("l", 0, -1)), R"({"values":["z"]})");
}

// Conditional writes (issue 12): a failed condition is 412 with the key's
// current revision in the body and changes nothing.
TEST_F(KvdTest, ConditionalWritesAnswer412WithTheRevision) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  const std::string take = R"({"key":"lock:x","value":"me","if":"absent","expires":30})";
  const Reply first = Req("set", take);
  ASSERT_EQ(first.code(), 0) << first.data;
  EXPECT_EQ(first.data, R"({"ok":true})");
  ASSERT_GT(first.revision, 0);
  const Reply second = Req("set", R"({"key":"lock:x","value":"you","if":"absent"})");
  ExpectError(second, 412, "condition failed: key 'lock:x' exists");
  EXPECT_TRUE(
      absl::EndsWith(second.data, absl::StrCat(",\"revision\":", first.revision, "}}")))
      << second.data;
  EXPECT_EQ(Get("lock:x"), std::make_pair(true, std::string("me")));

  // Compare-and-set: the current revision wins once; a stale one is 412.
  const Reply cas = Req(
      "set",
      absl::StrCat(R"({"key":"lock:x","value":"me2","revision":)", first.revision, "}"));
  ASSERT_EQ(cas.code(), 0) << cas.data;
  EXPECT_GT(cas.revision, first.revision);
  const Reply stale = Req("set", absl::StrCat(R"({"key":"lock:x","value":"late",)"
                                              R"("revision":)",
                                              first.revision, "}"));
  ExpectError(stale, 412, absl::StrCat("is at revision ", cas.revision));
  EXPECT_TRUE(absl::StrContains(stale.data, absl::StrCat("\"revision\":", cas.revision)))
      << stale.data;
  EXPECT_EQ(Get("lock:x"), std::make_pair(true, std::string("me2")));

  // Release with the revision: a stale one is refused, the current one deletes.
  ExpectError(
      Req("del", absl::StrCat(R"({"key":"lock:x","revision":)", first.revision, "}")),
      412, "condition failed");
  EXPECT_EQ(Ok("del", absl::StrCat(R"({"key":"lock:x","revision":)", cas.revision, "}")),
            R"({"deleted":true})");
  EXPECT_EQ(Ok("exists", KeyBody("lock:x")), R"({"exists":false})");
  ExpectError(Req("set", R"({"key":"lock:x","value":"v","if":"present"})"), 412,
              "does not exist");
  ExpectError(Req("set", R"({"key":"k","value":"v","if":"absent","revision":0})"), 400,
              "'if' and 'revision'");
  ExpectError(Req("set", R"({"key":"k","value":"v","if":"never"})"), 400, "field 'if'");
}

TEST_F(KvdTest, PopUntilEmptyReturnsEveryItemOnceInOrder) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  std::vector<std::string> pushed;
  for (int i = 0; i < 50; ++i) {
    pushed.push_back(i % 7 == 3 ? "same" : absl::StrCat("item", i));
    Ok("push", KeyValueBody("q", pushed.back()));
  }
  std::vector<std::string> popped;
  for (int i = 0; i < 100; ++i) {
    rapidjson::Document doc = OkDoc("pop", KeyBody("q"));
    ASSERT_TRUE(doc.IsObject() && doc.HasMember("exists")) << i;
    if (!doc["exists"].GetBool()) break;
    popped.emplace_back(doc["value"].GetString(), doc["value"].GetStringLength());
  }
  EXPECT_EQ(popped, pushed);
  EXPECT_EQ(Ok("pop", KeyBody("q")), R"({"exists":false,"value":""})");
  EXPECT_EQ(Ok("exists", KeyBody("q")), R"({"exists":false})");
  Ok("push", KeyValueBody("r", "a"));
  Ok("push", KeyValueBody("r", "b"));
  EXPECT_EQ(Ok("pop", R"({"key":"r","end":"right"})"), R"({"exists":true,"value":"b"})");
  Ok("set", KeyValueBody("str", "v"));
  ExpectError(Req("pop", KeyBody("str")), 409, "");
  EXPECT_EQ(Get("str"), std::make_pair(true, std::string("v")));
}

TEST_F(KvdTest, Sets) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  EXPECT_EQ(Ok("set_query", KeyBody("s1")), R"({"values":[]})");
  EXPECT_EQ(Ok("set_add", KeyValueBody("s1", "b")), R"({"size":1})");
  EXPECT_EQ(Ok("set_add", KeyValueBody("s1", "a")), R"({"size":2})");
  EXPECT_EQ(Ok("set_add", KeyValueBody("s1", "c")), R"({"size":3})");
  EXPECT_EQ(Ok("set_add", KeyValueBody("s1", "a")), R"({"size":3})");
  EXPECT_EQ(Ok("set_query", KeyBody("s1")), R"({"values":["a","b","c"]})");
  EXPECT_EQ(Ok("set_remove", KeyValueBody("s1", "b")), R"({"size":2})");
  EXPECT_EQ(Ok("set_remove", KeyValueBody("s1", "b")), R"({"size":2})");
  EXPECT_EQ(Ok("set_remove", KeyValueBody("nosuch", "b")), R"({"size":0})");
  EXPECT_EQ(Ok("set_query", KeyBody("s1")), R"({"values":["a","c"]})");

  for (const char* v : {"d", "c", "e"}) Ok("set_add", KeyValueBody("s2", v));
  for (const char* v : {"z", "c", "a"}) Ok("set_add", KeyValueBody("s3", v));
  EXPECT_EQ(Ok("set_query", KeyBody("s2")), R"({"values":["c","d","e"]})");
  EXPECT_EQ(Ok("set_union", KeysBody({"s1", "s2"})), R"({"values":["a","c","d","e"]})");
  EXPECT_EQ(Ok("set_union", KeysBody({"s1", "s2", "s3"})),
            R"({"values":["a","c","d","e","z"]})");
  EXPECT_EQ(Ok("set_intersection", KeysBody({"s1", "s2"})), R"({"values":["c"]})");
  EXPECT_EQ(Ok("set_intersection", KeysBody({"s1", "s3"})), R"({"values":["a","c"]})");
  EXPECT_EQ(Ok("set_intersection", KeysBody({"s1", "s2", "s3"})), R"({"values":["c"]})");
  // An absent key is the empty set.
  EXPECT_EQ(Ok("set_union", KeysBody({"s1", "absent"})), R"({"values":["a","c"]})");
  EXPECT_EQ(Ok("set_intersection", KeysBody({"s1", "absent"})), R"({"values":[]})");
  EXPECT_EQ(Ok("set_union", KeysBody({})), R"({"values":[]})");
  EXPECT_EQ(Ok("set_intersection", KeysBody({})), R"({"values":[]})");
  EXPECT_EQ(Ok("set_union", KeysBody({"s1"})), R"({"values":["a","c"]})");
  // Removing the last member empties the set.
  EXPECT_EQ(Ok("set_remove", KeyValueBody("s1", "a")), R"({"size":1})");
  EXPECT_EQ(Ok("set_remove", KeyValueBody("s1", "c")), R"({"size":0})");
  EXPECT_EQ(Ok("set_query", KeyBody("s1")), R"({"values":[]})");
}

TEST_F(KvdTest, KeysPagesThrough2500KeysExactlyOnce) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  std::set<std::string> expected;
  // Pipelined writes: publish all, then collect the replies.
  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsInbox_Create(&inbox), NATS_OK);
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, nc_.get(), inbox), NATS_OK);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  for (int i = 0; i < 2500; ++i) {
    const std::string key = absl::StrFormat("page/%05d", (i * 7919) % 2500);
    expected.insert(key);
    const std::string body = KeyValueBody(key, absl::StrCat("v", i));
    ASSERT_EQ(natsConnection_PublishRequest(nc_.get(), "kv.default.set", inbox,
                                            body.data(), static_cast<int>(body.size())),
              NATS_OK);
  }
  for (int i = 0; i < 2500; ++i) {
    natsMsg* msg = nullptr;
    ASSERT_EQ(natsSubscription_NextMsg(&msg, sub, absl::ToInt64Milliseconds(kTimeout)),
              NATS_OK)
        << "reply " << i;
    const Reply r = ToReply(msg);
    ASSERT_EQ(r.code(), 0) << r.data;
  }
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
  ASSERT_EQ(expected.size(), 2500u);
  for (const char* other : {"other/1", "other/2", "pag", "pagf", "page"}) {
    Ok("set", KeyValueBody(other, "x"));
  }

  for (int limit : {1, 7, 100, 333, 2500, 10000}) {
    SCOPED_TRACE(absl::StrCat("limit ", limit));
    int pages = 0;
    const std::vector<std::string> keys = AllKeys("page/", limit, "default", &pages);
    // Each key exactly once, in a stable (sorted) order.
    EXPECT_EQ(keys.size(), 2500u);
    EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), expected);
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
    EXPECT_GE(pages, (2500 + limit - 1) / limit);
    EXPECT_LE(pages, (2500 + limit - 1) / limit + 1);
  }
  EXPECT_EQ(AllKeys("other/"), (std::vector<std::string>{"other/1", "other/2"}));
  EXPECT_EQ(AllKeys("nothing-here"), std::vector<std::string>{});
  EXPECT_EQ(AllKeys("", 500).size(), 2505u);
  // Without prefix or limit: the default page size (10000) covers it all.
  rapidjson::Document all = OkDoc("keys", "{}");
  ASSERT_TRUE(all.HasMember("keys"));
  EXPECT_EQ(all["keys"].Size(), 2505u);
  EXPECT_FALSE(all.HasMember("cursor"));
  // A deleted key disappears from the listing; the cursor of a deleted key
  // still pages on.
  rapidjson::Document first = OkDoc("keys", R"({"prefix":"page/","limit":10})");
  ASSERT_TRUE(first.HasMember("cursor"));
  const std::string cursor = first["cursor"].GetString();
  EXPECT_EQ(Ok("del", KeyBody(cursor)), R"({"deleted":true})");
  rapidjson::Document next = OkDoc(
      "keys",
      absl::StrCat(R"({"prefix":"page/","limit":10,"cursor":)", Quote(cursor), "}"));
  ASSERT_TRUE(next.HasMember("keys"));
  ASSERT_EQ(next["keys"].Size(), 10u);
  EXPECT_EQ(std::string(next["keys"][0].GetString()), "page/00010");
  EXPECT_EQ(AllKeys("page/", 250).size(), 2499u);
}

TEST_F(KvdTest, ValuesRoundTripByteExactly) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  const std::vector<std::string> values = {
      "plain",
      "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC "
      "\xF0\x9F\x8E\x89",
      "\"quoted\" 'single' \\backslash\\ /slash",
      "line1\nline2\r\nline3\ttab\b\f",
      std::string("nul\0inside\0", 11),
      std::string(1, '\0'),
      std::string("\x01\x02\x1f\x7f", 4),
      "{\"looks\":[\"like\",\"json\"]}",
      "",
      std::string(900, 'x') + "\xE2\x82\xAC",
  };
  for (size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("value ", i));
    const std::string key = absl::StrCat("v", i);
    EXPECT_EQ(Ok("set", KeyValueBody(key, values[i])), R"({"ok":true})");
    const auto got = Get(key);
    EXPECT_TRUE(got.first);
    EXPECT_EQ(got.second, values[i]);
    EXPECT_EQ(Ok("push", KeyValueBody("list", values[i])),
              absl::StrCat("{\"length\":", i + 1, "}"));
    Ok("set_add", KeyValueBody("set", values[i]));
  }
  // Lists keep order and bytes.
  rapidjson::Document range = OkDoc("range", RangeBody("list", 0, -1));
  ASSERT_TRUE(range.HasMember("values"));
  ASSERT_EQ(range["values"].Size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(
        std::string(range["values"][i].GetString(), range["values"][i].GetStringLength()),
        values[i])
        << i;
  }
  // Sets return the same bytes, sorted bytewise.
  std::vector<std::string> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  rapidjson::Document set = OkDoc("set_query", KeyBody("set"));
  ASSERT_TRUE(set.HasMember("values"));
  ASSERT_EQ(set["values"].Size(), sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    EXPECT_EQ(
        std::string(set["values"][i].GetString(), set["values"][i].GetStringLength()),
        sorted[i])
        << i;
  }
  // list_del and set_remove match byte-exactly (NUL included).
  EXPECT_EQ(Ok("list_del", KeyValueBody("list", std::string(1, '\0'))),
            absl::StrCat("{\"length\":", values.size() - 1, "}"));
  EXPECT_EQ(Ok("set_remove", KeyValueBody("set", std::string("nul\0inside\0", 11))),
            absl::StrCat("{\"size\":", values.size() - 1, "}"));
  // Keys may be any UTF-8 too, NUL included.
  const std::string odd_key = std::string("k\xE2\x9C\x93 \"q\"\n\0z", 12);
  EXPECT_EQ(Ok("set", KeyValueBody(odd_key, "odd")), R"({"ok":true})");
  EXPECT_EQ(Get(odd_key).second, "odd");
  const std::vector<std::string> listed = AllKeys("k");
  EXPECT_EQ(listed, std::vector<std::string>{odd_key});
}

// ---------------------------------------------------------------------------
// Errors

TEST_F(KvdTest, BadRequestsAre400AndNameTheField) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  Ok("set", KeyValueBody("str", "v"));
  struct Case {
    const char* op;
    std::string body;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {"get", "not json", "not valid JSON"},
      {"get", "", "not valid JSON"},
      {"set", "{\"key\":\"k\",", "not valid JSON"},
      {"get", "[\"key\"]", "JSON object"},
      {"get", "\"key\"", "JSON object"},
      {"get", "{}", "field 'key' is required"},
      {"get", R"({"key":5})", "field 'key'"},
      {"get", R"({"key":null})", "field 'key'"},
      {"get", R"({"key":""})", "field 'key'"},
      {"get", R"({"key":["a"]})", "field 'key'"},
      {"get", R"({"key":"k","value":"v"})", "unknown field 'value'"},
      {"exists", R"({"kee":"k"})", "unknown field 'kee'"},
      {"del", R"({"key":{}})", "field 'key'"},
      {"set", R"({"key":"k"})", "field 'value' is required"},
      {"set", R"({"value":"v"})", "field 'key' is required"},
      {"set", R"({"key":"k","value":5})", "field 'value'"},
      {"set", R"({"key":"k","value":null})", "field 'value'"},
      {"set", R"({"key":"k","value":"v","expires":0})", "field 'expires'"},
      {"set", R"({"key":"k","value":"v","expires":-1})", "field 'expires'"},
      {"set", R"({"key":"k","value":"v","expires":"10"})", "field 'expires'"},
      {"set", R"({"key":"k","value":"v","expires":1e300})", "field 'expires'"},
      {"add", R"({"key":"c"})", "field 'value' is required"},
      {"add", R"({"key":"c","value":"5"})", "field 'value'"},
      {"add", R"({"key":"c","value":1.5})", "field 'value'"},
      {"add", R"({"key":"c","value":1e19})", "field 'value'"},
      {"add", R"({"key":"c","value":true})", "field 'value'"},
      {"push", R"({"key":"l","value":[1]})", "field 'value'"},
      {"range", R"({"key":"l","start":0})", "field 'stop' is required"},
      {"range", R"({"key":"l","start":"0","stop":1})", "field 'start'"},
      {"range", R"({"key":"l","start":0,"stop":0.5})", "field 'stop'"},
      {"list_del", R"({"key":"l"})", "field 'value' is required"},
      {"clear", R"({"key":1})", "field 'key'"},
      {"set_add", R"({"key":"s","value":false})", "field 'value'"},
      {"set_remove", R"({"value":"x"})", "field 'key' is required"},
      {"set_query", R"({"keys":["s"]})", "unknown field 'keys'"},
      {"set_union", R"({})", "field 'keys' is required"},
      {"set_union", R"({"keys":"s"})", "field 'keys'"},
      {"set_union", R"({"keys":[1]})", "field 'keys'"},
      {"set_intersection", R"({"keys":["a",""]})", "field 'keys'"},
      {"keys", R"({"limit":0})", "field 'limit'"},
      {"keys", R"({"limit":-1})", "field 'limit'"},
      {"keys", R"({"limit":"10"})", "field 'limit'"},
      {"keys", R"({"prefix":5})", "field 'prefix'"},
      {"keys", R"({"cursor":[]})", "field 'cursor'"},
      {"keys", R"({"key":"x"})", "unknown field 'key'"},
      // Key longer than --max_key_bytes (1024).
      {"get", KeyBody(std::string(1025, 'k')), "field 'key'"},
      {"set", KeyValueBody(std::string(5000, 'k'), "v"), "field 'key'"},
      // Invalid UTF-8 inside a string.
      {"set", "{\"key\":\"k\",\"value\":\"\xff\xfe\"}", "not valid JSON"},
  };
  for (const Case& c : cases) {
    ExpectError(Req(c.op, c.body), 400, c.needle,
                absl::StrCat(c.op, " ", c.body.substr(0, 80)));
  }
  // Nothing changed.
  EXPECT_EQ(AllKeys(), std::vector<std::string>{"str"});
  EXPECT_EQ(Get("str").second, "v");
  // A key of exactly the limit is fine.
  EXPECT_EQ(Ok("set", KeyValueBody(std::string(1024, 'k'), "v")), R"({"ok":true})");
}

// Every op of the API table answers its example request, names each missing
// required field and refuses an unknown one.
TEST_F(KvdTest, EveryOpOfTheTableAnswersAndChecksItsFields) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  for (const kv::codec::OpSpec& spec : kv::codec::OpTable()) {
    const std::string op(spec.name);
    const std::string example(spec.example);
    Ok(op, example);
    std::string extra = example;
    extra.insert(extra.size() - 1, ",\"zzz\":1");
    ExpectError(Req(op, extra), 400,
                absl::StrCat("unknown field 'zzz' for ", op, "; accepted: "), op);
    for (const kv::codec::FieldSpec& f : spec.fields) {
      if (!f.required) continue;
      rapidjson::Document doc;
      doc.Parse(example.data(), example.size());
      ASSERT_TRUE(doc.IsObject()) << example;
      doc.RemoveMember(std::string(f.name).c_str());
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      doc.Accept(w);
      ExpectError(Req(op, buf.GetString()), 400,
                  absl::StrCat("field '", f.name, "' is required for ", op), op);
    }
  }
}

// Flags kvd cannot run with are refused at start: exit 2, a message naming the
// flag, before connecting to anything.
TEST_F(KvdTest, UnusableFlagsExit2NamingTheFlag) {
  const std::pair<std::vector<std::string>, const char*> cases[] = {
      {{"--max_key_bytes=70000"},
       "--max_key_bytes=70000 is out of range: use 1 to 65535"},
      {{"--max_key_bytes=0"}, "--max_key_bytes"},
      {{"--max_page=0"}, "--max_page"},
      {{"--max_range=-5"}, "--max_range"},
      {{"--max_value_bytes=-1"}, "--max_value_bytes"},
      {{"--max_list_items=-1"}, "--max_list_items"},
      {{"--max_set_items=0"}, "--max_set_items"},
      {{"--max_keys_per_query=0"}, "--max_keys_per_query"},
      {{"--max_batch_keys=0"}, "--max_batch_keys=0 is out of range"},
      {{"--heartbeat=0s"}, "--heartbeat=0 is out of range"},
      {{"--gc_interval=-1s"}, "--gc_interval"},
      {{"--max_clock_skew=0s"}, "--max_clock_skew=0 is out of range: use 1s to 24h"},
      {{"--max_clock_skew=25h"}, "--max_clock_skew"},
      {{"--tls_key=/nonexistent.key"}, "--tls_cert and --tls_key go together"},
      {{"--tls_cert=/nonexistent.pem"}, "--tls_cert and --tls_key go together"},
  };
  for (const auto& [args, needle] : cases) {
    std::vector<std::string> all = args;
    all.push_back("--server=nats://127.0.0.1:1");  // never reached
    auto kvd = Process::Start(KvdPath(), all);
    ASSERT_TRUE(kvd.ok()) << kvd.status();
    EXPECT_EQ((*kvd)->Wait(absl::Seconds(10)).value_or(-1), 2) << args[0];
    EXPECT_TRUE(absl::StrContains((*kvd)->Output(), needle))
        << args[0] << ": " << (*kvd)->Output();
  }
}

TEST_F(KvdTest, UnknownOperationIs404) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  ExpectError(Req("nope", "{}"), 404, "unknown operation 'nope'");
  const Reply r = Req("nope", KeyBody("k"));
  ExpectError(r, 404, "get");  // lists what is known
  ExpectError(Req("GET", KeyBody("k")), 404, "unknown operation 'GET'");
  ExpectError(Req("set_unions", "garbage"), 404, "set_unions");
  // Exactly one reply per request even though known ops also match the
  // wildcard subscription: a known op gets its normal answer only.
  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsInbox_Create(&inbox), NATS_OK);
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, nc_.get(), inbox), NATS_OK);
  ASSERT_EQ(natsConnection_PublishRequestString(nc_.get(), "kv.default.get", inbox,
                                                KeyBody("k").c_str()),
            NATS_OK);
  ASSERT_EQ(
      natsConnection_PublishRequestString(nc_.get(), "kv.default.nope", inbox, "{}"),
      NATS_OK);
  std::vector<Reply> replies;
  natsMsg* msg = nullptr;
  while (replies.size() < 3 &&
         natsSubscription_NextMsg(&msg, sub, replies.size() < 2 ? 10000 : 500) ==
             NATS_OK) {
    replies.push_back(ToReply(msg));
  }
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
  ASSERT_EQ(replies.size(), 2u);
  std::multiset<int> codes = {replies[0].code(), replies[1].code()};
  EXPECT_EQ(codes, (std::multiset<int>{0, 404}));
}

TEST_F(KvdTest, WrongTypeIs409AndChangesNothing) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  Ok("set", KeyValueBody("str", "v"));
  Ok("add", KeyIntBody("cnt", 3));
  Ok("push", KeyValueBody("lst", "a"));
  Ok("set_add", KeyValueBody("st", "m"));
  struct Case {
    const char* op;
    std::string body;
  };
  const std::vector<Case> cases = {
      {"push", KeyValueBody("str", "x")},
      {"add", KeyIntBody("str", 1)},
      {"set_add", KeyValueBody("str", "x")},
      {"range", RangeBody("str", 0, -1)},
      {"set_query", KeyBody("str")},
      {"list_del", KeyValueBody("str", "v")},
      {"set", KeyValueBody("cnt", "x")},
      {"push", KeyValueBody("cnt", "x")},
      {"get", KeyBody("lst")},
      {"set", KeyValueBody("lst", "x")},
      {"add", KeyIntBody("lst", 1)},
      {"set_add", KeyValueBody("lst", "a")},
      {"set_query", KeyBody("lst")},
      {"get", KeyBody("st")},
      {"push", KeyValueBody("st", "m")},
      {"range", RangeBody("st", 0, 1)},
      {"clear", KeyBody("st")},
      {"set_remove", KeyValueBody("lst", "a")},
      {"set_union", KeysBody({"st", "lst"})},
      {"set_intersection", KeysBody({"st", "str"})},
  };
  for (const Case& c : cases) {
    ExpectError(Req(c.op, c.body), 409, "wrong type", absl::StrCat(c.op, " ", c.body));
  }
  EXPECT_EQ(Get("str").second, "v");
  EXPECT_EQ(Get("cnt").second, "3");
  EXPECT_EQ(Ok("range", RangeBody("lst", 0, -1)), R"({"values":["a"]})");
  EXPECT_EQ(Ok("set_query", KeyBody("st")), R"({"values":["m"]})");
  EXPECT_EQ(AllKeys(), (std::vector<std::string>{"cnt", "lst", "st", "str"}));
}

TEST_F(KvdTest, TooLargeIs413) {
  auto kvd = StartKvd({"--replication=false", "--max_value_bytes=1000", "--max_range=10",
                       "--max_keys_per_query=128", "--max_page=10000"});
  ASSERT_NE(kvd, nullptr);
  const std::string max_value(1000, 'v');
  const std::string too_big(1001, 'v');
  EXPECT_EQ(Ok("set", KeyValueBody("big", max_value)), R"({"ok":true})");
  ExpectError(Req("set", KeyValueBody("big", too_big)), 413, "field 'value'");
  ExpectError(Req("set", KeyValueBody("new", std::string(100000, 'x'))), 413, "1000");
  ExpectError(Req("push", KeyValueBody("lst", too_big)), 413, "field 'value'");
  ExpectError(Req("set_add", KeyValueBody("st", too_big)), 413, "field 'value'");
  EXPECT_EQ(Get("big").second, max_value);
  EXPECT_EQ(Ok("exists", KeyBody("new")), R"({"exists":false})");
  EXPECT_EQ(Ok("exists", KeyBody("lst")), R"({"exists":false})");

  std::vector<std::string> keys;
  for (int i = 0; i < 129; ++i) keys.push_back(absl::StrCat("s", i));
  ExpectError(Req("set_union", KeysBody(keys)), 413, "at most 128");
  ExpectError(Req("set_intersection", KeysBody(keys)), 413, "at most 128");
  keys.pop_back();
  EXPECT_EQ(Ok("set_union", KeysBody(keys)), R"({"values":[]})");

  ExpectError(Req("keys", R"({"limit":10001})"), 413, "field 'limit'");
  EXPECT_EQ(Ok("keys", R"({"limit":10000})"), R"({"keys":["big"]})");

  for (int i = 0; i < 20; ++i) Ok("push", KeyValueBody("lst", absl::StrCat(i)));
  ExpectError(Req("range", RangeBody("lst", 0, -1)), 413, "at most 10");
  EXPECT_EQ(Ok("range", RangeBody("lst", 0, 9)),
            R"({"values":["0","1","2","3","4","5","6","7","8","9"]})");
}

// Nothing kvd sends may exceed the server's max payload: on a server with a
// 16 KiB max payload, keys pages stop at the byte budget (the cursor goes on),
// ranges and set queries over it are 413s saying how to ask for less, a reply
// that JSON escaping makes too large is a 413 too, and error messages and
// last_error stay short whatever the input. STATS still answers.
TEST_F(KvdTest, RepliesNeverExceedTheMaxPayload) {
  const std::string conf = absl::StrCat(testing_util::TempDir(), "/small_payload.conf");
  {
    std::ofstream f(conf);
    f << "max_payload: 16384\n";
  }
  server_.reset();
  auto server = NatsServer::Start({"-c", conf});
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  auto nc = testing_util::Connect(server_->url());
  ASSERT_TRUE(nc.ok()) << nc.status();
  nc_ = *std::move(nc);
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);

  // 100 keys of 500 bytes: 50 KB of keys, listed in pages under 16 KiB.
  std::set<std::string> written;
  for (int i = 0; i < 100; ++i) {
    const std::string key = absl::StrFormat("k%03d%s", i, std::string(496, 'x'));
    ASSERT_EQ(Ok("set", KeyValueBody(key, "v")), R"({"ok":true})");
    written.insert(key);
  }
  std::set<std::string> listed;
  std::string cursor;
  int pages = 0;
  do {
    const Reply r =
        Req("keys",
            cursor.empty() ? "{}" : absl::StrCat(R"({"cursor":)", Quote(cursor), "}"));
    ASSERT_TRUE(r.ok() && r.code() == 0) << r.code() << " " << r.data.substr(0, 200);
    EXPECT_LE(r.data.size(), 16384u);
    rapidjson::Document doc;
    doc.Parse(r.data.data(), r.data.size());
    ASSERT_TRUE(doc.IsObject());
    for (const auto& k : doc["keys"].GetArray()) {
      EXPECT_TRUE(listed.insert(k.GetString()).second) << "listed twice";
    }
    cursor = doc.HasMember("cursor") ? doc["cursor"].GetString() : "";
    ++pages;
  } while (!cursor.empty() && pages < 100);
  EXPECT_EQ(listed, written);
  EXPECT_GE(pages, 4);

  for (int i = 0; i < 20; ++i) {
    Ok("push", KeyValueBody("lst", absl::StrCat(i, std::string(1000, 'v'))));
    Ok("set_add", KeyValueBody("s1", absl::StrCat(i, std::string(1000, 'a'))));
    Ok("set_add", KeyValueBody("s2", absl::StrCat(i, std::string(1000, 'b'))));
  }
  ExpectError(Req("range", RangeBody("lst", 0, -1)), 413, "narrower range");
  EXPECT_EQ(OkDoc("range", RangeBody("lst", 0, 9))["values"].Size(), 10u);
  ExpectError(Req("set_query", KeyBody("s1")), 413, "most one reply carries");
  ExpectError(Req("set_union", KeysBody({"s1", "s2"})), 413, "fewer or smaller sets");

  // 600 items of 10 control characters: 7.8 KB of raw bytes, within the budget,
  // but each escapes to 6 bytes in JSON, so the reply would take 38 KB.
  for (int i = 0; i < 600; ++i) {
    Ok("push", KeyValueBody("ctl", std::string(10, '\x01')));
  }
  ExpectError(Req("range", RangeBody("ctl", 0, -1)), 413, "max payload of 16384");

  // An unknown field with a 10 KB name: the message quotes 64 bytes of it.
  const Reply bad =
      Req("get", absl::StrCat(R"({"key":"a",")", std::string(10000, 'f'), R"(":1})"));
  ExpectError(bad, 400, "unknown field");
  EXPECT_LT(bad.data.size(), 512u);
  const Reply stats = Call(nc_.get(), "$SRV.STATS.kv", "", absl::Seconds(5));
  ASSERT_TRUE(stats.ok()) << natsStatus_GetText(stats.status);
  EXPECT_LE(stats.data.size(), 16384u);
}

// 503 "not ready": a replicated node joining a link asks a peer for a
// catch-up and answers 503 until it has it. A "peer" that never answers keeps
// it unready (it retries); once that peer is gone, no peer answers, so the
// node is the first of its link and becomes ready.
TEST_F(KvdTest, ReplicatedNodeIs503UntilReady) {
  natsSubscription* silent_peer = nullptr;
  ASSERT_EQ(natsConnection_QueueSubscribeSync(&silent_peer, nc_.get(),
                                              "_kv.default.sync.any", "sync"),
            NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  auto kvd = StartKvd(kFastJoin, {"default"}, /*wait_ready=*/false);
  ASSERT_NE(kvd, nullptr);
  ExpectError(Req("get", KeyBody("k")), 503, "catching up");
  // Two join requests reach the silent peer: the node retried, still unready.
  for (int i = 0; i < 2; ++i) {
    natsMsg* join = nullptr;
    ASSERT_EQ(
        natsSubscription_NextMsg(&join, silent_peer, absl::ToInt64Milliseconds(kTimeout)),
        NATS_OK)
        << kvd->Output();
    natsMsg_Destroy(join);
    ExpectError(Req("get", KeyBody("k")), 503, "catching up");
  }
  natsSubscription_Destroy(silent_peer);
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  EXPECT_TRUE(kvd->WaitForOutput("ready: first replica of the link", kTimeout))
      << kvd->Output();
  EXPECT_TRUE(WaitFor(
      [&] {
        const Reply r = Req("get", KeyBody("k"));
        return r.ok() && r.code() == 0;
      },
      kTimeout))
      << kvd->Output();
  EXPECT_EQ(Ok("set", KeyValueBody("k", "v")), R"({"ok":true})");
  EXPECT_EQ(Get("k").second, "v");
}

TEST_F(KvdTest, FirstReplicaSilenceUnderTwoHeartbeatsIsRefused) {
  auto kvd = Process::Start(KvdPath(), {absl::StrCat("--server=", server_->url()),
                                        "--heartbeat=1s", "--first_replica_silence=1s"});
  ASSERT_TRUE(kvd.ok()) << kvd.status();
  const absl::StatusOr<int> code = (*kvd)->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 2);
  EXPECT_TRUE(absl::StrContains((*kvd)->Output(),
                                "--first_replica_silence must be at least two "
                                "--heartbeat intervals (2s)"))
      << (*kvd)->Output();
}

TEST_F(KvdTest, ReplicatedNodeServesAfterReady) {
  auto kvd = StartKvd(kFastJoin);
  ASSERT_NE(kvd, nullptr);
  EXPECT_TRUE(kvd->WaitForOutput("ready", kTimeout)) << kvd->Output();
  EXPECT_TRUE(absl::StrContains(kvd->Output(), "replication on"));
  EXPECT_EQ(Ok("set", KeyValueBody("k", "v")), R"({"ok":true})");
  EXPECT_EQ(Ok("add", KeyIntBody("c", 2)), R"({"value":2})");
  EXPECT_EQ(Get("k").second, "v");
  // A replicated node publishes its changes on _kv.<link>.events (this is
  // the control for the standalone test below).
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, nc_.get(), "_kv.default.events"), NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  EXPECT_EQ(Ok("set", KeyValueBody("k2", "v2")), R"({"ok":true})");
  natsMsg* msg = nullptr;
  EXPECT_EQ(natsSubscription_NextMsg(&msg, sub, 10000), NATS_OK);
  if (msg != nullptr) natsMsg_Destroy(msg);
  natsSubscription_Destroy(sub);
}

TEST_F(KvdTest, MalformedRequestsGetErrorsAndChangeNothing) {
  auto kvd = StartKvd({"--replication=false", "--max_value_bytes=1000"});
  ASSERT_NE(kvd, nullptr);

  // Known data of every type.
  for (int i = 0; i < 20; ++i) {
    Ok("set",
       KeyValueBody(absl::StrCat("str", i), absl::StrCat("value ", i, " \xE2\x9C\x93")));
  }
  for (int i = 0; i < 5; ++i) {
    Ok("add", KeyIntBody(absl::StrCat("cnt", i), i * 1000 - 2000));
    for (int j = 0; j < 3; ++j) {
      Ok("push", KeyValueBody(absl::StrCat("lst", i), absl::StrCat("item", j)));
      Ok("set_add", KeyValueBody(absl::StrCat("st", i), absl::StrCat("m", j)));
    }
  }
  // key -> rendered value of its type.
  auto snapshot = [&] {
    std::map<std::string, std::string> out;
    for (const std::string& key : AllKeys()) {
      if (absl::StartsWith(key, "lst")) {
        out[key] = Ok("range", RangeBody(key, 0, -1));
      } else if (absl::StartsWith(key, "st") && !absl::StartsWith(key, "str")) {
        out[key] = Ok("set_query", KeyBody(key));
      } else {
        out[key] = Ok("get", KeyBody(key));
      }
    }
    return out;
  };
  const std::map<std::string, std::string> before = snapshot();
  ASSERT_EQ(before.size(), 35u);
  const std::pair<int64_t, int64_t> stats_before = ErrorStats();
  ASSERT_GE(stats_before.first, 0);
  ASSERT_GE(stats_before.second, 0);

  std::mt19937 rng(20240611);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  auto known_key = [&] {
    switch (pick(4)) {
      case 0:
        return absl::StrCat("str", pick(20));
      case 1:
        return absl::StrCat("cnt", pick(5));
      case 2:
        return absl::StrCat("lst", pick(5));
      default:
        return absl::StrCat("st", pick(5));
    }
  };
  // A valid body for `op` (used as the base that is then broken).
  auto valid_body = [&](const std::string& op) -> std::string {
    const std::string key = known_key();
    if (op == "add") return KeyIntBody(key, 1);
    if (op == "range") return RangeBody(key, 0, -1);
    if (op == "set_union" || op == "set_intersection" || op == "mget" || op == "mdel") {
      return KeysBody({known_key(), known_key()});
    }
    if (op == "mset") {
      return absl::StrCat(R"({"entries":[{"key":)", Quote(known_key()),
                          R"(,"value":"x"}]})");
    }
    if (op == "keys") return R"({"prefix":"str","limit":5})";
    if (op == "expire") return absl::StrCat(R"({"key":)", Quote(key), R"(,"expires":5})");
    if (op == "set" || op == "push" || op == "list_del" || op == "set_add" ||
        op == "set_remove") {
      return KeyValueBody(key, "x");
    }
    return KeyBody(key);
  };
  const std::vector<std::string> wrong_values = {
      "5", "-1.5", "true", "false", "null", "[]", "[\"a\"]", "{}", "{\"a\":1}"};
  struct Sent {
    std::string op;
    std::string body;
    int expected;
    int category;
  };
  std::map<int, int> per_code;
  std::map<int, int> per_category;
  int errors_on_endpoints = 0, unknown_ops = 0;
  for (int i = 0; i < 1000; ++i) {
    Sent s;
    s.op = Ops()[pick(Ops().size())];
    s.category = pick(9);
    s.expected = 400;
    switch (s.category) {
      case 0: {  // bad JSON: a proper prefix of a valid object
        const std::string body = valid_body(s.op);
        s.body = body.substr(0, 1 + pick(static_cast<int>(body.size()) - 1));
        break;
      }
      case 1: {  // wrong type for one field
        const std::string key = known_key();
        const std::string bad = wrong_values[pick(wrong_values.size())];
        if (s.op == "keys") {
          s.body = pick(2) ? absl::StrCat("{\"prefix\":", bad, "}")
                           : absl::StrCat("{\"limit\":", pick(2) ? "\"5\"" : "-3", "}");
        } else if (s.op == "set_union" || s.op == "set_intersection") {
          s.body = absl::StrCat("{\"keys\":", pick(2) ? "\"s\"" : "[1,\"a\"]", "}");
        } else if (s.op == "add") {
          s.body = absl::StrCat("{\"key\":", Quote(key),
                                ",\"value\":", pick(2) ? "\"1\"" : "0.25", "}");
        } else if (s.op == "range") {
          s.body =
              absl::StrCat("{\"key\":", Quote(key), ",\"start\":", bad, ",\"stop\":1}");
          if (bad == "5")
            s.body = absl::StrCat("{\"key\":", bad, ",\"start\":0,\"stop\":1}");
        } else if (pick(2) == 0 && s.op != "get" && s.op != "del" && s.op != "exists" &&
                   s.op != "clear" && s.op != "set_query" && s.op != "ttl" &&
                   s.op != "persist" && s.op != "pop") {
          s.body = absl::StrCat("{\"key\":", Quote(key), ",\"value\":", bad, "}");
        } else {
          s.body =
              absl::StrCat("{\"key\":", bad, ",\"value\":\"x\",\"start\":0,\"stop\":1}");
          // Ops without value/start/stop reject the unknown fields or the key.
        }
        break;
      }
      case 2: {  // a required field missing (keys has none: use get)
        if (s.op == "keys") s.op = "get";
        if (s.op == "set_union" || s.op == "set_intersection") {
          s.body = "{}";
        } else if (s.op == "get" || s.op == "del" || s.op == "exists" ||
                   s.op == "clear" || s.op == "set_query" || s.op == "ttl" ||
                   s.op == "persist" || s.op == "pop") {
          s.body = "{}";
        } else if (s.op == "range") {
          s.body = absl::StrCat("{\"key\":", Quote(known_key()), ",\"start\":0}");
        } else {
          s.body = pick(2) ? absl::StrCat("{\"key\":", Quote(known_key()), "}")
                           : R"({"value":"x"})";
        }
        break;
      }
      case 3: {  // oversized: value, key, keys list, page size
        switch (pick(4)) {
          case 0: {
            const char* op_for[] = {"set", "push", "set_add"};
            const char* prefix_for[] = {"str", "lst", "st"};
            const int t = pick(3);
            s.op = op_for[t];
            const std::string key =
                pick(2) ? absl::StrCat(prefix_for[t], pick(5)) : absl::StrCat("fresh", i);
            s.body = KeyValueBody(key, std::string(1001 + pick(100000), 'x'));
            s.expected = 413;
            break;
          }
          case 1:
            s.op = "get";
            s.body = KeyBody(std::string(1025 + pick(5000), 'k'));
            s.expected = 400;
            break;
          case 2: {
            s.op = pick(2) ? "set_union" : "set_intersection";
            std::vector<std::string> keys(129 + pick(1000), "st0");
            s.body = KeysBody(keys);
            s.expected = 413;
            break;
          }
          default:
            s.op = "keys";
            s.body = absl::StrCat("{\"limit\":", 10001 + pick(1000000), "}");
            s.expected = 413;
        }
        break;
      }
      case 4: {  // random binary garbage (first byte never starts JSON)
        s.body.resize(1 + pick(300));
        for (char& c : s.body) c = static_cast<char>(rng());
        s.body[0] = static_cast<char>(0x80 | pick(128));
        break;
      }
      case 5:  // empty body
        s.body.clear();
        break;
      case 6: {  // unknown op
        std::string name;
        do {
          name.clear();
          const int len = 1 + pick(12);
          for (int k = 0; k < len; ++k) name += static_cast<char>('a' + pick(26));
        } while (std::find(Ops().begin(), Ops().end(), name) != Ops().end());
        s.op = name;
        s.body = valid_body("get");
        s.expected = 404;
        break;
      }
      case 7: {  // deeply nested arrays / objects
        const int depth = pick(4) == 0 ? 100000 : 1 + pick(5000);
        if (pick(2)) {
          s.body = std::string(depth, '[');
        } else {
          s.body.reserve(depth * 5);
          for (int k = 0; k < depth; ++k) s.body += "{\"a\":";
        }
        break;
      }
      default: {  // huge numbers
        const char* huge[] = {"1e400",  "-1e400",  "123456789012345678901234567890",
                              "9.3e18", "-9.3e18", "1e-400000"};
        const std::string h = huge[pick(6)];
        switch (pick(4)) {
          case 0:
            s.op = "add";
            s.body = absl::StrCat("{\"key\":", Quote(absl::StrCat("cnt", pick(5))),
                                  ",\"value\":", h, "}");
            break;
          case 1:
            s.op = "range";
            s.body = absl::StrCat("{\"key\":", Quote(absl::StrCat("lst", pick(5))),
                                  ",\"start\":", h, ",\"stop\":-1}");
            break;
          case 2:
            s.op = "keys";
            s.body = absl::StrCat("{\"limit\":", h, "}");
            break;
          default:
            s.op = "set";
            s.body = absl::StrCat("{\"key\":", Quote(absl::StrCat("str", pick(20))),
                                  ",\"value\":\"changed\",\"expires\":",
                                  h[0] == '-' ? h : absl::StrCat("-", h), "}");
        }
        if (h == "1e-400000" && s.op != "set") {
          // Parses as 0.0 (an integer-valued double) for add/range: valid.
          s.body = absl::StrCat("{\"key\":5}");
        }
        break;
      }
    }
    const Reply r = Req(s.op, s.body);
    const std::string what = absl::StrCat("request ", i, " category ", s.category, " op ",
                                          s.op, " body ", Quote(s.body.substr(0, 120)));
    if (!r.ok()) {
      const absl::StatusOr<int> exit = kvd->Wait(absl::Seconds(2));
      FAIL() << what << ": no reply (" << natsStatus_GetText(r.status) << "); kvd "
             << (exit.ok() ? absl::StrCat("exited with ", *exit) : "still running")
             << "\n"
             << kvd->Output();
    }
    ExpectError(r, s.expected, "", what);
    ++per_code[r.code()];
    ++per_category[s.category];
    if (r.code() == 404) {
      ++unknown_ops;
    } else {
      ++errors_on_endpoints;
    }
  }
  EXPECT_TRUE(kvd->Running());
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(Ok("get", KeyBody("str0")),
            "{\"exists\":true,\"value\":\"value 0 \xE2\x9C\x93\"}");
  for (const auto& [code, n] : per_code) {
    std::printf("code %d: %d replies\n", code, n);
  }
  for (const auto& [category, n] : per_category) {
    std::printf("category %d: %d requests\n", category, n);
  }
  std::pair<int64_t, int64_t> stats_after;
  EXPECT_TRUE(WaitFor(
      [&] {
        stats_after = ErrorStats();
        return stats_after.first - stats_before.first == errors_on_endpoints &&
               stats_after.second - stats_before.second == unknown_ops;
      },
      kTimeout))
      << "num_errors " << stats_before.first << " -> " << stats_after.first
      << " (expected +" << errors_on_endpoints << "), unknown_ops " << stats_before.second
      << " -> " << stats_after.second << " (expected +" << unknown_ops << ")";
}

TEST_F(KvdTest, DeeplyNestedJsonDoesNotCrash) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  Ok("set", KeyValueBody("k", "v"));
  for (int depth : {10000, 100000, 1000000}) {
    for (const std::string& unit : {std::string("["), std::string("{\"a\":")}) {
      std::string body;
      while (body.size() + unit.size() <= static_cast<size_t>(depth)) body += unit;
      const Reply r = Req("get", body);
      ExpectError(r, 400, "", absl::StrCat(depth, " bytes of ", unit));
      if (!kvd->Running()) {
        // 139 = 128 + SIGSEGV: the recursive JSON parser overflowed the stack.
        FAIL() << "kvd died on " << depth << " bytes of " << unit << ": exit code "
               << kvd->Wait(absl::Seconds(2)).value_or(-1) << "\n"
               << kvd->Output();
      }
    }
  }
  EXPECT_EQ(Get("k").second, "v");
}

// ---------------------------------------------------------------------------
// Links, lifecycle, discovery

TEST_F(KvdTest, TwoLinksAreIsolated) {
  auto kvd = StartKvd({"--replication=false", "--link=a,b"}, {"a", "b"});
  ASSERT_NE(kvd, nullptr);
  EXPECT_TRUE(absl::StrContains(kvd->Output(), "serving kv.a.*"));
  EXPECT_TRUE(absl::StrContains(kvd->Output(), "serving kv.b.*"));
  EXPECT_EQ(Ok("set", KeyValueBody("k", "on a"), "a"), R"({"ok":true})");
  EXPECT_EQ(Ok("get", KeyBody("k"), "b"), R"({"exists":false,"value":""})");
  EXPECT_EQ(Ok("exists", KeyBody("k"), "b"), R"({"exists":false})");
  EXPECT_EQ(Ok("keys", "{}", "b"), R"({"keys":[]})");
  EXPECT_EQ(Ok("set", KeyValueBody("k", "on b"), "b"), R"({"ok":true})");
  EXPECT_EQ(Get("k", "a").second, "on a");
  EXPECT_EQ(Get("k", "b").second, "on b");
  // The same key may even hold different types on the two links.
  EXPECT_EQ(Ok("add", KeyIntBody("c", 5), "a"), R"({"value":5})");
  EXPECT_EQ(Ok("push", KeyValueBody("c", "x"), "b"), R"({"length":1})");
  EXPECT_EQ(Ok("add", KeyIntBody("c", 1), "a"), R"({"value":6})");
  EXPECT_EQ(Ok("set_add", KeyValueBody("s", "only-a"), "a"), R"({"size":1})");
  EXPECT_EQ(Ok("set_query", KeyBody("s"), "b"), R"({"values":[]})");
  EXPECT_EQ(Ok("del", KeyBody("k"), "a"), R"({"deleted":true})");
  EXPECT_EQ(Get("k", "b").second, "on b");
  EXPECT_EQ(AllKeys("", 100, "a"), (std::vector<std::string>{"c", "s"}));
  EXPECT_EQ(AllKeys("", 100, "b"), (std::vector<std::string>{"c", "k"}));
  // The default link is not served by this node.
  const Reply none = Call(nc_.get(), "kv.default.get", KeyBody("k"), absl::Seconds(2));
  EXPECT_EQ(none.status, NATS_NO_RESPONDERS);
}

TEST_F(KvdTest, SigtermDrainsInFlightRequests) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  for (int i = 0; i < 2000; ++i)
    Ok("set", KeyValueBody(absl::StrFormat("key%05d", i), "v"));

  // Requests on inbox.<i>: half increments of one counter (each reply a
  // distinct value), half full key listings (slower), all in flight.
  constexpr int kRequests = 300;
  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsInbox_Create(&inbox), NATS_OK);
  const std::string prefix(reinterpret_cast<const char*>(inbox));
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, nc_.get(), (prefix + ".*").c_str()),
            NATS_OK);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  for (int i = 0; i < kRequests; ++i) {
    const bool add = i % 2 == 0;
    const std::string body = add ? KeyIntBody("counter", 1) : std::string("{}");
    ASSERT_EQ(natsConnection_PublishRequest(nc_.get(),
                                            add ? "kv.default.add" : "kv.default.keys",
                                            absl::StrCat(prefix, ".", i).c_str(),
                                            body.data(), static_cast<int>(body.size())),
              NATS_OK);
  }
  // Every request has reached the server (and so kvd's queue) before the
  // signal.
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  kvd->Signal(SIGTERM);

  std::set<int> answered;
  std::set<int64_t> counter_values;
  int errors = 0;
  const absl::Time deadline = absl::Now() + kTimeout;
  while (static_cast<int>(answered.size()) < kRequests && absl::Now() < deadline) {
    natsMsg* msg = nullptr;
    if (natsSubscription_NextMsg(
            &msg, sub,
            std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now()))) !=
        NATS_OK) {
      break;
    }
    const std::string subject = natsMsg_GetSubject(msg);
    int index = -1;
    EXPECT_TRUE(absl::SimpleAtoi(subject.substr(subject.rfind('.') + 1), &index));
    const Reply r = ToReply(msg);
    if (r.code() != 0) {
      ++errors;
      continue;
    }
    answered.insert(index);
    if (index % 2 == 0) {
      rapidjson::Document doc;
      doc.Parse(r.data.data(), r.data.size());
      if (doc.IsObject() && doc.HasMember("value")) {
        counter_values.insert(doc["value"].GetInt64());
      }
    }
  }
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(static_cast<int>(answered.size()), kRequests) << kvd->Output();
  // Each increment applied once and answered with its own value.
  EXPECT_EQ(static_cast<int>(counter_values.size()), kRequests / 2);
  if (!counter_values.empty()) {
    EXPECT_EQ(*counter_values.begin(), 1);
    EXPECT_EQ(*counter_values.rbegin(), kRequests / 2);
  }
  const absl::StatusOr<int> code = kvd->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << kvd->Output();
  EXPECT_EQ(*code, 0) << kvd->Output();
  const std::string log = kvd->Output();
  EXPECT_TRUE(absl::StrContains(log, "draining")) << log;
  EXPECT_TRUE(absl::StrContains(log, "stopped")) << log;
  // Gone: nobody answers any more.
  const Reply after = Call(nc_.get(), "kv.default.get", KeyBody("k"), absl::Seconds(2));
  EXPECT_EQ(after.status, NATS_NO_RESPONDERS);
}

TEST_F(KvdTest, SigintAlsoStopsCleanly) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  Ok("set", KeyValueBody("k", "v"));
  kvd->Signal(SIGINT);
  const absl::StatusOr<int> code = kvd->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << kvd->Output();
  EXPECT_TRUE(absl::StrContains(kvd->Output(), "SIGINT")) << kvd->Output();
}

TEST_F(KvdTest, ReconnectsAfterServerRestart) {
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  Ok("set", KeyValueBody("k", "before restart"));
  Ok("add", KeyIntBody("c", 41));
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_TRUE(kvd->WaitForOutput("disconnected", kTimeout)) << kvd->Output();
  EXPECT_TRUE(kvd->WaitForOutput("reconnected", kTimeout)) << kvd->Output();
  // Requests work again (the store kept its data: it lives in kvd).
  EXPECT_TRUE(WaitFor(
      [&] {
        const Reply r = Call(nc_.get(), "kv.default.get", KeyBody("k"), absl::Seconds(1));
        return r.ok() && r.code() == 0 &&
               Canon(r.data) == R"({"exists":true,"value":"before restart"})";
      },
      kTimeout))
      << kvd->Output();
  EXPECT_EQ(Ok("add", KeyIntBody("c", 1)), R"({"value":42})");
  EXPECT_EQ(Ok("set", KeyValueBody("k2", "after")), R"({"ok":true})");
  EXPECT_EQ(AllKeys(), (std::vector<std::string>{"c", "k", "k2"}));
  // Discovery came back too.
  EXPECT_TRUE(Discover("PING").HasMember("id"));
  // Unknown ops are answered again (the wildcard subscription came back).
  ExpectError(Req("nope", "{}"), 404, "nope");
  EXPECT_TRUE(kvd->Running());
}

TEST_F(KvdTest, DiscoveryListsEndpointsAndReplicaFigures) {
  auto kvd = StartKvd({"--replication=false", "--link=a,b"}, {"a", "b"});
  ASSERT_NE(kvd, nullptr);

  rapidjson::Document ping = Discover("PING");
  ASSERT_TRUE(ping.HasMember("type"));
  EXPECT_STREQ(ping["type"].GetString(), "io.nats.micro.v1.ping_response");
  EXPECT_STREQ(ping["name"].GetString(), "kv");
  const std::string id = ping["id"].GetString();
  EXPECT_FALSE(id.empty());
  EXPECT_STREQ(ping["version"].GetString(), "0.1.0");
  EXPECT_TRUE(absl::StrContains(kvd->Output(), id));
  // Also reachable by id, and by the bare verb.
  EXPECT_TRUE(Call(nc_.get(), absl::StrCat("$SRV.PING.kv.", id), "").ok());
  EXPECT_TRUE(Call(nc_.get(), "$SRV.PING", "").ok());

  rapidjson::Document info = Discover("INFO");
  ASSERT_TRUE(info.HasMember("endpoints"));
  EXPECT_STREQ(info["type"].GetString(), "io.nats.micro.v1.info_response");
  EXPECT_STREQ(info["id"].GetString(), id.c_str());
  ASSERT_TRUE(info.HasMember("metadata"));
  EXPECT_STREQ(info["metadata"]["links"].GetString(), "a,b");
  EXPECT_STREQ(info["metadata"]["replication"].GetString(), "off");
  std::map<std::string, std::string> subjects;  // name -> subject
  for (const auto& e : info["endpoints"].GetArray()) {
    const std::string name = e["name"].GetString();
    subjects[name] = e["subject"].GetString();
    ASSERT_TRUE(e.HasMember("queue_group")) << name;
    EXPECT_STREQ(e["queue_group"].GetString(), "q") << name;
  }
  EXPECT_EQ(info["endpoints"].Size(), 2u * Ops().size());
  EXPECT_EQ(subjects.size(), 2u * Ops().size());
  for (const char* link : {"a", "b"}) {
    for (const std::string& op : Ops()) {
      const std::string name = absl::StrCat(link, "_", op);
      EXPECT_EQ(subjects[name], absl::StrCat("kv.", link, ".", op)) << name;
    }
  }

  for (int i = 0; i < 3; ++i) Ok("set", KeyValueBody(absl::StrCat("a", i), "x"), "a");
  Ok("add", KeyIntBody("c", 1), "b");
  Ok("push", KeyValueBody("l", "x"), "b");
  Ok("set_add", KeyValueBody("s", "x"), "b");
  Ok("set", KeyValueBody("r", "x"), "b");
  Ok("set", KeyValueBody("r2", "x"), "b");
  ExpectError(Req("get", "{}", "a"), 400, "key");
  // Endpoint stats: per-endpoint counts and each link's replica figures.
  EXPECT_TRUE(WaitFor(
      [&] {
        rapidjson::Document stats = Discover("STATS");
        if (!stats.HasMember("endpoints")) return false;
        bool all = stats["endpoints"].Size() == 2u * Ops().size();
        for (const auto& e : stats["endpoints"].GetArray()) {
          const std::string name = e["name"].GetString();
          if (!e.HasMember("data")) return false;
          const auto& d = e["data"];
          const bool on_a = absl::StartsWith(name, "a_");
          all = all && std::string(d["link"].GetString()) == (on_a ? "a" : "b");
          // The link's figures are in its get endpoint's data.
          if (absl::EndsWith(name, "_get")) {
            all = all && d["keys"].GetInt64() == (on_a ? 3 : 5);
            all = all && d["ready"].GetBool();
          } else {
            all = all && !d.HasMember("keys");
          }
          if (name == "a_set") all = all && e["num_requests"].GetInt64() == 3;
          if (name == "a_get") {
            all = all && e["num_errors"].GetInt64() == 1 &&
                  absl::StartsWith(e["last_error"].GetString(), "400");
          }
          if (name == "b_set") all = all && e["num_requests"].GetInt64() == 2;
        }
        return all;
      },
      kTimeout))
      << Call(nc_.get(), "$SRV.STATS.kv", "").data;
}

TEST_F(KvdTest, StandaloneDoesNotPublishReplicationTraffic) {
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, nc_.get(), "_kv.>"), NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  auto kvd = StartKvd({"--replication=false"});
  ASSERT_NE(kvd, nullptr);
  Ok("set", KeyValueBody("k", "v"));
  Ok("add", KeyIntBody("c", 1));
  Ok("push", KeyValueBody("l", "v"));
  Ok("set_add", KeyValueBody("s", "v"));
  Ok("list_del", KeyValueBody("l", "v"));
  Ok("set_remove", KeyValueBody("s", "v"));
  Ok("del", KeyBody("k"));
  // Anything kvd published before its last reply has reached the server
  // before that reply; one more round trip of our own and a short bounded
  // wait cover delivery to this subscription.
  EXPECT_EQ(Ok("exists", KeyBody("k")), R"({"exists":false})");
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  natsMsg* msg = nullptr;
  const natsStatus s = natsSubscription_NextMsg(&msg, sub, 300);
  EXPECT_EQ(s, NATS_TIMEOUT) << "unexpected message on "
                             << (msg != nullptr ? natsMsg_GetSubject(msg) : "");
  if (msg != nullptr) natsMsg_Destroy(msg);
  natsSubscription_Destroy(sub);
  EXPECT_TRUE(absl::StrContains(kvd->Output(), "replication off"));
}

// Nothing a peer sends may crash a node: garbage on every replication subject
// is counted and dropped, and the data stays as it was.
TEST_F(KvdTest, GarbageOnReplicationSubjectsIsCountedAndDropped) {
  auto kvd = StartKvd(kFastJoin);
  ASSERT_NE(kvd, nullptr);
  const std::string node = testing_util::NodeIdOf(*kvd);
  ASSERT_FALSE(node.empty()) << kvd->Output();
  EXPECT_EQ(Ok("set", KeyValueBody("keep", "me")), R"({"ok":true})");

  std::mt19937 rng(2024);
  const std::vector<std::string> subjects = {"_kv.default.events", "_kv.default.hb",
                                             absl::StrCat("_kv.default.sync.", node),
                                             "_kv.default.sync.any"};
  int sent = 0;
  for (int i = 0; i < 400; ++i) {
    std::string junk(rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    // Some start like a real message (magic and version) to get past the header.
    if (i % 3 == 0 && junk.size() >= 10) {
      const char header[] = {0x01, 0x6e, 0x73, 0x76, 0x6b};
      std::memcpy(junk.data(), header, sizeof(header));
    }
    const std::string& subject = subjects[i % subjects.size()];
    if (i % subjects.size() == 2 || i % subjects.size() == 3) {
      // Sync requests are requests: give some a reply subject.
      ASSERT_EQ(natsConnection_PublishRequest(nc_.get(), subject.c_str(), "_INBOX.junk",
                                              junk.data(), static_cast<int>(junk.size())),
                NATS_OK);
    } else {
      ASSERT_EQ(natsConnection_Publish(nc_.get(), subject.c_str(), junk.data(),
                                       static_cast<int>(junk.size())),
                NATS_OK);
    }
    ++sent;
  }
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  // Counted (every undecodable message), and the node is alive and unchanged.
  EXPECT_TRUE(WaitFor(
      [&] {
        rapidjson::Document stats = Discover("STATS");
        if (!stats.HasMember("endpoints")) return false;
        const auto& d = stats["endpoints"][0]["data"];
        return d["bad_peer_messages"].GetInt64() >= sent / 2;
      },
      kTimeout))
      << Call(nc_.get(), "$SRV.STATS.kv", "").data;
  EXPECT_TRUE(kvd->Running()) << kvd->Output();
  EXPECT_EQ(Get("keep").second, "me");
  EXPECT_EQ(Ok("keys", "{}"), R"({"keys":["keep"]})");
}

// A flood of one kind of event cannot flood the log: 300 catch-up requests are
// all served or refused (the serving limits), but "served catch-up" is logged
// at most 5 times per 10 s.
TEST_F(KvdTest, RepeatedLogLinesAreRateLimited) {
  auto kvd = StartKvd(kFastJoin);
  ASSERT_NE(kvd, nullptr);
  const std::string node = testing_util::NodeIdOf(*kvd);
  ASSERT_FALSE(node.empty()) << kvd->Output();
  const std::string subject = absl::StrCat("_kv.default.sync.", node);
  constexpr int kRequests = 300;
  for (int i = 0; i < kRequests; ++i) {
    const std::string request = kv::codec::EncodeSyncRequest(
        kv::codec::SyncRequest{static_cast<uint64_t>(1000 + i), false, {}});
    ASSERT_EQ(
        natsConnection_PublishRequest(nc_.get(), subject.c_str(), "_INBOX.flood",
                                      request.data(), static_cast<int>(request.size())),
        NATS_OK);
  }
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  EXPECT_TRUE(WaitFor(
      [&] {
        rapidjson::Document stats = Discover("STATS");
        if (!stats.HasMember("endpoints")) return false;
        const auto& d = stats["endpoints"][0]["data"];
        return d["catchups_served"].GetInt64() + d["catchups_refused"].GetInt64() >=
               kRequests;
      },
      kTimeout))
      << Call(nc_.get(), "$SRV.STATS.kv", "").data;
  const std::string log = kvd->Output();
  size_t lines = 0;
  for (size_t at = log.find("served catch-up"); at != std::string::npos;
       at = log.find("served catch-up", at + 1)) {
    ++lines;
  }
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, 5u) << log;
}

}  // namespace
