// The public API of one link: the kv.<link>.<op> endpoints, turning JSON requests
// into store calls on the link's replica and results into JSON replies.
#ifndef KV_SERVICE_SERVICE_H_
#define KV_SERVICE_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include <nats/nats.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/codec/json.h"
#include "kv/replication/replica.h"
#include "micro/service.h"

namespace kv::service {

// API error codes (DESIGN.md): 400 bad request, 404 unknown op, 409 wrong type,
// 413 too large, 500 internal, 503 not ready.
int ErrorCode(const absl::Status& status);

// Runs one request of `op` on `replica`: the reply body, or an error whose code
// ErrorCode() gives. Never changes data on error.
absl::StatusOr<std::string> Handle(codec::Op op, absl::string_view body,
                                   replication::Replica& replica);

// The replica figures reported in the endpoints' STATS "data", as a JSON object.
std::string StatsData(const replication::ReplicaStats& stats, uint64_t bad_requests,
                      uint64_t unknown_ops);

// Serves one link: registers an endpoint per operation on `service` (name
// "<link>_<op>", subject kv.<link>.<op>, queue group "q") and answers requests for
// unknown operations (kv.<link>.<anything else>) with 404.
class LinkService {
 public:
  // `nc`, `service` and `replica` must outlive the LinkService.
  static absl::StatusOr<std::unique_ptr<LinkService>> Start(
      natsConnection* nc, micro::Service* service, replication::Replica* replica);
  LinkService(const LinkService&) = delete;
  LinkService& operator=(const LinkService&) = delete;
  ~LinkService();

  // Stops answering unknown operations (the endpoints stop with the service).
  void Stop();

  std::string StatsData() const;

 private:
  LinkService(natsConnection* nc, replication::Replica* replica)
      : nc_(nc), replica_(replica) {}
  void Serve(codec::Op op, micro::Request& request);
  static void OnUnknown(natsConnection* nc, natsSubscription* sub, natsMsg* msg,
                        void* closure);

  natsConnection* const nc_;
  replication::Replica* const replica_;
  natsSubscription* unknown_sub_ = nullptr;
  std::atomic<uint64_t> bad_requests_{0};
  std::atomic<uint64_t> unknown_ops_{0};
};

}  // namespace kv::service

#endif  // KV_SERVICE_SERVICE_H_
