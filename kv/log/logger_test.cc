#include "kv/log/logger.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace kv::log {
namespace {

const absl::Time kT0 = absl::FromUnixMillis(1764670709123);  // 2025-12-02T10:18:29.123Z

struct Capture {
  std::vector<std::string> lines;
  absl::Time now = kT0;
  Logger Make(Format format) {
    return Logger(
        "kvd", format, [this](absl::string_view l) { lines.emplace_back(l); },
        [this] { return now; });
  }
};

TEST(Logger, TextLinesKeepTheirFormat) {
  Capture c;
  Logger logger = c.Make(Format::kText);
  logger.Log(Level::kInfo, "default", "serving kv.default.*");
  EXPECT_EQ(c.lines, std::vector<std::string>{
                         "2025-12-02T10:18:29.123Z kvd: serving kv.default.*"});
}

TEST(Logger, JsonLinesCarryLevelAndLink) {
  Capture c;
  Logger logger = c.Make(Format::kJson);
  logger.Log(Level::kWarning, "sessions", "peer 00ab lost");
  logger.Log(Level::kError, "", "cannot connect");
  ASSERT_EQ(c.lines.size(), 2u);
  EXPECT_EQ(c.lines[0],
            R"({"time":"2025-12-02T10:18:29.123Z","level":"warning","link":"sessions",)"
            R"("message":"peer 00ab lost"})");
  EXPECT_EQ(c.lines[1], R"({"time":"2025-12-02T10:18:29.123Z","level":"error",)"
                        R"("message":"cannot connect"})");
}

TEST(Logger, JsonLinesAreRateLimitedAndSummarised) {
  Capture c;
  Logger logger = c.Make(Format::kJson);
  for (int i = 0; i < 100; ++i) {
    logger.Log(Level::kInfo, "default", absl::StrCat("served catch-up to ", i));
  }
  EXPECT_EQ(c.lines.size(), 5u);
  c.now = kT0 + absl::Seconds(11);
  logger.Flush();
  ASSERT_EQ(c.lines.size(), 6u);
  EXPECT_TRUE(absl::StrContains(c.lines[5], R"("level":"info")")) << c.lines[5];
  EXPECT_TRUE(absl::StrContains(c.lines[5], "95 more like this")) << c.lines[5];
  EXPECT_TRUE(absl::StartsWith(c.lines[5], R"({"time":"2025-12-02T10:18:40.123Z")"))
      << c.lines[5];
}

TEST(ParseFormat, TextJsonOrError) {
  EXPECT_EQ(*ParseFormat("text"), Format::kText);
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  EXPECT_EQ(ParseFormat("xml").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GuessLevel, FailuresAreWarnings) {
  EXPECT_EQ(GuessLevel("link default node 01: peer 02 lost (not heard for 5s)"),
            Level::kWarning);
  EXPECT_EQ(GuessLevel("cannot publish event 3 (12 bytes)"), Level::kWarning);
  EXPECT_EQ(GuessLevel("link default node 01: ready: first replica of the link"),
            Level::kInfo);
}

}  // namespace
}  // namespace kv::log
