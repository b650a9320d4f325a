#include "kv/service/service.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kv::service {
namespace {

using codec::Op;
using store::Change;
using store::Store;

}  // namespace

int ErrorCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

absl::StatusOr<std::string> Handle(Op op, absl::string_view body,
                                   replication::Replica& replica) {
  if (!replica.ready()) {
    return absl::UnavailableError(
        "this node is catching up with its peers; retry shortly");
  }
  auto parsed = codec::ParseRequest(op, body, replica.limits().max_keys_per_query);
  if (!parsed.ok()) return parsed.status();
  const codec::ApiRequest& r = *parsed;

  // Each case: one store call, one reply.
  auto reply = [](auto result, auto make) -> absl::StatusOr<std::string> {
    if (!result.ok()) return result.status();
    return make(*result);
  };
  switch (op) {
    case Op::kGet:
      return reply(replica.Read([&](const Store& s) { return s.Get(r.key); }),
                   [](const std::optional<std::string>& v) { return codec::GetReply(v); });
    case Op::kExists:
      return reply(replica.Read([&](const Store& s) { return s.Exists(r.key); }),
                   [](bool v) { return codec::BoolReply("exists", v); });
    case Op::kSet: {
      std::optional<absl::Duration> ttl;
      if (r.expires) ttl = absl::Seconds(*r.expires);
      return reply(replica.Mutate([&](Store& s) { return s.Set(r.key, r.value, ttl); }),
                   [](bool) { return codec::OkReply(); });
    }
    case Op::kDel:
      return reply(replica.Mutate([&](Store& s) { return s.Del(r.key); }),
                   [](bool v) { return codec::BoolReply("deleted", v); });
    case Op::kAdd:
      return reply(replica.Mutate([&](Store& s) { return s.Add(r.key, r.delta); }),
                   [](int64_t v) { return codec::IntReply("value", v); });
    case Op::kPush:
      return reply(replica.Mutate([&](Store& s) { return s.Push(r.key, r.value); }),
                   [](int64_t v) { return codec::IntReply("length", v); });
    case Op::kRange:
      return reply(
          replica.Read([&](const Store& s) { return s.Range(r.key, r.start, r.stop); }),
          [](const std::vector<std::string>& v) { return codec::ValuesReply("values", v); });
    case Op::kListDel:
      return reply(replica.Mutate([&](Store& s) { return s.ListDel(r.key, r.value); }),
                   [](int64_t v) { return codec::IntReply("length", v); });
    case Op::kClear:
      return reply(replica.Mutate([&](Store& s) { return s.Clear(r.key); }),
                   [](bool v) { return codec::BoolReply("deleted", v); });
    case Op::kSetAdd:
      return reply(replica.Mutate([&](Store& s) { return s.SetAdd(r.key, r.value); }),
                   [](int64_t v) { return codec::IntReply("size", v); });
    case Op::kSetRemove:
      return reply(replica.Mutate([&](Store& s) { return s.SetRemove(r.key, r.value); }),
                   [](int64_t v) { return codec::IntReply("size", v); });
    case Op::kSetQuery:
      return reply(replica.Read([&](const Store& s) { return s.SetQuery(r.key); }),
                   [](const std::vector<std::string>& v) {
                     return codec::ValuesReply("values", v);
                   });
    case Op::kSetUnion:
      return reply(replica.Read([&](const Store& s) { return s.SetUnion(r.keys); }),
                   [](const std::vector<std::string>& v) {
                     return codec::ValuesReply("values", v);
                   });
    case Op::kSetIntersection:
      return reply(replica.Read([&](const Store& s) { return s.SetIntersection(r.keys); }),
                   [](const std::vector<std::string>& v) {
                     return codec::ValuesReply("values", v);
                   });
    case Op::kKeys:
      return reply(
          replica.Read([&](const Store& s) { return s.Keys(r.prefix, r.limit, r.cursor); }),
          [](const store::KeysPage& p) { return codec::KeysReply(p.keys, p.cursor); });
  }
  return absl::InternalError("unhandled operation");
}

std::string StatsData(const replication::ReplicaStats& s, uint64_t bad_requests,
                      uint64_t unknown_ops) {
  std::vector<std::string> vv;
  for (const auto& [node, seq] : s.vv) {
    vv.push_back(absl::StrFormat("\"%016x\":%d", node, seq));
  }
  return absl::StrCat(
      "{\"link\":\"", s.link, "\",\"node\":\"", s.node, "\",\"ready\":",
      s.ready ? "true" : "false", ",\"keys\":", s.keys,
      ",\"memory_bytes\":", s.memory_bytes, ",\"peers\":", s.peers, ",\"lag\":", s.lag,
      ",\"events_in\":", s.events_in, ",\"events_out\":", s.events_out,
      ",\"events_duplicate\":", s.events_duplicate, ",\"gaps\":", s.gaps,
      ",\"catchups\":", s.catchups, ",\"catchups_served\":", s.catchups_served,
      ",\"bad_peer_messages\":", s.bad_messages,
      ",\"tombstones_collected\":", s.tombstones_collected,
      ",\"bad_requests\":", bad_requests, ",\"unknown_ops\":", unknown_ops,
      ",\"digest\":\"", absl::StrFormat("%016x%016x", s.digest.a, s.digest.b),
      "\",\"vv\":{", absl::StrJoin(vv, ","), "}}");
}

absl::StatusOr<std::unique_ptr<LinkService>> LinkService::Start(
    natsConnection* nc, micro::Service* service, replication::Replica* replica) {
  std::unique_ptr<LinkService> ls(new LinkService(nc, replica));
  const std::string& link = replica->link();
  for (Op op : codec::AllOps()) {
    micro::EndpointConfig ep;
    ep.name = absl::StrCat(link, "_", codec::OpName(op));
    ep.subject = absl::StrCat("kv.", link, ".", codec::OpName(op));
    ep.metadata = {{"link", link}, {"op", std::string(codec::OpName(op))}};
    LinkService* self = ls.get();
    ep.handler = [self, op](micro::Request& request) { self->Serve(op, request); };
    if (absl::Status s = service->AddEndpoint(std::move(ep)); !s.ok()) return s;
  }
  // Requests for unknown operations. NATS delivers a request for a known op to its
  // endpoint and to this wildcard (another queue group); this one answers only
  // unknown ops.
  const std::string subject = absl::StrCat("kv.", link, ".*");
  natsStatus st = natsConnection_QueueSubscribe(&ls->unknown_sub_, nc, subject.c_str(),
                                                "unknown", &LinkService::OnUnknown,
                                                ls.get());
  if (st != NATS_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot subscribe to ", subject, ": ", natsStatus_GetText(st)));
  }
  natsSubscription_SetPendingLimits(ls->unknown_sub_, -1, -1);
  return ls;
}

LinkService::~LinkService() { Stop(); }

void LinkService::Stop() {
  if (unknown_sub_ == nullptr) return;
  if (natsSubscription_Drain(unknown_sub_) == NATS_OK) {
    natsSubscription_WaitForDrainCompletion(unknown_sub_, 2000);
  } else {
    natsSubscription_Unsubscribe(unknown_sub_);
  }
  natsSubscription_Destroy(unknown_sub_);
  unknown_sub_ = nullptr;
}

void LinkService::Serve(Op op, micro::Request& request) {
  absl::StatusOr<std::string> reply = Handle(op, request.data(), *replica_);
  // A failed reply means the requester or the connection is gone: nothing to do.
  if (reply.ok()) {
    (void)request.Respond(*reply);
    return;
  }
  const int code = ErrorCode(reply.status());
  if (code >= 400 && code < 500) bad_requests_.fetch_add(1, std::memory_order_relaxed);
  const std::string message(reply.status().message());
  (void)request.RespondError(code, message, codec::ErrorReply(code, message));
}

void LinkService::OnUnknown(natsConnection* nc, natsSubscription*, natsMsg* msg,
                            void* closure) {
  auto* self = static_cast<LinkService*>(closure);
  const absl::string_view subject = natsMsg_GetSubject(msg);
  const absl::string_view op = subject.substr(subject.rfind('.') + 1);
  const char* reply = natsMsg_GetReply(msg);
  if (!codec::OpFromName(op).has_value() && reply != nullptr && *reply) {
    self->unknown_ops_.fetch_add(1, std::memory_order_relaxed);
    std::vector<std::string> names;
    for (Op known : codec::AllOps()) names.emplace_back(codec::OpName(known));
    const std::string message = absl::StrCat("unknown operation '", op,
                                             "'; known: ", absl::StrJoin(names, ", "));
    const std::string body = codec::ErrorReply(404, message);
    natsMsg* out = nullptr;
    if (natsMsg_Create(&out, reply, nullptr, body.data(), static_cast<int>(body.size())) ==
        NATS_OK) {
      natsMsgHeader_Set(out, micro::kErrorHeader, message.c_str());
      natsMsgHeader_Set(out, micro::kErrorCodeHeader, "404");
      natsConnection_PublishMsg(nc, out);
      natsMsg_Destroy(out);
    }
  }
  natsMsg_Destroy(msg);
}

std::string LinkService::StatsData() const {
  return service::StatsData(replica_->stats(), bad_requests_.load(), unknown_ops_.load());
}

}  // namespace kv::service
