#include "kv/service/service.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kv/codec/condition.h"
#include "kv/codec/encoding.h"
#include "kv/codec/position.h"
#include "kv/service/idempotent.h"
#include "kv/service/watch.h"
#include "kv/store/store.h"

namespace kv::service {

bool ValidLinkName(absl::string_view link) {
  if (link.empty() || link.size() > 64) return false;
  for (char c : link) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}
namespace {

using codec::Op;

// A mutation's result with the key's revision after it.
template <typename T>
struct Revisioned {
  T result;
  uint64_t revision;
};
using store::Change;
using store::Store;

}  // namespace

int ErrorCode(const absl::Status& status) {
  // Over the memory limit with --eviction=noeviction: 507 Insufficient Storage.
  if (status.GetPayload(store::kInsufficientStorage).has_value()) return 507;
  if (auto code = status.GetPayload(codec::kApiCodePayload); code.has_value()) {
    int n = 0;
    if (absl::SimpleAtoi(std::string(*code), &n) && n >= 400 && n < 600) return n;
  }
  return micro::DefaultErrorCode(status);
}

std::string ErrorBody(int code, absl::string_view message, const absl::Status& status) {
  return codec::ErrorReply(code, message, codec::ErrorRevision(status));
}

void UseApiErrors(micro::ServiceConfig* config) {
  config->error_code = ErrorCode;
  config->error_body = ErrorBody;
}

// Runs the key-level mutation `f` on `replica` and appends to its result the
// key's revision afterwards (read under the same lock): {"result", "revision"}.
template <typename F>
auto Revised(replication::Replica& replica, absl::string_view key, F&& f,
             replication::MutationContext* context) {
  uint64_t revision = 0;
  auto result = replica.Mutate(
      [&](Store& s) {
        auto change = f(s);
        if (change.ok()) revision = s.Revision(key);
        return change;
      },
      context);
  using R = std::decay_t<decltype(*result)>;
  absl::StatusOr<Revisioned<R>> out;
  if (!result.ok()) {
    out = result.status();
  } else {
    out = Revisioned<R>{*result, revision};
  }
  return out;
}

// `f` (a store write to r.key) when r's condition holds for the key's revision
// now: checked under the same lock as the write, so nothing comes in between.
// A failed condition is 412 with the current revision and changes nothing.
template <typename F>
auto IfCondition(const codec::ApiRequest& r, F&& f) {
  return [&r, f = std::forward<F>(f)](Store& s) -> std::invoke_result_t<F&, Store&> {
    // A key the store refuses (too long) is the write's 400, not a 412; without
    // a condition the key's revision is not needed.
    if (r.key.size() > s.limits().max_key_bytes || !codec::HasCondition(r)) return f(s);
    if (absl::Status c = codec::CheckCondition(r, s.Revision(r.key)); !c.ok()) return c;
    return f(s);
  };
}

// The request's "expires" as a duration (nullopt when absent).
std::optional<absl::Duration> Ttl(const codec::ApiRequest& r) {
  if (!r.expires) return std::nullopt;
  return absl::Seconds(*r.expires);
}

// Whether `op` writes one key (the operations an owner can decide): those that
// answer the key's revision, but get.
bool KeyWrite(Op op) { return op != Op::kGet && codec::CarriesRevision(op); }

absl::StatusOr<std::string> Handle(Op op, absl::string_view body,
                                   replication::Replica& replica,
                                   replication::MutationContext* context,
                                   const BatchLimits& batch,
                                   std::optional<absl::string_view> msg_id) {
  if (!replica.ready()) {
    return absl::UnavailableError(
        "this node is catching up with its peers; retry shortly");
  }
  const bool is_batch = op == Op::kMget || op == Op::kMset || op == Op::kMdel;
  // Only key-level writes take a request id; reads ignore it, as does a link
  // whose dedup window is zero (off).
  if (replica.limits().dedup_window <= absl::ZeroDuration() ||
      (!KeyWrite(op) && op != Op::kMset && op != Op::kMdel)) {
    msg_id.reset();
  }
  if (msg_id) {
    if (absl::Status s = store::RequestLog::CheckId(*msg_id); !s.ok()) return s;
    if (op == Op::kMset || op == Op::kMdel || op == Op::kPop) {
      return absl::InvalidArgumentError(
          absl::StrCat("header '", kMsgIdHeader,
                       "' is not supported on batches (mset, mdel) nor pop"));
    }
  }
  auto parsed = codec::ParseRequest(
      op, body, is_batch ? batch.max_batch_keys : replica.limits().max_keys_per_query);
  if (!parsed.ok()) return parsed.status();
  const codec::ApiRequest& r = *parsed;
  // Decided by the key's owner only (docs/ownership.md).
  if (context != nullptr && (codec::IsConditional(op, r) || (msg_id && KeyWrite(op)))) {
    context->owned_key = r.key;
  }
  if (msg_id) {
    if (absl::Status s =
            CheckIdRoom(replica.limits(), r.key.size() + r.value.size(), *msg_id);
        !s.ok()) {
      return s;
    }
  }

  // Each case: one store call; the reply's shape comes from the operation table.
  // Values read go out in the request's encoding (422 for binary ones as text).
  auto reply = [op, &r](auto result) -> absl::StatusOr<std::string> {
    if (!result.ok()) return result.status();
    if constexpr (std::is_same_v<std::decay_t<decltype(*result)>,
                                 std::vector<std::string>>) {
      if (absl::Status s = codec::EncodeValues(r.base64, r.key, &*result); !s.ok()) {
        return s;
      }
    }
    using R = std::decay_t<decltype(*result)>;
    if constexpr (std::is_same_v<R, Revisioned<bool>> ||
                  std::is_same_v<R, Revisioned<int64_t>>) {
      return codec::WithRevision(codec::Reply(op, result->result), result->revision);
    } else {
      return codec::Reply(op, *result);
    }
  };
  // A key-level write: applied once per request id when the request has one.
  auto write = [&](auto f) -> absl::StatusOr<std::string> {
    if (!msg_id) return reply(Revised(replica, r.key, std::move(f), context));
    auto make_reply = [op](const auto& result, uint64_t revision) {
      return codec::WithRevision(codec::Reply(op, result), revision);
    };
    // What to take back if another node applied the id first: what counts twice.
    store::Withdrawal undo;
    undo.key = r.key;
    if (op == Op::kAdd) undo.added = r.delta;
    undo.pushed = op == Op::kPush;
    return Idempotent(replica, *msg_id, std::move(undo), std::move(f), make_reply,
                      context);
  };
  switch (op) {
    case Op::kGet: {
      uint64_t revision = 0;
      auto value = replica.Read([&](const Store& s) {
        revision = s.Revision(r.key);
        return s.Get(r.key);
      });
      if (!value.ok()) return value.status();
      if (value->has_value()) {
        if (absl::Status s = codec::EncodeValue(r.base64, r.key, &**value); !s.ok()) {
          return s;
        }
      }
      return codec::WithRevision(codec::GetReply(*value), revision);
    }
    case Op::kExists:
      return reply(replica.Read([&](const Store& s) { return s.Exists(r.key); }));
    case Op::kSet:
      return write(
          IfCondition(r, [&](Store& s) { return s.Set(r.key, r.value, Ttl(r)); }));
    case Op::kDel:
      return write(IfCondition(r, [&](Store& s) { return s.Del(r.key); }));
    case Op::kAdd:
      return write([&](Store& s) { return s.Add(r.key, r.delta, Ttl(r)); });
    case Op::kPush:
      return write([&](Store& s) { return s.Push(r.key, r.value, Ttl(r)); });
    case Op::kRange:
      return reply(
          replica.Read([&](const Store& s) { return s.Range(r.key, r.start, r.stop); }));
    case Op::kListDel:
      return write([&](Store& s) { return s.ListDel(r.key, r.value); });
    case Op::kClear:
      return write([&](Store& s) { return s.Clear(r.key); });
    case Op::kSetAdd:
      return write([&](Store& s) { return s.SetAdd(r.key, r.value, Ttl(r)); });
    case Op::kSetRemove:
      return write([&](Store& s) { return s.SetRemove(r.key, r.value); });
    case Op::kSetQuery:
      return reply(replica.Read([&](const Store& s) { return s.SetQuery(r.key); }));
    case Op::kSetUnion:
      return reply(replica.Read([&](const Store& s) { return s.SetUnion(r.keys); }));
    case Op::kSetIntersection:
      return reply(
          replica.Read([&](const Store& s) { return s.SetIntersection(r.keys); }));
    case Op::kKeys: {
      auto page = replica.Read(
          [&](const Store& s) { return s.Keys(r.prefix, r.limit, r.cursor); });
      if (!page.ok()) return page.status();
      return codec::KeysReply(page->keys, page->cursor);
    }
    // Batches (batch.h).
    case Op::kMget:
      return Mget(r, replica);
    case Op::kMset:
      return Mset(r, replica, context);
    case Op::kMdel:
      return Mdel(r, replica, context);
    // TTL control.
    case Op::kTtl: {
      auto ttl = replica.Read([&](const Store& s) { return s.Ttl(r.key); });
      if (!ttl.ok()) return ttl.status();
      std::optional<double> seconds;
      if (ttl->ttl)
        seconds = absl::ToDoubleSeconds(absl::Trunc(*ttl->ttl, absl::Milliseconds(1)));
      return codec::TtlReply(ttl->exists, seconds);
    }
    case Op::kExpire:
      return write([&](Store& s) { return s.Expire(r.key, *Ttl(r)); });
    case Op::kPersist:
      return write([&](Store& s) { return s.Persist(r.key); });
    case Op::kPop: {
      const store::ListEnd end =
          r.end == "right" ? store::ListEnd::kRight : store::ListEnd::kLeft;
      auto popped = Revised(
          replica, r.key, [&](Store& s) { return s.Pop(r.key, end); }, context);
      if (!popped.ok()) return popped.status();
      std::optional<std::string>& value = popped->result;
      if (value.has_value()) {
        if (absl::Status s = codec::EncodeValue(r.base64, r.key, &*value); !s.ok()) {
          return s;
        }
      }
      return codec::WithRevision(codec::GetReply(value), popped->revision);
    }
    case Op::kWatch:
      return Watch(r, replica);
  }
  return absl::InternalError("unhandled operation");
}

size_t StatsVvBytes(const store::Limits& limits) {
  if (limits.max_reply_bytes == 0) return 0;
  return std::max<size_t>(1024, limits.max_reply_bytes / 64);
}

std::string StatsData(const replication::ReplicaStats& s, const ServiceCounters& c,
                      size_t max_vv_bytes) {
  // The highest seqs first while they fit; printed in node order.
  std::vector<std::pair<uint64_t, store::NodeId>> by_seq;
  by_seq.reserve(s.vv.size());
  for (const auto& [node, seq] : s.vv) by_seq.emplace_back(seq, node);
  std::sort(by_seq.begin(), by_seq.end(), std::greater<>());
  std::map<store::NodeId, std::string> kept;
  size_t bytes = 0;
  for (const auto& [seq, node] : by_seq) {
    std::string entry = absl::StrFormat("\"%016x\":%d", node, seq);
    if (max_vv_bytes > 0 && bytes + entry.size() + 1 > max_vv_bytes) break;
    bytes += entry.size() + 1;
    kept.emplace(node, std::move(entry));
  }
  std::vector<std::string> vv;
  vv.reserve(kept.size());
  for (auto& [node, entry] : kept) vv.push_back(std::move(entry));
  const size_t omitted = s.vv.size() - vv.size();
  return absl::StrCat(
      "{\"link\":\"", s.link, "\",\"node\":\"", s.node,
      "\",\"ready\":", s.ready ? "true" : "false", ",\"keys\":", s.keys,
      ",\"tombstones\":", s.tombstones, ",\"memory_bytes\":", s.memory_bytes,
      ",\"max_memory\":", s.max_memory_bytes, ",\"evicted\":", s.evicted,
      ",\"expired\":", s.expired, ",\"peers\":", s.peers, ",\"lag\":", s.lag,
      ",\"events_in\":", s.events_in, ",\"events_out\":", s.events_out,
      ",\"events_duplicate\":", s.events_duplicate, ",\"gaps\":", s.gaps,
      ",\"catchups\":", s.catchups, ",\"catchups_served\":", s.catchups_served,
      ",\"catchups_refused\":", s.catchups_refused,
      ",\"events_refused\":", s.events_refused,
      ",\"peer_heartbeats_ignored\":", s.heartbeats_ignored,
      ",\"bad_peer_messages\":", s.bad_messages, ",\"publish_errors\":", s.publish_errors,
      ",\"catchups_failed\":", s.catchups_failed,
      ",\"tombstones_collected\":", s.tombstones_collected,
      ",\"stale_resets\":", s.stale_resets, ",\"origins_retired\":", s.origins_retired,
      ",\"retired_origins\":", s.retired_origins, ",\"withdrawn\":", s.withdrawn,
      ",\"bad_requests\":", c.bad_requests, ",\"unknown_ops\":", c.unknown_ops,
      ",\"forwarded_to_owner\":", c.forwarded, ",\"decided_as_owner\":", c.owned,
      ",\"owner_unavailable\":", c.owner_unavailable,
      ",\"owner_unconfirmed\":", c.unconfirmed,
      ",\"apply_lag_ms\":{\"count\":", s.apply_lag.total,
      ",\"p50\":", s.apply_lag.Quantile(0.5), ",\"p99\":", s.apply_lag.Quantile(0.99),
      ",\"max\":", s.apply_lag.max_ms, "}", ",\"digest\":\"",
      absl::StrFormat("%016x%016x", s.digest.a, s.digest.b), "\",\"vv\":{",
      absl::StrJoin(vv, ","), "}",
      omitted > 0 ? absl::StrCat(",\"vv_omitted\":", omitted) : "", "}");
}

absl::StatusOr<std::unique_ptr<LinkService>> LinkService::Start(
    micro::Service* service, replication::Replica* replica, BatchLimits batch) {
  std::unique_ptr<LinkService> ls(new LinkService(service, replica, batch));
  LinkService* self = ls.get();
  const std::string& link = replica->link();
  // One subscription per link (kv.<link>.*) routes to the op endpoints and
  // answers unknown ops with 404.
  micro::RouterConfig router;
  router.prefix = absl::StrCat("kv.", link);
  if (absl::Status s = self->SubscribeOwner(); !s.ok()) return s;
  for (Op op : codec::AllOps()) {
    micro::EndpointConfig ep;
    ep.name = absl::StrCat(link, "_", codec::OpName(op));
    ep.subject = std::string(codec::OpName(op));
    ep.metadata = {{"link", link}, {"op", std::string(codec::OpName(op))}};
    ep.handler = [self, op](micro::Request& request) { return self->Serve(op, request); };
    router.endpoints.push_back(std::move(ep));
  }
  router.unmatched = [self](micro::Request& request) { return self->Unknown(request); };
  // The events of a burst's writes leave as one message, ahead of their replies
  // (standalone, holding replies would only cost a copy of each).
  if (replica->replicating()) {
    router.before_held_replies = [replica](const micro::Publisher& publish) {
      replica->FlushHeld(publish);
    };
  }
  if (absl::Status s = service->AddRouter(std::move(router)); !s.ok()) return s;
  return ls;
}

absl::Status LinkService::Serve(Op op, micro::Request& request, bool at_owner) {
  store::VersionVector position;  // Kv-After, then advanced by this write
  if (auto after = request.header(codec::kAfterHeader); after.has_value()) {
    auto parsed = codec::ParsePosition(*after);
    if (!parsed.ok()) {
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      return parsed.status();
    }
    position = *std::move(parsed);
  }
  if (replica_->ready()) {  // (not ready: Handle answers 503)
    // Not ahead of the events the server delivered before this request: their
    // replies may have reached the client already. (A short wait: the replies
    // held before this one wait with it, which keeps a burst's events in one
    // message.)
    if (!replica_->AwaitEventsReceived(kOrderWait)) {
      return absl::UnavailableError(
          "this node is catching up with replication; retry shortly");
    }
    // A position may take long: the replies held so far do not wait for it.
    if (!position.empty() && !replica_->AwaitApplied(position, absl::ZeroDuration())) {
      request.FlushHeld();
    }
    if (!position.empty() && !replica_->AwaitApplied(position, kOrderWait)) {
      return absl::UnavailableError(
          absl::StrCat("this node has not applied the position in '", codec::kAfterHeader,
                       "' yet; retry shortly (or on another node)"));
    }
  }
  // The event leaves before the reply, on the reply's connection: whoever has
  // the reply can count on every node's having been sent the event first.
  replication::MutationContext context;
  context.op = std::string(codec::OpName(op));
  std::optional<absl::string_view> msg_id;
  if (auto id = request.header(kMsgIdHeader); id.has_value()) msg_id = *id;
  // What may be a one-winner operation (the owner's decision waits for its
  // confirmation; a forward is one hop more) is not held with a burst: its
  // messages leave at once. (Whether it is one is known after parsing; this
  // only picks the connection.)
  // (Only set and del can carry a condition: no other body is scanned.)
  const absl::string_view body = request.data();
  const bool conditional_op = op == Op::kSet || op == Op::kDel;
  if (at_owner || msg_id || op == Op::kPop ||
      (conditional_op &&
       (absl::StrContains(body, "\"if\"") || absl::StrContains(body, "\"revision\"")))) {
    if (absl::Status s = SubscribeOwner(); !s.ok()) return s;  // after a stale reset
    request.PreferPrompt();
  }
  context.hold = request.held();
  context.publish = [&request, &context](absl::string_view subject,
                                         absl::string_view data) {
    // A decision's owner waits for its confirmation: send without buffering.
    if (context.owned_key) request.PreferPrompt();
    return request.Publish(subject, data);
  };
  absl::StatusOr<std::string> reply =
      Handle(op, request.data(), *replica_, &context, batch_, msg_id);
  if (!reply.ok() && context.owned_key) {
    if (auto owner = reply.status().GetPayload(replication::kForwardPayload)) {
      if (!at_owner) {
        store::NodeId node = 0;
        if (absl::SimpleHexAtoi(std::string(*owner), &node)) {
          forwarded_.fetch_add(1, std::memory_order_relaxed);
          return request.Forward(
              absl::StrCat(OwnerPrefix(replica_->link(), node), ".", codec::OpName(op)));
        }
      }
      no_owner_.fetch_add(1, std::memory_order_relaxed);
      return absl::UnavailableError("the key's owner moved; retry shortly");
    }
    if (absl::IsUnavailable(reply.status())) {
      no_owner_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (!reply.ok()) {
    const int code = ErrorCode(reply.status());
    if (code >= 400 && code < 500) bad_requests_.fetch_add(1, std::memory_order_relaxed);
    return reply.status();
  }
  if (context.dot.has_value()) codec::Advance(&position, *context.dot);
  micro::Headers headers;
  if (context.owned_key) {
    owned_.fetch_add(1, std::memory_order_relaxed);
    headers.emplace_back(kDecidedByHeader, absl::StrFormat("%016x", replica_->node()));
  }
  if (!position.empty()) {
    headers.emplace_back(codec::kPositionHeader, codec::FormatPosition(position));
  }
  // A decision is replied once a majority confirmed it. (One that changed
  // nothing, a duplicate or a pop of nothing, was decided on this node's state
  // up to its own last event: that must be confirmed too.)
  if (context.owned_key && (context.dot.has_value() || context.own_seq > 0)) {
    const uint64_t seq = context.dot.has_value() ? context.dot->seq : context.own_seq;
    if (auto s = ReplyOnceConfirmed(request, seq, *reply, headers)) return *s;
  }
  absl::Status sent = request.Respond(*reply, headers);
  if (absl::IsOutOfRange(sent)) {
    // Over the max payload (the store bounds replies in raw bytes; JSON escapes
    // can still make one larger).
    bad_requests_.fetch_add(1, std::memory_order_relaxed);
    return absl::OutOfRangeError(absl::StrCat(
        sent.message(),
        "; ask for less (a smaller keys page, a narrower range, fewer keys)"));
  }
  // Any other failure means the requester or the connection is gone: nothing to
  // do, and not an error of the request.
  return absl::OkStatus();
}

absl::Status LinkService::Unknown(micro::Request& request) {
  if (!request.has_reply()) return absl::OkStatus();
  unknown_ops_.fetch_add(1, std::memory_order_relaxed);
  const absl::string_view subject = request.subject();
  const absl::string_view op = subject.substr(subject.rfind('.') + 1);
  std::vector<std::string> names;
  for (Op known : codec::AllOps()) names.emplace_back(codec::OpName(known));
  return absl::NotFoundError(
      absl::StrCat("unknown operation '", op, "'; known: ", absl::StrJoin(names, ", ")));
}

std::string LinkService::StatsData() const {
  ServiceCounters c;
  c.bad_requests = bad_requests_.load();
  c.unknown_ops = unknown_ops_.load();
  c.forwarded = forwarded_.load();
  c.owned = owned_.load();
  c.owner_unavailable = no_owner_.load();
  c.unconfirmed = unconfirmed_.load();
  return service::StatsData(replica_->stats(), c, StatsVvBytes(replica_->limits()));
}

}  // namespace kv::service
