// The public API of one link: the kv.<link>.<op> endpoints, turning JSON requests
// into store calls on the link's replica and results into JSON replies.
#ifndef KV_SERVICE_SERVICE_H_
#define KV_SERVICE_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kv/codec/json.h"
#include "kv/replication/replica.h"
#include "kv/service/batch.h"
#include "kv/service/confirm.h"
#include "micro/service.h"

namespace kv::service {

// A link name: 1 to 64 letters, digits, '-' or '_' (it is a subject token).
bool ValidLinkName(absl::string_view link);

// API error codes (README.md, "Errors"): 400 bad request (InvalidArgument), 404
// unknown op (NotFound), 409 wrong type (FailedPrecondition), 413 too large
// (OutOfRange, ResourceExhausted), 503 not ready (Unavailable), 500 anything else;
// a status carrying codec::kApiCodePayload has that code instead (422: a value
// that is not UTF-8, read without base64; 412: a failed condition).
int ErrorCode(const absl::Status& status);

// The body of an API error: {"error":{"code":int,"message":string}}, with
// "revision" when `status` carries one (a failed condition, 412).
std::string ErrorBody(int code, absl::string_view message, const absl::Status& status);

// Makes `config`'s service reply errors as the kv API does: the code from
// ErrorCode() and the body ErrorBody(). Set on the service the LinkServices run
// on.
void UseApiErrors(micro::ServiceConfig* config);

// The reply header naming the node that decided an operation as its key's owner.
inline constexpr char kDecidedByHeader[] = "Kv-Decided-By";

// How long a request waits for the replication it must not run ahead of
// (events received before it; the position in its Kv-After header) before it
// is answered 503.
inline constexpr absl::Duration kOrderWait = absl::Seconds(1);

// Runs one request of `op` on `replica`: the reply body, or an error whose code
// ErrorCode() gives. Never changes data on error. A mutation's event leaves
// through `context` (see Replica::Mutate), which gets its dot; null: the bus.
// `msg_id` (the Nats-Msg-Id header; nullopt: none) makes a key-level write
// idempotent within the store's dedup window (idempotent.h): 400 when it is
// invalid or the op a batch; ignored by reads and when the window is zero.
// With it, or for an operation that is conditional in itself, a key-level
// write runs only where the key's owner may decide it
// (MutationContext::owned_key; docs/ownership.md).
absl::StatusOr<std::string> Handle(
    codec::Op op, absl::string_view body, replication::Replica& replica,
    replication::MutationContext* context = nullptr,
    const BatchLimits& batch = BatchLimits(),
    std::optional<absl::string_view> msg_id = std::nullopt);

// The subject prefix on which node `node` of `link` takes the operations it
// owns (forwarded by the other nodes): _kv.<link>.owner.<node, 16 hex digits>;
// the op is the last token.
std::string OwnerPrefix(absl::string_view link, store::NodeId node);

// The replica figures reported in the endpoints' STATS "data", as a JSON object.
// Its vector ("vv") takes at most `max_vv_bytes` (0: no limit): the entries
// with the highest seqs that fit, the others counted in "vv_omitted".
// What a LinkService counts itself.
struct ServiceCounters {
  uint64_t bad_requests = 0;
  uint64_t unknown_ops = 0;
  uint64_t forwarded = 0;          // handed to the key's owner
  uint64_t owned = 0;              // decided here as the key's owner
  uint64_t owner_unavailable = 0;  // 503: nobody may decide the key now
  uint64_t unconfirmed = 0;        // 504: a majority did not confirm in time
};
std::string StatsData(const replication::ReplicaStats& stats, const ServiceCounters& c,
                      size_t max_vv_bytes = 0);

// The bytes of vector StatsData prints per endpoint for `limits`: a STATS
// reply carries every endpoint's data, so a share of max_reply_bytes (one
// 64th, at least 1 KiB; 0 when max_reply_bytes is 0).
size_t StatsVvBytes(const store::Limits& limits);

// Serves one link: registers an endpoint per operation on `service` (name
// "<link>_<op>", subject kv.<link>.<op>, queue group "q", all on one
// subscription) and answers requests for unknown operations with 404. The
// handlers return their errors; `service` replies them (see UseApiErrors).
//
// Ordering (docs/guarantees.md): before running a request, a handler waits
// (at most kOrderWait, else 503) until the replica handled every event message
// the node had received, and the position of the request's Kv-After header
// (400 when malformed). A mutation's event leaves on the connection of the
// reply, before it, and the reply of a request that wrote or carried Kv-After
// carries Kv-Position: Kv-After advanced by the write's operation.
class LinkService {
 public:
  // `service` and `replica` must outlive the LinkService; requests stop with the
  // service.
  static absl::StatusOr<std::unique_ptr<LinkService>> Start(
      micro::Service* service, replication::Replica* replica,
      BatchLimits batch = BatchLimits());
  LinkService(const LinkService&) = delete;
  LinkService& operator=(const LinkService&) = delete;

  std::string StatsData() const;

 private:
  LinkService(micro::Service* service, replication::Replica* replica, BatchLimits batch)
      : service_(service), replica_(replica), batch_(batch) {}
  // Replies the result of `op`, or returns its error (counted in
  // bad_requests_ when ErrorCode() makes it a 4xx). An operation that its
  // key's owner must decide is forwarded there, unless it came `at_owner`
  // (forwarded already: then this node answers 503 when it no longer owns it).
  absl::Status Serve(codec::Op op, micro::Request& request, bool at_owner = false);
  // A request forwarded to this node as its key's owner (on OwnerPrefix).
  absl::Status ServeOwned(micro::Request& request);
  // After this node decided an operation as its key's owner (its event has
  // `seq`): asks the peers to confirm they applied it, and leaves the reply
  // (`body`, `headers`) to be sent once enough of them did that, with this
  // node, they are more than half of the link's known nodes; 504 if they did
  // not within the replica's ConfirmWindow. The handler's status when it took
  // the reply; nullopt when no confirmation is needed (a link of one node).
  std::optional<absl::Status> ReplyOnceConfirmed(micro::Request& request, uint64_t seq,
                                                 std::string body,
                                                 micro::Headers headers);
  // A peer's request to confirm it applied an origin's events (ConfirmSubject):
  // answered once applied, within the replica's ConfirmWindow.
  absl::Status ServeConfirm(micro::Request& request);
  // A peer's confirmation of this node's events (AckSubject).
  absl::Status ServeAck(micro::Request& request);
  // Subscribes OwnerPrefix(link, node) for the replica's current node id, if
  // not yet (the id changes after a stale reset).
  absl::Status SubscribeOwner() ABSL_LOCKS_EXCLUDED(owner_mu_);
  // Returns NotFound naming the known operations (counted in unknown_ops_).
  absl::Status Unknown(micro::Request& request);

  micro::Service* const service_;
  replication::Replica* const replica_;
  const BatchLimits batch_;
  std::atomic<uint64_t> bad_requests_{0};
  std::atomic<uint64_t> unknown_ops_{0};
  std::atomic<uint64_t> forwarded_{0};    // handed to the key's owner
  std::atomic<uint64_t> owned_{0};        // decided here as the key's owner
  std::atomic<uint64_t> no_owner_{0};     // answered 503: nobody may decide now
  std::atomic<uint64_t> unconfirmed_{0};  // answered 504: no majority confirmed in time
  Confirmations confirmations_;
  std::atomic<store::NodeId> owner_node_{0};  // the node id OwnerPrefix is subscribed for
  absl::Mutex owner_mu_;                      // serialises SubscribeOwner
  // The id subscribed before owner_node_ (0: none): its routers stay until the
  // next change of id.
  store::NodeId retired_owner_node_ ABSL_GUARDED_BY(owner_mu_) = 0;
};

}  // namespace kv::service

#endif  // KV_SERVICE_SERVICE_H_
