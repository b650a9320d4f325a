#include "kv/metrics/http_server.h"

#include <civetweb.h>

#include <cstring>
#include <mutex>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kv/metrics/prometheus.h"

namespace kv::metrics {
namespace {

// Answers `status` with `body` (no body for HEAD). Returns the status, as
// civetweb's request handlers do when they answered.
int Reply(mg_connection* conn, int status, absl::string_view content_type,
          absl::string_view body) {
  mg_response_header_start(conn, status);
  const std::string type(content_type);
  mg_response_header_add(conn, "Content-Type", type.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  const std::string length = absl::StrCat(body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_send(conn);
  const mg_request_info* info = mg_get_request_info(conn);
  if (info == nullptr || std::strcmp(info->request_method, "HEAD") != 0) {
    mg_write(conn, body.data(), body.size());
  }
  return status;
}

// 405 for methods other than GET and HEAD; 0 when the method is fine.
int CheckMethod(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  const char* method = info != nullptr ? info->request_method : "";
  if (std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0) return 0;
  return Reply(conn, 405, "text/plain; charset=utf-8", "only GET and HEAD\n");
}

}  // namespace

absl::StatusOr<std::string> ListeningPort(absl::string_view addr) {
  const size_t colon = addr.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address '", addr, "' must be host:port (e.g. 127.0.0.1:9464)"));
  }
  absl::string_view host = addr.substr(0, colon);
  const absl::string_view port_text = addr.substr(colon + 1);
  int port = -1;
  if (port_text.empty() || !absl::c_all_of(port_text, absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address '", addr, "': port must be a number from 0 to 65535"));
  }
  if (host == "localhost") host = "127.0.0.1";
  const bool ipv6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
  bool ipv4 = !host.empty();
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      ipv4 = false;
    }
  }
  ipv4 = ipv4 && dots == 3;
  if (ipv6) {
    for (char c : host.substr(1, host.size() - 2)) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return absl::InvalidArgumentError(
            absl::StrCat("metrics address '", addr, "': bad IPv6 address"));
      }
    }
  } else if (!ipv4) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", addr,
                     "': host must be an IPv4 address, [IPv6] or localhost"));
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    absl::string_view addr, HttpHandlers handlers) {
  absl::StatusOr<std::string> ports = ListeningPort(addr);
  if (!ports.ok()) return ports.status();
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });
  std::unique_ptr<MetricsServer> server(new MetricsServer(std::move(handlers)));
  // No document_root: nothing but the two handlers is served. Two threads
  // and no keep-alive: scrapes are rare and short.
  const char* options[] = {
      "listening_ports",    ports->c_str(), "num_threads", "2", "enable_keep_alive", "no",
      "request_timeout_ms", "10000",        nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  mg_init_data init_data;
  std::memset(&init_data, 0, sizeof(init_data));
  init_data.callbacks = &callbacks;
  init_data.user_data = server.get();
  init_data.configuration_options = options;
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error;
  std::memset(&error, 0, sizeof(error));
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  server->ctx_ = mg_start2(&init_data, &error);
  if (server->ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", addr, ": ",
                                               error_text[0] ? error_text : "failed"));
  }
  mg_server_port port;
  std::memset(&port, 0, sizeof(port));
  if (mg_get_server_ports(server->ctx_, 1, &port) == 1) server->port_ = port.port;
  mg_set_request_handler(server->ctx_, "/metrics$", &MetricsServer::HandleMetrics,
                         server.get());
  mg_set_request_handler(server->ctx_, "/healthz$", &MetricsServer::HandleHealth,
                         server.get());
  return server;
}

MetricsServer::~MetricsServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

int MetricsServer::HandleMetrics(mg_connection* conn, void* self) {
  if (int refused = CheckMethod(conn)) return refused;
  const auto* server = static_cast<const MetricsServer*>(self);
  return Reply(conn, 200, kContentType, server->handlers_.metrics());
}

int MetricsServer::HandleHealth(mg_connection* conn, void* self) {
  if (int refused = CheckMethod(conn)) return refused;
  const auto* server = static_cast<const MetricsServer*>(self);
  const Health h = server->handlers_.health();
  return Reply(conn, h.ok ? 200 : 503, "text/plain; charset=utf-8", h.body);
}

}  // namespace kv::metrics
