// The operations of the public API, kv.<link>.<op>: the one table of what each
// op is called, what it does, which request fields it takes (with their types,
// required or optional), what it answers and an example request body.
//
// The JSON parser (json.h) takes its per-op field rules from here, kvctl its
// argument shapes, help listing and `nats req` lines, and the tests their
// per-op loops. Pure data: no JSON parsing, no I/O.
#ifndef KV_CODEC_OPS_H_
#define KV_CODEC_OPS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kv::codec {

enum class Op {
  kGet,
  kSet,
  kDel,
  kExists,
  kAdd,
  kPush,
  kRange,
  kListDel,
  kClear,
  kSetAdd,
  kSetRemove,
  kSetQuery,
  kSetUnion,
  kSetIntersection,
  kKeys,
  // Batches (issue 11).
  kMget,
  kMset,
  kMdel,
  // TTL control (issue 11).
  kTtl,
  kExpire,
  kPersist,
  // One winner (issue 12): decided by the key's owner (IsConditional).
  kPop,
  // Change notifications (issue 12).
  kWatch,
};

// The JSON type a request field takes, and what the parser accepts for it.
enum class FieldType {
  kKey,          // a non-empty string
  kString,       // any string (empty included)
  kInt,          // an integer in int64 (5.0 accepted, 5.5 not)
  kSeconds,      // a number > 0
  kPositiveInt,  // an integer in [1, 2^64)
  kKeyList,      // an array of non-empty strings (at most a server limit)
  kEntries,      // mset: an array of {"key","value","expires"?} (at most a limit)
  kChoice,       // one of the strings FieldSpec::choices lists ("absent|present")
  kRevision,     // an integer in [0, 2^64): a key's revision (0: absent)
};

// One field of a request.
struct FieldSpec {
  absl::string_view name;
  FieldType type;
  bool required;
  absl::string_view choices = {};  // kChoice: the accepted strings, '|'-separated
};

// What a successful reply holds.
enum class ReplyShape {
  kGet,      // {"exists": bool, "value": string}
  kOk,       // {"ok": true}
  kBool,     // {<reply_field>: bool}
  kInt,      // {<reply_field>: int}
  kValues,   // {<reply_field>: [string, ...]}
  kKeys,     // {"keys": [string, ...], "cursor"?: string}
  kMget,     // {"entries": [{"key","exists","value"|"type"}, ...]}
  kOkCount,  // {"ok": true, <reply_field>: int}
  kTtl,      // {"exists": bool, "ttl": seconds} (-1: none)
  kWatch,    // {"entries": [{"key","type","revision",...}], "cursor"?, "position"}
};

// One row of the table.
struct OpSpec {
  Op op;
  absl::string_view name;         // "get", "set_add", ...: the last subject token
  absl::string_view summary;      // one line, what the op does and answers
  std::vector<FieldSpec> fields;  // in the order the docs list them
  ReplyShape reply;
  absl::string_view reply_field;  // the member named by kBool/kInt/kValues
  absl::string_view example;      // a valid request body
};

// Every op, in API order (the order of the Op enum).
const std::vector<OpSpec>& OpTable();

// The row of `op`.
const OpSpec& SpecOf(Op op);

// The row named `name`, or nullptr.
const OpSpec* FindSpec(absl::string_view name);

// The field of `spec` named `name`, or nullptr when the op does not take it.
const FieldSpec* FindField(const OpSpec& spec, absl::string_view name);

// The request as the docs write it: {"key", "value": int, "expires"?: seconds}.
std::string RequestDoc(const OpSpec& spec);

// True for the ops whose reply carries the key's "revision" (get and every
// key-level write).
bool CarriesRevision(Op op);

// The reply as the docs write it: {"exists": bool, "value": string,
// "revision": int}.
std::string ReplyDoc(const OpSpec& spec);

// Every operation, in API order.
const std::vector<Op>& AllOps();
// "get", "set_add", ...
absl::string_view OpName(Op op);
// The op named `name`; nullopt for any other text (names are case-sensitive).
std::optional<Op> OpFromName(absl::string_view name);

}  // namespace kv::codec

#endif  // KV_CODEC_OPS_H_
