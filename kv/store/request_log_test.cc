#include "kv/store/request_log.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace kv::store {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

RequestRecord At(std::string id, std::string reply, absl::Time t) {
  return RequestRecord{std::move(id), std::move(reply), absl::ToUnixMillis(t), Dot{}};
}

TEST(RequestLog, FindsARecordedIdWithItsReply) {
  RequestLog log(absl::Minutes(2));
  EXPECT_EQ(log.Find("a", kT0), nullptr);
  EXPECT_TRUE(log.Record(At("a", R"({"value":1})", kT0), kT0));
  const RequestRecord* r = log.Find("a", kT0 + absl::Seconds(1));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->reply, R"({"value":1})");
  EXPECT_EQ(log.Find("b", kT0), nullptr);
}

TEST(RequestLog, TheFirstRecordOfAnIdStays) {
  RequestLog log(absl::Minutes(2));
  EXPECT_TRUE(log.Record(At("a", "first", kT0), kT0));
  EXPECT_FALSE(log.Record(At("a", "second", kT0 + absl::Seconds(1)), kT0));
  EXPECT_EQ(log.Find("a", kT0)->reply, "first");
  EXPECT_EQ(log.size(), 1u);
}

// Two nodes that applied one id before hearing of each other: every log keeps
// the earlier application, and the node whose own application lost is told to
// take it back, once.
TEST(RequestLog, OfTwoApplicationsOfAnIdTheEarlierStays) {
  RequestLog log(absl::Minutes(2));
  RequestRecord mine = At("a", "mine", kT0 + absl::Seconds(2));
  mine.dot = Dot{0xA, 7};
  ASSERT_TRUE(
      log.Record(mine, kT0 + absl::Seconds(2), Withdrawal{"n", mine.dot, 3, false}));
  // The withdrawal kept beside it is counted too (its key, and a fixed part).
  EXPECT_EQ(log.bytes(), RequestLog::EntryBytes(mine) + 1 + 48);
  // A later application elsewhere loses: nothing to take back here.
  RequestRecord later = At("a", "later", kT0 + absl::Seconds(3));
  later.dot = Dot{0xC, 1};
  EXPECT_FALSE(log.Record(later, kT0 + absl::Seconds(3)));
  EXPECT_TRUE(log.TakeWithdrawals().empty());
  EXPECT_EQ(log.Find("a", kT0 + absl::Seconds(3))->reply, "mine");
  // An earlier one wins: its reply answers retries, and ours is taken back.
  RequestRecord earlier = At("a", "earlier", kT0 + absl::Seconds(1));
  earlier.dot = Dot{0xB, 4};
  EXPECT_TRUE(log.Record(earlier, kT0 + absl::Seconds(3)));
  EXPECT_EQ(log.Find("a", kT0 + absl::Seconds(3))->reply, "earlier");
  EXPECT_EQ(log.size(), 1u);
  const std::vector<Withdrawal> taken = log.TakeWithdrawals();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].key, "n");
  EXPECT_EQ(taken[0].dot, mine.dot);
  EXPECT_EQ(taken[0].added, 3);
  // Hearing of ours again (a catch-up) changes nothing, nor does the winner again.
  EXPECT_FALSE(log.Record(mine, kT0 + absl::Seconds(4)));
  EXPECT_FALSE(log.Record(earlier, kT0 + absl::Seconds(4)));
  EXPECT_TRUE(log.TakeWithdrawals().empty());
  // Equal times: the smaller dot is the earlier.
  RequestRecord tie = At("a", "tie", kT0 + absl::Seconds(1));
  tie.dot = Dot{0xB, 3};
  EXPECT_TRUE(log.Record(tie, kT0 + absl::Seconds(4)));
  EXPECT_EQ(log.Find("a", kT0 + absl::Seconds(4))->reply, "tie");
  EXPECT_TRUE(log.TakeWithdrawals().empty());  // 0xB's, not ours
  EXPECT_EQ(log.bytes(), RequestLog::EntryBytes(tie));
}

TEST(RequestLog, RecordsLiveOnlyForTheWindow) {
  RequestLog log(absl::Minutes(2));
  ASSERT_TRUE(log.Record(At("a", "r", kT0), kT0));
  EXPECT_NE(log.Find("a", kT0 + absl::Minutes(2) - absl::Milliseconds(1)), nullptr);
  EXPECT_EQ(log.Find("a", kT0 + absl::Minutes(2)), nullptr);
  // The next record drops it.
  ASSERT_TRUE(log.Record(At("b", "r", kT0 + absl::Minutes(3)), kT0 + absl::Minutes(3)));
  EXPECT_EQ(log.size(), 1u);
  // A record already out of the window, or a window ahead, is not taken.
  EXPECT_FALSE(log.Record(At("old", "r", kT0), kT0 + absl::Minutes(3)));
  EXPECT_FALSE(
      log.Record(At("ahead", "r", kT0 + absl::Minutes(6)), kT0 + absl::Minutes(3)));
  // Nor one stamped beyond the clock skew allowed (60 s by default).
  EXPECT_FALSE(log.Record(At("skewed", "r", kT0 + absl::Minutes(3) + absl::Seconds(61)),
                          kT0 + absl::Minutes(3)));
  EXPECT_TRUE(log.Record(At("near", "r", kT0 + absl::Minutes(3) + absl::Seconds(59)),
                         kT0 + absl::Minutes(3)));
  EXPECT_EQ(log.size(), 2u);
}

TEST(RequestLog, ZeroWindowIsOff) {
  RequestLog log(absl::ZeroDuration());
  EXPECT_FALSE(log.enabled());
  EXPECT_FALSE(log.Record(At("a", "r", kT0), kT0));
  EXPECT_EQ(log.Find("a", kT0), nullptr);
  EXPECT_TRUE(log.Newest(kT0, 1 << 20).empty());
}

TEST(RequestLog, ChecksIds) {
  EXPECT_TRUE(RequestLog::CheckId("a").ok());
  EXPECT_TRUE(RequestLog::CheckId(std::string(128, 'x')).ok());
  EXPECT_TRUE(RequestLog::CheckId("retry 7 ~!").ok());
  for (const std::string& bad :
       {std::string(), std::string(129, 'x'), std::string("a\nb"), std::string("\x7f"),
        std::string("caf\xc3\xa9")}) {
    absl::Status s = RequestLog::CheckId(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << bad;
    EXPECT_NE(s.message().find("Nats-Msg-Id"), absl::string_view::npos);
  }
  RequestLog log(absl::Minutes(2));
  EXPECT_FALSE(log.Record(At(std::string(129, 'x'), "r", kT0), kT0));
  EXPECT_FALSE(log.Record(At("a", std::string(1025, 'r'), kT0), kT0));
  EXPECT_TRUE(log.Record(At("a", std::string(1024, 'r'), kT0), kT0));
}

TEST(RequestLog, TheOldestGoFirstBeyondTheEntryBound) {
  RequestLog log(absl::Minutes(2), /*max_entries=*/3);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(log.Record(At(std::to_string(i), "r", kT0 + absl::Seconds(i)), kT0));
  }
  EXPECT_EQ(log.size(), 3u);
  EXPECT_EQ(log.Find("0", kT0), nullptr);
  EXPECT_EQ(log.Find("1", kT0), nullptr);
  EXPECT_NE(log.Find("2", kT0), nullptr);
  EXPECT_NE(log.Find("4", kT0), nullptr);
  // An id older than every record kept is dropped at once.
  log.Record(At("older", "r", kT0 - absl::Seconds(1)), kT0);
  EXPECT_EQ(log.Find("older", kT0), nullptr);
  EXPECT_EQ(log.size(), 3u);
}

TEST(RequestLog, TheOldestGoFirstBeyondTheByteBound) {
  const RequestRecord one = At("aa", std::string(100, 'r'), kT0);
  const size_t each = RequestLog::EntryBytes(one);
  RequestLog log(absl::Minutes(2), 1000, /*max_bytes=*/2 * each);
  ASSERT_TRUE(log.Record(At("aa", std::string(100, 'r'), kT0), kT0));
  ASSERT_TRUE(log.Record(At("bb", std::string(100, 'r'), kT0 + absl::Seconds(1)), kT0));
  ASSERT_TRUE(log.Record(At("cc", std::string(100, 'r'), kT0 + absl::Seconds(2)), kT0));
  EXPECT_EQ(log.size(), 2u);
  EXPECT_LE(log.bytes(), 2 * each);
  EXPECT_EQ(log.Find("aa", kT0), nullptr);
  EXPECT_NE(log.Find("cc", kT0), nullptr);
}

TEST(RequestLog, NewestListsLiveRecordsNewestFirstWithinBytes) {
  RequestLog log(absl::Minutes(2));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(log.Record(At(std::to_string(i), "r", kT0 + absl::Minutes(i)),
                           kT0 + absl::Minutes(i)));
  }
  // At kT0 + 3 min, records 0 and 1 are out of the window.
  const absl::Time now = kT0 + absl::Minutes(3);
  auto all = log.Newest(now, 1 << 20);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "3");
  EXPECT_EQ(all[1].id, "2");
  auto one = log.Newest(now, RequestLog::EntryBytes(all[0]));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].id, "3");
  EXPECT_TRUE(log.Newest(now, 10).empty());
}

}  // namespace
}  // namespace kv::store
