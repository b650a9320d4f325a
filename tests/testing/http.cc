#include "tests/testing/http.h"

#include <civetweb.h>

#include <mutex>

#include "absl/strings/str_cat.h"

namespace testing_util {

absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port,
                                     absl::string_view path, absl::string_view method) {
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });
  const std::string request =
      absl::StrCat(method, " ", path, " HTTP/1.0\r\nHost: ", host, "\r\n\r\n");
  char error[256] = "";
  mg_connection* conn =
      mg_download(host.c_str(), port, 0, error, sizeof(error), "%s", request.c_str());
  if (conn == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("GET http://", host, ":", port, path, ": ", error));
  }
  HttpResponse response;
  const mg_response_info* info = mg_get_response_info(conn);
  if (info != nullptr) {
    response.status = info->status_code;
    for (int i = 0; i < info->num_headers; ++i) {
      response.headers[info->http_headers[i].name] = info->http_headers[i].value;
    }
  }
  char buf[4096];
  int n;
  while ((n = mg_read(conn, buf, sizeof(buf))) > 0) response.body.append(buf, n);
  mg_close_connection(conn);
  return response;
}

}  // namespace testing_util
