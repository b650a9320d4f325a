// How values travel in the public API's JSON: as UTF-8 text (the default), or
// as base64 when a request says "encoding":"base64" (binary values). Values are
// stored as raw bytes either way; keys are always UTF-8 text.
#ifndef KV_CODEC_ENCODING_H_
#define KV_CODEC_ENCODING_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kv::codec {

// The request member that selects the values' encoding, accepted by every op.
inline constexpr absl::string_view kEncodingField = "encoding";
// Its values: "base64" (standard alphabet, with padding) or "utf8" (the default).
inline constexpr absl::string_view kBase64 = "base64";
inline constexpr absl::string_view kUtf8 = "utf8";

// The status payload (type URL) that carries an API error code other than the
// canonical mapping (service::ErrorCode reads it), e.g. "422".
inline constexpr absl::string_view kApiCodePayload = "natskv/api-code";
// The code of a value that is not valid UTF-8, read without base64.
inline constexpr int kNotUtf8Code = 422;
// The status payload that carries the key's current revision (decimal) with an
// error: a failed condition (412, condition.h) answers it in the error body.
inline constexpr absl::string_view kRevisionPayload = "natskv/revision";

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF.
bool ValidUtf8(absl::string_view s);

// Decodes standard base64 with padding (RFC 4648 section 4; length a multiple of
// 4, no whitespace). InvalidArgument naming `field` otherwise.
absl::StatusOr<std::string> DecodeBase64(absl::string_view field, absl::string_view text);

// Makes stored values ready for a reply: base64-encodes each when `base64`;
// otherwise checks that each is valid UTF-8, and fails with a status that
// service::ErrorCode maps to kNotUtf8Code (422), naming the value ("the value of
// key 'k'", or "a value of the reply" when `key` is empty: set_union,
// set_intersection) and how to read it ("encoding":"base64").
absl::Status EncodeValues(bool base64, absl::string_view key,
                          std::vector<std::string>* values);
absl::Status EncodeValue(bool base64, absl::string_view key, std::string* value);

// The error EncodeValue returns for non-UTF-8 bytes.
absl::Status NotUtf8Error(absl::string_view what);

// `s` as an error message quotes it: at most 64 bytes, C-escaped, with the full
// length when cut.
std::string Shown(absl::string_view s);

}  // namespace kv::codec

#endif  // KV_CODEC_ENCODING_H_
