// End-to-end tests of the batch operations (mget, mset, mdel) and of base64
// values ("encoding":"base64"), against real nats-server and kvd processes,
// with raw JSON requests as `nats req` sends them: replies, errors and their
// codes, the count and byte limits (413), and the replication of a batch to
// another node as one events message.

#include <nats/nats.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/codec/binary.h"
#include "rapidjson/document.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"
#include "tests/testing/kvd_node.h"

namespace {

using ::testing_util::Call;
using ::testing_util::KvdNode;
using ::testing_util::Process;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

// {"entries":[{"key":"<prefix>0","value":"<value>"},...]} with `n` entries.
std::string MsetBody(const std::string& prefix, int n, const std::string& value) {
  std::vector<std::string> entries;
  for (int i = 0; i < n; ++i) {
    entries.push_back(
        absl::StrCat(R"({"key":")", prefix, i, R"(","value":")", value, "\"}"));
  }
  return absl::StrCat(R"({"entries":[)", absl::StrJoin(entries, ","), "]}");
}

// {"keys":["<prefix>0",...]}
std::string KeysOf(const std::string& prefix, int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(absl::StrCat("\"", prefix, i, "\""));
  return absl::StrCat(R"({"keys":[)", absl::StrJoin(keys, ","), "]}");
}

class BatchTest : public testing_util::ServerTest {
 protected:
  // A standalone kvd with `args`, answering.
  std::unique_ptr<Process> StartKvd(std::vector<std::string> args) {
    args.insert(args.begin(), absl::StrCat("--server=", server_->url()));
    args.push_back("--replication=false");
    auto kvd = Process::Start(KvdPath(), args);
    if (!kvd.ok()) {
      ADD_FAILURE() << kvd.status();
      return nullptr;
    }
    std::unique_ptr<Process> p = *std::move(kvd);
    const bool up = WaitFor(
        [&] {
          const Reply r = Req("exists", R"({"key":"probe"})");
          return r.ok() && r.code() == 0;
        },
        kTimeout);
    if (!up) {
      ADD_FAILURE() << "kvd not ready:\n" << p->Output();
      return nullptr;
    }
    return p;
  }

  Reply Req(const std::string& op, const std::string& body) {
    return Call(nc_.get(), absl::StrCat("kv.default.", op), body);
  }

  // The reply body of a request that must succeed.
  std::string Ok(const std::string& op, const std::string& body) {
    const Reply r = Req(op, body);
    EXPECT_TRUE(r.ok() && r.code() == 0 && !r.headers.count("Nats-Service-Error"))
        << op << " " << body.substr(0, 200) << ": " << r.code() << " " << r.data;
    return r.data;
  }

  // An error reply with `code` whose message (header and body) holds `needle`.
  void ExpectError(const std::string& op, const std::string& body, int code,
                   const std::string& needle) {
    SCOPED_TRACE(absl::StrCat(op, " ", body.substr(0, 120)));
    const Reply r = Req(op, body);
    ASSERT_TRUE(r.ok()) << natsStatus_GetText(r.status);
    EXPECT_EQ(r.code(), code) << r.data;
    auto header = r.headers.find("Nats-Service-Error");
    ASSERT_NE(header, r.headers.end()) << r.data;
    EXPECT_TRUE(absl::StrContains(header->second, needle)) << header->second;
    EXPECT_TRUE(absl::StrContains(r.data, absl::StrCat("{\"error\":{\"code\":", code)))
        << r.data;
  }

  // num_errors of the endpoint default_<op> (every instance's, summed).
  uint64_t Errors(const std::string& op) {
    natsMsg* msg = nullptr;
    uint64_t sum = 0;
    natsInbox* inbox = nullptr;
    natsSubscription* sub = nullptr;
    natsInbox_Create(&inbox);
    natsConnection_SubscribeSync(&sub, nc_.get(), inbox);
    natsConnection_PublishRequestString(nc_.get(), "$SRV.STATS.kv", inbox, "");
    while (natsSubscription_NextMsg(&msg, sub, 500) == NATS_OK) {
      rapidjson::Document d;
      d.Parse(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
      natsMsg_Destroy(msg);
      if (!d.IsObject() || !d.HasMember("endpoints")) continue;
      for (const auto& e : d["endpoints"].GetArray()) {
        if (e["name"].GetString() == absl::StrCat("default_", op)) {
          sum += e["num_errors"].GetUint64();
        }
      }
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    return sum;
  }
};

TEST_F(BatchTest, MgetMsetMdelThroughRawRequests) {
  auto kvd = StartKvd({});
  ASSERT_NE(kvd, nullptr);
  Ok("add", R"({"key":"n","value":7})");
  Ok("push", R"({"key":"l","value":"i"})");
  Ok("set_add", R"({"key":"s","value":"m"})");
  // The last entry of a key wins; count counts distinct keys.
  EXPECT_EQ(Ok("mset", R"({"entries":[{"key":"a","value":"1"},)"
                       R"({"key":"b","value":"h\u00e9","expires":60},)"
                       R"({"key":"a","value":"3"}]})"),
            R"({"ok":true,"count":2})");
  EXPECT_EQ(Ok("mget", R"({"keys":["a","b","zz","n","l","s","a"]})"),
            "{\"entries\":[{\"key\":\"a\",\"exists\":true,\"value\":\"3\"},"
            "{\"key\":\"b\",\"exists\":true,\"value\":\"h\xC3\xA9\"},"
            "{\"key\":\"zz\",\"exists\":false},"
            "{\"key\":\"n\",\"exists\":true,\"value\":\"7\"},"
            "{\"key\":\"l\",\"exists\":true,\"type\":\"list\"},"
            "{\"key\":\"s\",\"exists\":true,\"type\":\"set\"},"
            "{\"key\":\"a\",\"exists\":true,\"value\":\"3\"}]}");
  // Each key once; only those that held a value.
  EXPECT_EQ(Ok("mdel", R"({"keys":["a","a","l","zz"]})"), R"({"deleted":2})");
  EXPECT_EQ(Ok("exists", R"({"key":"l"})"), R"({"exists":false})");
  EXPECT_EQ(Ok("get", R"({"key":"b"})"), "{\"exists\":true,\"value\":\"h\xC3\xA9\"}");
}

TEST_F(BatchTest, ErrorsChangeNothing) {
  auto kvd = StartKvd({"--max_batch_keys=3", "--max_key_bytes=8"});
  ASSERT_NE(kvd, nullptr);
  Ok("push", R"({"key":"l","value":"i"})");
  // 409: one entry's key holds a list; the others are not written either.
  ExpectError("mset", R"({"entries":[{"key":"a","value":"1"},{"key":"l","value":"2"}]})",
              409, "wrong type: key 'l' (entries[1]) holds a list; nothing was set");
  EXPECT_EQ(Ok("exists", R"({"key":"a"})"), R"({"exists":false})");
  ExpectError("mset", R"({"entries":[{"key":"a"}]})", 400,
              "field 'entries[0].value' is required");
  ExpectError("mset", R"({"entries":[{"key":"a","value":"x","expires":-1}]})", 400,
              "field 'entries[0].expires'");
  ExpectError(
      "mset", R"({"entries":[{"key":"a","value":"x"},{"key":"toolongkey","value":"x"}]})",
      400, "field 'entries[1].key' must be a non-empty string of at most 8 bytes");
  EXPECT_EQ(Ok("exists", R"({"key":"a"})"), R"({"exists":false})");
  ExpectError("mget", R"({"keys":"a"})", 400, "field 'keys'");
  ExpectError("mget", R"({"keys":["a","toolongkey"]})", 400, "field 'keys[1]'");
  ExpectError("mdel", R"({"key":"a"})", 400, "unknown field 'key'");
  // 413 past --max_batch_keys, counted in the endpoints' errors.
  const uint64_t before = Errors("mget") + Errors("mset") + Errors("mdel");
  ExpectError("mget", KeysOf("k", 4), 413, "field 'keys' must list at most 3 keys");
  ExpectError("mdel", KeysOf("k", 4), 413, "field 'keys' must list at most 3 keys");
  ExpectError("mset", MsetBody("k", 4, "v"), 413,
              "field 'entries' must list at most 3 entries");
  EXPECT_EQ(Errors("mget") + Errors("mset") + Errors("mdel"), before + 3);
  EXPECT_EQ(Ok("mset", MsetBody("k", 3, "v")), R"({"ok":true,"count":3})");
}

// Byte limits: a batch's events must fit in one message and its reply in the
// max payload (1 MiB here).
TEST_F(BatchTest, ByteLimitsAre413) {
  auto kvd = StartKvd({"--max_batch_keys=100000"});
  ASSERT_NE(kvd, nullptr);
  // 8000 empty values: a 200 KB request, but each event takes about 140 bytes.
  std::vector<std::string> entries;
  for (int i = 0; i < 8000; ++i)
    entries.push_back(absl::StrCat(R"({"key":"e)", i, R"(","value":""})"));
  const std::string body =
      absl::StrCat(R"({"entries":[)", absl::StrJoin(entries, ","), "]}");
  ExpectError("mset", body, 413, "mset's replication message could take ");
  ExpectError("mset", body, 413, "the limit is ");
  EXPECT_EQ(Ok("exists", R"({"key":"e0"})"), R"({"exists":false})");
  // Within the budget it goes through.
  entries.resize(3000);
  EXPECT_EQ(
      Ok("mset", absl::StrCat(R"({"entries":[)", absl::StrJoin(entries, ","), "]}")),
      R"({"ok":true,"count":3000})");
  // mget: four 300 KB values do not fit in one reply; three do.
  const std::string big(300000, 'x');
  for (int i = 0; i < 4; ++i)
    Ok("set", absl::StrCat(R"({"key":"big)", i, R"(","value":")", big, "\"}"));
  ExpectError("mget", KeysOf("big", 4), 413, "ask for fewer keys");
  EXPECT_TRUE(
      absl::StrContains(Ok("mget", KeysOf("big", 3)), R"({"key":"big2","exists":true)"));
  // mdel: a delete's event carries no values, so four lists of 300 1-KB items
  // (1.2 MB of values) go in one message...
  const std::string item(1000, 'i');
  for (int l = 0; l < 4; ++l) {
    for (int i = 0; i < 300; ++i) {
      Ok("push", absl::StrCat(R"({"key":"list)", l, R"(","value":")", item, "\"}"));
    }
  }
  EXPECT_EQ(Ok("mdel", KeysOf("list", 4)), R"({"deleted":4})");
  // ... but 18,000 keys' removals (a key and a record each) do not.
  for (int b = 0; b < 6; ++b) {
    std::vector<std::string> batch;
    for (int i = 0; i < 3000; ++i) {
      batch.push_back(absl::StrCat(R"({"key":"d)", b * 3000 + i, R"(","value":""})"));
    }
    Ok("mset", absl::StrCat(R"({"entries":[)", absl::StrJoin(batch, ","), "]}"));
  }
  ExpectError("mdel", KeysOf("d", 18000), 413, "mdel's replication message could take ");
  EXPECT_EQ(Ok("exists", R"({"key":"d0"})"), R"({"exists":true})");
}

TEST_F(BatchTest, Base64ValuesOfEveryOp) {
  auto kvd = StartKvd({});
  ASSERT_NE(kvd, nullptr);
  // Bytes 00 ff 80: not UTF-8.
  EXPECT_EQ(Ok("set", R"({"key":"bin","value":"AP+A","encoding":"base64"})"),
            R"({"ok":true})");
  EXPECT_EQ(Ok("get", R"({"key":"bin","encoding":"base64"})"),
            R"({"exists":true,"value":"AP+A"})");
  ExpectError("get", R"({"key":"bin"})", 422,
              "the value of key 'bin' is not valid UTF-8 (binary): read it with "
              "\"encoding\":\"base64\"");
  ExpectError("mget", R"({"keys":["bin"]})", 422, "key 'bin' is not valid UTF-8");
  // Text written as base64 reads back as the same bytes either way.
  Ok("set", R"({"key":"t","value":"aOk=","encoding":"base64"})");  // "h\xe9": not UTF-8
  Ok("set", R"({"key":"u","value":"aMOp","encoding":"base64"})");  // "h\xc3\xa9"
  EXPECT_EQ(Ok("get", R"({"key":"u"})"), "{\"exists\":true,\"value\":\"h\xC3\xA9\"}");
  Ok("set", "{\"key\":\"v\",\"value\":\"h\xC3\xA9\"}");
  EXPECT_EQ(Ok("get", R"({"key":"v","encoding":"base64"})"),
            R"({"exists":true,"value":"aMOp"})");
  // mset, mget.
  EXPECT_EQ(Ok("mset", R"({"encoding":"base64","entries":[{"key":"m1","value":"AQ=="},)"
                       R"({"key":"m2","value":""}]})"),
            R"({"ok":true,"count":2})");
  EXPECT_EQ(
      Ok("mget", R"({"keys":["m1","m2","bin","none"],"encoding":"base64"})"),
      R"({"entries":[{"key":"m1","exists":true,"value":"AQ=="},)"
      R"({"key":"m2","exists":true,"value":""},)"
      R"({"key":"bin","exists":true,"value":"AP+A"},{"key":"none","exists":false}]})");
  // Lists.
  Ok("push", R"({"key":"l","value":"/w==","encoding":"base64"})");
  Ok("push", R"({"key":"l","value":"eA==","encoding":"base64"})");
  EXPECT_EQ(Ok("range", R"({"key":"l","start":0,"stop":-1,"encoding":"base64"})"),
            R"({"values":["/w==","eA=="]})");
  ExpectError("range", R"({"key":"l","start":0,"stop":-1})", 422, "not valid UTF-8");
  EXPECT_EQ(Ok("range", R"({"key":"l","start":1,"stop":1})"), R"({"values":["x"]})");
  EXPECT_EQ(Ok("list_del", R"({"key":"l","value":"/w==","encoding":"base64"})"),
            R"({"length":1})");
  // Sets.
  Ok("set_add", R"({"key":"s","value":"/w==","encoding":"base64"})");
  Ok("set_add", R"({"key":"s2","value":"/w==","encoding":"base64"})");
  Ok("set_add", R"({"key":"s2","value":"eQ==","encoding":"base64"})");
  EXPECT_EQ(Ok("set_query", R"({"key":"s","encoding":"base64"})"),
            R"({"values":["/w=="]})");
  ExpectError("set_query", R"({"key":"s"})", 422, "not valid UTF-8");
  EXPECT_EQ(Ok("set_union", R"({"keys":["s","s2"],"encoding":"base64"})"),
            R"({"values":["eQ==","/w=="]})");
  ExpectError("set_union", R"({"keys":["s","s2"]})", 422, "not valid UTF-8");
  EXPECT_EQ(Ok("set_intersection", R"({"keys":["s","s2"],"encoding":"base64"})"),
            R"({"values":["/w=="]})");
  EXPECT_EQ(Ok("set_remove", R"({"key":"s2","value":"/w==","encoding":"base64"})"),
            R"({"size":1})");
  // Invalid base64 and encodings: 400 naming the field.
  ExpectError("set", R"({"key":"k","value":"AP8","encoding":"base64"})", 400,
              "field 'value' must be base64 (standard alphabet, padded with '=')");
  ExpectError("push", R"({"key":"k","value":"a-b_","encoding":"base64"})", 400,
              "field 'value' must be base64");
  ExpectError("mset", R"({"encoding":"base64","entries":[{"key":"k","value":"%%%%"}]})",
              400, "field 'entries[0].value' must be base64");
  ExpectError("get", R"({"key":"k","encoding":"hex"})", 400,
              "field 'encoding' must be \"base64\" or \"utf8\"");
}

// kvctl: the batch ops, --base64, and binary values from a file and stdin.
TEST_F(BatchTest, Kvctl) {
  auto kvd = StartKvd({});
  ASSERT_NE(kvd, nullptr);
  auto kvctl = [&](std::vector<std::string> args) -> std::pair<int, std::string> {
    args.insert(args.begin(), absl::StrCat("--server=", server_->url()));
    auto p = Process::Start(testing_util::RunfilePath("tools/kvctl"), args);
    if (!p.ok()) return {-1, std::string(p.status().message())};
    auto rc = (*p)->Wait(kTimeout);
    return {rc.ok() ? *rc : -1, (*p)->Output()};
  };
  EXPECT_EQ(kvctl({"mset", "a", "1", "b", "2", "--ttl", "60"}),
            std::make_pair(0, std::string("OK\n")));
  EXPECT_EQ(kvctl({"mget", "a", "b", "zz"}),
            std::make_pair(0, std::string("1\n2\n(nil)\n")));
  // (--json: the reply body; Kv-Position goes to stderr.)
  EXPECT_TRUE(absl::EndsWith(kvctl({"--json", "mdel", "a", "a", "zz"}).second,
                             "{\"deleted\":1}\n"));
  const auto [odd, odd_out] = kvctl({"mset", "a", "1", "b"});
  EXPECT_EQ(odd, 2) << odd_out;
  EXPECT_TRUE(absl::StrContains(odd_out, "mset takes KEY VALUE pairs")) << odd_out;

  // Every byte value, and a value larger than argv could carry, from files.
  const std::string dir = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  const std::string big = absl::StrCat(std::string(400000, 'z'), bytes);
  for (const auto& [name, content] : {std::pair{"bin", bytes}, std::pair{"big", big}}) {
    std::ofstream(absl::StrCat(dir, "/", name, ".bin"), std::ios::binary) << content;
    EXPECT_EQ(kvctl({"set", name, absl::StrCat("@", dir, "/", name, ".bin")}),
              std::make_pair(0, std::string("OK\n")));
    const auto [code, out] = kvctl({"--base64", "get", name});
    EXPECT_EQ(code, 0);
    EXPECT_EQ(out, absl::StrCat(absl::Base64Escape(content), "\n")) << name;
  }
  const auto [text, text_out] = kvctl({"get", "bin"});
  EXPECT_EQ(text, 1);
  EXPECT_TRUE(
      absl::StrContains(text_out, "error 422: the value of key 'bin' is not valid UTF-8"))
      << text_out;
  EXPECT_EQ(kvctl({"--base64", "mget", "bin", "none"}).second,
            absl::StrCat(absl::Base64Escape(bytes), "\n(nil)\n"));
  EXPECT_EQ(kvctl({"--base64", "set", "b64", "aMOp"}).first, 0);
  EXPECT_EQ(kvctl({"get", "b64"}).second, "h\xC3\xA9\n");
  const auto [missing, missing_out] =
      kvctl({"set", "bad", absl::StrCat("@", dir, "/missing.bin")});
  EXPECT_EQ(missing, 2);
  EXPECT_TRUE(absl::StrContains(missing_out, "cannot read value file")) << missing_out;

  // stdin.
  auto sh = Process::Start(
      "/bin/sh", {"-c", absl::StrCat("printf 'from\\0stdin' | ",
                                     testing_util::RunfilePath("tools/kvctl"),
                                     " --server=", server_->url(), " set s -")});
  ASSERT_TRUE(sh.ok());
  EXPECT_EQ((*sh)->Wait(kTimeout).value_or(-1), 0) << (*sh)->Output();
  EXPECT_EQ(kvctl({"--base64", "get", "s"}).second,
            absl::StrCat(absl::Base64Escape(std::string("from\0stdin", 10)), "\n"));
}

// A batch replicates to the other node as ONE events message.
TEST_F(BatchTest, BatchesReplicateAsOneEventsMessage) {
  auto a = KvdNode::Start(KvdPath(), server_->url());
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = KvdNode::Start(KvdPath(), server_->url());
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(
      testing_util::WaitConverged(nc_.get(), {a->get(), b->get()}, kTimeout).ok());

  absl::Mutex mu;
  std::vector<size_t> messages;  // events per message
  struct Ctx {
    absl::Mutex* mu;
    std::vector<size_t>* messages;
  } ctx{&mu, &messages};
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsConnection_Subscribe(
                &sub, nc_.get(), "_kv.default.events",
                [](natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
                  auto* c = static_cast<Ctx*>(closure);
                  auto events = kv::codec::DecodeEvents(absl::string_view(
                      natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
                  absl::MutexLock lock(c->mu);
                  c->messages->push_back(events.ok() ? events->size() : 0);
                  natsMsg_Destroy(msg);
                },
                &ctx),
            NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  auto seen = [&](std::vector<size_t> want) {
    return WaitFor(
        [&] {
          absl::MutexLock lock(&mu);
          return messages == want;
        },
        absl::Seconds(5));
  };

  EXPECT_EQ(Ok("mset", MsetBody("k", 50, "v")), R"({"ok":true,"count":50})");
  EXPECT_TRUE(seen({50}));
  EXPECT_EQ(Ok("mdel", KeysOf("k", 20)), R"({"deleted":20})");
  EXPECT_TRUE(seen({50, 20}));
  // A read-only batch publishes nothing; an mdel of absent keys neither.
  Ok("mget", KeysOf("k", 50));
  EXPECT_EQ(Ok("mdel", KeysOf("absent", 5)), R"({"deleted":0})");
  ASSERT_TRUE(
      testing_util::WaitConverged(nc_.get(), {a->get(), b->get()}, kTimeout).ok());
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(messages, (std::vector<size_t>{50, 20}));
  }
  // Both nodes hold the result (the digests agree, and either answers).
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Ok("mget", R"({"keys":["k19","k20","k49"]})"),
              R"({"entries":[{"key":"k19","exists":false},)"
              R"({"key":"k20","exists":true,"value":"v"},)"
              R"({"key":"k49","exists":true,"value":"v"}]})");
  }
  natsSubscription_Destroy(sub);
}

}  // namespace
