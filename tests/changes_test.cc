// Change notifications end to end: two replicating kvd nodes, a watcher on
// kv.default.changes.> (README.md, "Change notifications").
#include <nats/nats.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"
#include "tests/testing/kvd_node.h"

namespace {

using ::testing_util::Call;
using ::testing_util::KvdNode;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

struct Note {
  std::string subject;
  std::string key, op, origin;
  int64_t revision = -1;
  int64_t seq = -1;
};

struct Watcher {
  absl::Mutex mu;
  std::vector<Note> notes ABSL_GUARDED_BY(mu);
  std::vector<std::string> bad ABSL_GUARDED_BY(mu);

  size_t size() {
    absl::MutexLock lock(&mu);
    return notes.size();
  }
  static void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* w = static_cast<Watcher*>(closure);
    const std::string data(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    Note n;
    n.subject = natsMsg_GetSubject(msg);
    natsMsg_Destroy(msg);
    rapidjson::Document doc;
    doc.Parse(data.c_str(), data.size());
    absl::MutexLock lock(&w->mu);
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("key") ||
        !doc.HasMember("op") || !doc.HasMember("revision") || !doc.HasMember("origin") ||
        !doc.HasMember("seq")) {
      w->bad.push_back(data);
      return;
    }
    n.key = doc["key"].GetString();
    n.op = doc["op"].GetString();
    n.origin = doc["origin"].GetString();
    n.revision = doc["revision"].GetInt64();
    n.seq = doc["seq"].GetInt64();
    w->notes.push_back(std::move(n));
  }
};

class ChangesTest : public testing_util::ServerTest {
 protected:
  Reply Write(const std::string& op, const std::string& body) {
    Reply r = Call(nc_.get(), absl::StrCat("kv.default.", op), body);
    EXPECT_TRUE(r.ok() && r.code() == 0) << op << " " << body << ": " << r.data;
    return r;
  }
};

TEST_F(ChangesTest, AWatcherSeesEachWriteOnceWithItsRevision) {
  auto a = KvdNode::Start(KvdPath(), server_->url());
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = KvdNode::Start(KvdPath(), server_->url());
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(
      testing_util::WaitConverged(nc_.get(), {a->get(), b->get()}, kTimeout).ok());

  Watcher watcher;
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsConnection_Subscribe(&sub, nc_.get(), "kv.default.changes.>",
                                     &Watcher::OnMsg, &watcher),
            NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);

  // (op, key, body): every kind of key-level write, on whichever node.
  struct W {
    std::string op, key, body;
  };
  std::vector<W> writes;
  for (int i = 0; i < 20; ++i) {
    const std::string key = absl::StrCat("user.", i);
    writes.push_back({"set", key, testing_util::KeyValueBody(key, "v")});
  }
  writes.push_back({"add", "hits", testing_util::KeyIntBody("hits", 2)});
  writes.push_back({"push", "l", testing_util::KeyValueBody("l", "x")});
  writes.push_back({"set_add", "s", testing_util::KeyValueBody("s", "x")});
  writes.push_back({"expire", "user.1", R"({"key":"user.1","expires":60})"});
  writes.push_back({"del", "user.0", testing_util::KeyBody("user.0")});
  writes.push_back({"set", "with space", testing_util::KeyValueBody("with space", "v")});
  std::vector<int64_t> revisions;
  for (const W& w : writes) revisions.push_back(Write(w.op, w.body).revision);

  EXPECT_TRUE(WaitFor([&] { return watcher.size() >= writes.size(); }, kTimeout));
  // Nothing more comes: a last write's notice arrives after everything before.
  Write("set", testing_util::KeyValueBody("last", "v"));
  EXPECT_TRUE(WaitFor([&] { return watcher.size() >= writes.size() + 1; }, kTimeout));
  ASSERT_EQ(natsConnection_Flush(nc_.get()), NATS_OK);
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);

  absl::MutexLock lock(&watcher.mu);
  EXPECT_TRUE(watcher.bad.empty()) << watcher.bad.front();
  ASSERT_EQ(watcher.notes.size(), writes.size() + 1);
  std::map<std::string, int64_t> last_seq;  // per origin
  for (const Note& n : watcher.notes) {
    EXPECT_TRUE(n.origin == (*a)->node_id() || n.origin == (*b)->node_id()) << n.origin;
    EXPECT_GT(n.seq, last_seq[n.origin]) << n.key;
    last_seq[n.origin] = n.seq;
  }
  for (size_t i = 0; i < writes.size(); ++i) {
    SCOPED_TRACE(absl::StrCat(writes[i].op, " ", writes[i].key));
    int found = 0;
    for (const Note& n : watcher.notes) {
      if (n.key != writes[i].key || n.op != writes[i].op) continue;
      ++found;
      EXPECT_EQ(n.revision, revisions[i]);
      if (writes[i].key == "with space") {
        EXPECT_EQ(n.subject, "kv.default.changes._b64.d2l0aCBzcGFjZQ");
      } else {
        EXPECT_EQ(n.subject, absl::StrCat("kv.default.changes.", writes[i].key));
      }
    }
    EXPECT_EQ(found, 1);
    if (writes[i].op != "del") {
      EXPECT_GT(revisions[i], 0);
    }
  }
}

}  // namespace
