// Replica: joining the link (docs/replication.md, "Joining"). The decisions are
// Joiner's; this file sends the requests and takes the answers.
#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/replication/replica.h"

namespace kv::replication {
namespace {

using store::NodeId;
using store::VersionVector;

std::string Hex(NodeId node) { return absl::StrFormat("%016x", node); }

std::string Whom(NodeId peer) {
  return peer == 0 ? std::string("any ready peer") : absl::StrCat("peer ", Hex(peer));
}

}  // namespace

void Replica::OnReconnected() {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !options_.enabled) return;
  const absl::Time now = clock_->Now();
  if (ready()) {
    // Nodes that started while this one was away may be listening for peers.
    PublishHeartbeat(now);
    next_heartbeat_ = now + options_.heartbeat;
  } else {
    joiner_.Connected(now);
  }
}

absl::Time Replica::TickJoin(absl::Time now) {
  if (sync_) {
    // Not ready until caught up: answering from a partial copy would serve stale
    // reads, and deletes would miss what this node has not seen.
    const char* failed = nullptr;
    if (!sync_->acknowledged && now >= sync_->ack_deadline) {
      failed = "Timeout";
    } else if (sync_->acknowledged && now > sync_->deadline) {
      failed = "catch-up incomplete";
    }
    // A request on sync.any sent before the silence was over, still unanswered,
    // is replaced by one sent after it (only that one can make us the first).
    const bool probe = !sync_->acknowledged && sync_->peer == 0;
    if (failed == nullptr && probe && now >= joiner_.ProbeAt()) {
      sync_.reset();
      StartJoin(0, now);
      return sync_ ? sync_->ack_deadline : now;
    }
    if (failed == nullptr) {
      return sync_->acknowledged ? sync_->deadline + absl::Nanoseconds(1)
             : probe             ? std::min(sync_->ack_deadline, joiner_.ProbeAt())
                                 : sync_->ack_deadline;
    }
    EndSync(absl::StrCat("join attempt ", join_attempts_, " failed (", failed, ")"));
  }
  // Back at 503 to catch up, and no peer heard any more: alone again.
  if (ever_ready_ && now >= joiner_.SilentUntil()) {
    SetReady(absl::StrCat("ready again: no peer heard for ",
                          absl::FormatDuration(options_.first_replica_silence),
                          "; first replica of the link (provisional)"));
    return now;
  }
  const NodeId peer = joiner_.Candidate(now);
  if (now >= next_join_) {
    StartJoin(peer, now);
  } else if (peer == 0 && now >= joiner_.ProbeAt()) {
    StartJoin(0, now);  // the silence is long enough: is anybody there?
  }
  if (sync_) {
    return sync_->acknowledged ? sync_->deadline + absl::Nanoseconds(1)
                               : sync_->ack_deadline;
  }
  absl::Time next = std::min(next_join_, joiner_.ProbeAt());
  if (ever_ready_) next = std::min(next, joiner_.SilentUntil());
  return next;
}

void Replica::StartJoin(NodeId peer, absl::Time now) {
  ++join_attempts_;
  if (!BeginSync(peer)) return;
  sync_->join = true;
  sync_->sent = now;
  // A fresh replica asks for everything and wants an acknowledgement; one back
  // at 503 (provisional) asks for what it lacks, as a plain catch-up (which a
  // peer also back at 503 serves).
  // A restored one asks for what its vector lacks, as a join (any ready peer).
  const bool plain = ever_ready_ && peer != 0;
  const codec::SyncRequest request{
      node(), !plain, ever_ready_ || restored_ ? store_->vv() : VersionVector()};
  if (plain) {
    sync_->acknowledged = true;
  } else {
    sync_->ack_deadline = now + options_.join_timeout;
  }
  if (peer == 0) {
    joiner_.AskedAny(now);
  } else {
    Log(absl::StrCat("join attempt ", join_attempts_, ": asking ", Whom(peer)));
  }
  // The acknowledgement, the chunks and "no responders" come to the reply
  // subject, the catch-up's inbox. The subject is built from a node id's hex
  // digits only: a valid subject whatever the id.
  const std::string subject =
      Subject(peer == 0 ? std::string("sync.any") : absl::StrCat("sync.", Hex(peer)));
  absl::Status s =
      bus_->Publish(subject, sync_->inbox, codec::EncodeSyncRequest(request));
  if (!s.ok()) {
    EndSync(absl::StrCat("join attempt ", join_attempts_, " failed (", s.message(), ")"));
  }
}

void Replica::HandleJoinAnswer(const Message& msg) {
  const absl::Time now = clock_->Now();
  if (msg.no_responders) {
    if (sync_->peer != 0) {
      EndSync(absl::StrCat("join attempt ", join_attempts_,
                           " failed (the peer is gone: no responders)"));
      return;
    }
    const absl::Time sent = sync_->sent;
    EndSync("done");  // the next attempt a join_timeout later
    if (joiner_.NoResponders(sent)) {
      provisional_ = true;
      SetReady(absl::StrCat("ready: first replica of the link (no peer heard for ",
                            absl::FormatDuration(options_.first_replica_silence),
                            " and no ready peer answers)"));
    }
    return;
  }
  NodeId peer = 0;
  if (sync_->peer == 0 && absl::SimpleHexAtoi(msg.data, &peer)) sync_->peer = peer;
  sync_->acknowledged = true;
  joiner_.Answered(now);
}

void Replica::HeardWhileJoining(NodeId peer, absl::Time now) {
  joiner_.Heard(peer, now);
  if (joiner_.Excluded(peer, now)) return;
  // Keep an attempt a peer took (or one addressed to a peer already).
  if (sync_ && (sync_->peer != 0 || sync_->acknowledged)) return;
  sync_.reset();  // a request on sync.any nobody took yet: its answer is ignored
  StartJoin(peer, now);
}

void Replica::HeardUnproven(const codec::Heartbeat& hb, absl::Time now) {
  // Ask it for a catch-up, which only a real replica answers (the chunk proves
  // it), unless one runs. A provisional first replica turns back to 503
  // (Demote) only once the answer came: a fake cannot keep it there.
  if (sync_ || !peers_->Probe(hb.node, now)) return;
  StartSync(hb.node, false);
  if (!sync_) return;
  sync_->probe = true;
  if (provisional_) sync_->demote = Missing(store_->vv(), hb.vv);
}

void Replica::Demote(NodeId peer, uint64_t missing, absl::Time now) {
  ready_.store(false, std::memory_order_release);
  Log(absl::StrCat("provisional first replica: peer ", Hex(peer), " has ", missing,
                   " operations this replica lacks; not ready until caught up"));
  joiner_.Heard(peer, now);
  if (sync_ && sync_->peer != peer) sync_.reset();
  if (sync_) {
    sync_->join = true;  // the catch-up from `peer` running makes it ready
    sync_->acknowledged = true;
    return;
  }
  StartJoin(peer, now);
}

void Replica::JoinFailed(absl::string_view why, absl::Time now) {
  const NodeId peer = sync_->peer;
  joiner_.Failed(peer, now);
  const NodeId next = joiner_.Candidate(now);
  Log(absl::StrCat("catch-up from ", Whom(peer), " ended: ", why,
                   peer == 0 ? ""
                             : absl::StrCat("; not asking it again for ",
                                            absl::FormatDuration(joiner_.exclude_for())),
                   "; retrying with ", Whom(next)));
}

}  // namespace kv::replication
