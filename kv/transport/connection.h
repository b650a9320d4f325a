// Connecting to NATS: one place that turns user settings (servers, auth, TLS,
// reconnect policy) into a nats.c connection, for kvd and the CLIs alike.
#ifndef KV_TRANSPORT_CONNECTION_H_
#define KV_TRANSPORT_CONNECTION_H_

#include <nats/nats.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kv::transport {

struct ConnectOptions {
  // Comma-separated server URLs.
  std::string servers = "nats://127.0.0.1:4222";
  // Connection name, shown by the server's monitoring.
  std::string name;

  // Authentication (at most one of creds / nkey / user+password / token).
  std::string creds_file;      // a .creds file (JWT + seed)
  std::string nkey_seed_file;  // a file holding an nkey seed ("SU...")
  std::string user;
  std::string password;
  std::string token;

  // TLS: a CA to verify the server, and a client certificate + key when required.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;

  // Services reconnect forever (with backoff) and retry the first connect too;
  // command-line tools fail fast.
  bool reconnect_forever = false;
  absl::Duration timeout = absl::Seconds(2);
  // Send every publish at once instead of through nats.c's flusher.
  bool send_asap = false;
  // Do not deliver to this connection's subscriptions what it publishes itself
  // (NATS no_echo).
  bool no_echo = false;

  // Receives one line per connection event (disconnected, reconnected, closed,
  // asynchronous errors). Called on nats.c threads; must be thread-safe.
  std::function<void(absl::string_view)> log;
  // Called (on a nats.c thread) when the connection is closed for good: by
  // Close, or because nats.c gave up (e.g. the server refused the credentials).
  std::function<void()> on_closed;
  // Called (on a nats.c thread) each time the connection is re-established after
  // a loss, once the subscriptions are restored.
  std::function<void()> on_reconnected;
};

// Fills the secrets left empty from the environment: NATS_CREDS, NATS_NKEY (seed
// file), NATS_USER, NATS_PASSWORD, NATS_TOKEN.
void ApplyEnvironment(ConnectOptions* options);

// What nats.c calls back with for one connection (its closure).
struct ConnectionCallbacks {
  std::function<void(absl::string_view)> log;
  std::function<void()> on_closed;
  std::function<void()> on_reconnected;
  std::atomic<bool> closed{false};  // the closed callback has run
};

// Owns a connection and its callbacks: closes the connection, waits (at most 2 s)
// for nats.c's closed callback, destroys the connection and frees the callbacks.
struct ConnectionDeleter {
  ConnectionCallbacks* callbacks = nullptr;
  void operator()(natsConnection* nc) const;
};
using Connection = std::unique_ptr<natsConnection, ConnectionDeleter>;

// `servers` (comma-separated URLs) fit for a log line: the user info of each URL
// (user:password@ or token@) is replaced by "***@".
std::string RedactUrls(absl::string_view servers);

// The reason the connection failed or closed, as nats.c last saw it ("" if none).
std::string LastError(natsConnection* nc);

// The wait before reconnect attempt `attempts` (1, 2, ...) of a service: 100 ms
// doubling to 2 s, each scaled by a random factor in [0.8, 1.2) so that nodes that
// lost the same server do not all come back in the same instant. The cap keeps a
// restarted server's nodes back within a joining node's first-replica silence
// (3 s; docs/replication.md, "Joining").
absl::Duration ReconnectBackoff(int attempts, absl::BitGenRef gen);

// Checks settings that cannot work, before any connection: two authentication
// methods, a TLS key without its certificate or the reverse. InvalidArgument names
// the flags. Connect() checks them too.
absl::Status CheckOptions(const ConnectOptions& options);

// The options of a further connection of the same client, "<name>-<role>": its
// log lines start with "<role>: ", and it has no close or reconnect handlers
// (the first connection's decide for the client).
ConnectOptions CompanionOptions(const ConnectOptions& options, absl::string_view role);

// Connects. Errors: InvalidArgument for unusable settings (unreadable files, two
// auth methods), Unavailable when no server answers, PermissionDenied when the
// server rejects the credentials.
// With reconnect_forever, returns as soon as the connection is set up; if no
// server is reachable yet, it keeps trying in the background (logged); a server
// that refuses the connection (credentials) is an error at once.
absl::StatusOr<Connection> Connect(const ConnectOptions& options);

}  // namespace kv::transport

#endif  // KV_TRANSPORT_CONNECTION_H_
