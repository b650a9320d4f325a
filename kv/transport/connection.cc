#include "kv/transport/connection.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "kv/transport/nkey.h"

namespace kv::transport {

// Why the connection failed last (e.g. the server's "Authorization Violation").
std::string LastError(natsConnection* nc) {
  const char* text = nullptr;
  const natsStatus s = natsConnection_GetLastError(nc, &text);
  if (s == NATS_OK) return "";
  return absl::StrCat(": ", text != nullptr && *text ? text : natsStatus_GetText(s));
}

namespace {

using Callbacks = ConnectionCallbacks;

void Log(void* closure, absl::string_view line) {
  auto* cb = static_cast<Callbacks*>(closure);
  if (cb != nullptr && cb->log) cb->log(line);
}

std::string Url(natsConnection* nc) {
  char buf[256];
  if (natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)) == NATS_OK && buf[0]) {
    return RedactUrls(buf);
  }
  return "(none)";
}

void OnDisconnected(natsConnection* nc, void* closure) {
  (void)nc;
  Log(closure, "nats: disconnected; reconnecting");
}
void OnReconnected(natsConnection* nc, void* closure) {
  Log(closure,
      absl::StrCat("nats: reconnected to ", Url(nc), "; subscriptions restored"));
  auto* cb = static_cast<Callbacks*>(closure);
  if (cb->on_reconnected) cb->on_reconnected();
}
void OnConnected(natsConnection* nc, void* closure) {
  Log(closure, absl::StrCat("nats: connected to ", Url(nc)));
}
void OnClosed(natsConnection* nc, void* closure) {
  Log(closure, absl::StrCat("nats: connection closed", LastError(nc)));
  auto* cb = static_cast<Callbacks*>(closure);
  if (cb->on_closed) cb->on_closed();
  // The last touch: nats.c calls nothing after the closed callback, and the
  // deleter frees `cb` once it sees this.
  cb->closed.store(true, std::memory_order_release);
}
void OnError(natsConnection* nc, natsSubscription* sub, natsStatus err, void* closure) {
  (void)nc;
  (void)sub;
  const char* last = nats_GetLastError(nullptr);
  Log(closure,
      absl::StrCat("nats: asynchronous error: ", natsStatus_GetText(err),
                   last != nullptr && *last ? absl::StrCat(" (", last, ")") : ""));
}

int64_t ReconnectDelay(natsConnection* nc, int attempts, void* closure) {
  (void)nc;
  (void)closure;
  thread_local absl::BitGen gen;
  return absl::ToInt64Milliseconds(ReconnectBackoff(attempts, gen));
}

// The absl code of a failed nats.c call made here (options and connect), as
// Connect() documents: Unavailable when no server answers, PermissionDenied when
// the server refuses the credentials, InvalidArgument for unusable settings.
absl::StatusCode CodeOf(natsStatus s) {
  switch (s) {
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_IO_ERROR:
      return absl::StatusCode::kUnavailable;
    case NATS_TIMEOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case NATS_INVALID_ARG:
    case NATS_INVALID_TIMEOUT:
    case NATS_ADDRESS_MISSING:
      return absl::StatusCode::kInvalidArgument;
    case NATS_NOT_PERMITTED:
    case NATS_CONNECTION_AUTH_FAILED:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInternal;
  }
}

// nats.c's status as an absl::Status ("<what>: <nats.c text>"), with nats.c's
// last error text (e.g. the server's "Authorization Violation") when it has one.
absl::Status FromNats(natsStatus s, absl::string_view what) {
  if (s == NATS_OK) return absl::OkStatus();
  absl::Status status(CodeOf(s), absl::StrCat(what, ": ", natsStatus_GetText(s)));
  const char* last = nats_GetLastError(nullptr);
  if (last == nullptr || *last == 0) return status;
  // nats.c's text often repeats the status ("(conn.c:2088): No server ..."):
  // add it only when it says more.
  if (absl::StrContains(last, natsStatus_GetText(s))) return status;
  return absl::Status(status.code(), absl::StrCat(status.message(), " (", last, ")"));
}

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path);
  if (!in)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", what, " file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string RedactUrls(absl::string_view servers) {
  std::vector<std::string> urls;
  for (absl::string_view url : absl::StrSplit(servers, ',')) {
    // The authority starts after "scheme://" (or at the start) and ends at the
    // first '/'; its user info ends at its last '@'.
    const size_t scheme = url.find("://");
    const size_t start = scheme == absl::string_view::npos ? 0 : scheme + 3;
    const size_t slash = url.find('/', start);
    const absl::string_view authority =
        url.substr(start, slash == absl::string_view::npos ? url.npos : slash - start);
    const size_t at = authority.rfind('@');
    if (at == absl::string_view::npos) {
      urls.emplace_back(url);
    } else {
      urls.push_back(absl::StrCat(url.substr(0, start), "***", url.substr(start + at)));
    }
  }
  return absl::StrJoin(urls, ",");
}

absl::Duration ReconnectBackoff(int attempts, absl::BitGenRef gen) {
  int64_t ms = 100;
  for (int i = 1; i < attempts && ms < 2000; ++i) ms *= 2;
  if (ms > 2000) ms = 2000;
  return absl::Milliseconds(ms) * absl::Uniform(gen, 0.8, 1.2);
}

void ApplyEnvironment(ConnectOptions* o) {
  auto env = [](const char* name, std::string* field) {
    const char* v = std::getenv(name);
    if (field->empty() && v != nullptr) *field = v;
  };
  env("NATS_CREDS", &o->creds_file);
  env("NATS_NKEY", &o->nkey_seed_file);
  env("NATS_USER", &o->user);
  env("NATS_PASSWORD", &o->password);
  env("NATS_TOKEN", &o->token);
}

void ConnectionDeleter::operator()(natsConnection* nc) const {
  if (nc == nullptr) return;
  natsConnection_Close(nc);
  // nats.c runs the closed callback on its own thread; the callbacks must live
  // until it has run. Should it not come (it always does), they are left.
  bool closed = callbacks == nullptr;
  for (int i = 0; i < 2000 && !closed; ++i) {
    closed = callbacks->closed.load(std::memory_order_acquire);
    if (!closed) absl::SleepFor(absl::Milliseconds(1));
  }
  natsConnection_Destroy(nc);
  if (closed) delete callbacks;
}

absl::Status CheckOptions(const ConnectOptions& o) {
  const int auth_methods = !o.creds_file.empty() + !o.nkey_seed_file.empty() +
                           (!o.user.empty() || !o.password.empty()) + !o.token.empty();
  if (auth_methods > 1) {
    return absl::InvalidArgumentError(
        "use one of --creds, --nkey, --user/--password, --token");
  }
  if (o.tls_key.empty() != o.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key go together: give both (a client certificate and "
        "its key) or neither");
  }
  return absl::OkStatus();
}

ConnectOptions CompanionOptions(const ConnectOptions& options, absl::string_view role) {
  ConnectOptions o = options;
  o.name = absl::StrCat(options.name, "-", role);
  if (options.log) {
    o.log = [log = options.log, prefix = absl::StrCat(role, ": ")](
                absl::string_view line) { log(absl::StrCat(prefix, line)); };
  }
  o.on_closed = nullptr;
  o.on_reconnected = nullptr;
  return o;
}

absl::StatusOr<Connection> Connect(const ConnectOptions& o) {
  if (absl::Status s = CheckOptions(o); !s.ok()) return s;
  natsOptions* opts = nullptr;
  if (natsOptions_Create(&opts) != NATS_OK) {
    return absl::InternalError("cannot allocate NATS options");
  }
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> guard(opts, natsOptions_Destroy);

  std::vector<std::string> urls;
  for (absl::string_view u : absl::StrSplit(o.servers, ',', absl::SkipWhitespace())) {
    urls.emplace_back(absl::StripAsciiWhitespace(u));
  }
  if (urls.empty())
    return absl::InvalidArgumentError("--server must name at least one URL");
  std::vector<const char*> url_ptrs;
  for (const std::string& u : urls) url_ptrs.push_back(u.c_str());
  absl::Status s = FromNats(
      natsOptions_SetServers(opts, url_ptrs.data(), static_cast<int>(url_ptrs.size())),
      "invalid --server");
  if (!s.ok()) return absl::InvalidArgumentError(s.message());

  if (!o.name.empty()) natsOptions_SetName(opts, o.name.c_str());
  natsOptions_SetTimeout(opts, absl::ToInt64Milliseconds(o.timeout));
  if (o.send_asap) natsOptions_SetSendAsap(opts, true);
  if (o.no_echo) natsOptions_SetNoEcho(opts, true);

  if (!o.creds_file.empty()) {
    if (auto f = ReadFile(o.creds_file, "credentials"); !f.ok()) return f.status();
    s = FromNats(
        natsOptions_SetUserCredentialsFromFiles(opts, o.creds_file.c_str(), nullptr),
        "invalid --creds");
    if (!s.ok()) return absl::InvalidArgumentError(s.message());
  }
  if (!o.nkey_seed_file.empty()) {
    auto seed = ReadFile(o.nkey_seed_file, "nkey seed");
    if (!seed.ok()) return seed.status();
    auto pub = NKeyPublicFromSeed(absl::StripAsciiWhitespace(*seed));
    if (!pub.ok()) return pub.status();
    s = FromNats(
        natsOptions_SetNKeyFromSeed(opts, pub->c_str(), o.nkey_seed_file.c_str()),
        "invalid --nkey");
    if (!s.ok()) return absl::InvalidArgumentError(s.message());
  }
  if (!o.user.empty() || !o.password.empty()) {
    natsOptions_SetUserInfo(opts, o.user.c_str(), o.password.c_str());
  }
  if (!o.token.empty()) natsOptions_SetToken(opts, o.token.c_str());
  if (!o.tls_ca.empty() || !o.tls_cert.empty()) {
    natsOptions_SetSecure(opts, true);
    if (!o.tls_ca.empty()) {
      s = FromNats(natsOptions_LoadCATrustedCertificates(opts, o.tls_ca.c_str()),
                   "cannot load --tls_ca");
      if (!s.ok()) return absl::InvalidArgumentError(s.message());
    }
    if (!o.tls_cert.empty() || !o.tls_key.empty()) {
      s = FromNats(
          natsOptions_LoadCertificatesChain(opts, o.tls_cert.c_str(), o.tls_key.c_str()),
          "cannot load --tls_cert/--tls_key");
      if (!s.ok()) return absl::InvalidArgumentError(s.message());
    }
  }

  // Owned by the returned connection's deleter: nats.c keeps the pointer for its
  // callbacks until the closed callback has run.
  auto* callbacks = new Callbacks{o.log, o.on_closed, o.on_reconnected};
  natsOptions_SetDisconnectedCB(opts, OnDisconnected, callbacks);
  natsOptions_SetReconnectedCB(opts, OnReconnected, callbacks);
  natsOptions_SetClosedCB(opts, OnClosed, callbacks);
  natsOptions_SetErrorHandler(opts, OnError, callbacks);
  if (o.reconnect_forever) {
    natsOptions_SetMaxReconnect(opts, -1);
    natsOptions_SetCustomReconnectDelay(opts, ReconnectDelay, nullptr);
    // Keep what is published while reconnecting (replies and events), up to 64 MiB.
    natsOptions_SetReconnectBufSize(opts, 64 << 20);
  } else {
    natsOptions_SetAllowReconnect(opts, false);
  }

  // A first attempt tells "no server yet" (worth retrying) from a refusal such
  // as bad credentials (not worth it, and only this attempt reports why).
  natsConnection* nc = nullptr;
  natsStatus st = natsConnection_Connect(&nc, opts);
  const bool unreachable = st == NATS_NO_SERVER || st == NATS_TIMEOUT ||
                           st == NATS_IO_ERROR || st == NATS_CONNECTION_CLOSED;
  if (st != NATS_OK && unreachable && o.reconnect_forever) {
    Log(callbacks, absl::StrCat("nats: no server reachable at ", RedactUrls(o.servers),
                                " yet; retrying in the background"));
    natsOptions_SetRetryOnFailedConnect(opts, true, OnConnected, callbacks);
    st = natsConnection_Connect(&nc, opts);
    if (st == NATS_NOT_YET_CONNECTED) st = NATS_OK;
  } else if (st == NATS_OK) {
    Log(callbacks, absl::StrCat("nats: connected to ", Url(nc)));
  }
  if (st != NATS_OK) {
    delete callbacks;
    return FromNats(st, absl::StrCat("cannot connect to ", RedactUrls(o.servers)));
  }
  return Connection(nc, ConnectionDeleter{callbacks});
}

}  // namespace kv::transport
