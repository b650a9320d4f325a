#include "kv/replication/sim/simulation.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kv/store/state_text.h"
#include "kv/store/store.h"

namespace kv::replication::sim {

SimulationOptions FastOptions(uint64_t seed) {
  SimulationOptions o;
  o.seed = seed;
  o.max_payload = 6 * 1024;
  o.replica.heartbeat = absl::Milliseconds(100);
  o.replica.sync_timeout = absl::Milliseconds(500);
  o.replica.join_timeout = absl::Milliseconds(200);
  o.replica.first_replica_silence = absl::Milliseconds(300);
  o.replica.divergence_grace = absl::Seconds(1);
  o.replica.gap_grace = absl::Milliseconds(10);
  o.replica.gc_interval = absl::Milliseconds(300);
  o.replica.forget_after = absl::Seconds(5);
  o.replica.limits.max_value_bytes = 1024;
  return o;
}

Simulation::Simulation(SimulationOptions options)
    : options_(std::move(options)), network_(options_.seed, options_.max_payload) {}

Simulation::~Simulation() {
  for (auto& n : nodes_) n->replica.reset();
}

int Simulation::AddNode() {
  const int index = static_cast<int>(nodes_.size());
  nodes_.push_back(std::make_unique<Node>());
  nodes_.back()->host = index;
  StartReplica(index);
  return index;
}

void Simulation::Restart(
    int node, std::function<std::unique_ptr<store::Store>(store::NodeId)> restore) {
  Node& n = *nodes_[node];
  n.replica.reset();  // stops: unsubscribes; its pending ticks are cancelled
  n.bus.reset();
  ++n.restarts;
  n.stopped = false;
  network_.Reconnect(n.host);
  n.log.push_back(
      absl::StrCat(absl::FormatTime("%H:%M:%E3S", now(), absl::UTCTimeZone()),
                   restore ? " -- restart from a snapshot --" : " -- restart --"));
  StartReplica(node, std::move(restore));
}

void Simulation::Reconnect(int node) {
  network_.Reconnect(nodes_[node]->host);
  nodes_[node]->replica->OnReconnected();
}

void Simulation::Stop(int node) {
  Node& n = *nodes_[node];
  n.replica->Stop();
  n.stopped = true;
  n.generation = ++generations_;  // no more ticks
  n.log.push_back(absl::StrCat(absl::FormatTime("%H:%M:%E3S", now(), absl::UTCTimeZone()),
                               " -- stopped --"));
}

void Simulation::Kill(int node) {
  Node& n = *nodes_[node];
  network_.Disconnect(n.host);  // its goodbye goes nowhere
  n.replica->Stop();
  n.stopped = true;
  n.generation = ++generations_;  // no more ticks
  n.log.push_back(absl::StrCat(absl::FormatTime("%H:%M:%E3S", now(), absl::UTCTimeZone()),
                               " -- killed --"));
}

void Simulation::StartReplica(
    int node, std::function<std::unique_ptr<store::Store>(store::NodeId)> restore) {
  Node& n = *nodes_[node];
  ReplicaOptions ro = options_.replica;
  if (restore) ro.restore = std::move(restore);
  ro.node = 0;
  while (ro.node == 0) ro.node = network_.rng()();
  Network* net = &network_;
  ro.new_node_id = [net] { return net->rng()(); };
  const size_t keep = options_.log_lines;
  ro.log = [&n, net, keep](absl::string_view line) {
    n.log.push_back(absl::StrCat(
        absl::FormatTime("%H:%M:%E3S", net->now(), absl::UTCTimeZone()), " ", line));
    while (n.log.size() > keep) n.log.pop_front();
  };
  n.bus = network_.Connect(n.host);
  absl::Duration offset;
  if (options_.max_clock_skew > absl::ZeroDuration()) {
    const int64_t us = absl::ToInt64Microseconds(options_.max_clock_skew);
    offset = absl::Microseconds(
        std::uniform_int_distribution<int64_t>(-us, us)(network_.rng()));
  }
  n.clock = std::make_unique<SkewedClock>(network_.clock(), offset);
  auto replica = Replica::Start(n.bus.get(), n.clock.get(), std::move(ro));
  if (!replica.ok()) {  // the simulated bus does not fail
    std::fprintf(stderr, "sim: %s\n", std::string(replica.status().message()).c_str());
    std::abort();
  }
  n.replica = *std::move(replica);
  n.generation = ++generations_;
  ScheduleTick(node, now());
}

void Simulation::ScheduleTick(int node, absl::Time at) {
  Node* n = nodes_[node].get();
  const uint64_t generation = n->generation;
  network_.At(
      at, n->host, [n, generation] { return n->generation == generation; },
      [this, n, node] {
        // The replica's time is its clock's; the network's is not shifted.
        const absl::Time due = n->replica->Tick() - n->clock->offset();
        const absl::Time t = now();
        ScheduleTick(node, std::clamp(due, t + absl::Microseconds(1),
                                      t + options_.max_tick_interval));
      });
}

bool Simulation::RunUntilReady(absl::Duration limit) {
  const absl::Time end = now() + limit;
  while (now() < end) {
    bool all = true;
    for (auto& n : nodes_) all = all && (n->stopped || n->replica->ready());
    if (all) return true;
    RunFor(absl::Milliseconds(10));
  }
  return false;
}

std::string Simulation::Log(int node) const {
  return absl::StrJoin(nodes_[node]->log, "\n");
}

std::string Simulation::Describe() const {
  std::string out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const ReplicaStats s = nodes_[i]->replica->stats();
    std::string vv;
    for (const auto& [node, seq] : s.vv) {
      absl::StrAppendFormat(&vv, " %016x:%d", node, seq);
    }
    absl::StrAppendFormat(
        &out,
        "node %d (%s)%s%s%s%s: ready %d keys %d digest %016x%016x gaps %d catchups %d "
        "served %d collected %d resets %d vv%s\n",
        i, s.node, network_.Paused(static_cast<int>(i)) ? " paused" : "",
        network_.Disconnected(static_cast<int>(i)) ? " disconnected" : "",
        nodes_[i]->restarts > 0 ? " restarted" : "", nodes_[i]->stopped ? " stopped" : "",
        s.ready, s.keys, s.digest.a, s.digest.b, s.gaps, s.catchups, s.catchups_served,
        s.tombstones_collected, s.stale_resets, vv);
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    absl::StrAppend(&out, "--- node ", i, " log:\n", Log(static_cast<int>(i)), "\n");
  }
  return out;
}

std::string Simulation::Divergence() {
  std::string first;
  int first_node = -1;
  for (size_t i = 0; i < size(); ++i) {
    if (Stopped(static_cast<int>(i))) continue;
    Replica& r = replica(static_cast<int>(i));
    if (!r.ready()) return absl::StrCat("node ", i, " not ready\n", Describe());
    const std::string state = StateText(r);
    if (first_node < 0) {
      first = state;
      first_node = static_cast<int>(i);
    } else if (state != first) {
      return absl::StrCat("node ", i, " differs from node ", first_node, "\n--- node ",
                          first_node, ":\n", first, "--- node ", i, ":\n", state,
                          Describe());
    }
  }
  if (network_.oversized() > 0) {
    return absl::StrCat(network_.oversized(), " messages above the max payload");
  }
  return "";
}

std::string StateText(const Replica& replica) {
  return replica.Read([](const store::Store& s) {
    std::string out;
    for (const auto& [node, seq] : s.vv()) {
      absl::StrAppendFormat(&out, "%016x:%d ", node, seq);
    }
    absl::StrAppendFormat(&out, "\ndigest %016x%016x\n", s.digest().a, s.digest().b);
    for (const store::KeyState& ks : s.DeltaAbove({}).entries) {
      absl::StrAppend(&out, store::text::KeyStateText(ks), "\n");
    }
    return out;
  });
}

}  // namespace kv::replication::sim
