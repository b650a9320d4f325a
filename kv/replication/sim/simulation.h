// Replicas of one link in one process, over a sim::Network: nodes join, pause,
// restart and get partitioned at will, and every node's Tick runs when due.
// Deterministic for a seed.
#ifndef KV_REPLICATION_SIM_SIMULATION_H_
#define KV_REPLICATION_SIM_SIMULATION_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "kv/replication/bus.h"
#include "kv/replication/replica.h"
#include "kv/replication/sim/network.h"
#include "kv/store/clock.h"

namespace kv::replication::sim {

struct SimulationOptions {
  uint64_t seed = 1;
  int64_t max_payload = 4096;
  // Timings and limits of every replica (`node` and `log` are set per node).
  ReplicaOptions replica;
  // The longest time between two ticks of a node (as ReplicaDriver).
  absl::Duration max_tick_interval = kMaxTickInterval;
  // Log lines kept per node (for failure messages).
  size_t log_lines = 200;
  // Each node's clock is off the network's by a fixed random amount in
  // [-max_clock_skew, max_clock_skew] (drawn when the node starts).
  absl::Duration max_clock_skew = absl::ZeroDuration();
};

// Thread safety: not thread-safe.
// Options for fast tests: 100 ms heartbeats, short timeouts and graces, 300 ms
// collections, forget_after 5 s, a 6 KiB max payload, 1 KiB values.
SimulationOptions FastOptions(uint64_t seed);

class Simulation {
 public:
  explicit Simulation(SimulationOptions options);
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;
  ~Simulation();

  Network& network() { return network_; }
  absl::Time now() { return network_.now(); }
  size_t size() const { return nodes_.size(); }

  // Starts a new node (a new host): it joins the link at once. Returns its index.
  int AddNode();
  // The node's process dies and a fresh one starts on the same host: a new
  // node id, an empty store, joining again. With `restore`, the new process
  // starts from the store it returns (ReplicaOptions::restore: a warm restart
  // from a snapshot). A stopped or killed node starts again (connected).
  void Restart(
      int node,
      std::function<std::unique_ptr<store::Store>(store::NodeId)> restore = nullptr);
  // The node's process stops cleanly (kvd on SIGTERM: Replica::Stop, which says
  // goodbye) and never comes back; Converged-style checks skip it.
  void Stop(int node);
  // The node's process dies (kill -9): it says no goodbye and never comes back;
  // Converged-style checks skip it.
  void Kill(int node);
  bool Stopped(int node) const { return nodes_[node]->stopped; }
  void Pause(int node) { network_.Pause(node); }
  void Resume(int node) { network_.Resume(node); }
  bool Paused(int node) const { return network_.Paused(node); }
  // The node's connection is lost (Network::Disconnect) until Reconnect, which
  // also tells the replica (Replica::OnReconnected, as kvd does).
  void Disconnect(int node) { network_.Disconnect(node); }
  void Reconnect(int node);
  void Partition(int a, int b) { network_.Partition(a, b); }
  void Heal(int a, int b) { network_.Heal(a, b); }
  void HealAll() { network_.HealAll(); }

  void RunFor(absl::Duration d) { network_.RunFor(d); }
  // Runs until every node is ready (false after `limit`).
  bool RunUntilReady(absl::Duration limit);

  Replica& replica(int node) { return *nodes_[node]->replica; }
  // How often the node was restarted.
  int restarts(int node) const { return nodes_[node]->restarts; }
  // The node's recent log lines (its process's and its predecessors').
  std::string Log(int node) const;
  // Every node's figures and recent log, for failure messages.
  std::string Describe() const;
  // Empty when every running node is ready with the same state (StateText) and
  // no message exceeded the max payload; else what differs, with Describe().
  std::string Divergence();

 private:
  // The network's clock, shifted.
  class SkewedClock : public store::Clock {
   public:
    SkewedClock(store::Clock* base, absl::Duration offset)
        : base_(base), offset_(offset) {}
    absl::Time Now() override { return base_->Now() + offset_; }
    absl::Duration offset() const { return offset_; }

   private:
    store::Clock* const base_;
    const absl::Duration offset_;
  };
  struct Node {
    int host = 0;
    int restarts = 0;
    bool stopped = false;
    uint64_t generation = 0;  // of the replica ticked
    std::unique_ptr<Bus> bus;
    std::unique_ptr<SkewedClock> clock;
    std::unique_ptr<Replica> replica;
    std::deque<std::string> log;
  };

  void StartReplica(
      int node,
      std::function<std::unique_ptr<store::Store>(store::NodeId)> restore = nullptr);
  void ScheduleTick(int node, absl::Time at);

  SimulationOptions options_;
  Network network_;
  uint64_t generations_ = 0;
  std::vector<std::unique_ptr<Node>> nodes_;
};

// State of a replica in canonical text: vector, digest and every key state
// (tombstones included), for comparing replicas.
std::string StateText(const Replica& replica);

}  // namespace kv::replication::sim

#endif  // KV_REPLICATION_SIM_SIMULATION_H_
