#include "kv/transport/nkey.h"

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>

namespace kv::transport {
namespace {

constexpr uint8_t kSeedPrefix = 18 << 3;  // 'S'
constexpr uint8_t kUserPrefix = 20 << 3;  // 'U'
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

uint16_t Crc16(const std::string& data) {  // CRC-16/XMODEM, as nkeys use
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc ^= static_cast<uint16_t>(c) << 8;
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

std::string Base32Encode(const std::string& in) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

bool Base32Decode(absl::string_view in, std::string* out) {
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      return false;
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out->push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  return true;
}

std::string WithCrc(std::string raw) {
  const uint16_t crc = Crc16(raw);
  raw.push_back(static_cast<char>(crc & 0xff));
  raw.push_back(static_cast<char>(crc >> 8));
  return Base32Encode(raw);
}

}  // namespace

std::string NKeyUserSeedFromRaw(absl::string_view raw32) {
  std::string raw;
  raw.push_back(static_cast<char>(kSeedPrefix | (kUserPrefix >> 5)));
  raw.push_back(static_cast<char>((kUserPrefix & 31) << 3));
  raw.append(raw32.data(), raw32.size());
  return WithCrc(raw);
}

absl::StatusOr<std::string> NKeyPublicFromSeed(absl::string_view seed) {
  const auto bad = absl::InvalidArgumentError(
      "not an nkey user seed (expected the 58-character 'SU...' seed)");
  std::string raw;
  if (!Base32Decode(seed, &raw) || raw.size() != 36) return bad;
  const std::string body = raw.substr(0, 34);
  const uint16_t crc = static_cast<uint8_t>(raw[34]) |
                       static_cast<uint16_t>(static_cast<uint8_t>(raw[35]) << 8);
  if (Crc16(body) != crc) return bad;
  const uint8_t b0 = static_cast<uint8_t>(raw[0]);
  const uint8_t b1 = static_cast<uint8_t>(raw[1]);
  const uint8_t type = static_cast<uint8_t>(((b0 & 7) << 5) | ((b1 & 248) >> 3));
  if ((b0 & 248) != kSeedPrefix || type != kUserPrefix) return bad;

  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                   reinterpret_cast<const unsigned char*>(raw.data() + 2),
                                   32),
      EVP_PKEY_free);
  if (key == nullptr) return bad;
  unsigned char pub[32];
  size_t len = sizeof(pub);
  if (EVP_PKEY_get_raw_public_key(key.get(), pub, &len) != 1 || len != 32) return bad;
  std::string out;
  out.push_back(static_cast<char>(kUserPrefix));
  out.append(reinterpret_cast<const char*>(pub), 32);
  return WithCrc(out);
}

}  // namespace kv::transport
