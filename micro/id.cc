#include "micro/id.h"

#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"

namespace micro {

std::string GenerateId() {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  static constexpr int kBase = sizeof(kAlphabet) - 1;  // 62
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();  // never destroyed
  std::string id(kIdLength, '0');
  absl::MutexLock lock(&mu);
  for (char& c : id) c = kAlphabet[absl::Uniform(*gen, 0, kBase)];
  return id;
}

}  // namespace micro
