#include "kv/codec/position.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kv::codec {
namespace {

absl::Status Invalid(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "header '", kAfterHeader, "' ", why, ": it must be a position as returned in '",
      kPositionHeader, "', i.e. <node-hex>:<seq>[,<node-hex>:<seq>...]"));
}

bool AllHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
}

bool AllDigits(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

}  // namespace

absl::StatusOr<store::VersionVector> ParsePosition(absl::string_view text) {
  if (text.size() > kMaxPositionEntries * 40) return Invalid("is too long");
  store::VersionVector position;
  size_t entries = 0;
  for (absl::string_view entry : absl::StrSplit(text, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (++entries > kMaxPositionEntries) {
      return Invalid(absl::StrCat("names more than ", kMaxPositionEntries, " nodes"));
    }
    const size_t colon = entry.find(':');
    if (colon == absl::string_view::npos) return Invalid("has an entry without ':'");
    const absl::string_view node_text = entry.substr(0, colon);
    const absl::string_view seq_text = entry.substr(colon + 1);
    store::NodeId node = 0;
    uint64_t seq = 0;
    if (node_text.empty() || node_text.size() > 16 || !AllHex(node_text) ||
        !absl::SimpleHexAtoi(node_text, &node) || node == 0) {
      return Invalid("has an invalid node (1 to 16 hex digits, not 0)");
    }
    if (seq_text.empty() || seq_text.size() > 20 || !AllDigits(seq_text) ||
        !absl::SimpleAtoi(seq_text, &seq) || seq == 0) {
      return Invalid("has an invalid seq (a decimal number >= 1)");
    }
    Advance(&position, store::Dot{node, seq});
  }
  return position;
}

std::string FormatPosition(const store::VersionVector& position) {
  std::vector<std::string> entries;
  entries.reserve(position.size());
  for (const auto& [node, seq] : position) {
    entries.push_back(absl::StrFormat("%016x:%d", node, seq));
  }
  return absl::StrJoin(entries, ",");
}

void Advance(store::VersionVector* position, const store::Dot& dot) {
  uint64_t& seq = (*position)[dot.node];
  seq = std::max(seq, dot.seq);
}

}  // namespace kv::codec
