#include "micro/json.h"

#include <string>

#include "gtest/gtest.h"

namespace micro {
namespace {

TEST(JsonQuote, PlainText) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("kv-1_x"), "\"kv-1_x\"");
}

TEST(JsonQuote, EscapesQuotesAndBackslashes) {
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("/"), "\"/\"");
}

TEST(JsonQuote, EscapesControlCharacters) {
  EXPECT_EQ(JsonQuote("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(JsonQuote(std::string("\0\x01\x1f\x7f", 4)),
            "\"\\u0000\\u0001\\u001f\\u007f\"");
}

TEST(JsonQuote, KeepsValidUtf8) {
  EXPECT_EQ(JsonQuote("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"");
}

TEST(JsonQuote, EscapesLineAndParagraphSeparators) {
  EXPECT_EQ(JsonQuote("\xE2\x80\xA8\xE2\x80\xA9"), "\"\\u2028\\u2029\"");
}

TEST(JsonQuote, ReplacesInvalidUtf8) {
  EXPECT_EQ(JsonQuote("\xFF"), "\"\\ufffd\"");
  // Truncated two-byte sequence at the end.
  EXPECT_EQ(JsonQuote("a\xC3"), "\"a\\ufffd\"");
  // Overlong encoding of '/'.
  EXPECT_EQ(JsonQuote("\xC0\xAF"), "\"\\ufffd\\ufffd\"");
  // UTF-16 surrogate encoded in UTF-8.
  EXPECT_EQ(JsonQuote("\xED\xA0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
  // Lone continuation byte followed by ASCII.
  EXPECT_EQ(JsonQuote("\x80z"), "\"\\ufffdz\"");
}

TEST(JsonWriter, NestedObjectsAndArrays) {
  JsonWriter w;
  w.BeginObject();
  w.Key("type");
  w.String("t");
  w.Key("n");
  w.Int(-42);
  w.Key("big");
  w.Int(9223372036854775807LL);
  w.Key("ok");
  w.Bool(true);
  w.Key("none");
  w.Null();
  w.Key("list");
  w.BeginArray();
  w.Int(1);
  w.BeginObject();
  w.EndObject();
  w.String("x");
  w.EndArray();
  w.Key("raw");
  w.Raw("{\"a\":1}");
  w.EndObject();
  EXPECT_EQ(w.Take(),
            "{\"type\":\"t\",\"n\":-42,\"big\":9223372036854775807,"
            "\"ok\":true,\"none\":null,\"list\":[1,{},\"x\"],"
            "\"raw\":{\"a\":1}}");
}

TEST(JsonWriter, StringMapIsAnObjectEvenWhenEmpty) {
  JsonWriter w;
  w.StringMap({});
  EXPECT_EQ(w.Take(), "{}");
  w.StringMap({{"b", "2"}, {"a", "\"1\""}});
  EXPECT_EQ(w.Take(), "{\"a\":\"\\\"1\\\"\",\"b\":\"2\"}");
}

TEST(JsonWriter, EscapesKeys) {
  JsonWriter w;
  w.BeginObject();
  w.Key("a\"b");
  w.Int(1);
  w.EndObject();
  EXPECT_EQ(w.Take(), "{\"a\\\"b\":1}");
}

TEST(JsonWriter, TakeResets) {
  JsonWriter w;
  w.BeginArray();
  w.Int(1);
  w.EndArray();
  EXPECT_EQ(w.Take(), "[1]");
  w.BeginArray();
  w.EndArray();
  EXPECT_EQ(w.Take(), "[]");
}

}  // namespace
}  // namespace micro
