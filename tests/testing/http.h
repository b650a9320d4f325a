// A tiny HTTP client for tests (civetweb's client API): one GET.
#ifndef TESTS_TESTING_HTTP_H_
#define TESTS_TESTING_HTTP_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace testing_util {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names as sent
  std::string body;
};

// GETs (or with `method`, e.g. "HEAD" or "POST") `path` from `host`:`port`
// over HTTP/1.0. Unavailable (with civetweb's reason) when it cannot connect or
// gets no response.
absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port,
                                     absl::string_view path,
                                     absl::string_view method = "GET");

}  // namespace testing_util

#endif  // TESTS_TESTING_HTTP_H_
