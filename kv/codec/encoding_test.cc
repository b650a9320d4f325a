#include "kv/codec/encoding.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kv::codec {
namespace {

TEST(Base64, DecodesThePaddedStandardAlphabetOnly) {
  EXPECT_EQ(*DecodeBase64("value", ""), "");
  EXPECT_EQ(*DecodeBase64("value", "aGk="), "hi");
  EXPECT_EQ(*DecodeBase64("value", "aGkh"), "hi!");
  EXPECT_EQ(*DecodeBase64("value", "+/8="), std::string("\xfb\xff", 2));
  for (const char* bad : {"aGk", "aGk=a", "a===", "-_8=", "aG k=", "aGk=\n", "=aGk"}) {
    auto r = DecodeBase64("entries[2].value", bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("field 'entries[2].value' must be base64"),
              std::string::npos)
        << r.status();
  }
}

TEST(EncodeValues, Base64OrCheckedUtf8With422) {
  std::vector<std::string> values = {std::string("\0\xff", 2), "hi"};
  ASSERT_TRUE(EncodeValues(true, "x", &values).ok());
  EXPECT_EQ(values, (std::vector<std::string>{"AP8=", "aGk="}));

  std::string text = "h\xC3\xA9";
  EXPECT_TRUE(EncodeValue(false, "x", &text).ok());
  EXPECT_EQ(text, "h\xC3\xA9");

  std::vector<std::string> binary = {"ok", "\xff"};
  EXPECT_NE(EncodeValues(false, "", &binary).message().find("a value of the reply"),
            std::string::npos);
  absl::Status s = EncodeValues(false, "k", &binary);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "the value of key 'k' is not valid UTF-8 (binary): read it with "
            "\"encoding\":\"base64\"");
  ASSERT_TRUE(s.GetPayload(kApiCodePayload).has_value());
  EXPECT_EQ(std::string(*s.GetPayload(kApiCodePayload)), "422");
}

TEST(ValidUtf8, RefusesSurrogatesOverlongAndTruncated) {
  EXPECT_TRUE(ValidUtf8("a\xF0\x9F\x98\x80"));
  EXPECT_FALSE(ValidUtf8("\xED\xA0\x80"));  // U+D800
  EXPECT_FALSE(ValidUtf8("\xC0\xAF"));      // overlong '/'
  EXPECT_FALSE(ValidUtf8("\xE4\xB8"));      // truncated
}

}  // namespace
}  // namespace kv::codec
