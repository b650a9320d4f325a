// LinkService's part in one-winner operations (docs/ownership.md): the owner
// subjects, forwarded requests, and confirmations of decisions by a majority.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "kv/codec/encoding.h"
#include "kv/codec/position.h"
#include "kv/service/confirm.h"
#include "kv/service/service.h"

namespace kv::service {

using codec::Op;

std::string OwnerPrefix(absl::string_view link, store::NodeId node) {
  return absl::StrFormat("_kv.%s.owner.%016x", link, node);
}

absl::Status LinkService::SubscribeOwner() {
  // Every one-winner request comes here: done already, without the lock.
  if (owner_node_.load() == replica_->node()) return absl::OkStatus();
  absl::MutexLock lock(&owner_mu_);
  const store::NodeId node = replica_->node();
  if (owner_node_.load() == node) return absl::OkStatus();
  // Every node of the link receives its own owner subject only: no queue group.
  micro::RouterConfig router;
  router.prefix = OwnerPrefix(replica_->link(), node);
  router.queue_group = "";
  router.unmatched = [this](micro::Request& request) { return ServeOwned(request); };
  if (absl::Status s = service_->AddRouter(std::move(router)); !s.ok()) return s;
  // Confirmations come on a subscription of their own (their prefix names
  // this node's current id).
  micro::RouterConfig acks;
  acks.prefix = AckPrefix(replica_->link(), node);
  acks.queue_group = "";
  acks.pause_guard = false;  // a confirmation is never stale
  acks.unmatched = [this](micro::Request& request) { return ServeAck(request); };
  if (absl::Status s = service_->AddRouter(std::move(acks)); !s.ok()) return s;
  if (owner_node_.load() == 0) {
    micro::RouterConfig confirm;
    confirm.prefix = absl::StrCat("_kv.", replica_->link(), ".confirm");
    confirm.queue_group = "";
    confirm.pause_guard = false;  // answered only once applied
    confirm.unmatched = [this](micro::Request& request) { return ServeConfirm(request); };
    if (absl::Status s = service_->AddRouter(std::move(confirm)); !s.ok()) return s;
  } else {
    confirmations_.Clear();
    // The routers of the id before the last one go: the last one's stay and
    // answer forwards to it with 503 while peers still count it.
    if (retired_owner_node_ != 0) {
      for (const std::string& prefix :
           {OwnerPrefix(replica_->link(), retired_owner_node_),
            AckPrefix(replica_->link(), retired_owner_node_)}) {
        // (Fails only when it is gone already: nothing left to do.)
        service_->RemoveRouter(prefix).IgnoreError();
      }
    }
    retired_owner_node_ = owner_node_.load();
  }
  owner_node_.store(node);
  return absl::OkStatus();
}

absl::Status LinkService::ServeOwned(micro::Request& request) {
  if (!request.has_reply()) return absl::OkStatus();
  const absl::string_view subject = request.subject();
  std::optional<Op> op = codec::OpFromName(subject.substr(subject.rfind('.') + 1));
  if (!op.has_value()) return Unknown(request);
  // Forwarded to a node id this node no longer has (a stale reset).
  if (!absl::StartsWith(subject, OwnerPrefix(replica_->link(), replica_->node()))) {
    no_owner_.fetch_add(1, std::memory_order_relaxed);
    return absl::UnavailableError("the key's owner moved; retry shortly");
  }
  return Serve(*op, request, /*at_owner=*/true);
}

namespace {

// The 504 of a decision a majority did not confirm: decided here, so its outcome
// is unknown (a 503 would say nothing changed).
absl::Status Unconfirmed(absl::string_view why) {
  absl::Status s = absl::DeadlineExceededError(absl::StrCat(
      "decided here, but ", why,
      ": the outcome is unknown (read the key, or retry with the same Nats-Msg-Id)"));
  s.SetPayload(codec::kApiCodePayload, absl::Cord("504"));
  return s;
}

}  // namespace

std::optional<absl::Status> LinkService::ReplyOnceConfirmed(micro::Request& request,
                                                            uint64_t seq,
                                                            std::string body,
                                                            micro::Headers headers) {
  const replication::Replica::Quorum q = replica_->QuorumNow();
  const store::NodeId self = replica_->node();
  // The peers that may confirm: this node counts once, by itself.
  std::vector<store::NodeId> peers;
  for (store::NodeId member : q.view) {
    if (member != self) peers.push_back(member);
  }
  const size_t needed = q.known / 2;  // with this node: more than half
  if (needed == 0) return std::nullopt;
  // The deadline counts from the decision: a confirmation later than `delivery`
  // after it could escape a new owner (docs/ownership.md, condition 5).
  const absl::Duration window = replica_->ConfirmWindow();
  const absl::Time deadline = absl::Now() + window;
  if (!request
           .Publish(ConfirmSubject(replica_->link(), self),
                    codec::FormatPosition(store::VersionVector{{self, seq}}),
                    AckSubject(replica_->link(), self))
           .ok() ||
      !request.Flush().ok()) {  // the event and the request must leave now
    unconfirmed_.fetch_add(1, std::memory_order_relaxed);
    return Unconfirmed("its confirmation could not be asked for");
  }
  std::shared_ptr<micro::DeferredReply> deferred = request.Defer();
  if (deferred == nullptr) return absl::OkStatus();  // nobody waits for a reply
  // What the waiting decision holds: its reply, the peers, the deferred reply.
  size_t held = body.size() + peers.size() * sizeof(store::NodeId) + 512;
  for (const auto& [name, value] : headers) held += name.size() + value.size();
  confirmations_.Await(
      seq, std::move(peers), needed, deadline,
      [this, deferred, window, body = std::move(body),
       headers = std::move(headers)](bool confirmed) {
        if (confirmed) {
          (void)deferred->Respond(body, headers);
          return;
        }
        unconfirmed_.fetch_add(1, std::memory_order_relaxed);
        const absl::Status s = Unconfirmed(
            absl::StrCat("a majority of the link's nodes did not confirm it within ",
                         absl::FormatDuration(window)));
        (void)deferred->RespondError(504, s.message(), ErrorBody(504, s.message(), s));
      },
      held);
  return absl::OkStatus();
}

absl::Status LinkService::ServeConfirm(micro::Request& request) {
  // _kv.<link>.confirm.<origin>, body {origin: seq}, answered on AckSubject
  // (only that subject: it comes from the message). Anything else is dropped
  // unanswered, as is this node's own request (it counts once, by itself).
  const absl::string_view subject = request.subject();
  store::NodeId origin = 0;
  if (!absl::SimpleHexAtoi(subject.substr(subject.rfind('.') + 1), &origin) ||
      origin == replica_->node() ||
      request.reply() != AckSubject(replica_->link(), origin)) {
    return absl::OkStatus();
  }
  auto position = codec::ParsePosition(request.data());
  if (!position.ok() || position->size() != 1 || position->begin()->first != origin) {
    return absl::OkStatus();
  }
  request.PreferPrompt();  // the owner waits for the answer
  // As long as the owner waits, no longer: a confirmation after that is moot.
  if (!replica_->AwaitApplied(*position, replica_->ConfirmWindow())) {
    return absl::UnavailableError("not applied yet");
  }
  const store::NodeId self = replica_->node();
  return request.Respond(
      codec::FormatPosition(store::VersionVector{{self, position->begin()->second}}));
}

absl::Status LinkService::ServeAck(micro::Request& request) {
  // Errors (a peer that did not apply in time) carry the error header; an ack
  // on a node id this node no longer has (a stale reset) is for old decisions.
  if (request.header(micro::kErrorHeader).has_value() ||
      !absl::StartsWith(request.subject(),
                        AckPrefix(replica_->link(), replica_->node()))) {
    return absl::OkStatus();
  }
  auto position = codec::ParsePosition(request.data());
  if (!position.ok() || position->size() != 1) return absl::OkStatus();
  const auto [peer, seq] = *position->begin();
  const replication::Replica::Quorum q = replica_->QuorumNow();
  // Only the live members' confirmations count, and never this node's own.
  if (peer == replica_->node() ||
      std::find(q.view.begin(), q.view.end(), peer) == q.view.end()) {
    return absl::OkStatus();
  }
  confirmations_.Record(peer, seq, q.view);
  return absl::OkStatus();
}

}  // namespace kv::service
