// The public API's JSON: requests of kv.<link>.<op> and their replies (the operation
// table is kv/codec/ops.h; README.md documents the API).
//
// JSON is read and written with rapidjson, the engine under cereal's JSON archive,
// used directly here because the API needs two things the archive does not give:
// compact single-line output, and errors that name the missing or mistyped field.
// Input must be valid UTF-8; strings may hold any UTF-8 (including NUL, escaped).
#ifndef KV_CODEC_JSON_H_
#define KV_CODEC_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/codec/ops.h"

namespace kv::codec {

// One entry of an mset request.
struct BatchEntry {
  std::string key;
  std::string value;  // raw bytes (decoded when the request is base64)
  std::optional<double> expires;
};

// The fields of any request; each op fills the ones it takes.
struct ApiRequest {
  std::string key;
  std::string value;                // set, push, list_del, set_add, set_remove
  int64_t delta = 0;                // add ("value" is an integer there)
  std::optional<double> expires;    // set: seconds
  int64_t start = 0;                // range
  int64_t stop = 0;                 // range
  std::vector<std::string> keys;    // set_union, set_intersection
  std::string prefix;               // keys
  uint64_t limit = 0;               // keys (0 = server default)
  std::string cursor;               // keys
  std::vector<BatchEntry> entries;  // mset
  // Conditions (condition.h): set's "if" ("absent" or "present"; empty: none),
  // set's and del's "revision" (the key's expected revision, 0: absent).
  std::string if_state;
  std::optional<uint64_t> revision;
  std::string end;  // pop: "left" or "right" (empty: left)
  // "encoding":"base64" (any op): the request's values were base64 (decoded
  // here) and the reply's values must be too (codec::EncodeValues).
  bool base64 = false;
};

// Parses the body of a request for `op`, with the fields and types of its row in
// the operation table (ops.h). InvalidArgument names the field and the accepted
// form, e.g. "field 'key' must be a non-empty string"; a missing required field
// ("field 'key' is required for get") and an unknown field (usually a typo) are
// errors too. OutOfRange for more than `max_keys` entries in "keys" (or in
// "entries"). "if" and "revision" together are InvalidArgument naming both. Every op also
// takes "encoding" ("base64" or "utf8", encoding.h): with "base64", every "value" string
// (mset's entries' too) must be base64 and is decoded (InvalidArgument naming the field
// otherwise).
absl::StatusOr<ApiRequest> ParseRequest(Op op, absl::string_view body, size_t max_keys);

// The reply of `op` to its result, in the shape and under the field name that the
// operation table (ops.h) gives the op: `bool` for kOk and kBool ops, `int64_t` for
// kInt ops, values for kValues ops. (get and keys have their own shapes, below.)
std::string Reply(Op op, bool result);
std::string Reply(Op op, int64_t result);
std::string Reply(Op op, const std::vector<std::string>& result);

// Reply bodies.
std::string GetReply(const std::optional<std::string>& value);
std::string OkReply();
// `reply` (a JSON object) with "revision":N appended as its last member:
// {"ok":true} -> {"ok":true,"revision":7}.
std::string WithRevision(std::string reply, uint64_t revision);
std::string BoolReply(absl::string_view field, bool value);    // {"deleted":true}
std::string IntReply(absl::string_view field, int64_t value);  // {"length":3}
std::string ValuesReply(absl::string_view field, const std::vector<std::string>& values);
std::string KeysReply(const std::vector<std::string>& keys, absl::string_view cursor);
// {"error":{"code":412,"message":"...","revision":7}}: "revision" only when
// the error carries one (a failed condition: condition.h).
std::string ErrorReply(int code, absl::string_view message,
                       std::optional<uint64_t> revision = std::nullopt);

// One entry of an mget reply: a string or counter has `value`; a key of another
// type has `type` ("list", "set") and no value; an absent key neither.
struct MgetEntry {
  std::string key;
  bool exists = false;
  std::optional<std::string> value;  // already encoded (EncodeValue)
  std::string type;
};
// {"entries":[{"key":"a","exists":true,"value":"x"},{"key":"b","exists":false}]}
std::string MgetReply(const std::vector<MgetEntry>& entries);
// {"ok":true,"count":3}
std::string OkCountReply(absl::string_view field, int64_t count);
// {"exists":bool,"ttl":seconds}: the remaining time to live in seconds
// (milliseconds as fractions), -1 when the key has none (or does not exist).
// A change notification (kv.<link>.changes.<key>), README "Change
// notifications". Text members are written as given: the caller base64-encodes
// the key and value and sets `base64` when either is not UTF-8.
struct ChangeNote {
  std::string key;
  std::string op;  // "set", "del", "add", ..., "evict"
  uint64_t revision = 0;
  std::string type;                  // "string", "counter", "list", "set", "none"
  std::optional<std::string> value;  // a string's value (maybe truncated)
  std::string count_field;           // "value" (counter), "length", "size"; "" = none
  int64_t count = 0;
  std::string origin;  // the node id, 16 hex digits
  uint64_t seq = 0;    // the event's seq (per origin); 0: none (an expiry)
  // The origin's version vector after the change, as Kv-Position text
  // ("" = left out: too many origins).
  std::string vv;
  bool base64 = false;
  bool truncated = false;  // `value` was cut to fit the max payload
};
// {"key","op","revision","type","value"?|"length"?|"size"?,"origin","seq"?,
//  "vv"?,"encoding"?:"base64","truncated"?:true}
std::string ChangeBody(const ChangeNote& note);

// True when `key` can stand as subject tokens after kv.<link>.changes.:
// printable ASCII (0x21..0x7e) without '*' or '>', no empty token (no
// leading, trailing or doubled '.'), and not starting with the token "_b64" or
// "_h" (kvd's notification subjects; kvctl watch's subscriptions).
bool IsSubjectKey(absl::string_view key);
// A watch page: {"entries":[{"key","revision","type","value"?|"length"?|"size"?,
// "encoding"?,"truncated"?}..],"cursor"?,"position"}. `entries` are JSON
// objects, ChangeBody of notes without an op (so without origin, seq and vv).
std::string WatchReply(const std::vector<std::string>& entries, absl::string_view cursor,
                       absl::string_view position);

std::string TtlReply(bool exists, std::optional<double> seconds);

}  // namespace kv::codec

#endif  // KV_CODEC_JSON_H_
