#include "kv/codec/log_line.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace kv::codec {
namespace {

const absl::Time kTime = absl::FromUnixMillis(1764670709123);  // 2025-12-02T10:18:29.123Z

TEST(JsonLogLine, TimeLevelLinkMessage) {
  EXPECT_EQ(JsonLogLine(kTime, "info", "default", "serving kv.default.*"),
            R"({"time":"2025-12-02T10:18:29.123Z","level":"info","link":"default",)"
            R"("message":"serving kv.default.*"})");
  EXPECT_EQ(JsonLogLine(kTime, "error", "", "cannot connect"),
            R"({"time":"2025-12-02T10:18:29.123Z","level":"error",)"
            R"("message":"cannot connect"})");
}

TEST(JsonLogLine, EscapesAndStaysValidForAnyBytes) {
  const std::string messages[] = {"quote \" backslash \\ newline \n tab \t",
                                  std::string("nul \0 byte", 10), "w\xc3\xb6rld",
                                  "bad \xff\xfe utf-8", "cut \xe2\x82"};
  for (const std::string& m : messages) {
    const std::string line = JsonLogLine(kTime, "info", "l", m);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.data(), line.size());
    ASSERT_FALSE(doc.HasParseError()) << line;
    ASSERT_TRUE(doc.IsObject() && doc["message"].IsString()) << line;
  }
  rapidjson::Document doc;
  const std::string line = JsonLogLine(kTime, "info", "", messages[2]);
  doc.Parse(line.data(), line.size());
  EXPECT_EQ(std::string(doc["message"].GetString()), "w\xc3\xb6rld");
}

}  // namespace
}  // namespace kv::codec
