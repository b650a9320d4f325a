// Collects what a kvd node exports (NodeMetricsText, NodeHealth) from its
// running parts: the micro service's endpoint counters and each link's
// replica, and serves them with MetricsServer.
#ifndef KV_METRICS_COLLECTOR_H_
#define KV_METRICS_COLLECTOR_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "kv/metrics/http_server.h"
#include "kv/metrics/node_metrics.h"
#include "kv/replication/replica.h"
#include "micro/service.h"

namespace kv::metrics {

// Thread-safe: links may be added while scrapes run.
class NodeCollector {
 public:
  // `service` must outlive the collector.
  explicit NodeCollector(const micro::Service* service) : service_(service) {}
  NodeCollector(const NodeCollector&) = delete;
  NodeCollector& operator=(const NodeCollector&) = delete;

  // Reports `replica`'s link (with the endpoints whose metadata "link" names
  // it) from now on. `replica` must outlive the collector's use.
  void AddLink(const replication::Replica* replica) ABSL_LOCKS_EXCLUDED(mu_);

  // The figures of every link added, in the order added.
  std::vector<LinkFigures> Collect() const ABSL_LOCKS_EXCLUDED(mu_);

  // Only the replicas' readiness (cheap: no figures copied), as NodeHealth.
  Health Ready() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const micro::Service* const service_;
  mutable absl::Mutex mu_;
  std::vector<const replication::Replica*> replicas_ ABSL_GUARDED_BY(mu_);
};

// Serves `collector` on `addr` (see MetricsServer::Start), which must
// outlive the server.
absl::StatusOr<std::unique_ptr<MetricsServer>> ServeNodeMetrics(
    absl::string_view addr, const NodeCollector* collector);

}  // namespace kv::metrics

#endif  // KV_METRICS_COLLECTOR_H_
