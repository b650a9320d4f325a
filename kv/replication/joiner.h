// The decisions of a joining replica (docs/replication.md, "Joining"): when it
// may call itself the first replica of its link, which peer it asks for its
// catch-up, and which peers it stops asking because their catch-ups failed.
#ifndef KV_REPLICATION_JOINER_H_
#define KV_REPLICATION_JOINER_H_

#include <algorithm>
#include <map>

#include "absl/time/time.h"
#include "kv/store/state.h"

namespace kv::replication {

struct JoinerOptions {
  // A peer heard within 3 heartbeats is live (asked directly).
  absl::Duration heartbeat = absl::Seconds(1);
  // Silence (no peer heard, no peer answering) after which a replica that
  // finds no ready peer is the first replica of its link.
  absl::Duration first_replica_silence = absl::Seconds(3);
  // A peer whose catch-up failed is not asked directly for this long.
  absl::Duration exclude_for = absl::Seconds(12);
};

// The rule: a replica is the first only when, for first_replica_silence since
// its connection came up, it heard no peer (no heartbeat, no answer to a join
// request), and a request on sync.any sent after that silence found nobody
// subscribed ("no responders"). A peer heard meanwhile is asked directly.
//
// Thread safety: not thread-safe; the replica serialises calls. Pure: time is
// passed in.
class Joiner {
 public:
  Joiner(JoinerOptions options, absl::Time connected)
      : options_(options), quiet_since_(connected) {}
  Joiner(const Joiner&) = delete;
  Joiner& operator=(const Joiner&) = delete;

  // The connection came up (again) at `now`: the silence counts from here.
  void Connected(absl::Time now) { Quiet(now); }
  // A heartbeat of `peer` arrived at `now`.
  void Heard(store::NodeId peer, absl::Time now);
  // A peer answered a join request or sent a chunk: not alone.
  void Answered(absl::Time now) { Quiet(now); }
  // A request on sync.any was sent at `now`.
  void AskedAny(absl::Time now) { asked_any_ = now; }
  // The request on sync.any sent at `sent` was answered "no responders". True
  // when that makes this replica the first: it was sent after the silence.
  bool NoResponders(absl::Time sent) const { return sent >= SilentUntil(); }
  // A catch-up from `peer` failed at `now`: not asked directly for exclude_for.
  void Failed(store::NodeId peer, absl::Time now);

  // When the silence will have lasted first_replica_silence.
  absl::Time SilentUntil() const { return quiet_since_ + options_.first_replica_silence; }
  // When a confirming request on sync.any is due (SilentUntil, unless one was
  // sent since), or InfiniteFuture.
  absl::Time ProbeAt() const {
    return asked_any_ >= SilentUntil() ? absl::InfiniteFuture() : SilentUntil();
  }
  // The live peer heard most recently that is not excluded; 0 if none.
  store::NodeId Candidate(absl::Time now) const;
  bool Excluded(store::NodeId peer, absl::Time now) const;
  absl::Duration exclude_for() const { return options_.exclude_for; }

 private:
  void Quiet(absl::Time now) { quiet_since_ = std::max(quiet_since_, now); }

  const JoinerOptions options_;
  absl::Time quiet_since_;
  absl::Time asked_any_ = absl::InfinitePast();
  std::map<store::NodeId, absl::Time> heard_;     // peer -> last heartbeat
  std::map<store::NodeId, absl::Time> excluded_;  // peer -> until
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_JOINER_H_
