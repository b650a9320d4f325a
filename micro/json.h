// Minimal JSON output for the micro-services discovery responses.
//
// Only writing is supported: discovery responses are small, fixed-shape
// objects, and the service never has to parse JSON. Integers stay integers
// (never floats), and every string is escaped so that the output is valid
// JSON even for arbitrary bytes (invalid UTF-8 becomes U+FFFD).

#ifndef MICRO_JSON_H_
#define MICRO_JSON_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace micro {

// Returns `s` as a JSON string literal, quotes included. `"` and `\` are
// backslash-escaped, control characters use the short escapes (\n, \t, ...)
// or \u00XX, DEL and the line/paragraph separators U+2028/U+2029 are escaped
// as \uXXXX, and each byte of an invalid UTF-8 sequence becomes \ufffd.
std::string JsonQuote(absl::string_view s);

// Streams one JSON value into a string. Commas between members and array
// elements are inserted automatically.
//
// Usage:
//   JsonWriter w;
//   w.BeginObject();
//   w.Key("name"); w.String("svc");
//   w.Key("n"); w.Int(3);
//   w.EndObject();
//   std::string out = w.Take();
//
// REQUIRES: calls form a well-nested value (Key only directly inside an
// object, each Key followed by exactly one value). Violations are programming
// errors and produce malformed output; they are not detected.
//
// Thread safety: a JsonWriter is not thread-safe; use one per thread.
class JsonWriter {
 public:
  JsonWriter() = default;
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  // Writes a member name; the next call writes its value.
  void Key(absl::string_view key);
  void String(absl::string_view value);
  void Int(int64_t value);
  void Bool(bool value);
  void Null();
  // Writes `json` verbatim as one value. REQUIRES: `json` is valid JSON.
  void Raw(absl::string_view json);
  // Writes an object of string members, `{}` when `m` is empty.
  void StringMap(const std::map<std::string, std::string>& m);

  // Returns the text written so far and resets the writer.
  std::string Take();

 private:
  // Emits a comma if a previous value sits at the current nesting level.
  void BeforeValue();

  std::string out_;
  // One entry per open object/array: true once it holds a member/element.
  std::vector<bool> has_items_;
  // True between Key() and the value that follows it.
  bool after_key_ = false;
};

}  // namespace micro

#endif  // MICRO_JSON_H_
