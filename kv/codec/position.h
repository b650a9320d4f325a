// The position headers of the public API (README.md, "Ordering"): a write's reply
// carries Kv-Position, and a request carrying Kv-After runs only once the node has
// applied that position. A position is a list of operations, one per origin node,
// "<node-hex>:<seq>[,<node-hex>:<seq>...]": the node has applied it when, for
// each origin, it applied every operation up to that seq.
#ifndef KV_CODEC_POSITION_H_
#define KV_CODEC_POSITION_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/store/state.h"

namespace kv::codec {

inline constexpr char kPositionHeader[] = "Kv-Position";
inline constexpr char kAfterHeader[] = "Kv-After";

// The most origins one position may name (a peer is not trusted: bounded).
inline constexpr size_t kMaxPositionEntries = 256;

// Parses a position. Entries are "<node>:<seq>", comma-separated, spaces around
// them ignored: <node> 1 to 16 hex digits (not 0), <seq> a decimal number >= 1.
// An origin named twice keeps the higher seq. Returns InvalidArgument naming
// the header and what is accepted for anything else: empty, more than
// kMaxPositionEntries entries, a malformed entry.
absl::StatusOr<store::VersionVector> ParsePosition(absl::string_view text);

// The text of `position` (as ParsePosition reads it): entries in node order,
// nodes as 16 hex digits. Empty for an empty position.
std::string FormatPosition(const store::VersionVector& position);

// Adds `dot` to `position` (keeping the higher seq of its origin).
void Advance(store::VersionVector* position, const store::Dot& dot);

}  // namespace kv::codec

#endif  // KV_CODEC_POSITION_H_
