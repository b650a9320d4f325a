#include "kv/metrics/collector.h"

#include <utility>

namespace kv::metrics {

void NodeCollector::AddLink(const replication::Replica* replica) {
  absl::MutexLock lock(&mu_);
  replicas_.push_back(replica);
}

std::vector<LinkFigures> NodeCollector::Collect() const {
  std::vector<const replication::Replica*> replicas;
  {
    absl::MutexLock lock(&mu_);
    replicas = replicas_;
  }
  std::vector<micro::EndpointMetrics> endpoints = service_->Metrics();
  std::vector<LinkFigures> links;
  links.reserve(replicas.size());
  for (const replication::Replica* r : replicas) {
    LinkFigures l;
    l.replica = r->stats();
    for (micro::EndpointMetrics& e : endpoints) {
      auto it = e.metadata.find("link");
      if (it != e.metadata.end() && it->second == r->link()) {
        l.endpoints.push_back(std::move(e));
      }
    }
    links.push_back(std::move(l));
  }
  return links;
}

Health NodeCollector::Ready() const {
  std::vector<LinkFigures> links;
  {
    absl::MutexLock lock(&mu_);
    for (const replication::Replica* r : replicas_) {
      LinkFigures l;
      l.replica.link = r->link();
      l.replica.ready = r->ready();
      links.push_back(std::move(l));
    }
  }
  return NodeHealth(links);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> ServeNodeMetrics(
    absl::string_view addr, const NodeCollector* collector) {
  HttpHandlers handlers;
  handlers.metrics = [collector] { return NodeMetricsText(collector->Collect()); };
  handlers.health = [collector] { return collector->Ready(); };
  return MetricsServer::Start(addr, std::move(handlers));
}

}  // namespace kv::metrics
