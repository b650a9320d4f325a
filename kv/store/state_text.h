// Readable, canonical text of replicated state, for tests and diagnostics:
// two key states print alike exactly when they are equal (lists sorted).
#ifndef KV_STORE_STATE_TEXT_H_
#define KV_STORE_STATE_TEXT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "kv/store/state.h"

namespace kv::store::text {

// A quoted, C-escaped string.
std::string Esc(absl::string_view s);
std::string StampStr(const Stamp& s);
std::string DotStr(const Dot& d);
// Every field of a key's state ("<no entry>" for nullopt), one atom a line.
std::string KeyStateText(const std::optional<KeyState>& ks);

}  // namespace kv::store::text

#endif  // KV_STORE_STATE_TEXT_H_
