// The natskv_* metric families of one kvd node (README.md, "Metrics and
// health"), rendered from what the node already counts: the replicas' figures
// and the micro endpoints' counters. Pure: the caller collects the inputs.
#ifndef KV_METRICS_NODE_METRICS_H_
#define KV_METRICS_NODE_METRICS_H_

#include <string>
#include <vector>

#include "kv/replication/replica_stats.h"
#include "micro/service.h"

namespace kv::metrics {

// What one link of a node reports.
struct LinkFigures {
  replication::ReplicaStats replica;  // replica.link names the link
  // The link's endpoints; the metadata "op" of each names its operation.
  std::vector<micro::EndpointMetrics> endpoints;
};

// The families, every sample labelled by `link` (requests also by `op`, and
// by `code`: "200" for successes, else the API's error code), in the
// Prometheus text format (kContentType).
std::string NodeMetricsText(const std::vector<LinkFigures>& links);

// Readiness for /healthz: ok when every link is ready (and there is at least
// one); `body` says so, or names the links not ready yet.
struct Health {
  bool ok = false;
  std::string body;
};
Health NodeHealth(const std::vector<LinkFigures>& links);

}  // namespace kv::metrics

#endif  // KV_METRICS_NODE_METRICS_H_
