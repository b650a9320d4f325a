#include "kv/replication/bus.h"

#include "gtest/gtest.h"

namespace kv::replication {
namespace {

TEST(Bus, ValidSubjects) {
  EXPECT_TRUE(IsValidSubject("_kv.default.sync.00000000000000ab"));
  EXPECT_TRUE(IsValidSubject("_kv._INBOX.abc.1"));
  EXPECT_TRUE(IsValidSubject("_kv.default.>", true));
  EXPECT_FALSE(IsValidSubject("_kv.default.>"));
  EXPECT_FALSE(IsValidSubject("a.*"));
}

TEST(Bus, SubjectsThatWouldInjectProtocolAreInvalid) {
  EXPECT_FALSE(IsValidSubject(""));
  EXPECT_FALSE(IsValidSubject("_INBOX.x 0\r\n\r\nUNSUB 1"));
  EXPECT_FALSE(IsValidSubject("a b"));
  EXPECT_FALSE(IsValidSubject("a\tb"));
  EXPECT_FALSE(IsValidSubject("a\nb"));
  EXPECT_FALSE(IsValidSubject(absl::string_view("a\0b", 3)));
  EXPECT_FALSE(IsValidSubject("a\x7f"));
  EXPECT_FALSE(IsValidSubject(".a"));
  EXPECT_FALSE(IsValidSubject("a."));
  EXPECT_FALSE(IsValidSubject("a..b"));
}

}  // namespace
}  // namespace kv::replication
