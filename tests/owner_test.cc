// Operations that must have one winner, end to end: three replicating kvd
// nodes decide them at the key's owner (docs/ownership.md).
#include <dirent.h>
#include <nats/nats.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/replication/ownership.h"
#include "tests/testing/client.h"
#include "tests/testing/fixture.h"
#include "tests/testing/harness.h"
#include "tests/testing/kvd_node.h"

namespace {

using ::testing_util::KvdNode;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

// Whether every thread of process `pid` is stopped (state T in
// /proc/<pid>/task/<tid>/stat).
bool AllThreadsStopped(pid_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool all = true;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream stat(absl::StrCat(dir, "/", e->d_name, "/stat"));
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    if (paren == std::string::npos || paren + 2 >= line.size() ||
        line[paren + 2] != 'T') {
      all = false;
    }
  }
  closedir(d);
  return all;
}

class OwnerTest : public testing_util::ServerTest {
 protected:
  void StartNodes(int n, const std::vector<std::string>& flags = {}) {
    for (int i = 0; i < n; ++i) {
      auto node = KvdNode::Start(KvdPath(), server_->url(), flags);
      ASSERT_TRUE(node.ok()) << node.status();
      nodes_.push_back(*std::move(node));
    }
    std::vector<KvdNode*> raw;
    for (auto& node : nodes_) raw.push_back(node.get());
    ASSERT_TRUE(testing_util::WaitConverged(nc_.get(), raw, kTimeout).ok());
  }

  // `op` with a Nats-Msg-Id header, on whichever node the queue group picks.
  Reply CallWithId(const std::string& op, const std::string& body, const std::string& id,
                   absl::Duration timeout = absl::Seconds(5)) {
    natsMsg* msg = nullptr;
    const std::string subject = absl::StrCat("kv.default.", op);
    EXPECT_EQ(natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(),
                             static_cast<int>(body.size())),
              NATS_OK);
    natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
    natsMsg* reply = nullptr;
    Reply r;
    r.status = natsConnection_RequestMsg(&reply, nc_.get(), msg,
                                         absl::ToInt64Milliseconds(timeout));
    natsMsg_Destroy(msg);
    if (r.status == NATS_OK) r = testing_util::ToReply(reply);
    return r;
  }

  // Retries while the answer is 503 (owners settle after nodes come and go).
  Reply Decided(const std::string& op, const std::string& body, const std::string& id) {
    Reply r;
    EXPECT_TRUE(WaitFor(
        [&] {
          r = CallWithId(op, body, id);
          return r.ok() && r.code() != 503;
        },
        kTimeout))
        << r.data;
    return r;
  }

  // SIGSTOPs node `i` and waits until every thread of it stopped (kill returns
  // before: a thread may still send a message).
  void Stop(int i) {
    nodes_[i]->process().Signal(SIGSTOP);
    ASSERT_TRUE(
        WaitFor([&] { return AllThreadsStopped(nodes_[i]->process().pid()); }, kTimeout));
  }

  // Waits until the nodes agree on the keys' owners (a one-winner write on a
  // key of its own is decided).
  void AwaitOwners() {
    ASSERT_EQ(
        Decided("set", R"({"key":"warm","value":"x","if":"absent"})", "warm").code(), 0);
  }

  std::vector<std::unique_ptr<KvdNode>> nodes_;
};

// Outcomes of one-winner requests: the winners, the refused (412, or "exists":
// false for pop), the unavailable (503: nothing changed) and the unknown
// (504 or no reply: it may have been applied).
struct Tally {
  int won = 0, refused = 0, unavailable = 0, unknown = 0;
  std::string ToString() const {
    return absl::StrFormat("won %d, refused %d, 503 %d, unknown %d", won, refused,
                           unavailable, unknown);
  }
};

// Eight clients, each on its own connection, racing the same requests.
class Racers {
 public:
  static constexpr int kClients = 8;
  explicit Racers(const std::string& url) {
    for (int i = 0; i < kClients; ++i) {
      auto nc = testing_util::Connect(url);
      EXPECT_TRUE(nc.ok()) << nc.status();
      if (nc.ok()) ncs_.push_back(*std::move(nc));
    }
  }
  // Runs `body(i, nc)` on every client at once; returns when all are done.
  void Race(const std::function<void(int, natsConnection*)>& body) {
    std::vector<std::thread> threads;
    for (int i = 0; i < static_cast<int>(ncs_.size()); ++i) {
      threads.emplace_back([&, i] { body(i, ncs_[i].get()); });
    }
    for (std::thread& t : threads) t.join();
  }

 private:
  std::vector<testing_util::ConnectionPtr> ncs_;
};

// Sorts a reply of a one-winner request into `t`; true when it won.
bool Count(const Reply& r, Tally* t) {
  if (!r.ok() || r.code() == 504) {
    ++t->unknown;
  } else if (r.code() == 503) {
    ++t->unavailable;
  } else if (r.code() == 412) {
    ++t->refused;
  } else {
    EXPECT_EQ(r.code(), 0) << r.data;
    ++t->won;
    return true;
  }
  return false;
}

// `rounds` rounds of the eight clients racing `set if absent` on a key of
// their own per round; `between(round)` runs before each round. Returns the
// tally; fails the test if a round had two winners. `winners` gets each
// round's winning value.
Tally RaceSetIfAbsent(Racers& racers, int rounds, const std::function<void(int)>& between,
                      std::map<std::string, std::string>* winners) {
  Tally total;
  for (int round = 0; round < rounds; ++round) {
    between(round);
    const std::string key = absl::StrCat("race.", round);
    absl::Mutex mu;
    Tally tally;
    std::vector<std::string> won;
    racers.Race([&](int i, natsConnection* nc) {
      const std::string value = absl::StrCat("client-", i);
      const Reply r =
          testing_util::Call(nc, "kv.default.set",
                             absl::StrCat(R"({"key":")", key, R"(","value":")", value,
                                          R"(","if":"absent"})"),
                             absl::Seconds(3));
      absl::MutexLock lock(&mu);
      if (Count(r, &tally)) won.push_back(value);
    });
    EXPECT_LE(won.size(), 1u) << "round " << round << ": two winners";
    if (!won.empty()) (*winners)[key] = won.front();
    total.won += tally.won;
    total.refused += tally.refused;
    total.unavailable += tally.unavailable;
    total.unknown += tally.unknown;
  }
  return total;
}

// Reads `key`'s value on the link (any node): "" when absent.
std::string ValueOf(natsConnection* nc, const std::string& key) {
  const Reply r = testing_util::Call(nc, "kv.default.get", testing_util::KeyBody(key));
  EXPECT_EQ(r.code(), 0) << r.data;
  const std::string marker = R"("value":")";
  const size_t at = r.data.find(marker);
  if (at == std::string::npos) return "";
  const size_t from = at + marker.size();
  return r.data.substr(from, r.data.find('"', from) - from);
}

TEST_F(OwnerTest, EachKeysOneWinnerOperationsAreDecidedByItsOwner) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3));
  const std::vector<uint64_t> view = {nodes_[0]->node_number(), nodes_[1]->node_number(),
                                      nodes_[2]->node_number()};
  std::map<std::string, int> by_node;
  for (int i = 0; i < 30; ++i) {
    const std::string key = absl::StrCat("counter.", i);
    const Reply r =
        Decided("add", testing_util::KeyIntBody(key, 1), absl::StrCat("id", i));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.code(), 0) << r.data;
    const uint64_t owner = kv::replication::Ownership::OwnerOf(key, view);
    uint64_t decided_by = 0;
    ASSERT_TRUE(absl::SimpleHexAtoi(r.headers.at("Kv-Decided-By"), &decided_by));
    EXPECT_EQ(decided_by, owner) << key;
    ++by_node[r.headers.at("Kv-Decided-By")];
  }
  EXPECT_EQ(by_node.size(), 3u);  // every node owns some of 30 keys
  // A plain write is decided wherever it lands.
  const Reply plain =
      testing_util::Call(nc_.get(), "kv.default.add", testing_util::KeyIntBody("p", 1));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain.headers.count("Kv-Decided-By"), 0u);
}

TEST_F(OwnerTest, ANodeThatSeesNoMajorityAnswers503AndPlainWritesGoOn) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3));
  ASSERT_EQ(Decided("add", testing_util::KeyIntBody("k", 1), "first").code(), 0);
  // Two of three nodes paused (every thread stopped: kill returns before): the
  // third sees one of three known nodes.
  ASSERT_NO_FATAL_FAILURE(Stop(1));
  ASSERT_NO_FATAL_FAILURE(Stop(2));
  Reply r;
  // Requests routed to a paused node time out; the live one answers 503, and
  // once its view lost the others, because it sees no majority.
  EXPECT_TRUE(WaitFor(
      [&] {
        r = CallWithId("add", testing_util::KeyIntBody("k", 1), "second",
                       absl::Milliseconds(300));
        EXPECT_TRUE(!r.ok() || r.code() == 503) << r.data;
        return r.ok() && r.data.find("not a majority") != std::string::npos;
      },
      kTimeout))
      << r.data;
  Reply plain;
  EXPECT_TRUE(WaitFor(
      [&] {
        plain = testing_util::Call(nc_.get(), "kv.default.add",
                                   testing_util::KeyIntBody("plain", 1),
                                   absl::Milliseconds(300));
        return plain.ok();
      },
      kTimeout));
  EXPECT_EQ(plain.code(), 0) << plain.data;
  nodes_[1]->process().Signal(SIGCONT);
  nodes_[2]->process().Signal(SIGCONT);
  const Reply third = Decided("add", testing_util::KeyIntBody("k", 1), "third");
  EXPECT_EQ(third.code(), 0) << third.data << "\n"
                             << nodes_[0]->Output() << nodes_[1]->Output()
                             << nodes_[2]->Output();
}

TEST_F(OwnerTest, SetIfAbsentHasOneWinnerPerRound) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3));
  ASSERT_NO_FATAL_FAILURE(AwaitOwners());
  Racers racers(server_->url());
  std::map<std::string, std::string> winners;
  const Tally t = RaceSetIfAbsent(
      racers, 1000, [](int) {}, &winners);
  // Without faults every round has its winner, and the other seven are refused.
  EXPECT_EQ(t.won, 1000) << t.ToString();
  EXPECT_EQ(t.refused, 7000) << t.ToString();
  std::vector<KvdNode*> raw{nodes_[0].get(), nodes_[1].get(), nodes_[2].get()};
  ASSERT_TRUE(testing_util::WaitConverged(nc_.get(), raw, kTimeout).ok());
  for (const auto& [key, value] : winners)
    ASSERT_EQ(ValueOf(nc_.get(), key), value) << key;
}

TEST_F(OwnerTest, SetIfAbsentNeverHasTwoWinnersThroughAKillAndAPause) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3));
  ASSERT_NO_FATAL_FAILURE(AwaitOwners());
  Racers racers(server_->url());
  std::map<std::string, std::string> winners;
  absl::Time paused_at;
  bool paused = false;
  const Tally t = RaceSetIfAbsent(
      racers, 1000,
      [&](int round) {
        if (round == 250) nodes_[2]->process().Signal(SIGKILL);
        if (round == 500) {
          nodes_[1]->process().Signal(SIGSTOP);
          paused_at = absl::Now();
          paused = true;
        }
        if (paused && absl::Now() - paused_at > absl::Seconds(3)) {
          nodes_[1]->process().Signal(SIGCONT);
          paused = false;
        }
      },
      &winners);
  if (paused) nodes_[1]->process().Signal(SIGCONT);
  // Some rounds are lost to the faults (503s, timeouts); never a second winner.
  EXPECT_GT(t.won, 100) << t.ToString();
  EXPECT_GT(t.unavailable + t.unknown, 0) << t.ToString();
  std::vector<KvdNode*> live{nodes_[0].get(), nodes_[1].get()};
  ASSERT_TRUE(testing_util::WaitConverged(nc_.get(), live, kTimeout).ok());
  for (const auto& [key, value] : winners)
    ASSERT_EQ(ValueOf(nc_.get(), key), value) << key;
}

TEST_F(OwnerTest, CompareAndSetCountsEverySuccessOnce) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3));
  ASSERT_EQ(Decided("set", R"({"key":"n","value":"0","if":"absent"})", "warm").code(), 0);
  Racers racers(server_->url());
  absl::Mutex mu;
  Tally t;
  racers.Race([&](int, natsConnection* nc) {
    for (int attempt = 0; attempt < 60; ++attempt) {
      const Reply got =
          testing_util::Call(nc, "kv.default.get", testing_util::KeyBody("n"));
      if (got.code() != 0) continue;
      const std::string marker = R"("value":")";
      const size_t from = got.data.find(marker) + marker.size();
      int64_t n = 0;
      ASSERT_TRUE(
          absl::SimpleAtoi(got.data.substr(from, got.data.find('"', from) - from), &n))
          << got.data;
      const Reply set =
          testing_util::Call(nc, "kv.default.set",
                             absl::StrCat(R"({"key":"n","value":")", n + 1,
                                          R"(","revision":)", got.revision, "}"),
                             absl::Seconds(3));
      absl::MutexLock lock(&mu);
      Count(set, &t);
    }
  });
  std::vector<KvdNode*> raw{nodes_[0].get(), nodes_[1].get(), nodes_[2].get()};
  ASSERT_TRUE(testing_util::WaitConverged(nc_.get(), raw, kTimeout).ok());
  int64_t final_value = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ValueOf(nc_.get(), "n"), &final_value));
  EXPECT_GT(t.won, 0) << t.ToString();
  EXPECT_EQ(t.unknown, 0) << t.ToString();
  EXPECT_EQ(final_value, t.won) << t.ToString();
}

TEST_F(OwnerTest, PopGivesEveryItemToOneClient) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3));
  constexpr int kItems = 400;
  for (int i = 0; i < kItems; ++i) {
    const Reply r = testing_util::Call(nc_.get(), "kv.default.push",
                                       testing_util::KeyValueBody("q", absl::StrCat(i)));
    ASSERT_EQ(r.code(), 0) << r.data;
  }
  ASSERT_NO_FATAL_FAILURE(AwaitOwners());
  Racers racers(server_->url());
  absl::Mutex mu;
  std::multiset<std::string> popped;
  Tally t;
  racers.Race([&](int, natsConnection* nc) {
    for (;;) {
      const Reply r =
          testing_util::Call(nc, "kv.default.pop", R"({"key":"q"})", absl::Seconds(3));
      absl::MutexLock lock(&mu);
      if (r.ok() && r.code() == 0 &&
          r.data.find(R"("exists":false)") != std::string::npos) {
        return;
      }
      if (!Count(r, &t)) continue;
      const std::string marker = R"("value":")";
      const size_t from = r.data.find(marker) + marker.size();
      popped.insert(r.data.substr(from, r.data.find('"', from) - from));
    }
  });
  EXPECT_EQ(t.unknown, 0) << t.ToString();
  EXPECT_EQ(popped.size(), static_cast<size_t>(kItems)) << t.ToString();
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(popped.count(absl::StrCat(i)), 1u) << i;
}

// A client that retries every write with the same Nats-Msg-Id until it is
// answered, whichever node the queue group picks, while a node is paused for
// 3 s mid-run: every counter ends at the number of distinct ids sent to it.
// The nodes run without the pause guard, so the paused node runs the tries
// that queued up while it was stopped, after their retries were answered.
TEST_F(OwnerTest, RetriesWithTheSameIdCountOnceThroughAPause) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3, {"--max_pause=0"}));
  ASSERT_NO_FATAL_FAILURE(AwaitOwners());
  constexpr int kWrites = 300;
  constexpr int kCounters = 10;
  Tally t;
  int retries = 0;
  absl::Time resume_at = absl::InfiniteFuture();
  for (int i = 0; i < kWrites; ++i) {
    if (i == 100) {
      nodes_[1]->process().Signal(SIGSTOP);
      resume_at = absl::Now() + absl::Seconds(3);
    }
    if (absl::Now() > resume_at) {
      nodes_[1]->process().Signal(SIGCONT);
      resume_at = absl::InfiniteFuture();
    }
    const std::string body =
        testing_util::KeyIntBody(absl::StrCat("c.", i % kCounters), 1);
    const std::string id = absl::StrCat("write-", i);
    // A client's retry loop: a short back-off between tries, up to a deadline.
    const absl::Time give_up = absl::Now() + kTimeout;
    for (;;) {
      const Reply r = CallWithId("add", body, id, absl::Milliseconds(500));
      if (r.ok() && r.code() == 0) break;
      ASSERT_LT(absl::Now(), give_up) << "write " << i << " never answered: " << r.data;
      Count(r, &t);
      ++retries;
      absl::SleepFor(absl::Milliseconds(20));
      if (absl::Now() > resume_at) {
        nodes_[1]->process().Signal(SIGCONT);
        resume_at = absl::InfiniteFuture();
      }
    }
  }
  if (resume_at != absl::InfiniteFuture()) nodes_[1]->process().Signal(SIGCONT);
  EXPECT_GT(retries, 0) << "the pause cost no retry: it tested nothing";
  std::vector<KvdNode*> raw{nodes_[0].get(), nodes_[1].get(), nodes_[2].get()};
  ASSERT_TRUE(testing_util::WaitConverged(nc_.get(), raw, kTimeout).ok());
  for (int c = 0; c < kCounters; ++c) {
    const Reply r = testing_util::Call(nc_.get(), "kv.default.get",
                                       testing_util::KeyBody(absl::StrCat("c.", c)));
    EXPECT_NE(r.data.find(absl::StrCat(R"("value":")", kWrites / kCounters, R"(")")),
              std::string::npos)
        << "c." << c << ": " << r.data << " (" << t.ToString() << ")";
  }
}

// An owner whose peers stop right after it decided: no majority confirms the
// decision, so it is never answered 200 (504: outcome unknown, or 503 once the
// owner sees it has no majority). The request goes straight to the owner's
// subject, as a forward would.
TEST_F(OwnerTest, ADecisionNoPeerConfirmsIsNeverAnswered200) {
  ASSERT_NO_FATAL_FAILURE(StartNodes(3));
  ASSERT_NO_FATAL_FAILURE(AwaitOwners());
  const std::vector<uint64_t> view = {nodes_[0]->node_number(), nodes_[1]->node_number(),
                                      nodes_[2]->node_number()};
  std::string key;
  for (int i = 0; key.empty(); ++i) {
    const std::string k = absl::StrCat("alone.", i);
    if (kv::replication::Ownership::OwnerOf(k, view) == view[0]) key = k;
  }
  // No confirmation can leave them.
  ASSERT_NO_FATAL_FAILURE(Stop(1));
  ASSERT_NO_FATAL_FAILURE(Stop(2));
  const std::string subject =
      absl::StrCat("_kv.default.owner.", nodes_[0]->node_id(), ".set");
  const absl::Time sent = absl::Now();
  const Reply r = testing_util::Call(
      nc_.get(), subject,
      absl::StrCat(R"({"key":")", key, R"(","value":"x","if":"absent"})"));
  const absl::Duration took = absl::Now() - sent;
  nodes_[1]->process().Signal(SIGCONT);
  nodes_[2]->process().Signal(SIGCONT);
  ASSERT_TRUE(r.ok());
  std::string headers;
  for (const auto& [k, v] : r.headers) absl::StrAppend(&headers, k, "=", v, " ");
  EXPECT_TRUE(r.code() == 504 || r.code() == 503)
      << r.code() << " " << r.data << " " << headers << " after " << took << "\n"
      << nodes_[0]->Output();
}

}  // namespace
