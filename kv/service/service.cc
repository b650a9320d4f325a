#include "kv/service/service.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kv/codec/encoding.h"
#include "kv/codec/position.h"
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

void UseApiErrors(micro::ServiceConfig* config) {
  config->error_code = ErrorCode;
  config->error_body = codec::ErrorReply;
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

// The request's "expires" as a duration (nullopt when absent).
std::optional<absl::Duration> Ttl(const codec::ApiRequest& r) {
  if (!r.expires) return std::nullopt;
  return absl::Seconds(*r.expires);
}

absl::StatusOr<std::string> Handle(Op op, absl::string_view body,
                                   replication::Replica& replica,
                                   replication::MutationContext* context,
                                   const BatchLimits& batch) {
  if (!replica.ready()) {
    return absl::UnavailableError(
        "this node is catching up with its peers; retry shortly");
  }
  const bool is_batch = op == Op::kMget || op == Op::kMset || op == Op::kMdel;
  auto parsed = codec::ParseRequest(
      op, body, is_batch ? batch.max_batch_keys : replica.limits().max_keys_per_query);
  if (!parsed.ok()) return parsed.status();
  const codec::ApiRequest& r = *parsed;

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
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.Set(r.key, r.value, Ttl(r)); },
          context));
    case Op::kDel:
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.Del(r.key); }, context));
    case Op::kAdd:
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.Add(r.key, r.delta, Ttl(r)); },
          context));
    case Op::kPush:
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.Push(r.key, r.value, Ttl(r)); },
          context));
    case Op::kRange:
      return reply(
          replica.Read([&](const Store& s) { return s.Range(r.key, r.start, r.stop); }));
    case Op::kListDel:
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.ListDel(r.key, r.value); }, context));
    case Op::kClear:
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.Clear(r.key); }, context));
    case Op::kSetAdd:
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.SetAdd(r.key, r.value, Ttl(r)); },
          context));
    case Op::kSetRemove:
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.SetRemove(r.key, r.value); },
          context));
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
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.Expire(r.key, *Ttl(r)); }, context));
    case Op::kPersist:
      return reply(Revised(
          replica, r.key, [&](Store& s) { return s.Persist(r.key); }, context));
  }
  return absl::InternalError("unhandled operation");
}

size_t StatsVvBytes(const store::Limits& limits) {
  if (limits.max_reply_bytes == 0) return 0;
  return std::max<size_t>(1024, limits.max_reply_bytes / 64);
}

std::string StatsData(const replication::ReplicaStats& s, uint64_t bad_requests,
                      uint64_t unknown_ops, size_t max_vv_bytes) {
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
      ",\"retired_origins\":", s.retired_origins, ",\"bad_requests\":", bad_requests,
      ",\"unknown_ops\":", unknown_ops,
      ",\"apply_lag_ms\":{\"count\":", s.apply_lag.total,
      ",\"p50\":", s.apply_lag.Quantile(0.5), ",\"p99\":", s.apply_lag.Quantile(0.99),
      ",\"max\":", s.apply_lag.max_ms, "}", ",\"digest\":\"",
      absl::StrFormat("%016x%016x", s.digest.a, s.digest.b), "\",\"vv\":{",
      absl::StrJoin(vv, ","), "}",
      omitted > 0 ? absl::StrCat(",\"vv_omitted\":", omitted) : "", "}");
}

absl::StatusOr<std::unique_ptr<LinkService>> LinkService::Start(
    micro::Service* service, replication::Replica* replica, BatchLimits batch) {
  std::unique_ptr<LinkService> ls(new LinkService(replica, batch));
  LinkService* self = ls.get();
  const std::string& link = replica->link();
  // One subscription per link (kv.<link>.*) routes to the op endpoints and
  // answers unknown ops with 404.
  micro::RouterConfig router;
  router.prefix = absl::StrCat("kv.", link);
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

absl::Status LinkService::Serve(Op op, micro::Request& request) {
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
  context.hold = request.held();
  context.publish = [&request](absl::string_view subject, absl::string_view data) {
    return request.Publish(subject, data);
  };
  absl::StatusOr<std::string> reply =
      Handle(op, request.data(), *replica_, &context, batch_);
  if (!reply.ok()) {
    const int code = ErrorCode(reply.status());
    if (code >= 400 && code < 500) bad_requests_.fetch_add(1, std::memory_order_relaxed);
    return reply.status();
  }
  if (context.dot.has_value()) codec::Advance(&position, *context.dot);
  micro::Headers headers;
  if (!position.empty()) {
    headers.emplace_back(codec::kPositionHeader, codec::FormatPosition(position));
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
  return service::StatsData(replica_->stats(), bad_requests_.load(), unknown_ops_.load(),
                            StatsVvBytes(replica_->limits()));
}

}  // namespace kv::service
