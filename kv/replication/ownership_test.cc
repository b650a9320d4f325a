#include "kv/replication/ownership.h"

#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace kv::replication {
namespace {

using store::NodeId;
using store::VersionVector;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

OwnershipOptions Options() {
  OwnershipOptions o;
  o.lease = absl::Milliseconds(300);
  o.clock_bound = absl::Milliseconds(20);
  o.delivery = absl::Milliseconds(100);
  return o;
}

// Nodes that exchange reports instantly every `beat`; each has a vector.
struct Link {
  explicit Link(std::vector<NodeId> ids) {
    for (NodeId id : ids) nodes.emplace(id, Ownership(id, Options(), kT0));
  }
  ViewReport Report(NodeId id, absl::Time now) {
    const Ownership& o = nodes.at(id);
    return ViewReport{o.view(), o.view_since(), now, vv[id]};
  }
  // One heartbeat round at `now` among `live` (each hears the others), then a
  // refresh everywhere.
  void Beat(absl::Time now, const std::set<NodeId>& live) {
    for (NodeId from : live) {
      ViewReport r = Report(from, now);
      for (NodeId to : live) {
        if (to != from) nodes.at(to).Record(from, r, now);
      }
    }
    for (NodeId id : live) nodes.at(id).Refresh(now);
  }
  // Beats every 100 ms from `from` for `d`; returns the time after.
  absl::Time Run(absl::Time from, absl::Duration d, const std::set<NodeId>& live) {
    absl::Time t = from;
    for (; t < from + d; t += absl::Milliseconds(100)) Beat(t, live);
    return t;
  }
  std::vector<NodeId> Deciders(absl::string_view key, size_t known, absl::Time now,
                               const std::set<NodeId>& live) {
    std::vector<NodeId> out;
    for (NodeId id : live) {
      if (nodes.at(id).Decide(key, known, vv[id], now).kind == Verdict::kDecide) {
        out.push_back(id);
      }
    }
    return out;
  }
  std::map<NodeId, Ownership> nodes;
  std::map<NodeId, VersionVector> vv;
};

TEST(OwnerOf, IsTheSameForAnyOrderAndSpreadsKeys) {
  const std::vector<NodeId> view{11, 22, 33};
  std::map<NodeId, int> owned;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i);
    const NodeId owner = Ownership::OwnerOf(key, view);
    EXPECT_EQ(owner, Ownership::OwnerOf(key, {33, 11, 22}));
    ++owned[owner];
  }
  ASSERT_EQ(owned.size(), 3u);
  for (const auto& [node, n] : owned) EXPECT_GT(n, 50) << node;
}

TEST(OwnerOf, LosingAnotherMemberKeepsTheOwner) {
  // Rendezvous hashing: only the keys of the member that left move.
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i);
    const NodeId owner = Ownership::OwnerOf(key, {11, 22, 33});
    if (owner == 33) continue;
    EXPECT_EQ(Ownership::OwnerOf(key, {11, 22}), owner) << key;
  }
}

TEST(Ownership, OneNodeDecidesEachKeyOnceTheViewSettled) {
  Link link({1, 2, 3});
  const std::set<NodeId> all{1, 2, 3};
  absl::Time t = link.Run(kT0, absl::Milliseconds(200), all);
  // Agreed, but not settled yet: nobody decides.
  EXPECT_TRUE(link.Deciders("a", 3, t, all).empty());
  t = link.Run(t, absl::Seconds(1), all);
  for (int i = 0; i < 50; ++i) {
    const std::string key = "k" + std::to_string(i);
    const std::vector<NodeId> deciders = link.Deciders(key, 3, t, all);
    ASSERT_EQ(deciders.size(), 1u) << key;
    EXPECT_EQ(deciders[0], Ownership::OwnerOf(key, {1, 2, 3}));
    for (NodeId other : all) {
      if (other == deciders[0]) continue;
      const Verdict v = link.nodes.at(other).Decide(key, 3, {}, t);
      EXPECT_EQ(v.kind, Verdict::kForward);
      EXPECT_EQ(v.owner, deciders[0]);
    }
  }
}

TEST(Ownership, AMinorityNeverDecides) {
  Link link({1, 2, 3});
  absl::Time t = link.Run(kT0, absl::Seconds(2), {1, 2, 3});
  // Node 3 is cut off: alone, it sees 1 of 3 known nodes.
  t = link.Run(t, absl::Seconds(2), {3});
  for (int i = 0; i < 50; ++i) {
    const std::string key = "k" + std::to_string(i);
    const Verdict v = link.nodes.at(3).Decide(key, 3, {}, t);
    EXPECT_NE(v.kind, Verdict::kDecide) << key;
    EXPECT_NE(v.why.find("majority"), std::string::npos) << v.why;
  }
  // The two others still hold a majority: each key has one decider there.
  t = link.Run(t, absl::Seconds(2), {1, 2});
  for (int i = 0; i < 50; ++i) {
    const std::string key = "k" + std::to_string(i);
    EXPECT_EQ(link.Deciders(key, 3, t, {1, 2}).size(), 1u) << key;
  }
}

TEST(Ownership, ANewOwnerFirstHasWhatThePreviousOneDecided) {
  Link link({1, 2, 3});
  absl::Time t = link.Run(kT0, absl::Seconds(2), {1, 2, 3});
  // A key node 1 owns among all three, and node 2 among {2, 3}.
  std::string key;
  for (int i = 0; key.empty(); ++i) {
    const std::string k = "k" + std::to_string(i);
    if (Ownership::OwnerOf(k, {1, 2, 3}) == 1 && Ownership::OwnerOf(k, {2, 3}) == 2)
      key = k;
  }
  ASSERT_EQ(link.Deciders(key, 3, t, {1, 2, 3}), std::vector<NodeId>{1});
  // Node 1 decided (its seq 7); node 3 applied it, node 2 did not; then node 1
  // went silent.
  link.vv[1][1] = 7;
  link.vv[3][1] = 7;
  t = link.Run(t, absl::Seconds(3), {2, 3});
  const Verdict v = link.nodes.at(2).Decide(key, 3, link.vv[2], t);
  EXPECT_EQ(v.kind, Verdict::kUnavailable);
  EXPECT_NE(v.why.find("catching up"), std::string::npos) << v.why;
  link.vv[2][1] = 7;
  EXPECT_EQ(link.nodes.at(2).Decide(key, 3, link.vv[2], t).kind, Verdict::kDecide);
}

TEST(Ownership, PeersSilentForTwoLeasesAreForgotten) {
  Ownership o(1, Options(), kT0);
  for (NodeId peer = 2; peer < 100; ++peer) {
    ASSERT_TRUE(o.Record(peer, ViewReport{{1, peer}, kT0, kT0, {}}, kT0));
  }
  EXPECT_EQ(o.peers(), 98u);
  o.Refresh(kT0 + 2 * Options().lease);
  EXPECT_EQ(o.peers(), 98u);
  o.Refresh(kT0 + 2 * Options().lease + absl::Milliseconds(1));
  EXPECT_EQ(o.peers(), 0u);
  EXPECT_EQ(o.view(), std::vector<NodeId>{1});
}

TEST(Ownership, AReportFromTheFutureIsRefused) {
  Ownership o(1, Options(), kT0);
  ViewReport r{{1, 2}, kT0, kT0 + absl::Seconds(1), {}};
  EXPECT_FALSE(o.Record(2, r, kT0));
  EXPECT_FALSE(o.Refresh(kT0));
  r.sent = kT0;
  EXPECT_TRUE(o.Record(2, r, kT0));
  EXPECT_FALSE(o.Record(2, r, kT0));  // not newer
  EXPECT_TRUE(o.Refresh(kT0));
  EXPECT_EQ(o.view(), (std::vector<NodeId>{1, 2}));
}

// A random schedule of lost heartbeats, pauses (a paused node neither sends
// nor handles anything; on resuming it handles what queued, sent long ago),
// one- and two-way partitions (of heartbeats and events alike; an event held
// by a partition arrives when it heals, as a catch-up brings it), and skewed
// clocks. Each node decides key "k" whenever it may, as a new event of its own;
// a decision is confirmed (replied 200) when a majority of the nodes, its
// decider included, applied it within `delivery` (kv/service/confirm.h), else it
// is answered 504. At no time may two nodes decide, and whoever makes a
// confirmed decision has applied every earlier confirmed decision.
TEST(Ownership, RandomSchedulesNeverHaveTwoWinners) {
  const OwnershipOptions o = Options();
  const absl::Duration tick = absl::Milliseconds(10);
  const int window = static_cast<int>(o.delivery / tick);  // in ticks
  int confirmed_total = 0;
  for (uint32_t seed = 1; seed <= 100; ++seed) {
    std::mt19937 rng(seed);
    const int n = 3 + static_cast<int>(seed % 3);
    struct Node {
      std::unique_ptr<Ownership> own;
      absl::Duration offset;  // its clock minus true time
      int paused_ticks = 0;
      std::vector<std::pair<NodeId, ViewReport>> inbox;  // while paused
      VersionVector vv;
    };
    std::map<NodeId, Node> nodes;
    for (int i = 1; i <= n; ++i) {
      Node node;
      node.offset = absl::Milliseconds(static_cast<int>(rng() % 21) - 10);
      node.own = std::make_unique<Ownership>(i, o, kT0 + node.offset);
      nodes.emplace(i, std::move(node));
    }
    struct Decision {
      NodeId node;
      uint64_t seq;
      int step;
      VersionVector vv;           // what its decider had applied
      int applied_in_window = 1;  // its decider
    };
    std::vector<Decision> decided;
    struct InFlight {
      int due;  // step; -1: held by a partition
      NodeId to;
      size_t decision;
    };
    std::vector<InFlight> events;
    std::set<NodeId> side;  // a partition
    bool one_way = false;
    auto cut = [&](NodeId from, NodeId to) {
      return !side.empty() && side.count(from) != side.count(to) &&
             (!one_way || side.count(from) > 0);
    };
    for (int step = 0; step < 3000; ++step) {
      const absl::Time now = kT0 + step * tick;
      if (rng() % 200 == 0) {  // a partition starts or heals
        side.clear();
        one_way = rng() % 2 == 0;
        if (rng() % 2 == 0) {
          for (auto& [id, node] : nodes) {
            if (rng() % 2 == 0) side.insert(id);
          }
        }
        for (InFlight& e : events) {
          if (e.due < 0 && !cut(decided[e.decision].node, e.to)) e.due = step + 1;
        }
      }
      for (auto& [id, node] : nodes) {
        if (node.paused_ticks > 0) {
          --node.paused_ticks;
        } else if (rng() % 300 == 0) {
          node.paused_ticks = 20 + static_cast<int>(rng() % 150);
        }
      }
      // Events due (one origin's arrive in seq order: they were sent so).
      for (auto it = events.begin(); it != events.end();) {
        Node& to = nodes.at(it->to);
        if (it->due >= 0 && it->due <= step && to.paused_ticks == 0) {
          Decision& d = decided[it->decision];
          uint64_t& seq = to.vv[d.node];
          seq = std::max(seq, d.seq);
          if (step - d.step <= window) ++d.applied_in_window;
          it = events.erase(it);
        } else {
          ++it;
        }
      }
      // Heartbeats every 100 ms, each lost with probability 1/5.
      if (step % 10 == 0) {
        for (auto& [from, sender] : nodes) {
          if (sender.paused_ticks > 0) continue;
          const ViewReport r{sender.own->view(), sender.own->view_since(),
                             now + sender.offset, sender.vv};
          for (auto& [to, receiver] : nodes) {
            if (to == from || rng() % 5 == 0 || cut(from, to)) continue;
            receiver.inbox.emplace_back(from, r);
          }
        }
      }
      for (auto& [id, node] : nodes) {
        if (node.paused_ticks > 0) continue;
        const absl::Time local = now + node.offset;
        for (auto& [from, r] : node.inbox) node.own->Record(from, r, local);
        node.inbox.clear();
        node.own->Refresh(local);
      }
      std::vector<NodeId> deciders;
      for (auto& [id, node] : nodes) {
        if (node.paused_ticks > 0) continue;
        if (node.own->Decide("k", n, node.vv, now + node.offset).kind ==
            Verdict::kDecide) {
          deciders.push_back(id);
        }
      }
      ASSERT_LE(deciders.size(), 1u) << "seed " << seed << " step " << step;
      for (NodeId id : deciders) {
        Node& node = nodes.at(id);
        decided.push_back({id, ++node.vv[id], step, node.vv});
        for (auto& [to, receiver] : nodes) {
          if (to == id) continue;
          const int delay = 1 + static_cast<int>(rng() % 5);
          events.push_back({cut(id, to) ? -1 : step + delay, to, decided.size() - 1});
        }
      }
    }
    // Every confirmed decision saw every earlier confirmed one.
    const auto confirmed = [n](const Decision& d) { return 2 * d.applied_in_window > n; };
    int count = 0;
    for (size_t j = 0; j < decided.size(); ++j) {
      if (!confirmed(decided[j])) continue;
      ++count;
      for (size_t i = 0; i < j; ++i) {
        if (!confirmed(decided[i])) continue;
        const auto it = decided[j].vv.find(decided[i].node);
        ASSERT_TRUE(it != decided[j].vv.end() && it->second >= decided[i].seq)
            << "seed " << seed << ": the decision at step " << decided[j].step
            << " misses the one at step " << decided[i].step;
      }
    }
    EXPECT_GT(count, 10) << "seed " << seed;  // and it does decide
    confirmed_total += count;
  }
  EXPECT_GT(confirmed_total, 10000);
}

}  // namespace
}  // namespace kv::replication
