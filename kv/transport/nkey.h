// NATS nkeys: nats.c needs a user's public key next to its seed file; this derives
// the public key from the seed (Ed25519 through OpenSSL).
#ifndef KV_TRANSPORT_NKEY_H_
#define KV_TRANSPORT_NKEY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kv::transport {

// "SU..." seed -> "U..." public key. InvalidArgument for anything else.
absl::StatusOr<std::string> NKeyPublicFromSeed(absl::string_view seed);

// Encodes 32 raw bytes as a user seed ("SU..."): for tests that need a fresh key.
std::string NKeyUserSeedFromRaw(absl::string_view raw32);

}  // namespace kv::transport

#endif  // KV_TRANSPORT_NKEY_H_
