// The figures a replica reports (STATS data, tests).
#ifndef KV_REPLICATION_REPLICA_STATS_H_
#define KV_REPLICATION_REPLICA_STATS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kv/store/state.h"

namespace kv::replication {

// Figures for STATS and tests.
struct ReplicaStats {
  std::string link;
  std::string node;  // hex
  bool ready = false;
  size_t keys = 0;        // keys that show a value (store::StoreStats::keys)
  size_t tombstones = 0;  // keys held only for deleted state, until collected
  size_t memory_bytes = 0;
  size_t max_memory_bytes = 0;  // 0: no limit
  uint64_t evicted = 0;
  uint64_t expired = 0;
  store::VersionVector vv;
  store::Digest digest;
  size_t peers = 0;  // heard from within 3 heartbeats
  // Highest number of operations any live peer has that we lack.
  uint64_t lag = 0;
  uint64_t events_out = 0;
  uint64_t events_in = 0;
  uint64_t events_duplicate = 0;
  uint64_t gaps = 0;
  uint64_t catchups = 0;  // completed catch-ups (as requester)
  uint64_t catchups_served = 0;
  // Catch-up requests refused by the serving limits (ServeLimiter).
  uint64_t catchups_refused = 0;
  // Events of a new origin refused: the vector names kMaxVectorOrigins already.
  uint64_t events_refused = 0;
  // Heartbeats ignored by the peer table's bounds (PeerTable::ignored).
  uint64_t heartbeats_ignored = 0;
  uint64_t bad_messages = 0;  // undecodable or invalid peer messages
  // Messages this replica could not publish (events, heartbeats, catch-up
  // chunks: the connection is down, or one exceeded the max payload).
  uint64_t publish_errors = 0;
  // Catch-ups served that stopped before their last chunk (a chunk that could
  // not be published or could not fit the max payload); the requester retries.
  uint64_t catchups_failed = 0;
  uint64_t tombstones_collected = 0;
  // Times this replica found itself stale (a peer collected records it never
  // applied) and discarded its state to rejoin under a new node id.
  uint64_t stale_resets = 0;
  // Origins retired (gone, and applied entirely by every replica), and how many
  // retired origins this replica still remembers (docs/replication.md).
  uint64_t origins_retired = 0;
  size_t retired_origins = 0;
  // Retired origins found not gone (a peer or an event had more of them).
  uint64_t origins_unretired = 0;
  // This node's applications of a request id taken back because another node
  // applied the id earlier (store::RequestLog, "Two applications of one id").
  uint64_t withdrawn = 0;
  // Replication lag of the events applied: from the operation's HLC time at
  // its origin to its application here, in milliseconds (the HLC's physical
  // part has millisecond resolution; across machines it includes clock skew).
  struct LagHistogram {
    static constexpr int kBuckets = 1001;  // 0..999 ms, then ">= 1 s"
    std::vector<uint64_t> counts = std::vector<uint64_t>(kBuckets);
    uint64_t total = 0;
    uint64_t max_ms = 0;
    void Add(uint64_t ms);
    // The smallest bucket below which `q` of the samples lie (1000 = ">= 1 s").
    uint64_t Quantile(double q) const;
  } apply_lag;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_REPLICA_STATS_H_
