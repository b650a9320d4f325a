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
#include "absl/time/time.h"
#include "kv/codec/json.h"
#include "kv/replication/replica.h"
#include "kv/service/batch.h"
#include "micro/service.h"

namespace kv::service {

// A link name: 1 to 64 letters, digits, '-' or '_' (it is a subject token).
bool ValidLinkName(absl::string_view link);

// API error codes (README.md, "Errors"): 400 bad request (InvalidArgument), 404
// unknown op (NotFound), 409 wrong type (FailedPrecondition), 413 too large
// (OutOfRange, ResourceExhausted), 503 not ready (Unavailable), 500 anything else;
// a status carrying codec::kApiCodePayload has that code instead (422: a value
// that is not UTF-8, read without base64).
int ErrorCode(const absl::Status& status);

// Makes `config`'s service reply errors as the kv API does: the code from
// ErrorCode() and the body {"error":{"code":int,"message":string}}
// (codec::ErrorReply). Set on the service the LinkServices run on.
void UseApiErrors(micro::ServiceConfig* config);

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
absl::StatusOr<std::string> Handle(
    codec::Op op, absl::string_view body, replication::Replica& replica,
    replication::MutationContext* context = nullptr,
    const BatchLimits& batch = BatchLimits(),
    std::optional<absl::string_view> msg_id = std::nullopt);

// The replica figures reported in the endpoints' STATS "data", as a JSON object.
// Its vector ("vv") takes at most `max_vv_bytes` (0: no limit): the entries
// with the highest seqs that fit, the others counted in "vv_omitted".
std::string StatsData(const replication::ReplicaStats& stats, uint64_t bad_requests,
                      uint64_t unknown_ops, size_t max_vv_bytes = 0);

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
  LinkService(replication::Replica* replica, BatchLimits batch)
      : replica_(replica), batch_(batch) {}
  // Replies the result of `op`, or returns its error (counted in
  // bad_requests_ when ErrorCode() makes it a 4xx).
  absl::Status Serve(codec::Op op, micro::Request& request);
  // Returns NotFound naming the known operations (counted in unknown_ops_).
  absl::Status Unknown(micro::Request& request);

  replication::Replica* const replica_;
  const BatchLimits batch_;
  std::atomic<uint64_t> bad_requests_{0};
  std::atomic<uint64_t> unknown_ops_{0};
};

}  // namespace kv::service

#endif  // KV_SERVICE_SERVICE_H_
