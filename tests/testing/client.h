// Client helpers for integration tests of kvd and micro services: JSON string
// quoting, request bodies of kv.<link>.<op>, and one request/reply round trip
// returning the reply's body and headers.

#ifndef TESTS_TESTING_CLIENT_H_
#define TESTS_TESTING_CLIENT_H_

#include <nats/nats.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace testing_util {

// `s` as a JSON string literal, quotes included. '"' and '\' are escaped, and
// so is every control character (U+0000 to U+001F as \b \f \n \r \t or \u00XX,
// U+007F as \u007F); every other byte, UTF-8 included, is kept as it is.
std::string Quote(absl::string_view s);

// Request bodies of kv.<link>.<op>.
// {"key":<key>}: get, del, exists, clear, set_query.
std::string KeyBody(absl::string_view key);
// {"key":<key>,"value":<value>}: set, push, list_del, set_add, set_remove.
std::string KeyValueBody(absl::string_view key, absl::string_view value);
// {"key":<key>,"value":<value>} with an integer value: add.
std::string KeyIntBody(absl::string_view key, int64_t value);
// {"key":<key>,"start":<start>,"stop":<stop>}: range.
std::string RangeBody(absl::string_view key, int64_t start, int64_t stop);
// {"keys":[<keys>...]}: set_union, set_intersection.
std::string KeysBody(const std::vector<std::string>& keys);

// A reply, or the failure to get one.
struct Reply {
  // NATS_OK when a reply came; else why not (NATS_TIMEOUT,
  // NATS_NO_RESPONDERS, ...), with `data` and `headers` empty.
  natsStatus status = NATS_OK;
  // The body, without the "revision" member key-level replies carry (it is
  // moved to `revision`), so that tests can compare the rest as text.
  std::string data;
  int64_t revision = -1;  // -1: the reply had none
  // The first value of each header.
  std::map<std::string, std::string> headers;

  bool ok() const { return status == NATS_OK; }
  // Nats-Service-Error-Code as a number; 0 when absent or not a number.
  int code() const;
};

// The body and headers of `msg`, which it destroys.
Reply ToReply(natsMsg* msg);

// Sends `body` to `subject` on `nc` and waits up to `timeout` for the reply.
Reply Call(natsConnection* nc, absl::string_view subject, absl::string_view body,
           absl::Duration timeout = absl::Seconds(10));

// Call with request headers (name, value), e.g. Nats-Msg-Id or Kv-After.
Reply CallWithHeaders(natsConnection* nc, absl::string_view subject,
                      absl::string_view body,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      absl::Duration timeout = absl::Seconds(10));

}  // namespace testing_util

#endif  // TESTS_TESTING_CLIENT_H_
