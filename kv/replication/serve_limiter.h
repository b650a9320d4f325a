// How many catch-ups a replica serves, and how fast: a catch-up request is
// small and its answer may be the whole store, so a peer (trusted or not) must
// not be able to make a node send without bound.
#ifndef KV_REPLICATION_SERVE_LIMITER_H_
#define KV_REPLICATION_SERVE_LIMITER_H_

#include <cstddef>
#include <cstdint>
#include <set>

#include "absl/time/time.h"
#include "kv/store/state.h"

namespace kv::replication {

struct ServeLimits {
  // Catch-ups in progress at once (one per requester node id at most).
  size_t concurrent = 4;
  // Catch-ups started: a token bucket refilled at `per_second`, holding `burst`.
  double per_second = 8;
  double burst = 16;
  // Bytes sent: a token bucket refilled at `bytes_per_second`, holding one
  // second's worth; a catch-up starts only when it is not in debt (a catch-up
  // under way is finished, and its bytes are then owed).
  double bytes_per_second = 64 << 20;
};

// Thread safety: not thread-safe; the replica serialises calls. Pure: time is
// passed in.
class ServeLimiter {
 public:
  explicit ServeLimiter(ServeLimits limits, absl::Time now);
  ServeLimiter(const ServeLimiter&) = delete;
  ServeLimiter& operator=(const ServeLimiter&) = delete;

  // Whether a catch-up for `requester` may start now; if so it counts as in
  // progress until Done. False when `requester` has one in progress, when
  // `concurrent` are, when no start is left in the bucket or when the bytes
  // sent are over the rate.
  bool Admit(store::NodeId requester, absl::Time now);
  // The catch-up admitted for `requester` ended after sending `bytes`.
  void Done(store::NodeId requester, size_t bytes, absl::Time now);

 private:
  void Refill(absl::Time now);

  const ServeLimits limits_;
  std::set<store::NodeId> serving_;
  double starts_;  // tokens
  double bytes_;   // tokens (negative: in debt)
  absl::Time refilled_;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_SERVE_LIMITER_H_
