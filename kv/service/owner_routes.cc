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
  absl::MutexLock lock(&owner_mu_);
  const store::NodeId node = replica_->node();
  if (owner_node_.load() == node) return absl::OkStatus();
  // Every node of the link receives its own owner subject only: no queue group.
  micro::RouterConfig router;
  router.prefix = OwnerPrefix(replica_->link(), node);
  router.queue_group = "";
  router.unmatched = [this](micro::Request& request) { return ServeOwned(request); };
  if (absl::Status s = service_->AddRouter(std::move(router)); !s.ok()) return s;
  // Confirmations come on a subscription of their own: a decision waits for
  // them on the owner subscription's thread.
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

std::optional<absl::Status> LinkService::ReplyOnceConfirmed(micro::Request& request,
                                                            uint64_t seq,
                                                            std::string body,
                                                            micro::Headers headers) {
  const replication::Replica::Quorum q = replica_->QuorumNow();
  const size_t needed = q.known / 2;  // with this node: more than half
  if (needed == 0) return std::nullopt;
  const store::NodeId self = replica_->node();
  if (absl::Status s =
          request.Publish(ConfirmSubject(replica_->link(), self),
                          codec::FormatPosition(store::VersionVector{{self, seq}}),
                          AckSubject(replica_->link(), self));
      !s.ok()) {
    return s;
  }
  // The event and the request must leave now: nothing else sends them.
  if (absl::Status s = request.Flush(); !s.ok()) return s;
  std::shared_ptr<micro::DeferredReply> deferred = request.Defer();
  if (deferred == nullptr) return absl::OkStatus();  // nobody waits for a reply
  // Longer would let a new owner settle without a decision confirmed late.
  const absl::Duration window = replica_->ConfirmWindow();
  confirmations_.Await(
      seq, q.view, needed, absl::Now() + window,
      [this, deferred, window, body = std::move(body),
       headers = std::move(headers)](bool confirmed) {
        if (confirmed) {
          (void)deferred->Respond(body, headers);
          return;
        }
        unconfirmed_.fetch_add(1, std::memory_order_relaxed);
        absl::Status s = absl::DeadlineExceededError(absl::StrCat(
            "decided here, but a majority of the link's nodes did not confirm it "
            "within ",
            absl::FormatDuration(window),
            ": the outcome is unknown (read the key, or retry with the same "
            "Nats-Msg-Id)"));
        s.SetPayload(codec::kApiCodePayload, absl::Cord("504"));
        (void)deferred->RespondError(504, s.message(), ErrorBody(504, s.message(), s));
      });
  return absl::OkStatus();
}

absl::Status LinkService::ServeConfirm(micro::Request& request) {
  // _kv.<link>.confirm.<origin>, body {origin: seq}, answered on AckSubject.
  const absl::string_view subject = request.subject();
  store::NodeId origin = 0;
  if (!absl::SimpleHexAtoi(subject.substr(subject.rfind('.') + 1), &origin)) {
    return absl::InvalidArgumentError("bad confirm subject");
  }
  auto position = codec::ParsePosition(request.data());
  if (!position.ok() || position->size() != 1 || position->begin()->first != origin) {
    return absl::InvalidArgumentError("a confirm request names its origin's seq");
  }
  // The answer's subject comes from the message: only the origin's own.
  if (request.reply() != AckSubject(replica_->link(), origin)) return absl::OkStatus();
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
  // Errors (a peer that did not apply in time) carry the error header.
  if (request.header(micro::kErrorHeader).has_value()) return absl::OkStatus();
  auto position = codec::ParsePosition(request.data());
  if (!position.ok() || position->size() != 1) return absl::OkStatus();
  const auto [peer, seq] = *position->begin();
  const replication::Replica::Quorum q = replica_->QuorumNow();
  if (std::find(q.view.begin(), q.view.end(), peer) == q.view.end()) {
    return absl::OkStatus();  // only the live members' confirmations count
  }
  confirmations_.Record(peer, seq);
  return absl::OkStatus();
}

}  // namespace kv::service
