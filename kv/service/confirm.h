// Confirmations of an owner's decisions: a decision is replied only once a
// majority of the link's known nodes applied its event (docs/ownership.md),
// so that no later owner can miss it. The owner does not wait: each decision
// registers what to do once confirmed, or once too late.
#ifndef KV_SERVICE_CONFIRM_H_
#define KV_SERVICE_CONFIRM_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <thread>
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

// What the peers confirmed having applied of this node's events, and the
// decisions waiting for enough of them.
//
// Thread safety: thread-safe. A thread of its own answers the decisions whose
// deadline passed.
class Confirmations {
 public:
  // Peers remembered at most (confirmations of others are dropped).
  static constexpr size_t kMaxPeers = 256;
  // Decisions waiting at most, and the bytes they hold (their replies); one
  // beyond either is answered unconfirmed at once.
  static constexpr size_t kMaxWaiting = 100000;
  static constexpr size_t kMaxWaitingBytes = size_t{64} << 20;

  Confirmations();
  // Answers every decision still waiting as unconfirmed.
  ~Confirmations();
  Confirmations(const Confirmations&) = delete;
  Confirmations& operator=(const Confirmations&) = delete;

  // `peer` (a member of `live`, this node's view) applied this node's events up
  // to `seq`; answers the decisions this confirms before their deadline. When
  // kMaxPeers are remembered, those not in `live` are forgotten first.
  void Record(store::NodeId peer, uint64_t seq, const std::vector<store::NodeId>& live)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Calls done(true) once `needed` of `members` (peers, not this node)
  // confirmed `seq` or a later seq before `deadline` (at once if they have),
  // else done(false) at `deadline`. `done` runs outside the lock, on the
  // thread of the confirmation, of this call or of the deadlines. `bytes`:
  // what `done` holds (counted against kMaxWaitingBytes while it waits).
  void Await(uint64_t seq, std::vector<store::NodeId> members, size_t needed,
             absl::Time deadline, std::function<void(bool confirmed)> done, size_t bytes)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the confirmations (this node took a new id).
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Waiting {
    uint64_t seq;
    std::vector<store::NodeId> members;
    size_t needed;
    absl::Time deadline;
    std::function<void(bool)> done;
    size_t bytes;
  };

  bool Confirmed(const Waiting& w) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Answers the decisions whose deadline passed, until stopped.
  void Sweep() ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::map<store::NodeId, uint64_t> acked_ ABSL_GUARDED_BY(mu_);
  std::list<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  size_t waiting_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread sweeper_;
};

}  // namespace kv::service

#endif  // KV_SERVICE_CONFIRM_H_
