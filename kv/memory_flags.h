// kvd's cache policy flags: --max_memory, --eviction (README, "Memory limit"),
// --default_ttl and --dedup_window (README, "Idempotent retries").
#ifndef KV_MEMORY_FLAGS_H_
#define KV_MEMORY_FLAGS_H_

#include <cstddef>
#include <string>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/store/store.h"

ABSL_DECLARE_FLAG(std::string, max_memory);
ABSL_DECLARE_FLAG(std::string, eviction);
ABSL_DECLARE_FLAG(absl::Duration, default_ttl);
ABSL_DECLARE_FLAG(absl::Duration, dedup_window);

namespace kv {

// "0", "1048576", "512KiB", "64MiB", "2GiB", "1TiB" (also KB, MB, GB, TB as powers
// of 1000, and a B suffix; case-insensitive). InvalidArgument on anything else
// or on a size above 2^63.
absl::StatusOr<size_t> ParseBytes(absl::string_view text);
// "allkeys-lru", "volatile-ttl" or "noeviction".
absl::StatusOr<store::Eviction> ParseEviction(absl::string_view text);
// Sets the store's limit, policy, default TTL and dedup window from the flags;
// InvalidArgument naming the flag when one does not parse.
absl::Status ApplyMemoryFlags(store::Limits* limits);

}  // namespace kv

#endif  // KV_MEMORY_FLAGS_H_
