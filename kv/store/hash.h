// A small deterministic 64-bit hash for state digests. Unlike absl::Hash it is the
// same in every process, so digests can be compared between replicas.
#ifndef KV_STORE_HASH_H_
#define KV_STORE_HASH_H_

#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace kv::store::internal {

// The splitmix64 finaliser: a bijective mix with good avalanche.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

class Hasher {
 public:
  explicit Hasher(uint64_t seed) : h_(Mix64(seed)) {}

  Hasher& Add(uint64_t v) {
    h_ = Mix64(h_ ^ (v + 0x9e3779b97f4a7c15ULL + (h_ << 6) + (h_ >> 2)));
    return *this;
  }
  Hasher& Add(absl::string_view s) {
    Add(s.size());
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      Add(w);
    }
    if (i < s.size()) {
      uint64_t w = 0;
      std::memcpy(&w, s.data() + i, s.size() - i);
      Add(w);
    }
    return *this;
  }
  uint64_t value() const { return Mix64(h_); }

 private:
  uint64_t h_;
};

}  // namespace kv::store::internal

#endif  // KV_STORE_HASH_H_
