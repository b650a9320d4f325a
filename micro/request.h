// The request an endpoint handler sees, and the handler type (see
// micro/README.md for the service as a whole).

#ifndef MICRO_REQUEST_H_
#define MICRO_REQUEST_H_

#include <nats/nats.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace micro {

namespace internal {
class Dispatcher;
struct Endpoint;
struct HeldReplies;
}  // namespace internal

// Header names of ADR-32 service errors.
inline constexpr char kErrorHeader[] = "Nats-Service-Error";
inline constexpr char kErrorCodeHeader[] = "Nats-Service-Error-Code";

using Headers = std::vector<std::pair<std::string, std::string>>;

// The reply of a request whose handler returned before answering
// (Request::Defer): it leaves later, from any thread, on the connection the
// request would have replied on, and the request is counted in its endpoint's
// stats then. It must not outlive the Service.
//
// Thread safety: one thread at a time.
class DeferredReply {
 public:
  DeferredReply(const DeferredReply&) = delete;
  DeferredReply& operator=(const DeferredReply&) = delete;

  // As Request::Respond and Request::RespondError; only the first call
  // replies (FailedPrecondition after).
  absl::Status Respond(absl::string_view data, const Headers& headers = {});
  absl::Status RespondError(int code, absl::string_view description,
                            absl::string_view body);

 private:
  friend class Request;
  DeferredReply(natsConnection* nc, std::string reply, internal::Endpoint* endpoint,
                std::chrono::steady_clock::time_point start)
      : nc_(nc), reply_(std::move(reply)), endpoint_(endpoint), start_(start) {}

  natsConnection* const nc_;
  const std::string reply_;
  internal::Endpoint* const endpoint_;  // null for requests of no endpoint
  const std::chrono::steady_clock::time_point start_;
  bool responded_ = false;
};
// Publishes `data` on `subject` (no reply subject); returns OK when handed to
// the connection.
using Publisher =
    std::function<absl::Status(absl::string_view subject, absl::string_view data)>;

// One request as seen by an endpoint handler. Valid only during the handler
// call: the views it returns point into the message, which is freed when the
// handler returns.
//
// Thread safety: a Request is used by the one thread running its handler.
class Request {
 public:
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // The request body (possibly empty).
  absl::string_view data() const;
  // The subject the request was published to.
  absl::string_view subject() const;
  // The first value of header `name` (case-sensitive, as nats.c matches
  // header names), or nullopt if the request has no such header.
  absl::optional<absl::string_view> header(absl::string_view name) const;
  // True iff the requester gave a reply subject (a request, not a publish).
  bool has_reply() const;
  // The reply subject ("" when none).
  absl::string_view reply() const;

  // Replies `data` with the given headers. Header names and values must not
  // hold CR or LF; such characters are replaced by spaces.
  // Returns OK when the reply was handed to the connection,
  // FailedPrecondition if a reply was already sent or the request has no
  // reply subject, InvalidArgument if `data` is larger than 2 GiB,
  // Unavailable if the connection is closed, another code on another nats.c
  // error. Only the first call replies. Errors are not replied with this:
  // the handler returns them (see Handler).
  absl::Status Respond(absl::string_view data, const Headers& headers = {});

  // Takes the reply out of the handler, which then returns OK without
  // replying: the returned object replies later (before the Service stops).
  // Null when already replied or the request has no reply subject.
  std::unique_ptr<DeferredReply> Defer();

  // Makes this request's messages (Publish, Respond, Forward) leave on the
  // prompt connection (ServiceConfig::prompt_nc), each at once, when it is
  // connected and nothing was sent yet: for a handler that waits for an answer
  // to what it published. No effect otherwise.
  void PreferPrompt();

  // Sends now what Publish() left buffered on the request's connection (a
  // round trip to the server when it is the buffered connection; nothing on the
  // prompt one): for a handler that waits for an answer to what it published
  // before it replies. Returns as Publish().
  absl::Status Flush();

  // Hands the request on: publishes it (its data and headers) on `subject`
  // with the requester's reply subject, so that whoever answers `subject`
  // replies to the requester directly. Counts as this endpoint's reply (no
  // other reply may follow). Returns as Respond(); FailedPrecondition when
  // already replied or the request has no reply subject.
  absl::Status Forward(absl::string_view subject);

  // Publishes `data` on `subject` (no reply subject) on the connection that
  // carries this request's reply, before it: a subscriber of `subject` on the
  // same server receives `data` before the requester receives the reply. The
  // connection is chosen once per request, at the first Publish or Respond
  // (see ServiceConfig::prompt_nc). Returns OK when handed to the connection,
  // InvalidArgument if `data` is larger than 2 GiB, Unavailable if the
  // connection is closed, another code on another nats.c error. With `reply`,
  // the message carries that reply subject (a request whose answers come there).
  absl::Status Publish(absl::string_view subject, absl::string_view data,
                       absl::string_view reply = {});

  // Whether this request's reply is held (RouterConfig::before_held_replies):
  // it came in a burst (other requests wait behind it, or replies to earlier
  // ones are held), so its reply waits with theirs and leaves once the burst
  // ends, after the router's hook ran. Decides the connection (as the first
  // Publish or Respond does). Always false without a hook.
  bool held();

  // Writes the replies held so far (those of earlier requests of the burst;
  // the hook runs first) without waiting for the burst to end: call it before
  // waiting for something, so that they do not wait too. Does nothing when
  // none is held.
  void FlushHeld();

 private:
  friend class internal::Dispatcher;

  // `endpoint` (whose stats count the request) may be null; so may `sub`
  // (the subscription the request came on) and `prompt_nc`.
  Request(natsConnection* nc, natsMsg* msg, internal::Endpoint* endpoint,
          natsSubscription* sub, natsConnection* prompt_nc,
          internal::HeldReplies* held = nullptr);

  // Replies an error: headers Nats-Service-Error: `description` and
  // Nats-Service-Error-Code: `code`, body `body`, and counts the error.
  // Returns as Respond().
  absl::Status RespondError(int code, absl::string_view description,
                            absl::string_view body);
  // Counts error `code` with `description` (once per request; the last
  // description wins) without replying.
  void CountError(int code, absl::string_view description);
  // The connection for the reply: `prompt_nc_` when nothing else waits and
  // nothing is buffered; sets `flush` when the reply ends a burst of buffered
  // ones, which must then be flushed.
  natsConnection* ReplyConnection(bool* flush) const;
  // ReplyConnection(), chosen at the first call and kept for the request.
  natsConnection* OutConnection();
  // Counts the request in its endpoint's stats, once. Called just before the
  // reply leaves, so a client that got a reply finds it counted.
  void Record();

  natsConnection* const nc_;
  natsMsg* const msg_;                         // not owned
  internal::Endpoint* const endpoint_;         // null for requests of no endpoint
  natsSubscription* const sub_;                // the subscription it came on, or null
  natsConnection* const prompt_nc_;            // or null
  internal::HeldReplies* const held_replies_;  // the router's, or null
  const std::chrono::steady_clock::time_point start_;
  natsConnection* out_nc_ = nullptr;  // chosen by OutConnection()
  bool out_flush_ = false;            // flush nc_ after the reply
  bool held_ = false;                 // the reply waits in held_replies_
  bool responded_ = false;
  bool recorded_ = false;
  bool failed_ = false;  // an error was counted
  int error_code_ = 0;   // the code of the first error counted
  std::string last_error_;
};

// Handles one request: replies with request.Respond() and returns OK, or
// returns an error, which the service replies (ServiceConfig::error_code and
// error_body give its code and body, the status message its description) and
// counts in the endpoint's stats. An error returned after the handler replied
// is counted but not replied. If the handler throws, the service replies 500
// (unless it already replied) and counts an error; if it returns OK without
// replying to a request that has a reply subject, the service replies 500
// "no response". A request is counted (with its processing time up to the
// reply) just before its reply is sent, so a client that received a reply
// finds it in STATS.
//
// May run concurrently with the handlers of other endpoints, not with itself.
using Handler = std::function<absl::Status(Request&)>;

}  // namespace micro

#endif  // MICRO_REQUEST_H_
