#include "kv/link_flags.h"

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, notify);

namespace kv {
namespace {

TEST(ParseLinks, ChecksNamesRepeatsAndNotify) {
  auto links = ParseLinks("a, b", "true");
  ASSERT_TRUE(links.ok()) << links.status();
  EXPECT_EQ(*links, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(ParseLinks("a,b", "b").ok());
  EXPECT_TRUE(ParseLinks("a,b", "false").ok());
  EXPECT_FALSE(ParseLinks("", "true").ok());
  EXPECT_FALSE(ParseLinks("a,a", "true").ok());
  EXPECT_FALSE(ParseLinks("a.b", "true").ok());
  const auto unknown = ParseLinks("a,b", "a,c");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'c'"), absl::string_view::npos);
}

TEST(NotifyOn, TrueFalseOrTheListedLinks) {
  EXPECT_TRUE(NotifyOn("true", "a"));
  EXPECT_FALSE(NotifyOn("false", "a"));
  EXPECT_TRUE(NotifyOn("a,b", "b"));
  EXPECT_FALSE(NotifyOn("a,b", "c"));
}

TEST(AnyNotifies, NeedsOneLinkUnderNotify) {
  absl::FlagSaver saver;
  const std::vector<std::string> links = {"a", "b"};
  absl::SetFlag(&FLAGS_notify, "true");
  EXPECT_TRUE(AnyNotifies(links));
  absl::SetFlag(&FLAGS_notify, "b");
  EXPECT_TRUE(AnyNotifies(links));
  EXPECT_FALSE(AnyNotifies({"a"}));
  absl::SetFlag(&FLAGS_notify, "false");
  EXPECT_FALSE(AnyNotifies(links));
}

}  // namespace
}  // namespace kv
