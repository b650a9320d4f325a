// The command-line flags every natskv program shares for reaching NATS:
// --server, --name, --creds, --nkey, --user, --password, --token, --tls_ca,
// --tls_cert, --tls_key. Secrets may come from the environment instead
// (NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD, NATS_TOKEN).
#ifndef KV_TRANSPORT_FLAGS_H_
#define KV_TRANSPORT_FLAGS_H_

#include "absl/strings/string_view.h"
#include "kv/transport/connection.h"

namespace kv::transport {

// Sets the program's usage message and makes --help list natskv's own flags
// (these shared ones included) rather than only those of the main file.
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
