// The HTTP endpoint of --metrics_addr, on civetweb: GET /metrics (the
// Prometheus text format) and GET /healthz (200 when ready, 503 otherwise).
#ifndef KV_METRICS_HTTP_SERVER_H_
#define KV_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/metrics/node_metrics.h"

struct mg_context;
struct mg_connection;

namespace kv::metrics {

// civetweb's listening_ports value for `addr`, "host:port": host an IPv4
// address, a bracketed IPv6 address or "localhost" (127.0.0.1), port 0 to
// 65535 (0: any free port). InvalidArgument, naming what is wrong, otherwise.
absl::StatusOr<std::string> ListeningPort(absl::string_view addr);

// What the server answers; called on civetweb's threads (two at most), so
// they must be thread-safe.
struct HttpHandlers {
  std::function<std::string()> metrics;  // the body of /metrics
  std::function<Health()> health;        // /healthz
};

// A running server. Other paths are 404, other methods than GET and HEAD 405.
class MetricsServer {
 public:
  // Listens on `addr` (see ListeningPort) and serves `handlers`. Returns
  // InvalidArgument for a malformed address, Unavailable (with civetweb's
  // reason) when it cannot listen there.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(absl::string_view addr,
                                                              HttpHandlers handlers);
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  // Stops the server: waits for the requests in progress.
  ~MetricsServer();

  // The port it listens on (the one picked when `addr` said 0).
  int port() const { return port_; }

 private:
  explicit MetricsServer(HttpHandlers handlers) : handlers_(std::move(handlers)) {}
  static int HandleMetrics(mg_connection* conn, void* self);
  static int HandleHealth(mg_connection* conn, void* self);

  const HttpHandlers handlers_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace kv::metrics

#endif  // KV_METRICS_HTTP_SERVER_H_
