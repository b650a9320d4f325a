#include "kv/transport/nkey.h"

#include <string>

#include "gtest/gtest.h"

namespace kv::transport {
namespace {

TEST(NKey, DerivesAUserPublicKey) {
  const std::string seed = NKeyUserSeedFromRaw(std::string(32, '\x07'));
  ASSERT_EQ(seed.size(), 58u);
  EXPECT_EQ(seed.substr(0, 2), "SU");
  auto pub = NKeyPublicFromSeed(seed);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(pub->size(), 56u);
  EXPECT_EQ((*pub)[0], 'U');
  // Deterministic, and different seeds give different keys.
  EXPECT_EQ(*NKeyPublicFromSeed(seed), *pub);
  EXPECT_NE(*NKeyPublicFromSeed(NKeyUserSeedFromRaw(std::string(32, '\x08'))), *pub);
}

TEST(NKey, RejectsWhatIsNotAUserSeed) {
  const std::string seed = NKeyUserSeedFromRaw(std::string(32, '\x07'));
  EXPECT_FALSE(NKeyPublicFromSeed("").ok());
  EXPECT_FALSE(NKeyPublicFromSeed("not a seed").ok());
  std::string bad_crc = seed;
  bad_crc[10] = bad_crc[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(NKeyPublicFromSeed(bad_crc).ok());
  EXPECT_FALSE(NKeyPublicFromSeed(*NKeyPublicFromSeed(seed)).ok());  // a public key
}

}  // namespace
}  // namespace kv::transport
