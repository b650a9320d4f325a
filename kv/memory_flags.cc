#include "kv/memory_flags.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, max_memory, "0",
          "memory limit of each link's store, in bytes (suffixes KiB, MiB, GiB, TiB; "
          "0 = no limit); see --eviction");
ABSL_FLAG(absl::Duration, default_ttl, absl::ZeroDuration(),
          "time to live of keys created without one (set, add, push, set_add, mset); "
          "0 = none");
ABSL_FLAG(absl::Duration, dedup_window, absl::Minutes(2),
          "how long a write carrying a Nats-Msg-Id header is remembered: a retry of "
          "the id on any node within it is answered the first reply with "
          "\"duplicate\":true and applies nothing; 0 = off (the header is ignored)");
ABSL_FLAG(std::string, eviction, "allkeys-lru",
          "over --max_memory: allkeys-lru (evict the least recently used keys), "
          "volatile-ttl (keys with a TTL, soonest expiry first) or noeviction "
          "(refuse writes with 507; reads and deletes work)");

namespace kv {

absl::StatusOr<size_t> ParseBytes(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  static constexpr std::pair<absl::string_view, uint64_t> kSuffixes[] = {
      {"kib", 1ull << 10},   {"mib", 1ull << 20},      {"gib", 1ull << 30},
      {"tib", 1ull << 40},   {"kb", 1000ull},          {"mb", 1000000ull},
      {"gb", 1000000000ull}, {"tb", 1000000000000ull}, {"b", 1}};
  absl::string_view digits = lower;
  uint64_t unit = 1;
  for (const auto& [suffix, factor] : kSuffixes) {
    if (absl::EndsWith(digits, suffix)) {
      digits.remove_suffix(suffix.size());
      unit = factor;
      break;
    }
  }
  uint64_t n = 0;
  if (digits.empty() || !absl::SimpleAtoi(digits, &n) ||
      n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / unit) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text,
                     "' is not a size: a number of bytes, optionally with KiB, MiB, GiB "
                     "or TiB"));
  }
  return static_cast<size_t>(n * unit);
}

absl::StatusOr<store::Eviction> ParseEviction(absl::string_view text) {
  if (text == "allkeys-lru") return store::Eviction::kAllKeysLru;
  if (text == "volatile-ttl") return store::Eviction::kVolatileTtl;
  if (text == "noeviction") return store::Eviction::kNoEviction;
  return absl::InvalidArgumentError(absl::StrCat(
      "'", text, "' is not a policy: allkeys-lru, volatile-ttl or noeviction"));
}

absl::Status ApplyMemoryFlags(store::Limits* limits) {
  absl::StatusOr<size_t> bytes = ParseBytes(absl::GetFlag(FLAGS_max_memory));
  if (!bytes.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("--max_memory: ", bytes.status().message()));
  absl::StatusOr<store::Eviction> eviction = ParseEviction(absl::GetFlag(FLAGS_eviction));
  if (!eviction.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("--eviction: ", eviction.status().message()));
  const absl::Duration default_ttl = absl::GetFlag(FLAGS_default_ttl);
  if (default_ttl < absl::ZeroDuration() || default_ttl > absl::Hours(24 * 365 * 100)) {
    return absl::InvalidArgumentError(
        "--default_ttl: must be 0 (none) or a positive duration of at most 100 years");
  }
  limits->max_memory_bytes = *bytes;
  limits->eviction = *eviction;
  limits->default_ttl = default_ttl;
  const absl::Duration dedup_window = absl::GetFlag(FLAGS_dedup_window);
  if (dedup_window < absl::ZeroDuration() || dedup_window > absl::Hours(24)) {
    return absl::InvalidArgumentError(
        "--dedup_window: must be 0 (off) or a positive duration of at most 24h");
  }
  limits->dedup_window = dedup_window;
  return absl::OkStatus();
}

}  // namespace kv
