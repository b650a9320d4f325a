// Watching end to end (README.md, "Watching"): a near cache built from `watch`
// pages and change notifications, watchers on two servers of a cluster,
// expiry notifications, --notify=false and `kvctl watch`.
#include <nats/nats.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"
#include "tests/testing/kvd_node.h"
#include "tests/testing/topology.h"

namespace {

using ::testing_util::Call;
using ::testing_util::KvdNode;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(30);

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

// A version vector by origin (16 hex digits), as positions and "vv" write it.
using Vector = std::map<std::string, uint64_t>;

Vector ParseVector(absl::string_view text) {
  Vector v;
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(entry, ':');
    uint64_t seq = 0;
    EXPECT_TRUE(absl::SimpleAtoi(p.second, &seq)) << text;
    v[p.first] = seq;
  }
  return v;
}

std::string FormatVector(const Vector& v) {
  std::string out;
  for (const auto& [origin, seq] : v) {
    absl::StrAppend(&out, out.empty() ? "" : ",", origin, ":", seq);
  }
  return out;
}

uint64_t At(const Vector& v, const std::string& origin) {
  auto it = v.find(origin);
  return it == v.end() ? 0 : it->second;
}

bool Dominates(const Vector& a, const Vector& b) {
  for (const auto& [origin, seq] : b) {
    if (At(a, origin) < seq) return false;
  }
  return true;
}

Vector Join(Vector a, const Vector& b) {
  for (const auto& [origin, seq] : b) a[origin] = std::max(a[origin], seq);
  return a;
}

// What a key shows, as a watch entry or a notification states it.
struct State {
  bool exists = false;
  std::string value;  // a string's value, or a counter's in decimal
  bool operator==(const State& o) const {
    return exists == o.exists && (!exists || value == o.value);
  }
};

State StateOf(const rapidjson::Value& v) {
  State s;
  const std::string type = v["type"].GetString();
  if (type == "none") return s;
  s.exists = true;
  if (type == "string") {
    s.value = v["value"].GetString();
  } else if (type == "counter") {
    s.value = absl::StrCat(v["value"].GetInt64());
  }
  return s;
}

Reply CallAfter(natsConnection* nc, const std::string& subject, const std::string& body,
                const std::string& after) {
  natsMsg* request = nullptr;
  natsMsg* reply = nullptr;
  natsStatus s = natsMsg_Create(&request, subject.c_str(), nullptr, body.data(),
                                static_cast<int>(body.size()));
  if (s == NATS_OK && !after.empty()) {
    s = natsMsgHeader_Set(request, "Kv-After", after.c_str());
  }
  if (s == NATS_OK) s = natsConnection_RequestMsg(&reply, nc, request, 10000);
  natsMsg_Destroy(request);
  if (s != NATS_OK) {
    Reply r;
    r.status = s;
    return r;
  }
  return testing_util::ToReply(reply);
}

// A near cache that follows the client rule of README.md "Watching": pages
// first (subscribed before), then every notification: one already in its
// key's page or state (seq <= tag[origin]) is skipped; one whose origin's
// vector covers the key's tag replaces the state; any other is concurrent
// with what the cache holds, and the key is read again (a one-key watch
// after both).
class NearCache {
 public:
  explicit NearCache(natsConnection* nc) : nc_(nc) {}

  void ReadPages(const std::string& prefix, int limit) {
    std::string cursor;
    do {
      std::string body = absl::StrCat(R"({"prefix":)", testing_util::Quote(prefix),
                                      R"(,"limit":)", limit);
      if (!cursor.empty())
        absl::StrAppend(&body, R"(,"cursor":)", testing_util::Quote(cursor));
      body += "}";
      Reply r = Call(nc_, "kv.default.watch", body);
      ASSERT_TRUE(r.ok() && r.code() == 0) << r.data;
      rapidjson::Document doc;
      doc.Parse(r.data.c_str());
      ASSERT_TRUE(doc.IsObject()) << r.data;
      const Vector position = ParseVector(doc["position"].GetString());
      for (const auto& e : doc["entries"].GetArray()) {
        const std::string key = e["key"].GetString();
        keys_[key] = {StateOf(e), position};
      }
      cursor = doc.HasMember("cursor") ? doc["cursor"].GetString() : "";
      pages_.push_back({cursor, position});
      seen_ = Join(seen_, position);
    } while (!cursor.empty());
  }

  // Applies one notification by the rule.
  void Apply(const std::string& body) {
    rapidjson::Document n;
    n.Parse(body.c_str());
    ASSERT_TRUE(n.IsObject() && n.HasMember("seq") && n.HasMember("vv")) << body;
    const std::string key = n["key"].GetString();
    const std::string origin = n["origin"].GetString();
    const uint64_t seq = n["seq"].GetUint64();
    seen_[origin] = std::max(seen_[origin], seq);
    Entry& e = EntryOf(key);
    if (seq <= At(e.tag, origin)) {
      ++skipped;
      return;
    }
    const Vector vv = ParseVector(n["vv"].GetString());
    if (Dominates(vv, e.tag)) {
      e = {StateOf(n), vv};
      ++applied;
      return;
    }
    ++reread;
    Reply r;
    for (int attempt = 0; attempt < 10; ++attempt) {  // 503: not there yet; retry
      r = CallAfter(
          nc_, "kv.default.watch",
          absl::StrCat(R"({"prefix":)", testing_util::Quote(key), R"(,"limit":1})"),
          FormatVector(Join(e.tag, vv)));
      if (!r.ok() || r.code() != 503) break;
    }
    ASSERT_TRUE(r.ok() && r.code() == 0) << r.data;
    rapidjson::Document doc;
    doc.Parse(r.data.c_str());
    State s;
    const auto& entries = doc["entries"].GetArray();
    if (!entries.Empty() && key == entries[0]["key"].GetString()) s = StateOf(entries[0]);
    e = {s, ParseVector(doc["position"].GetString())};
  }

  State Get(const std::string& key) { return EntryOf(key).state; }
  // The highest seq of each origin this cache has taken into account.
  const Vector& seen() const { return seen_; }

  int applied = 0, skipped = 0, reread = 0;

 private:
  struct Entry {
    State state;
    Vector tag;  // what the state includes
  };
  struct Page {
    std::string last;  // "": no end
    Vector position;
  };
  // The key's entry; one the pages did not list is absent as of its page.
  Entry& EntryOf(const std::string& key) {
    auto it = keys_.find(key);
    if (it != keys_.end()) return it->second;
    Entry e;
    for (const Page& p : pages_) {
      if (p.last.empty() || key <= p.last) {
        e.tag = p.position;
        break;
      }
    }
    return keys_[key] = e;
  }

  natsConnection* const nc_;
  std::map<std::string, Entry> keys_;
  std::vector<Page> pages_;
  Vector seen_;
};

// Writes random set/del (even keys) and add/del (odd keys) over 200 keys.
void RandomWrites(natsConnection* nc, int n, uint32_t seed, std::atomic<int>* done) {
  std::mt19937 rng(seed);
  for (int i = 0; i < n; ++i) {
    const int k = static_cast<int>(rng() % 200);
    const std::string key = absl::StrCat("k", k);
    const bool del = rng() % 5 == 0;
    Reply r;
    if (del) {
      r = Call(nc, "kv.default.del", testing_util::KeyBody(key));
    } else if (k % 2 == 0) {
      r = Call(nc, "kv.default.set",
               testing_util::KeyValueBody(key, absl::StrCat(rng())));
    } else {
      r = Call(nc, "kv.default.add",
               testing_util::KeyIntBody(key, static_cast<int64_t>(rng() % 11) - 5));
    }
    ASSERT_TRUE(r.ok() && r.code() == 0) << key << ": " << r.data;
    done->fetch_add(1);
  }
}

class WatchTest : public testing_util::ServerTest {};

// 10k random writes through two nodes while a near cache is built: once the
// writes settled, the cache equals the store, key by key.
TEST_F(WatchTest, ANearCacheEqualsTheStoreAfterRandomWrites) {
  // Each node loses one in twenty of the other's events (caught up within a
  // heartbeat or two): its writes are often concurrent with the other's, and
  // their notifications state views that lack the other's changes.
  const std::vector<std::string> lossy = {"--test_drop_events=0.05"};
  auto a = KvdNode::Start(KvdPath(), server_->url(), lossy);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = KvdNode::Start(KvdPath(), server_->url(), lossy);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(
      testing_util::WaitConverged(nc_.get(), {a->get(), b->get()}, kTimeout).ok());

  std::vector<testing_util::ConnectionPtr> writers;
  for (int i = 0; i < 2; ++i) {
    auto nc = testing_util::Connect(server_->url());
    ASSERT_TRUE(nc.ok()) << nc.status();
    writers.push_back(*std::move(nc));
  }
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back(RandomWrites, writers[i].get(), 5000, 7 + i, &done);
  }
  // The cache starts while the writes run: subscribed, then the pages.
  ASSERT_TRUE(WaitFor([&] { return done.load() >= 1000; }, kTimeout));
  auto cache_nc = testing_util::Connect(server_->url());
  ASSERT_TRUE(cache_nc.ok()) << cache_nc.status();
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, cache_nc->get(), "kv.default.changes.>"),
            NATS_OK);
  ASSERT_EQ(natsSubscription_SetPendingLimits(sub, -1, -1), NATS_OK);
  ASSERT_EQ(natsConnection_Flush(cache_nc->get()), NATS_OK);
  NearCache cache(cache_nc->get());
  ASSERT_NO_FATAL_FAILURE(cache.ReadPages("k", 25));

  auto take = [&](absl::Duration wait) {
    natsMsg* msg = nullptr;
    if (natsSubscription_NextMsg(&msg, sub, absl::ToInt64Milliseconds(wait)) != NATS_OK) {
      return false;
    }
    const std::string body(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
    cache.Apply(body);
    return true;
  };
  while (done.load() < 10000) take(absl::Milliseconds(10));
  for (std::thread& t : threads) t.join();
  // Two lossy nodes repair by catch-up; on a loaded machine that takes a while.
  const absl::Time writes_done = absl::Now();
  const absl::Status converged =
      testing_util::WaitConverged(nc_.get(), {a->get(), b->get()}, 3 * kTimeout);
  ASSERT_TRUE(converged.ok()) << converged;
  std::printf("converged %s after the writes\n",
              absl::FormatDuration(absl::Now() - writes_done).c_str());
  // Every operation of the converged store has been taken into account.
  Reply last = Call(nc_.get(), "kv.default.watch", R"({"limit":1})");
  rapidjson::Document doc;
  doc.Parse(last.data.c_str());
  const Vector final_position = ParseVector(doc["position"].GetString());
  const absl::Time deadline = absl::Now() + kTimeout;
  while (!Dominates(cache.seen(), final_position) && absl::Now() < deadline) {
    take(absl::Milliseconds(100));
  }
  ASSERT_TRUE(Dominates(cache.seen(), final_position))
      << FormatVector(cache.seen()) << " vs " << FormatVector(final_position);
  natsSubscription_Destroy(sub);

  int mismatches = 0;
  for (int k = 0; k < 200; ++k) {
    const std::string key = absl::StrCat("k", k);
    Reply r = Call(nc_.get(), "kv.default.get", testing_util::KeyBody(key));
    rapidjson::Document got;
    got.Parse(r.data.c_str());
    State store;
    store.exists = got["exists"].GetBool();
    if (store.exists) store.value = got["value"].GetString();
    if (!(cache.Get(key) == store)) ++mismatches;
    EXPECT_TRUE(cache.Get(key) == store)
        << key << ": cache " << cache.Get(key).exists << " " << cache.Get(key).value
        << ", store " << store.exists << " " << store.value;
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(final_position.size(), 2u);  // written through both nodes
  std::cout << "near cache: " << cache.applied << " notifications applied, "
            << cache.skipped << " already in a page, " << cache.reread
            << " concurrent (key read again)\n";
  EXPECT_GT(cache.applied, 0);
}

// Collects notifications (and probes) on one connection.
struct Watcher {
  absl::Mutex mu;
  std::vector<std::pair<std::string, uint64_t>> notes ABSL_GUARDED_BY(mu);
  std::vector<std::string> bodies ABSL_GUARDED_BY(mu);
  int probes ABSL_GUARDED_BY(mu) = 0;

  size_t size() {
    absl::MutexLock lock(&mu);
    return notes.size();
  }
  int probed() {
    absl::MutexLock lock(&mu);
    return probes;
  }
  static void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* w = static_cast<Watcher*>(closure);
    const std::string data(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
    absl::MutexLock lock(&w->mu);
    if (data == "probe") {
      ++w->probes;
      return;
    }
    rapidjson::Document doc;
    doc.Parse(data.c_str());
    w->bodies.push_back(data);
    if (!doc.IsObject() || !doc.HasMember("origin")) return;
    w->notes.emplace_back(doc["origin"].GetString(),
                          doc.HasMember("seq") ? doc["seq"].GetUint64() : 0);
  }
  natsSubscription* Subscribe(natsConnection* nc) {
    natsSubscription* sub = nullptr;
    EXPECT_EQ(natsConnection_Subscribe(&sub, nc, "kv.default.changes.>", &OnMsg, this),
              NATS_OK);
    EXPECT_EQ(natsConnection_Flush(nc), NATS_OK);
    return sub;
  }
};

// Two watchers on different servers of a cluster, kvd nodes on both: each
// sees every change once, and each origin's changes in seq order.
TEST(WatchClusterTest, WatchersOnTwoServersSeeEachChangeOnceInOriginOrder) {
  auto servers = testing_util::StartCluster("w", 2);
  ASSERT_TRUE(servers.ok()) << servers.status();
  std::vector<testing_util::NatsServer*> raw = {(*servers)[0].get(), (*servers)[1].get()};
  ASSERT_TRUE(testing_util::WaitAllForwarding(raw, kTimeout).ok());
  std::vector<std::unique_ptr<KvdNode>> kvds;
  std::vector<testing_util::ConnectionPtr> conns;
  for (auto* server : raw) {
    auto kvd = KvdNode::Start(KvdPath(), server->url());
    ASSERT_TRUE(kvd.ok()) << kvd.status();
    kvds.push_back(*std::move(kvd));
    auto nc = testing_util::Connect(server->url());
    ASSERT_TRUE(nc.ok()) << nc.status();
    conns.push_back(*std::move(nc));
  }
  ASSERT_TRUE(testing_util::WaitConverged(conns[0].get(), {kvds[0].get(), kvds[1].get()},
                                          kTimeout)
                  .ok());
  Watcher w0, w1;
  natsSubscription* s0 = w0.Subscribe(conns[0].get());
  natsSubscription* s1 = w1.Subscribe(conns[1].get());
  // Each watcher's interest has reached the other server.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (auto& nc : conns) {
          natsConnection_PublishString(nc.get(), "kv.default.changes._probe", "probe");
          natsConnection_Flush(nc.get());
        }
        return w0.probed() >= 2 && w1.probed() >= 2;
      },
      kTimeout));

  constexpr int kWrites = 400;
  for (int i = 0; i < kWrites; ++i) {
    natsConnection* nc = conns[i % 2].get();
    Reply r = i % 3 == 0
                  ? Call(nc, "kv.default.add",
                         testing_util::KeyIntBody(absl::StrCat("n", i % 17), 1))
                  : Call(nc, "kv.default.set",
                         testing_util::KeyValueBody(absl::StrCat("s", i % 37), "v"));
    ASSERT_TRUE(r.ok() && r.code() == 0) << r.data;
  }
  for (Watcher* w : {&w0, &w1}) {
    EXPECT_TRUE(WaitFor([&] { return w->size() >= kWrites; }, kTimeout)) << w->size();
  }
  natsSubscription_Destroy(s0);
  natsSubscription_Destroy(s1);
  for (Watcher* w : {&w0, &w1}) {
    absl::MutexLock lock(&w->mu);
    EXPECT_EQ(w->notes.size(), static_cast<size_t>(kWrites));
    std::set<std::pair<std::string, uint64_t>> once;
    std::map<std::string, uint64_t> last;
    for (const auto& [origin, seq] : w->notes) {
      EXPECT_TRUE(once.insert({origin, seq}).second) << origin << ":" << seq;
      EXPECT_GT(seq, last[origin]) << origin;
      last[origin] = seq;
    }
    EXPECT_EQ(last.size(), 2u);
  }
}

// A key reclaimed because it expired is announced once across the link, by
// its last writer.
TEST_F(WatchTest, AnExpiryIsAnnouncedOnceWithTwoNodes) {
  const std::vector<std::string> flags = {"--gc_interval=200ms",
                                          "--test_expiry_grace=100ms"};
  auto a = KvdNode::Start(KvdPath(), server_->url(), flags);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = KvdNode::Start(KvdPath(), server_->url(), flags);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(
      testing_util::WaitConverged(nc_.get(), {a->get(), b->get()}, kTimeout).ok());
  Watcher w;
  natsSubscription* sub = w.Subscribe(nc_.get());
  std::map<std::string, std::string> writer;  // key -> origin of its set
  for (int i = 0; i < 6; ++i) {
    const std::string key = absl::StrCat("e", i);
    Reply r = Call(nc_.get(), "kv.default.set",
                   absl::StrCat(R"({"key":")", key, R"(","value":"v","expires":0.3})"));
    ASSERT_TRUE(r.ok() && r.code() == 0) << r.data;
    writer[key] = r.headers["Kv-Position"].substr(0, 16);
  }
  auto expired_notes = [&] {
    absl::MutexLock lock(&w.mu);
    int n = 0;
    for (const std::string& body : w.bodies)
      n += body.find("\"op\":\"expired\"") != std::string::npos;
    return n;
  };
  // Both nodes reclaimed all six; then a few more collections pass.
  ASSERT_TRUE(WaitFor(
      [&] {
        return testing_util::StatsOf(nc_.get(), (*a)->service_id()).expired >= 6 &&
               testing_util::StatsOf(nc_.get(), (*b)->service_id()).expired >= 6;
      },
      kTimeout));
  EXPECT_TRUE(WaitFor([&] { return expired_notes() >= 6; }, kTimeout));
  absl::SleepFor(absl::Seconds(1));  // five more collections: nothing more comes
  natsSubscription_Destroy(sub);
  absl::MutexLock lock(&w.mu);
  std::map<std::string, int> per_key;
  for (const std::string& body : w.bodies) {
    rapidjson::Document doc;
    doc.Parse(body.c_str());
    if (std::string(doc["op"].GetString()) != "expired") continue;
    const std::string key = doc["key"].GetString();
    ++per_key[key];
    EXPECT_EQ(doc["origin"].GetString(), writer[key]) << body;
    EXPECT_FALSE(doc.HasMember("seq")) << body;
  }
  for (const auto& [key, origin] : writer) EXPECT_EQ(per_key[key], 1) << key;
}

// --notify=false: that node publishes nothing; its peer still does.
TEST_F(WatchTest, NotifyFalsePublishesNothing) {
  auto quiet = KvdNode::Start(KvdPath(), server_->url(), {"--notify=false"});
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  auto loud = KvdNode::Start(KvdPath(), server_->url());
  ASSERT_TRUE(loud.ok()) << loud.status();
  ASSERT_TRUE(
      testing_util::WaitConverged(nc_.get(), {quiet->get(), loud->get()}, kTimeout).ok());
  Watcher w;
  natsSubscription* sub = w.Subscribe(nc_.get());
  std::map<std::string, int> writes;  // per origin
  for (int i = 0; i < 60; ++i) {
    Reply r = Call(nc_.get(), "kv.default.set",
                   testing_util::KeyValueBody(absl::StrCat("q", i), "v"));
    ASSERT_TRUE(r.ok() && r.code() == 0) << r.data;
    ++writes[r.headers["Kv-Position"].substr(0, 16)];
  }
  const std::string q = (*quiet)->node_id(), l = (*loud)->node_id();
  ASSERT_GT(writes[q], 0);
  ASSERT_GT(writes[l], 0);
  EXPECT_TRUE(
      WaitFor([&] { return w.size() >= static_cast<size_t>(writes[l]); }, kTimeout));
  absl::SleepFor(absl::Milliseconds(500));  // what the quiet node might have sent
  natsSubscription_Destroy(sub);
  absl::MutexLock lock(&w.mu);
  EXPECT_EQ(w.notes.size(), static_cast<size_t>(writes[l]));
  for (const auto& [origin, seq] : w.notes) EXPECT_EQ(origin, l);
}

// kvctl watch --snapshot prints the keys of the prefix, then each change.
TEST_F(WatchTest, KvctlWatchPrintsTheSnapshotAndEachChange) {
  auto a = KvdNode::Start(KvdPath(), server_->url());
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(
      Call(nc_.get(), "kv.default.set", testing_util::KeyValueBody("user.1", "a")).code(),
      0);
  auto kvctl = testing_util::Process::Start(
      testing_util::RunfilePath("tools/kvctl"),
      {"--server", server_->url(), "watch", "user.", "--snapshot"});
  ASSERT_TRUE(kvctl.ok()) << kvctl.status();
  ASSERT_TRUE((*kvctl)->WaitForOutput("= user.1 = a  [rev ", kTimeout))
      << (*kvctl)->Output();
  // Subscribed before the snapshot: a write now is printed.
  ASSERT_EQ(
      Call(nc_.get(), "kv.default.set", testing_util::KeyValueBody("user.2", "b")).code(),
      0);
  ASSERT_EQ(
      Call(nc_.get(), "kv.default.set", testing_util::KeyValueBody("other", "c")).code(),
      0);
  ASSERT_EQ(
      Call(nc_.get(), "kv.default.add", testing_util::KeyIntBody("user.n", 3)).code(), 0);
  EXPECT_TRUE((*kvctl)->WaitForOutput("add user.n = 3  [rev ", kTimeout))
      << (*kvctl)->Output();
  (*kvctl)->Signal(SIGINT);
  auto code = (*kvctl)->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  const std::string out = (*kvctl)->Output();
  EXPECT_NE(out.find("set user.2 = b  [rev "), std::string::npos) << out;
  EXPECT_EQ(out.find("other"), std::string::npos) << out;
  EXPECT_EQ(out.find("set user.1"), std::string::npos) << out;  // in the snapshot
}

}  // namespace
