// kvd on the NATS deployments users run beyond one server: a 3-server cluster
// (routes) with a server killed and restarted and one paused (SIGSTOP, a
// partition), a supercluster of two regions joined by a gateway, and a kvd
// behind a leaf node. Each test writes through every node, asserts
// convergence (every replica ready with equal digests and version vectors,
// and equal reads through every server), and prints the replication lag:
// the time from a write's reply on one node until a node on another server
// applied it (see MeasureLag), p50/p99 over 200 writes; OneServerBaseline
// measures the same on one server for reference. Timing is printed, never
// asserted. Ordering across servers is not tested: kvd's read-your-writes
// order assumes one server (docs/guarantees.md); convergence does not.

#include "tests/testing/topology.h"

#include <nats/nats.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/client.h"
#include "tests/testing/harness.h"
#include "tests/testing/kvd_node.h"

namespace {

using ::testing_util::Call;
using ::testing_util::ConnectionPtr;
using ::testing_util::KeyBody;
using ::testing_util::KeyIntBody;
using ::testing_util::KeyValueBody;
using ::testing_util::KvdNode;
using ::testing_util::NatsServer;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kLinkTimeout = absl::Seconds(20);
constexpr absl::Duration kConvergeTimeout = absl::Seconds(30);
constexpr absl::Duration kVisibleTimeout = absl::Seconds(10);
constexpr int kLagWrites = 200;

#define ASSERT_OK(expr)                   \
  do {                                    \
    const absl::Status status_ = (expr);  \
    ASSERT_TRUE(status_.ok()) << status_; \
  } while (0)

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

std::vector<NatsServer*> Raw(const std::vector<std::unique_ptr<NatsServer>>& servers) {
  std::vector<NatsServer*> out;
  for (const auto& s : servers) out.push_back(s.get());
  return out;
}

std::vector<KvdNode*> Raw(const std::vector<std::unique_ptr<KvdNode>>& nodes) {
  std::vector<KvdNode*> out;
  for (const auto& n : nodes) out.push_back(n.get());
  return out;
}

ConnectionPtr ConnectOrDie(const NatsServer& server) {
  auto nc = testing_util::Connect(server.url());
  EXPECT_TRUE(nc.ok()) << nc.status();
  return nc.ok() ? *std::move(nc) : nullptr;
}

// A write's position: the node that served it and its sequence number there.
struct Position {
  std::string node;
  uint64_t seq = 0;
};

// Sends kv.default.<op> with `body` (waiting up to `timeout`); the reply must
// be a success carrying Kv-Position "<node>:<seq>", stored in `*served`.
void Write(natsConnection* nc, const std::string& op, const std::string& body,
           Position* served, absl::Duration timeout = absl::Seconds(10)) {
  const Reply r = Call(nc, absl::StrCat("kv.default.", op), body, timeout);
  ASSERT_TRUE(r.ok()) << op << " " << body << ": " << natsStatus_GetText(r.status);
  ASSERT_EQ(r.code(), 0) << op << " " << body << ": " << r.data;
  const auto pos = r.headers.find("Kv-Position");
  ASSERT_NE(pos, r.headers.end()) << op << " reply without Kv-Position";
  const std::vector<std::string> parts = absl::StrSplit(pos->second, ':');
  ASSERT_EQ(parts.size(), 2u) << "Kv-Position " << pos->second;
  served->node = parts[0];
  ASSERT_TRUE(absl::SimpleAtoi(parts[1], &served->seq)) << "Kv-Position " << pos->second;
}

// The reply body of kv.default.<op> with `body` ("" on failure).
std::string Read(natsConnection* nc, const std::string& op, const std::string& body) {
  const Reply r = Call(nc, absl::StrCat("kv.default.", op), body);
  return r.ok() && r.code() == 0 ? r.data : std::string();
}

std::string GetReply(const std::string& value) {
  return absl::StrCat("{\"exists\":true,\"value\":", testing_util::Quote(value), "}");
}

// Every client reads the same: each key in `keys` holds `value_of(key)`, the
// shared counter `total`, the shared list `pushes` items.
void ExpectEqualReads(const std::vector<natsConnection*>& clients,
                      const std::vector<std::string>& keys, int64_t total, int pushes) {
  for (natsConnection* nc : clients) {
    for (const std::string& k : keys) {
      EXPECT_EQ(Read(nc, "get", KeyBody(k)), GetReply(absl::StrCat("value of ", k)));
    }
    EXPECT_EQ(Read(nc, "get", KeyBody("hits")), GetReply(absl::StrCat(total)));
    rapidjson::Document d;
    const std::string range = Read(nc, "range", testing_util::RangeBody("log", 0, -1));
    d.Parse(range.c_str(), range.size());
    ASSERT_TRUE(!d.HasParseError() && d.IsObject() && d.HasMember("values") &&
                d["values"].IsArray())
        << range;
    EXPECT_EQ(d["values"].Size(), static_cast<size_t>(pushes));
  }
}

// Writes through several clients: keys, increments of one shared counter and
// pushes to one shared list. Tracks what every node must end with, and which
// nodes served the writes.
class Writes {
 public:
  // `n` writes of each kind through `nc`.
  void Round(natsConnection* nc, const std::string& tag, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string key = absl::StrCat(tag, "-", i);
      Position p;
      ASSERT_NO_FATAL_FAILURE(
          Write(nc, "set", KeyValueBody(key, absl::StrCat("value of ", key)), &p));
      served_.insert(p.node);
      ASSERT_NO_FATAL_FAILURE(Write(nc, "add", KeyIntBody("hits", i + 1), &p));
      served_.insert(p.node);
      ASSERT_NO_FATAL_FAILURE(Write(nc, "push", KeyValueBody("log", key), &p));
      served_.insert(p.node);
      keys_.push_back(key);
      total_ += i + 1;
      ++pushes_;
    }
  }
  // `n` sets through `nc`, each retried (250 ms per attempt) until it succeeds:
  // for when some requests may go to a node that cannot answer now. A set
  // that timed out may still be applied later, which a retried set (same
  // value) makes harmless, unlike an add or a push.
  void RetriedSets(natsConnection* nc, const std::string& tag, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string key = absl::StrCat(tag, "-", i);
      const std::string body = KeyValueBody(key, absl::StrCat("value of ", key));
      ASSERT_TRUE(WaitFor(
          [&] {
            const Reply r = Call(nc, "kv.default.set", body, absl::Milliseconds(250));
            return r.ok() && r.code() == 0;
          },
          kConvergeTimeout))
          << "set " << body << " never succeeded";
      keys_.push_back(key);
    }
  }
  void ExpectEverywhere(const std::vector<natsConnection*>& clients) const {
    ExpectEqualReads(clients, keys_, total_, pushes_);
  }
  // The node ids that served a write of Round().
  const std::set<std::string>& served() const { return served_; }

 private:
  std::vector<std::string> keys_;
  int64_t total_ = 0;
  int pushes_ = 0;
  std::set<std::string> served_;
};

// Every node in `nodes` served at least one write of `writes`.
void ExpectEveryNodeServed(const Writes& writes, const std::vector<KvdNode*>& nodes) {
  for (KvdNode* n : nodes) {
    EXPECT_EQ(writes.served().count(n->node_id()), 1u)
        << "kvd " << n->node_id() << " served none of the writes";
  }
}

// Writes kLagWrites keys through `writers` in turn, each one after the last
// was applied, and measures each write's replication lag: the time from its
// reply until a node on another server (the next in `nodes` after the one that
// served it whose `server_of` differs; server_of[i] numbers the server of
// nodes[i]) applied it, i.e. its version vector covers the write's
// Kv-Position (from then on a read there returns it). That node's vector is
// polled through its STATS back to back, so the lag lies between the send
// time of the last poll that did not see the write (0 if none) and the reply
// to the first that did; prints p50/p99/max of both bounds and what one poll
// takes. A write never applied within kVisibleTimeout fails.
void MeasureLag(const std::string& topology, const std::vector<natsConnection*>& writers,
                natsConnection* observer, const std::vector<KvdNode*>& nodes,
                const std::vector<int>& server_of) {
  std::vector<absl::Duration> lows, highs, polls;
  for (int i = 0; i < kLagWrites; ++i) {
    const std::string key = absl::StrCat("lag-", topology, "-", i);
    Position p;
    ASSERT_NO_FATAL_FAILURE(Write(writers[i % writers.size()], "set",
                                  KeyValueBody(key, absl::StrCat("v", i)), &p));
    const absl::Time acked = absl::Now();
    size_t at = 0;
    while (at < nodes.size() && nodes[at]->node_id() != p.node) ++at;
    ASSERT_LT(at, nodes.size()) << "write served by unknown node " << p.node;
    size_t next = (at + 1) % nodes.size();
    while (server_of[next] == server_of[at]) next = (next + 1) % nodes.size();
    KvdNode* other = nodes[next];
    absl::Duration low;  // when the last poll that missed it was sent
    bool applied = false;
    while (!applied && absl::Now() < acked + kVisibleTimeout) {
      const absl::Time sent = absl::Now();
      const testing_util::ReplicaStats s =
          testing_util::StatsOf(observer, other->service_id());
      polls.push_back(absl::Now() - sent);
      const auto it = s.vv.find(p.node);
      applied = it != s.vv.end() && it->second >= p.seq;
      if (!applied) low = sent - acked;
    }
    ASSERT_TRUE(applied) << key << " not applied by kvd " << other->node_id();
    highs.push_back(absl::Now() - acked);
    lows.push_back(low);
  }
  const auto quantile = [](std::vector<absl::Duration>& v, double q) {
    std::sort(v.begin(), v.end());
    return absl::FormatDuration(v[static_cast<size_t>(q * (v.size() - 1))]);
  };
  std::printf(
      "[lag] %s: %zu writes: p50 %s..%s, p99 %s..%s, max %s..%s (one STATS poll: p50 "
      "%s)\n",
      topology.c_str(), highs.size(), quantile(lows, 0.5).c_str(),
      quantile(highs, 0.5).c_str(), quantile(lows, 0.99).c_str(),
      quantile(highs, 0.99).c_str(), quantile(lows, 1.0).c_str(),
      quantile(highs, 1.0).c_str(), quantile(polls, 0.5).c_str());
  std::fflush(stdout);
}

// Three servers in a cluster, one kvd on each (given its own server's URL; it
// learns the others from the server and reconnects to one of them when its
// server goes away).
TEST(Topology, ClusterOfThreeConvergesAcrossKillAndPause) {
  auto servers = testing_util::StartCluster("c", 3);
  ASSERT_TRUE(servers.ok()) << servers.status();
  ASSERT_OK(testing_util::WaitAllForwarding(Raw(*servers), kLinkTimeout));
  std::vector<std::unique_ptr<KvdNode>> kvds;
  std::vector<ConnectionPtr> conns;
  for (const auto& server : *servers) {
    auto kvd = KvdNode::Start(KvdPath(), server->url());
    ASSERT_TRUE(kvd.ok()) << kvd.status();
    kvds.push_back(*std::move(kvd));
    conns.push_back(ConnectOrDie(*server));
    ASSERT_NE(conns.back(), nullptr);
  }
  natsConnection* c0 = conns[0].get();
  natsConnection* c1 = conns[1].get();
  natsConnection* c2 = conns[2].get();
  std::vector<natsConnection*> all = {c0, c1, c2};

  // Writes through each node.
  Writes writes;
  for (int i = 0; i < 3; ++i) {
    ASSERT_NO_FATAL_FAILURE(writes.Round(conns[i].get(), absl::StrCat("n", i), 10));
  }
  absl::Status converged = WaitConverged(c0, Raw(kvds), kConvergeTimeout);
  ASSERT_TRUE(converged.ok()) << converged;
  absl::Time mark = absl::Now();
  const auto phase = [&mark](const char* what) {
    std::printf("[phase] %s: %s\n", what,
                absl::FormatDuration(absl::Now() - mark).c_str());
    std::fflush(stdout);
    mark = absl::Now();
  };
  writes.ExpectEverywhere(all);
  ExpectEveryNodeServed(writes, Raw(kvds));
  MeasureLag("cluster", all, c0, Raw(kvds), {0, 1, 2});
  phase("lag measured");

  // Server 2 killed: its kvd reconnects to another server of the cluster.
  ASSERT_OK((*servers)[2]->Stop());
  ASSERT_TRUE(kvds[2]->process().WaitForOutput("nats: reconnected to", kLinkTimeout))
      << kvds[2]->Output();
  EXPECT_FALSE(absl::StrContains(kvds[2]->Output(),
                                 absl::StrCat("reconnected to ", (*servers)[2]->url())));
  ASSERT_NO_FATAL_FAILURE(writes.Round(c0, "killed0", 10));
  ASSERT_NO_FATAL_FAILURE(writes.Round(c1, "killed1", 10));
  converged = WaitConverged(c0, Raw(kvds), kConvergeTimeout);
  ASSERT_TRUE(converged.ok()) << "with server 2 down: " << converged;
  phase("server 2 killed, converged");

  // Server 2 back: its clients reach the link again (through a remote kvd).
  ASSERT_OK((*servers)[2]->Restart());
  ASSERT_OK(testing_util::WaitAllForwarding(Raw(*servers), kLinkTimeout));
  // The old client of server 2 moved to another server (as kvd did): connect anew.
  conns[2] = ConnectOrDie(*(*servers)[2]);
  ASSERT_NE(conns[2], nullptr);
  c2 = conns[2].get();
  all = {c0, c1, c2};
  ASSERT_NO_FATAL_FAILURE(writes.Round(c2, "restarted2", 10));
  converged = WaitConverged(c1, Raw(kvds), kConvergeTimeout);
  ASSERT_TRUE(converged.ok()) << "after server 2 restarted: " << converged;
  phase("server 2 restarted, converged");
  writes.ExpectEverywhere(all);

  // Server 1 paused (a partition: its routes and clients hang) while the
  // others take writes, then resumed.
  (*servers)[1]->Signal(SIGSTOP);
  ASSERT_NO_FATAL_FAILURE(writes.RetriedSets(c0, "paused0", 5));
  ASSERT_NO_FATAL_FAILURE(writes.RetriedSets(c2, "paused2", 5));
  absl::SleepFor(absl::Seconds(2));  // the partition lasts 10 heartbeats
  (*servers)[1]->Signal(SIGCONT);
  converged = WaitConverged(c0, Raw(kvds), kConvergeTimeout);
  ASSERT_TRUE(converged.ok()) << "after server 1 resumed: " << converged;
  phase("server 1 paused and resumed, converged");
  writes.ExpectEverywhere(all);
}

// Two regions, each one server with one kvd, joined by a gateway.
TEST(Topology, SuperclusterReplicatesAcrossGatewayBothWays) {
  auto servers = testing_util::StartSupercluster("east", "west");
  ASSERT_TRUE(servers.ok()) << servers.status();
  ASSERT_OK(testing_util::WaitAllForwarding(Raw(*servers), kLinkTimeout));
  std::vector<std::unique_ptr<KvdNode>> kvds;
  std::vector<ConnectionPtr> conns;
  for (const auto& server : *servers) {
    auto kvd = KvdNode::Start(KvdPath(), server->url());
    ASSERT_TRUE(kvd.ok()) << kvd.status();
    kvds.push_back(*std::move(kvd));
    conns.push_back(ConnectOrDie(*server));
    ASSERT_NE(conns.back(), nullptr);
  }
  natsConnection* east = conns[0].get();
  natsConnection* west = conns[1].get();
  Writes writes;
  ASSERT_NO_FATAL_FAILURE(writes.Round(east, "east", 20));
  ASSERT_NO_FATAL_FAILURE(writes.Round(west, "west", 20));
  const absl::Status converged = WaitConverged(east, Raw(kvds), kConvergeTimeout);
  ASSERT_TRUE(converged.ok()) << converged;
  writes.ExpectEverywhere({east, west});
  ExpectEveryNodeServed(writes, Raw(kvds));
  MeasureLag("gateway", {east, west}, east, Raw(kvds), {0, 1});
}

// Two kvds on a hub server, one on a leaf node server connected to it.
TEST(Topology, LeafNodeReplicatesBothWays) {
  auto servers = testing_util::StartHubAndLeaf();
  ASSERT_TRUE(servers.ok()) << servers.status();
  NatsServer& hub = *(*servers)[0];
  NatsServer& leaf = *(*servers)[1];
  ASSERT_OK(testing_util::WaitAllForwarding(Raw(*servers), kLinkTimeout));
  std::vector<std::unique_ptr<KvdNode>> kvds;
  for (NatsServer* server : {&hub, &hub, &leaf}) {
    auto kvd = KvdNode::Start(KvdPath(), server->url());
    ASSERT_TRUE(kvd.ok()) << kvd.status();
    kvds.push_back(*std::move(kvd));
  }
  ConnectionPtr hub_nc = ConnectOrDie(hub);
  ConnectionPtr leaf_nc = ConnectOrDie(leaf);
  ASSERT_TRUE(hub_nc != nullptr && leaf_nc != nullptr);
  Writes writes;
  ASSERT_NO_FATAL_FAILURE(writes.Round(hub_nc.get(), "hub", 20));
  ASSERT_NO_FATAL_FAILURE(writes.Round(leaf_nc.get(), "leaf", 20));
  const absl::Status converged = WaitConverged(hub_nc.get(), Raw(kvds), kConvergeTimeout);
  ASSERT_TRUE(converged.ok()) << converged;
  writes.ExpectEverywhere({hub_nc.get(), leaf_nc.get()});
  ExpectEveryNodeServed(writes, Raw(kvds));
  MeasureLag("leafnode", {hub_nc.get(), leaf_nc.get()}, hub_nc.get(), Raw(kvds),
             {0, 0, 1});
}

// The reference for the figures above: two kvds on one server, the lag
// measured the same way (to the node that did not serve the write).
TEST(Topology, OneServerBaseline) {
  auto server = NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<std::unique_ptr<KvdNode>> kvds;
  for (int i = 0; i < 2; ++i) {
    auto kvd = KvdNode::Start(KvdPath(), (*server)->url());
    ASSERT_TRUE(kvd.ok()) << kvd.status();
    kvds.push_back(*std::move(kvd));
  }
  ConnectionPtr nc = ConnectOrDie(**server);
  ASSERT_NE(nc, nullptr);
  Writes writes;
  ASSERT_NO_FATAL_FAILURE(writes.Round(nc.get(), "one", 20));
  const absl::Status converged = WaitConverged(nc.get(), Raw(kvds), kConvergeTimeout);
  ASSERT_TRUE(converged.ok()) << converged;
  writes.ExpectEverywhere({nc.get()});
  MeasureLag("one server", {nc.get()}, nc.get(), Raw(kvds), {0, 1});
}

}  // namespace
