#include "micro/validate.h"

#include "gtest/gtest.h"

namespace micro {
namespace {

TEST(IsValidName, AcceptsLettersDigitsDashUnderscore) {
  EXPECT_TRUE(IsValidName("kv"));
  EXPECT_TRUE(IsValidName("My-Service_2"));
  EXPECT_TRUE(IsValidName("_"));
}

TEST(IsValidName, RejectsOthers) {
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("a.b"));
  EXPECT_FALSE(IsValidName("a b"));
  EXPECT_FALSE(IsValidName("a*"));
  EXPECT_FALSE(IsValidName("a>"));
  EXPECT_FALSE(IsValidName("caf\xC3\xA9"));
}

TEST(IsValidVersion, AcceptsSemver) {
  for (const char* v :
       {"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7",
        "1.0.0-x.7.z.92", "1.0.0-x-y-z.--", "1.0.0+20130313144700",
        "1.0.0-beta+exp.sha.5114f85", "1.0.0+21AF26D3----117B344092BD",
        "1.1.2-prerelease+meta", "99999999999999999999999.999999999999.99999"}) {
    EXPECT_TRUE(IsValidVersion(v)) << v;
  }
}

TEST(IsValidVersion, RejectsNonSemver) {
  for (const char* v :
       {"", "1", "1.2", "1.2.3.4", "01.1.1", "1.01.1", "1.1.01", "v1.2.3", "1.2.3-",
        "1.2.3+", "1.2.3-0123", "1.2.3-01", "1.2.3+.", "1.2.3 ", " 1.2.3",
        "1.2.3-alpha..1", "1.2.3-alpha_beta", "a.b.c", "1.2.3\n"}) {
    EXPECT_FALSE(IsValidVersion(v)) << v;
  }
}

TEST(IsValidSubject, AcceptsSubjects) {
  EXPECT_TRUE(IsValidSubject("kv.default.get"));
  EXPECT_TRUE(IsValidSubject("kv.*.get"));
  EXPECT_TRUE(IsValidSubject("kv.>"));
  EXPECT_TRUE(IsValidSubject(">"));
  EXPECT_TRUE(IsValidSubject("$SRV.PING"));
}

TEST(IsValidSubject, RejectsMalformed) {
  EXPECT_FALSE(IsValidSubject(""));
  EXPECT_FALSE(IsValidSubject("a..b"));
  EXPECT_FALSE(IsValidSubject(".a"));
  EXPECT_FALSE(IsValidSubject("a."));
  EXPECT_FALSE(IsValidSubject("a b"));
  EXPECT_FALSE(IsValidSubject("a\tb"));
  EXPECT_FALSE(IsValidSubject("a.>.b"));
  EXPECT_FALSE(IsValidSubject("a.b>"));
  EXPECT_FALSE(IsValidSubject("a.b*"));
}

TEST(IsValidQueueGroup, RejectsEmptyAndWhitespace) {
  EXPECT_TRUE(IsValidQueueGroup("q"));
  EXPECT_TRUE(IsValidQueueGroup("workers.1"));
  EXPECT_FALSE(IsValidQueueGroup(""));
  EXPECT_FALSE(IsValidQueueGroup("a b"));
}

}  // namespace
}  // namespace micro
