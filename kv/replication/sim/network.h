// An in-memory message bus for tests: one scheduler that owns a FakeClock and a
// queue of timed work (deliveries and timers), run from a single thread. Every
// random choice comes from one generator seeded per run, so a seed replays the
// same schedule.
//
// Each Bus made by the network is one connection of a host (a node). Per
// delivery the network may drop, duplicate, delay and reorder (Faults); it can
// partition hosts (no message between them), pause a host (its deliveries and
// timers wait until it resumes), disconnect a host (as when its server went
// away: its subscriptions are unknown to the others, and nothing reaches it or
// leaves it) and filter messages (tests drop exactly what they mean to). Without
// reordering, the messages of one connection reach each subscription in the order they
// were published, as on NATS.
#ifndef KV_REPLICATION_SIM_NETWORK_H_
#define KV_REPLICATION_SIM_NETWORK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/replication/bus.h"
#include "kv/store/clock.h"

namespace kv::replication::sim {

struct Faults {
  double drop = 0;       // per delivery
  double duplicate = 0;  // per delivery: a second copy, delayed on its own
  double reorder = 0;    // per delivery: up to reorder_delay later, out of order
  absl::Duration min_delay = absl::Milliseconds(1);
  absl::Duration max_delay = absl::Milliseconds(3);
  absl::Duration reorder_delay = absl::Milliseconds(300);
};

// A message on its way to one subscription, as filters see it.
struct Envelope {
  int from_host = 0;
  int to_host = 0;
  std::string subject;
  std::string reply;
  std::string data;
  bool no_responders = false;
};

// Subject matching with NATS wildcards ('*' one token, '>' the rest).
bool SubjectMatches(absl::string_view pattern, absl::string_view subject);

// Thread safety: not thread-safe; everything runs on the caller's thread.
class Network {
 public:
  Network(uint64_t seed, int64_t max_payload);
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;
  ~Network();

  store::FakeClock* clock() { return &clock_; }
  std::mt19937_64& rng() { return rng_; }
  absl::Time now() { return clock_.Now(); }

  void set_faults(const Faults& faults) { faults_ = faults; }
  const Faults& faults() const { return faults_; }
  // Drops every delivery for which `filter` returns true (nullptr: none).
  void set_filter(std::function<bool(const Envelope&)> filter) {
    filter_ = std::move(filter);
  }

  // A new connection of `host`. The network must outlive it.
  std::unique_ptr<Bus> Connect(int host);

  // Schedules `f` at `at` on behalf of `host` (held while the host is paused).
  // `alive` is checked just before: false cancels.
  void At(absl::Time at, int host, std::function<bool()> alive, std::function<void()> f);

  void Partition(int a, int b);
  void Heal(int a, int b);
  void HealAll() { cut_.clear(); }
  bool Partitioned(int a, int b) const;
  void Pause(int host);
  void Resume(int host);
  bool Paused(int host) const { return paused_.count(host) > 0; }
  // While disconnected, the host's publishes are lost (reported as sent, like
  // nats.c buffering them for a server that restarted without them), messages
  // to it are lost, and requests that only it could take are answered "no
  // responders". Reconnect restores its subscriptions.
  void Disconnect(int host) { disconnected_.insert(host); }
  void Reconnect(int host) { disconnected_.erase(host); }
  bool Disconnected(int host) const { return disconnected_.count(host) > 0; }

  // Runs the queue until the clock reaches `until` (which it is then set to).
  void RunUntil(absl::Time until);
  void RunFor(absl::Duration d) { RunUntil(now() + d); }

  uint64_t delivered() const { return delivered_; }
  uint64_t oversized() const { return oversized_; }  // publishes refused

 private:
  class SimBus;
  class SimSubscription;
  struct Sub {
    int id = 0;
    int conn = 0;
    int host = 0;
    std::string subject;
    std::string queue;
    MessageHandler handler;
  };
  struct Item {
    absl::Time at;
    uint64_t seq = 0;
    int host = 0;
    std::function<void()> run;
  };
  struct Later {
    bool operator()(const Item& a, const Item& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };

  absl::Status Publish(int conn, int host, absl::string_view subject,
                       absl::string_view reply, absl::string_view data);
  int Subscribe(int conn, int host, absl::string_view subject, absl::string_view queue,
                MessageHandler handler);
  void Unsubscribe(int sub) { subs_.erase(sub); }
  // Schedules the delivery of `env` to subscription `sub` (faults applied).
  void Send(const Envelope& env, int from_conn, int sub);
  void Push(absl::Time at, int host, std::function<void()> run);
  absl::Duration Uniform(absl::Duration lo, absl::Duration hi);
  bool Chance(double p);

  store::FakeClock clock_;
  std::mt19937_64 rng_;
  const int64_t max_payload_;
  Faults faults_;
  std::function<bool(const Envelope&)> filter_;
  std::map<int, std::shared_ptr<Sub>> subs_;
  int next_sub_ = 0;
  int next_conn_ = 0;
  uint64_t next_inbox_ = 0;
  uint64_t next_seq_ = 0;
  std::priority_queue<Item, std::vector<Item>, Later> queue_;
  std::map<int, std::vector<Item>> held_;  // paused host -> its work, in order
  std::set<std::pair<int, int>> cut_;
  std::set<int> paused_;
  std::set<int> disconnected_;
  // (publishing connection, subscription) -> latest delivery time (FIFO).
  std::map<std::pair<int, int>, absl::Time> last_;
  uint64_t delivered_ = 0;
  uint64_t oversized_ = 0;
};

}  // namespace kv::replication::sim

#endif  // KV_REPLICATION_SIM_NETWORK_H_
