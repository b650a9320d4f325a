// Change notifications: subjects and bodies.
#include "kv/service/changes.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/store.h"

namespace kv::service {
namespace {

TEST(ChangeSubject, KeysThatAreSubjectTokensStandAsIs) {
  EXPECT_TRUE(codec::IsSubjectKey("user.42.name"));
  EXPECT_TRUE(codec::IsSubjectKey("a-b_c:d"));
  EXPECT_EQ(ChangeSubject("default", "user.42"), "kv.default.changes.user.42");
}

TEST(ChangeSubject, OtherKeysGoUnderB64) {
  for (const char* key : {"with space", "a..b", ".a", "a.", "a*", "a>b", "tab\t",
                          "caf\xc3\xa9", "_b64", "_b64.x"}) {
    EXPECT_FALSE(codec::IsSubjectKey(key)) << key;
  }
  EXPECT_EQ(ChangeSubject("default", "with space"),
            "kv.default.changes._b64.d2l0aCBzcGFjZQ");
  // base64url: '-' and '_', never '/', '+' or '='.
  EXPECT_EQ(ChangeSubject("l", "\xfb\xff"), "kv.l.changes._b64.-_8");
  EXPECT_EQ(ChangeSubject("l", "_b64"), "kv.l.changes._b64.X2I2NA");
  EXPECT_FALSE(codec::IsSubjectKey("_h.1"));
}

// A long key (up to 65,535 bytes) would make a protocol line the server
// refuses, closing the connection: its subject is a hash, stable and short.
TEST(ChangeSubject, LongKeysGoUnderAHash) {
  const std::string key(kMaxSubjectKeyBytes + 1, 'k');
  const std::string subject = ChangeSubject("l", key);
  EXPECT_EQ(subject.size(), std::string("kv.l.changes._h.").size() + 16) << subject;
  EXPECT_EQ(subject.rfind("kv.l.changes._h.", 0), 0u) << subject;
  EXPECT_EQ(ChangeSubject("l", key), subject);
  EXPECT_NE(ChangeSubject("l", key + "x"), subject);
  EXPECT_EQ(ChangeSubject("l", std::string(kMaxSubjectKeyBytes, 'k')),
            absl::StrCat("kv.l.changes.", std::string(kMaxSubjectKeyBytes, 'k')));
}

TEST(ChangeBody, NamesKeyOpRevisionValueOriginAndSeq) {
  store::FakeClock clock;
  store::Store s(0xab, &clock);
  auto set = s.Set("k", "v", std::nullopt);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(ChangeBody(s, *set->event, "set", 0),
            absl::StrCat(R"({"key":"k","op":"set","revision":)", s.Revision("k"),
                         R"(,"type":"string","value":"v","origin":"00000000000000ab",)"
                         R"("seq":1,"vv":"00000000000000ab:1"})"));
  auto push = s.Push("l", "x");
  ASSERT_TRUE(push.ok());
  EXPECT_NE(ChangeBody(s, *push->event, "push", 0).find(R"("type":"list","length":1)"),
            std::string::npos);
  auto del = s.Del("k");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(ChangeBody(s, *del->event, "", 0),
            R"({"key":"k","op":"del","revision":0,"type":"none",)"
            R"("origin":"00000000000000ab","seq":3,"vv":"00000000000000ab:3"})");
}

// The origin's vector tells a watcher what the state includes: the peers'
// operations it had applied too. An expiry (seq 0) has no seq.
TEST(ChangeBody, CarriesTheOriginsVectorAndNoSeqForAnExpiry) {
  store::FakeClock clock;
  store::Store a(0xa, &clock);
  store::Store b(0xb, &clock);
  auto set = b.Set("k", "v", std::nullopt);
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE(a.Apply(*set->event).ok());
  auto add = a.Add("n", 1);
  ASSERT_TRUE(add.ok());
  EXPECT_NE(ChangeBody(a, *add->event, "add", 0)
                .find(R"("vv":"000000000000000a:1,000000000000000b:1")"),
            std::string::npos);
  store::Event expired;
  expired.dot = store::Dot{0xa, 0};
  expired.delta.key = "gone";
  EXPECT_EQ(
      ChangeBody(a, expired, "expired", 0),
      R"({"key":"gone","op":"expired","revision":0,"type":"none",)"
      R"("origin":"000000000000000a","vv":"000000000000000a:1,000000000000000b:1"})");
  // Too many origins: no vector (a watcher re-reads instead).
  for (uint64_t n = 1; n <= kMaxNoteOrigins; ++n) {
    store::Store other(0x100 + n, &clock);
    auto w = other.Set(absl::StrCat("o", n), "x", std::nullopt);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(a.Apply(*w->event).ok());
  }
  EXPECT_EQ(ChangeBody(a, *add->event, "add", 0).find("\"vv\""), std::string::npos);
}

TEST(ChangeBody, LongValuesAreCutToFit) {
  store::FakeClock clock;
  store::Store s(1, &clock);
  auto set = s.Set("k", std::string(5000, '"'), std::nullopt);  // escapes double it
  ASSERT_TRUE(set.ok());
  const std::string body = ChangeBody(s, *set->event, "set", 1000);
  EXPECT_LE(body.size(), 1000u);
  EXPECT_NE(body.find(R"("truncated":true)"), std::string::npos);
  auto bin = s.Set("b", std::string(3000, '\xff'), std::nullopt);
  ASSERT_TRUE(bin.ok());
  const std::string b = ChangeBody(s, *bin->event, "set", 1000);
  EXPECT_LE(b.size(), 1000u);
  EXPECT_NE(b.find(R"("encoding":"base64","truncated":true)"), std::string::npos);
}

}  // namespace
}  // namespace kv::service
