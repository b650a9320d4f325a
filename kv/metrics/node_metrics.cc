#include "kv/metrics/node_metrics.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kv/metrics/prometheus.h"

namespace kv::metrics {
namespace {

// Upper bounds (ms) of the apply-lag buckets exported. The replica counts
// whole milliseconds up to 999 and ">= 1 s" together, so every bound below
// 1 s is exact and the rest goes to +Inf.
constexpr uint64_t kApplyLagBoundsMs[] = {1, 2, 5, 10, 25, 50, 100, 250, 500};

using Figures = replication::ReplicaStats;

std::string OpOf(const micro::EndpointMetrics& e) {
  auto it = e.metadata.find("op");
  return it == e.metadata.end() ? e.name : it->second;
}

// A family with one sample per link, taken from its replica's figures.
void PerLink(TextWriter& w, const std::vector<LinkFigures>& links, const char* name,
             Type type, const char* help,
             const std::function<uint64_t(const Figures&)>& get) {
  w.Family(name, type, help);
  for (const LinkFigures& l : links) w.Int({{"link", l.replica.link}}, get(l.replica));
}

void Requests(TextWriter& w, const std::vector<LinkFigures>& links) {
  w.Family("natskv_requests_total", Type::kCounter,
           "Requests answered, by link, operation and code (200: success; else the "
           "API's error code).");
  for (const LinkFigures& l : links) {
    for (const micro::EndpointMetrics& e : l.endpoints) {
      const std::string op = OpOf(e);
      w.Int({{"link", l.replica.link}, {"op", op}, {"code", "200"}},
            static_cast<uint64_t>(e.num_requests - e.num_errors));
      for (const auto& [code, n] : e.errors_by_code) {
        w.Int({{"link", l.replica.link}, {"op", op}, {"code", absl::StrCat(code)}},
              static_cast<uint64_t>(n));
      }
    }
  }
  std::vector<double> bounds;
  for (int64_t ns : micro::LatencyHistogram::kBoundsNs) bounds.push_back(ns / 1e9);
  w.Family("natskv_request_duration_seconds", Type::kHistogram,
           "Time from a request's arrival at the node to its reply, by link and "
           "operation.");
  for (const LinkFigures& l : links) {
    for (const micro::EndpointMetrics& e : l.endpoints) {
      const auto& c = e.latency.counts();
      w.Histogram({{"link", l.replica.link}, {"op", OpOf(e)}}, bounds,
                  std::vector<uint64_t>(c.begin(), c.end()), e.latency.sum_ns() / 1e9);
    }
  }
}

void ApplyLag(TextWriter& w, const std::vector<LinkFigures>& links) {
  std::vector<double> bounds;
  for (uint64_t ms : kApplyLagBoundsMs) bounds.push_back(ms / 1e3);
  w.Family("natskv_replication_apply_lag_seconds", Type::kHistogram,
           "Replication delay of the events applied: from the operation's clock at "
           "its origin to its application here (whole milliseconds; across machines "
           "it includes clock skew). No _sum: lags of 1 s and more are not kept "
           "apart.");
  for (const LinkFigures& l : links) {
    const Figures::LagHistogram& h = l.replica.apply_lag;
    std::vector<uint64_t> counts(bounds.size() + 1);
    for (size_t ms = 0; ms < h.counts.size(); ++ms) {
      // The first bound not below `ms`; bucket 1000 (">= 1 s") is above all.
      const size_t bucket = static_cast<size_t>(
          std::lower_bound(std::begin(kApplyLagBoundsMs), std::end(kApplyLagBoundsMs),
                           static_cast<uint64_t>(ms)) -
          std::begin(kApplyLagBoundsMs));
      counts[bucket] += h.counts[ms];
    }
    w.Histogram({{"link", l.replica.link}}, bounds, counts, std::nullopt);
  }
}

}  // namespace

std::string NodeMetricsText(const std::vector<LinkFigures>& links) {
  TextWriter w;
  Requests(w, links);
  PerLink(w, links, "natskv_ready", Type::kGauge,
          "1 when the link serves requests, 0 while it joins or catches up (503).",
          [](const Figures& f) { return f.ready ? 1 : 0; });
  PerLink(w, links, "natskv_keys", Type::kGauge,
          "Keys of the link that show a value (expired ones until reclaimed).",
          [](const Figures& f) { return f.keys; });
  PerLink(w, links, "natskv_tombstones", Type::kGauge,
          "Keys held only for deleted state, until collected.",
          [](const Figures& f) { return f.tombstones; });
  PerLink(w, links, "natskv_memory_bytes", Type::kGauge,
          "Heap bytes held by the link's entries and index (the store's account, "
          "which --max_memory limits).",
          [](const Figures& f) { return f.memory_bytes; });
  PerLink(w, links, "natskv_max_memory_bytes", Type::kGauge,
          "The link's memory limit (--max_memory; 0: none).",
          [](const Figures& f) { return f.max_memory_bytes; });
  PerLink(w, links, "natskv_evicted_total", Type::kCounter,
          "Keys this node evicted (replicated deletes) to stay under the limit.",
          [](const Figures& f) { return f.evicted; });
  PerLink(w, links, "natskv_expired_total", Type::kCounter, "Expired keys reclaimed.",
          [](const Figures& f) { return f.expired; });
  PerLink(w, links, "natskv_peers", Type::kGauge,
          "Other replicas of the link heard within three heartbeats.",
          [](const Figures& f) { return f.peers; });
  PerLink(w, links, "natskv_replication_lag_ops", Type::kGauge,
          "Operations the most advanced live peer has that this replica lacks.",
          [](const Figures& f) { return f.lag; });
  ApplyLag(w, links);
  PerLink(w, links, "natskv_catchups_total", Type::kCounter,
          "Catch-ups this replica completed from a peer.",
          [](const Figures& f) { return f.catchups; });
  PerLink(w, links, "natskv_events_in_total", Type::kCounter,
          "Replication events received from peers.",
          [](const Figures& f) { return f.events_in; });
  PerLink(w, links, "natskv_events_out_total", Type::kCounter,
          "Replication events this node published.",
          [](const Figures& f) { return f.events_out; });
  PerLink(w, links, "natskv_bad_messages_total", Type::kCounter,
          "Replication messages from peers that were undecodable or invalid, and "
          "dropped.",
          [](const Figures& f) { return f.bad_messages; });
  return w.Take();
}

Health NodeHealth(const std::vector<LinkFigures>& links) {
  std::vector<std::string> waiting;
  for (const LinkFigures& l : links) {
    if (!l.replica.ready) waiting.push_back(l.replica.link);
  }
  Health h;
  h.ok = !links.empty() && waiting.empty();
  if (links.empty()) {
    h.body = "not ready: no link served yet\n";
  } else if (h.ok) {
    h.body = "ok\n";
  } else {
    h.body = absl::StrCat("not ready: ", absl::StrJoin(waiting, ", "),
                          " joining or catching up\n");
  }
  return h;
}

}  // namespace kv::metrics
