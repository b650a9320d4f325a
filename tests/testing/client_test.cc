#include "tests/testing/client.h"

#include <nats/nats.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/testing/harness.h"

namespace testing_util {
namespace {

// The string a JSON parser reads from `literal`, or "<invalid>".
std::string Unquote(const std::string& literal) {
  rapidjson::Document doc;
  doc.Parse(literal.data(), literal.size());
  if (doc.HasParseError() || !doc.IsString()) return "<invalid>";
  return std::string(doc.GetString(), doc.GetStringLength());
}

TEST(Quote, EscapesQuotesBackslashesAndShortForms) {
  EXPECT_EQ(Quote(""), "\"\"");
  EXPECT_EQ(Quote("plain / text"), "\"plain / text\"");
  EXPECT_EQ(Quote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Quote("\b\f\n\r\t"), R"("\b\f\n\r\t")");
}

TEST(Quote, EscapesEveryControlCharacter) {
  EXPECT_EQ(Quote(std::string("\0", 1)), R"("\u0000")");
  EXPECT_EQ(Quote("\x01\x1f"), R"("\u0001\u001F")");
  EXPECT_EQ(Quote("\x7f"), R"("\u007F")");
  for (int c = 0; c < 0x20; ++c) {
    // No raw control byte is left in the literal.
    for (char q : Quote(std::string(1, static_cast<char>(c)))) {
      EXPECT_GE(static_cast<unsigned char>(q), 0x20) << c;
    }
  }
}

TEST(Quote, KeepsUtf8) {
  EXPECT_EQ(Quote("é ☃ \xF0\x9F\x98\x80"), "\"é ☃ \xF0\x9F\x98\x80\"");
}

// Every ASCII byte and some UTF-8 read back as the same string.
TEST(Quote, RoundTripsThroughAJsonParser) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  all += "é ☃ \xF0\x9F\x98\x80";
  EXPECT_EQ(Unquote(Quote(all)), all);
  const std::string nul("a\0b", 3);
  EXPECT_EQ(Unquote(Quote(nul)), nul);
}

TEST(Bodies, EachRequestShape) {
  EXPECT_EQ(KeyBody("k\"1"), R"({"key":"k\"1"})");
  EXPECT_EQ(KeyValueBody("k", "v\n"), R"({"key":"k","value":"v\n"})");
  EXPECT_EQ(KeyIntBody("c", -5), R"({"key":"c","value":-5})");
  EXPECT_EQ(RangeBody("l", 0, -1), R"({"key":"l","start":0,"stop":-1})");
  EXPECT_EQ(KeysBody({"s", "t"}), R"({"keys":["s","t"]})");
  EXPECT_EQ(KeysBody({}), R"({"keys":[]})");
}

// Answers every request on "echo" with its body and an error-code header.
void Echo(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
  natsMsg* reply = nullptr;
  if (natsMsg_Create(&reply, natsMsg_GetReply(msg), nullptr, natsMsg_GetData(msg),
                     natsMsg_GetDataLength(msg)) == NATS_OK) {
    natsMsgHeader_Set(reply, "Nats-Service-Error-Code", "409");
    natsConnection_PublishMsg(nc, reply);
    natsMsg_Destroy(reply);
  }
  natsMsg_Destroy(msg);
}

TEST(Call, ReturnsBodyAndHeadersOrWhyNot) {
  auto server = NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto nc = Connect((*server)->url());
  ASSERT_TRUE(nc.ok()) << nc.status();

  const Reply none = Call(nc->get(), "nobody", "x", absl::Seconds(5));
  EXPECT_FALSE(none.ok());
  EXPECT_EQ(none.status, NATS_NO_RESPONDERS);
  EXPECT_EQ(none.code(), 0);

  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsConnection_Subscribe(&sub, nc->get(), "echo", Echo, nullptr), NATS_OK);
  const Reply r = Call(nc->get(), "echo", std::string("a\0b", 3));
  ASSERT_TRUE(r.ok()) << natsStatus_GetText(r.status);
  EXPECT_EQ(r.data, std::string("a\0b", 3));
  EXPECT_EQ(r.headers.at("Nats-Service-Error-Code"), "409");
  EXPECT_EQ(r.code(), 409);
  natsSubscription_Destroy(sub);
}

}  // namespace
}  // namespace testing_util
