// Confirmations of an owner's decisions: a decision is replied only once a
// majority of the link's known nodes applied its event (docs/ownership.md,
// "Confirmation"), so that no later owner can miss it.
#ifndef KV_SERVICE_CONFIRM_H_
#define KV_SERVICE_CONFIRM_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kv/store/state.h"

namespace kv::service {

// Where the peers of `link` ask to confirm `origin`'s events:
// _kv.<link>.confirm.<origin, 16 hex digits>.
std::string ConfirmSubject(absl::string_view link, store::NodeId origin);
// Where their confirmations to `origin` go: _kv.<link>.ack.<origin>.a (under the
// prefix _kv.<link>.ack.<origin>).
std::string AckPrefix(absl::string_view link, store::NodeId origin);
std::string AckSubject(absl::string_view link, store::NodeId origin);

// What the peers confirmed having applied of this node's events, and waiting
// for enough of them.
//
// Thread safety: thread-safe.
class Confirmations {
 public:
  // Peers remembered at most (confirmations of others are dropped).
  static constexpr size_t kMaxPeers = 256;

  // `peer` applied this node's events up to `seq`.
  void Record(store::NodeId peer, uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until `needed` of `members` confirmed `seq` or a later seq, for at
  // most `timeout`. True when they did.
  bool Await(uint64_t seq, const std::vector<store::NodeId>& members, size_t needed,
             absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets everything (this node took a new id).
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Wait {
    const Confirmations* self;
    uint64_t seq;
    const std::vector<store::NodeId>* members;
    size_t needed;
  };
  // Called by the mutex with mu_ held (the analysis cannot see it).
  static bool Enough(const Wait* w) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  mutable absl::Mutex mu_;
  std::map<store::NodeId, uint64_t> acked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kv::service

#endif  // KV_SERVICE_CONFIRM_H_
