// The command-line flags every natskv program shares for reaching NATS:
// --server, --name, --creds, --nkey, --user, --password, --token, --tls_ca,
// --tls_cert, --tls_key. The server may come from NATS_URL and secrets from the
// environment instead (NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD,
// NATS_TOKEN), as with the nats CLI.
#ifndef KV_TRANSPORT_FLAGS_H_
#define KV_TRANSPORT_FLAGS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "kv/transport/connection.h"

namespace kv::transport {

// The server used when neither --server nor NATS_URL names one.
inline constexpr char kDefaultServer[] = "nats://127.0.0.1:4222";

// The servers to use: `flag` (--server) when not empty, else `nats_url` (the
// value of NATS_URL; nullptr when unset) when not empty, else kDefaultServer.
std::string ServersFrom(absl::string_view flag, const char* nats_url);

// Sets the program's usage message and makes --help list natskv's own flags
// (these shared ones included) rather than only those of the main file, except
// flags defined in files named *test_flags* (only tests use them; they still
// work, and --helpfull lists them).
// Call before absl::ParseCommandLine.
void SetUsage(absl::string_view message);

// When the command line asks for help (--help, -h, --helpfull), prints it and
// exits 0; otherwise returns. Call after SetUsage, before absl::ParseCommandLine
// (whose own --help exits 1 in this abseil version).
void HandleHelp(int argc, char** argv);

// The options the flags (and environment) give; reconnect policy and logging are
// left for the program to set.
ConnectOptions OptionsFromFlags();

}  // namespace kv::transport

#endif  // KV_TRANSPORT_FLAGS_H_
