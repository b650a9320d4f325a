#include "kv/codec/events_builder.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kv/codec/binary.h"

namespace kv::codec {
namespace {

store::Event SetEvent(uint64_t seq, std::string key, std::string value) {
  store::Event e;
  e.dot = store::Dot{0xabcdef, seq};
  e.delta.key = std::move(key);
  e.delta.reg = store::RegisterState{store::Stamp{1000 + seq, 0xabcdef}, seq, true,
                                     std::move(value), -1};
  return e;
}

TEST(EventsBuilder, BuildsWhatEncodeEventsGives) {
  EventsBuilder b;
  std::vector<store::Event> events;
  for (uint64_t seq = 1; seq <= 300; ++seq) {
    events.push_back(SetEvent(seq, "key" + std::to_string(seq), std::string(seq, 'v')));
    b.Add(events.back());
    ASSERT_EQ(b.bytes(), EncodeEvents(events)) << seq;
  }
  EXPECT_EQ(b.count(), 300u);
  EXPECT_EQ(b.first_seq(), 1u);
  auto decoded = DecodeEvents(b.bytes());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 300u);
  EXPECT_EQ((*decoded)[299].delta.key, "key300");
}

TEST(EventsBuilder, ClearStartsANewMessage) {
  EventsBuilder b;
  b.Add(SetEvent(1, "a", "x"));
  b.Add(SetEvent(2, "b", "y"));
  b.Clear();
  EXPECT_EQ(b.count(), 0u);
  const store::Event e = SetEvent(3, "c", "z");
  EXPECT_EQ(b.Add(e), EncodeEvents({e}).size());
  EXPECT_EQ(b.bytes(), EncodeEvents({e}));
  EXPECT_EQ(b.first_seq(), 3u);
}

}  // namespace
}  // namespace kv::codec
