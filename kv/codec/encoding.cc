#include "kv/codec/encoding.h"

#include <cstdint>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace kv::codec {

bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

namespace {

bool Base64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

}  // namespace

absl::StatusOr<std::string> DecodeBase64(absl::string_view field,
                                         absl::string_view text) {
  bool ok = text.size() % 4 == 0;
  size_t pad = 0;
  while (ok && pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  for (size_t i = 0; ok && i < text.size() - pad; ++i) ok = Base64Char(text[i]);
  std::string out;
  if (!ok || !absl::Base64Unescape(text, &out)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field '", field,
        "' must be base64 (standard alphabet, padded with '=') as \"encoding\" is "
        "\"base64\"; got '",
        Shown(text), "'"));
  }
  return out;
}

absl::Status NotUtf8Error(absl::string_view what) {
  absl::Status s = absl::FailedPreconditionError(absl::StrCat(
      what, " is not valid UTF-8 (binary): read it with \"encoding\":\"base64\""));
  s.SetPayload(kApiCodePayload, absl::Cord(absl::StrCat(kNotUtf8Code)));
  return s;
}

absl::Status EncodeValue(bool base64, absl::string_view key, std::string* value) {
  if (base64) {
    *value = absl::Base64Escape(*value);
    return absl::OkStatus();
  }
  if (ValidUtf8(*value)) return absl::OkStatus();
  // The message is built only on this path: reads that succeed pay nothing.
  return NotUtf8Error(key.empty() ? std::string("a value of the reply")
                                  : absl::StrCat("the value of key '", Shown(key), "'"));
}

absl::Status EncodeValues(bool base64, absl::string_view key,
                          std::vector<std::string>* values) {
  for (std::string& v : *values) {
    if (absl::Status s = EncodeValue(base64, key, &v); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string Shown(absl::string_view s) {
  constexpr size_t kMax = 64;
  std::string shown = absl::CHexEscape(s.substr(0, kMax));
  if (s.size() > kMax) absl::StrAppend(&shown, "... (", s.size(), " bytes)");
  return shown;
}

}  // namespace kv::codec
