// kvd processes for multi-node integration tests: starting a node and reading
// its ids from its log, its replica figures from $SRV.STATS, and waiting for
// every replica of a link to converge (ready, equal digests and vectors).

#ifndef TESTS_TESTING_KVD_NODE_H_
#define TESTS_TESTING_KVD_NODE_H_

#include <nats/nats.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/harness.h"

namespace testing_util {

// One kvd process serving the link "default".
//
// Thread safety: not thread-safe.
class KvdNode {
 public:
  // Starts the kvd binary `kvd_path` on `servers` (comma-separated URLs) with
  // a 200 ms heartbeat, a 400 ms first-replica silence and `extra` flags;
  // waits up to `timeout` until it logged its service and node ids and its
  // link is ready. DeadlineExceeded (with kvd's log) otherwise.
  static absl::StatusOr<std::unique_ptr<KvdNode>> Start(
      const std::string& kvd_path, const std::string& servers,
      const std::vector<std::string>& extra = {},
      absl::Duration timeout = absl::Seconds(30));

  KvdNode(const KvdNode&) = delete;
  KvdNode& operator=(const KvdNode&) = delete;

  // The micro-service instance id ($SRV.*.kv.<id>).
  const std::string& service_id() const { return service_id_; }
  // The replica's node id (16 hex digits), as in Kv-Position.
  const std::string& node_id() const { return node_id_; }
  // The same as a number (store::NodeId), e.g. for Ownership::OwnerOf.
  uint64_t node_number() const;
  Process& process() { return *process_; }
  std::string Output() const { return process_->Output(); }

 private:
  explicit KvdNode(std::unique_ptr<Process> p) : process_(std::move(p)) {}

  std::unique_ptr<Process> process_;
  std::string service_id_;
  std::string node_id_;
};

// One node's replica figures: the STATS data of its "default" endpoints.
struct ReplicaStats {
  std::string service_id;
  std::string error;  // non-empty when the node did not answer
  std::string node;
  bool ready = false;
  uint64_t keys = 0, peers = 0, lag = 0, gaps = 0, catchups = 0;
  uint64_t tombstones = 0, memory_bytes = 0, max_memory = 0, evicted = 0, expired = 0;
  std::string digest;
  std::map<std::string, uint64_t> vv;

  std::string ToString() const;
};

// $SRV.STATS.kv.<service_id> over `nc` (waits up to `timeout`).
ReplicaStats StatsOf(natsConnection* nc, const std::string& service_id,
                     absl::Duration timeout = absl::Seconds(2));

// True when every entry answered, is ready, and has the first one's digest
// and version vector.
bool Converged(const std::vector<ReplicaStats>& stats);

// Polls the STATS of every node in `nodes` over `nc` until they converged.
// OK then; DeadlineExceeded after `timeout`, with the last figures and the
// tail of every node's log.
absl::Status WaitConverged(natsConnection* nc, const std::vector<KvdNode*>& nodes,
                           absl::Duration timeout);

}  // namespace testing_util

#endif  // TESTS_TESTING_KVD_NODE_H_
