// Request (replies, headers, the prompt connection choice, recording) and the
// Dispatcher that runs handlers on requests.

#include "micro/request.h"

#include <chrono>
#include <climits>
#include <cstdlib>
#include <exception>
#include <string>

#include "absl/strings/str_cat.h"
#include "micro/destroy_batch.h"
#include "micro/nats_status.h"
#include "micro/service.h"
#include "micro/service_internal.h"

namespace micro {
namespace {

// How long the flush after the last reply of a burst waits for the server's
// PONG (the replies are written before the PING; this only bounds the wait).
constexpr int64_t kBurstFlushTimeoutMs = 1000;

// Bytes of a message besides its data and headers: the "NATS/1.0" header line, the
// header block's end, and room for the protocol line.
constexpr size_t kHeaderFraming = 128;

// Header lines end at CR/LF, so a value holding one would corrupt the
// message: replace them.
std::string SanitizeHeader(absl::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

// Publishes `data` with `headers` to `reply` on `nc`.
natsStatus PublishReply(natsConnection* nc, const char* reply, absl::string_view data,
                        const Headers& headers) {
  const int len = static_cast<int>(data.size());
  if (headers.empty()) return natsConnection_Publish(nc, reply, data.data(), len);
  natsMsg* out = nullptr;
  natsStatus s = natsMsg_Create(&out, reply, nullptr, data.data(), len);
  for (const auto& [key, value] : headers) {
    if (s != NATS_OK) break;
    s = natsMsgHeader_Add(out, SanitizeHeader(key).c_str(),
                          SanitizeHeader(value).c_str());
  }
  if (s == NATS_OK) s = natsConnection_PublishMsg(nc, out);
  // Written into the connection's buffer: the message itself can wait.
  DestroyBatch::Destroy(out);
  return s;
}

// Counts one request in `endpoint`'s stats (null: none).
void RecordStats(internal::Endpoint* endpoint,
                 std::chrono::steady_clock::time_point start, bool failed, int error_code,
                 const std::string& last_error) {
  if (endpoint == nullptr) return;
  const int64_t elapsed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
  absl::MutexLock lock(&endpoint->mu);
  internal::EndpointStats& stats = endpoint->stats;
  ++stats.num_requests;
  stats.processing_time_ns += elapsed_ns;
  stats.latency.Add(elapsed_ns);
  if (failed) {
    ++stats.num_errors;
    ++stats.errors_by_code[error_code];
    stats.last_error = last_error;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Request

Request::Request(natsConnection* nc, natsMsg* msg, internal::Endpoint* endpoint,
                 natsSubscription* sub, natsConnection* prompt_nc,
                 internal::HeldReplies* held)
    : nc_(nc),
      msg_(msg),
      endpoint_(endpoint),
      sub_(sub),
      prompt_nc_(prompt_nc),
      held_replies_(sub != nullptr ? held : nullptr),
      start_(std::chrono::steady_clock::now()) {}

absl::string_view Request::data() const {
  const char* d = natsMsg_GetData(msg_);
  if (d == nullptr) return absl::string_view();
  return absl::string_view(d, natsMsg_GetDataLength(msg_));
}

absl::string_view Request::subject() const {
  const char* s = natsMsg_GetSubject(msg_);
  return s == nullptr ? absl::string_view() : absl::string_view(s);
}

absl::optional<absl::string_view> Request::header(absl::string_view name) const {
  const char* value = nullptr;
  const std::string key(name);
  if (natsMsgHeader_Get(msg_, key.c_str(), &value) != NATS_OK || value == nullptr) {
    return absl::nullopt;
  }
  return absl::string_view(value);
}

bool Request::has_reply() const {
  const char* reply = natsMsg_GetReply(msg_);
  return reply != nullptr && reply[0] != '\0';
}

absl::string_view Request::reply() const {
  const char* reply = natsMsg_GetReply(msg_);
  return reply != nullptr ? absl::string_view(reply) : absl::string_view();
}

natsConnection* Request::ReplyConnection(bool* flush) const {
  *flush = false;
  if (prompt_nc_ == nullptr || sub_ == nullptr) return nc_;
  int pending = 0;
  if (natsSubscription_GetPending(sub_, &pending, nullptr) != NATS_OK || pending > 0) {
    return nc_;  // more requests wait: buffer, the next replies follow soon
  }
  if (natsConnection_Buffered(nc_) > 0) {
    *flush = true;  // the last of a burst: send it with those buffered before
    return nc_;
  }
  if (natsConnection_Status(prompt_nc_) != NATS_CONN_STATUS_CONNECTED) {
    return nc_;
  }
  return prompt_nc_;
}

natsConnection* Request::OutConnection() {
  if (out_nc_ != nullptr) return out_nc_;
  if (held_replies_ != nullptr) {
    int pending = 0;
    if (held_replies_->requests > 0 ||
        (natsSubscription_GetPending(sub_, &pending, nullptr) == NATS_OK &&
         pending > 0)) {
      // A burst: the reply waits with the others on the buffering connection.
      held_ = true;
      if (held_replies_->requests++ == 0) {
        held_replies_->since = std::chrono::steady_clock::now();
      }
      out_nc_ = nc_;
      return out_nc_;
    }
  }
  out_nc_ = ReplyConnection(&out_flush_);
  return out_nc_;
}

bool Request::held() {
  OutConnection();
  return held_;
}

void Request::FlushHeld() {
  if (held_replies_ == nullptr) return;
  // Handed to the connection (whose flusher writes it within about 1 ms):
  // a flush's round trip would hold this thread too.
  internal::WriteHeld(nc_, held_replies_, /*end_of_burst=*/false);
  if (held_) {
    // This request's reply is still to come.
    held_replies_->requests = 1;
    held_replies_->since = std::chrono::steady_clock::now();
  }
}

absl::Status Request::Publish(absl::string_view subject, absl::string_view data,
                              absl::string_view reply) {
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("message too large");
  }
  const std::string s(subject);
  const int len = static_cast<int>(data.size());
  if (reply.empty()) {
    return NatsStatusToStatus(
        natsConnection_Publish(OutConnection(), s.c_str(), data.data(), len), "publish");
  }
  const std::string r(reply);
  return NatsStatusToStatus(natsConnection_PublishRequest(OutConnection(), s.c_str(),
                                                          r.c_str(), data.data(), len),
                            "publish");
}

void Request::Record() {
  if (endpoint_ == nullptr || recorded_) return;
  recorded_ = true;
  RecordStats(endpoint_, start_, failed_, error_code_, last_error_);
}

void Request::CountError(int code, absl::string_view description) {
  const bool counted = failed_;
  failed_ = true;
  if (!counted) error_code_ = code;  // the first error's code is counted
  last_error_ = absl::StrCat(code, ":", description);
  if (endpoint_ == nullptr || !recorded_) return;  // Record() counts it
  absl::MutexLock lock(&endpoint_->mu);
  if (!counted) {
    ++endpoint_->stats.num_errors;
    ++endpoint_->stats.errors_by_code[code];
  }
  endpoint_->stats.last_error = last_error_;
}

absl::Status Request::Respond(absl::string_view data, const Headers& headers) {
  if (responded_) {
    return absl::FailedPreconditionError("request was already responded to");
  }
  // A message over the server's max payload would be refused by nats.c and never
  // reach the requester: refuse it here, so that the handler's error is replied.
  const int64_t max_payload = natsConnection_GetMaxPayload(nc_);
  size_t size = data.size();
  for (const auto& [key, value] : headers) size += key.size() + value.size() + 4;
  if (max_payload > 0 && size + kHeaderFraming > static_cast<size_t>(max_payload)) {
    return absl::OutOfRangeError(absl::StrCat("the reply would take ", size,
                                              " bytes, over the server's max payload of ",
                                              max_payload, " bytes"));
  }
  responded_ = true;
  Record();
  if (!has_reply()) {
    return absl::FailedPreconditionError("request has no reply subject");
  }
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("reply too large");
  }
  const char* reply = natsMsg_GetReply(msg_);
  natsConnection* out_nc = OutConnection();
  if (held_) {
    // Written with the burst's other replies (internal::WriteHeld).
    held_replies_->bytes += size;
    held_replies_->replies.push_back({reply, std::string(data), headers});
    return absl::OkStatus();
  }
  const bool flush = out_flush_;
  const natsStatus s = PublishReply(out_nc, reply, data, headers);
  if (s == NATS_OK && flush) {
    natsConnection_FlushTimeout(nc_, kBurstFlushTimeoutMs);
  }
  return NatsStatusToStatus(s, "publish reply");
}

std::unique_ptr<DeferredReply> Request::Defer() {
  if (responded_ || !has_reply()) return nullptr;
  responded_ = true;
  return std::unique_ptr<DeferredReply>(
      new DeferredReply(OutConnection(), std::string(reply()), endpoint_, start_));
}

absl::Status DeferredReply::Respond(absl::string_view data, const Headers& headers) {
  if (responded_) return absl::FailedPreconditionError("already responded to");
  responded_ = true;
  RecordStats(endpoint_, start_, false, 0, "");
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("reply too large");
  }
  return NatsStatusToStatus(PublishReply(nc_, reply_.c_str(), data, headers),
                            "publish reply");
}

absl::Status DeferredReply::RespondError(int code, absl::string_view description,
                                         absl::string_view body) {
  if (responded_) return absl::FailedPreconditionError("already responded to");
  responded_ = true;
  RecordStats(endpoint_, start_, true, code, absl::StrCat(code, ":", description));
  return NatsStatusToStatus(PublishReply(nc_, reply_.c_str(), body,
                                         {{kErrorHeader, std::string(description)},
                                          {kErrorCodeHeader, absl::StrCat(code)}}),
                            "publish reply");
}

void Request::PreferPrompt() {
  if (out_nc_ != nullptr || prompt_nc_ == nullptr) return;
  if (natsConnection_Status(prompt_nc_) != NATS_CONN_STATUS_CONNECTED) return;
  out_nc_ = prompt_nc_;
  out_flush_ = false;
}

absl::Status Request::Flush() {
  natsConnection* out = OutConnection();
  if (out == prompt_nc_) return absl::OkStatus();  // sends at once
  return NatsStatusToStatus(natsConnection_FlushTimeout(out, kBurstFlushTimeoutMs),
                            "flush");
}

absl::Status Request::Forward(absl::string_view subject) {
  if (responded_) {
    return absl::FailedPreconditionError("request was already responded to");
  }
  if (!has_reply()) return absl::FailedPreconditionError("request has no reply subject");
  responded_ = true;
  Record();
  const std::string to(subject);
  natsMsg* out = nullptr;
  natsStatus s = natsMsg_Create(&out, to.c_str(), natsMsg_GetReply(msg_),
                                natsMsg_GetData(msg_), natsMsg_GetDataLength(msg_));
  const char** keys = nullptr;
  int count = 0;
  if (s == NATS_OK && natsMsgHeader_Keys(msg_, &keys, &count) == NATS_OK) {
    for (int i = 0; i < count && s == NATS_OK; ++i) {
      const char** values = nullptr;
      int n = 0;
      if (natsMsgHeader_Values(msg_, keys[i], &values, &n) != NATS_OK) continue;
      for (int j = 0; j < n && s == NATS_OK; ++j) {
        s = natsMsgHeader_Add(out, keys[i], values[j]);
      }
      free(values);
    }
    free(keys);
  }
  natsConnection* out_nc = OutConnection();
  if (s == NATS_OK) s = natsConnection_PublishMsg(out_nc, out);
  natsMsg_Destroy(out);
  if (s == NATS_OK && out_flush_) natsConnection_FlushTimeout(nc_, kBurstFlushTimeoutMs);
  return NatsStatusToStatus(s, "forward request");
}

absl::Status Request::RespondError(int code, absl::string_view description,
                                   absl::string_view body) {
  if (responded_) {
    return absl::FailedPreconditionError("request was already responded to");
  }
  CountError(code, description);
  return Respond(body, {{kErrorHeader, std::string(description)},
                        {kErrorCodeHeader, absl::StrCat(code)}});
}

// ---------------------------------------------------------------------------
// Running handlers

int DefaultErrorCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

namespace internal {

std::string BoundedDescription(absl::string_view description) {
  if (description.size() <= kMaxErrorDescription) return std::string(description);
  size_t cut = kMaxErrorDescription;
  // Do not split a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(description[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(description.substr(0, cut), "... (", description.size(), " bytes)");
}

void WriteHeld(natsConnection* nc, HeldReplies* held, bool end_of_burst) {
  if (held->requests == 0) return;
  if (held->before) {
    held->before([nc](absl::string_view subject, absl::string_view data) {
      if (data.size() > static_cast<size_t>(INT_MAX)) {
        return absl::InvalidArgumentError("message too large");
      }
      const std::string s(subject);
      return NatsStatusToStatus(natsConnection_Publish(nc, s.c_str(), data.data(),
                                                       static_cast<int>(data.size())),
                                "publish");
    });
  }
  // A failed reply means the requester or the connection is gone.
  for (const HeldReplies::Reply& r : held->replies) {
    (void)PublishReply(nc, r.subject.c_str(), r.data, r.headers);
  }
  held->replies.clear();
  held->requests = 0;
  held->bytes = 0;
  if (end_of_burst) natsConnection_FlushTimeout(nc, kBurstFlushTimeoutMs);
}

void WriteHeldIfDue(natsConnection* nc, natsSubscription* sub, HeldReplies* held) {
  if (held == nullptr || held->requests == 0) return;
  int pending = 0;
  const bool end_of_burst =
      natsSubscription_GetPending(sub, &pending, nullptr) != NATS_OK || pending == 0;
  if (end_of_burst || held->requests >= kMaxHeldRequests ||
      held->bytes >= kMaxHeldBytes ||
      std::chrono::steady_clock::now() - held->since >= kMaxHeldAge) {
    WriteHeld(nc, held, end_of_burst);
  }
}

void Dispatcher::Handle(const Handler& handler, Endpoint* endpoint, natsConnection* nc,
                        natsSubscription* sub, natsMsg* msg, HeldReplies* held) const {
  Request request(nc, msg, endpoint, sub, config_.prompt_nc, held);
  absl::Status status;
  std::string thrown;
  try {
    status = handler(request);
  } catch (const std::exception& e) {
    thrown = absl::StrCat("handler failed: ", e.what());
  } catch (...) {
    thrown = "handler failed: unknown exception";
  }
  if (!thrown.empty()) {
    Fail(request, 500, thrown);
  } else if (!status.ok()) {
    const int code =
        config_.error_code ? config_.error_code(status) : DefaultErrorCode(status);
    Fail(request, code, status.message(), status);
  } else if (!request.responded_ && request.has_reply()) {
    Fail(request, 500, "no response");
  }
  request.Record();  // a request without reply subject that got no reply
}

void Dispatcher::Reject(Endpoint* endpoint, natsConnection* nc, natsMsg* msg, int code,
                        absl::string_view description) const {
  Request request(nc, msg, endpoint, nullptr, nullptr);
  Fail(request, code, description);
  request.Record();
}

void Dispatcher::Fail(Request& request, int code, absl::string_view full,
                      const absl::Status& status) const {
  // Descriptions may quote input; error headers, bodies and last_error stay small.
  const std::string description = BoundedDescription(full);
  if (request.responded_) {
    // Replied, then failed: the reply stands; count the error.
    request.CountError(code, description);
    return;
  }
  const std::string body =
      config_.error_body ? config_.error_body(code, description, status) : "";
  // A failed reply means the requester or the connection is gone.
  request.RespondError(code, description, body).IgnoreError();
}

}  // namespace internal
}  // namespace micro
