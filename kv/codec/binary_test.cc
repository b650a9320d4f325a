#include "kv/codec/binary.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/store.h"

namespace kv::codec {
namespace {

using store::Event;
using store::KeyState;

// Events of every kind, made by a real store so they are realistic.
std::vector<Event> SampleEvents() {
  store::FakeClock clock;
  store::Store s(7, &clock);
  std::vector<Event> events;
  auto keep = [&](auto change) {
    ASSERT_TRUE(change.ok()) << change.status();
    if (change->event) events.push_back(*change->event);
  };
  keep(s.Set("reg", std::string("bin\0ary", 7), absl::Seconds(30)));
  keep(s.Add("counter", -5));
  keep(s.Push("list", "a"));
  keep(s.Push("list", "b"));
  keep(s.ListDel("list", "a"));
  keep(s.SetAdd("set", "x"));
  keep(s.SetAdd("set", "x"));
  keep(s.SetRemove("set", "x"));
  keep(s.Del("counter"));
  keep(s.Del("reg"));
  return events;
}

// Two key states are equal when they encode alike (the encoding covers every field).
std::string Canonical(const std::vector<Event>& events) { return EncodeEvents(events); }

TEST(Binary, EventsRoundTrip) {
  const std::vector<Event> events = SampleEvents();
  ASSERT_EQ(events.size(), 10u);
  const std::string bytes = EncodeEvents(events);
  auto decoded = DecodeEvents(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), events.size());
  EXPECT_EQ(Canonical(*decoded), bytes);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ((*decoded)[i].dot, events[i].dot);
    EXPECT_EQ((*decoded)[i].delta.key, events[i].delta.key);
  }
  EXPECT_EQ((*decoded)[0].delta.reg->value, std::string("bin\0ary", 7));
}

TEST(Binary, DecodedEventsRebuildTheSameState) {
  store::FakeClock clock;
  store::Store source(7, &clock);
  std::vector<Event> events;
  for (int i = 0; i < 50; ++i) {
    auto c = source.Add("n" + std::to_string(i % 5), i);
    ASSERT_TRUE(c.ok());
    events.push_back(*c->event);
  }
  auto decoded = DecodeEvents(EncodeEvents(events));
  ASSERT_TRUE(decoded.ok());
  store::Store replica(8, &clock);
  for (const Event& e : *decoded) ASSERT_TRUE(replica.Apply(e).ok());
  EXPECT_EQ(replica.digest(), source.digest());
}

TEST(Binary, DeltaChunkRoundTrip) {
  store::FakeClock clock;
  store::Store source(7, &clock);
  for (const Event& e : SampleEvents()) ASSERT_TRUE(source.Apply(e).ok());
  DeltaChunk chunk{42, 3, true, source.DeltaAbove({}), {{7, 1}}, {42, 43}, {{44, 12}}};
  auto decoded = DecodeDeltaChunk(EncodeDeltaChunk(chunk));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->collected, chunk.collected);
  EXPECT_EQ(decoded->members, chunk.members);
  EXPECT_EQ(decoded->retired, chunk.retired);
  EXPECT_EQ(decoded->from, 42u);
  EXPECT_EQ(decoded->part, 3u);
  EXPECT_TRUE(decoded->last);
  EXPECT_EQ(decoded->delta.vv, chunk.delta.vv);
  store::Store replica(9, &clock);
  ASSERT_TRUE(replica.MergeDelta(decoded->delta).ok());
  EXPECT_EQ(replica.digest(), source.digest());
  EXPECT_EQ(replica.vv(), source.vv());
}

TEST(Binary, SyncRequestAndHeartbeatRoundTrip) {
  SyncRequest request{5, true, {{1, 10}, {2, 20}}};
  auto r = DecodeSyncRequest(EncodeSyncRequest(request));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->from, 5u);
  EXPECT_TRUE(r->join);
  EXPECT_EQ(r->vv, request.vv);

  Heartbeat hb{3,   {{3, 9}}, {11, 12}, 100,  1ull << 40, {{3, 4}},      {5, 6},
               {7}, {{8, 2}}, {{9, 3}}, true, {3, 5, 6},  1700000000123, 1700000000456};
  auto h = DecodeHeartbeat(EncodeHeartbeat(hb));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->node, 3u);
  EXPECT_EQ(h->vv, hb.vv);
  EXPECT_EQ(h->digest, hb.digest);
  EXPECT_EQ(h->keys, 100u);
  EXPECT_EQ(h->hlc, 1ull << 40);
  EXPECT_EQ(h->collected, hb.collected);
  EXPECT_EQ(h->members, hb.members);
  EXPECT_EQ(h->departed, hb.departed);
  EXPECT_EQ(h->retired, hb.retired);
  EXPECT_EQ(h->retiring, hb.retiring);
  EXPECT_TRUE(h->goodbye);
  EXPECT_EQ(h->view, hb.view);
  EXPECT_EQ(h->view_since_ms, hb.view_since_ms);
  EXPECT_EQ(h->sent_ms, hb.sent_ms);
  const std::string bytes = EncodeHeartbeat(hb);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeHeartbeat(absl::string_view(bytes.data(), n)).ok()) << n;
  }
}

// A peer is not trusted: node lists are bounded when decoded.
TEST(Binary, NodeListsAreBounded) {
  Heartbeat hb;
  hb.node = 1;
  hb.members.assign(kMaxListedNodes, 2);
  hb.departed.assign(kMaxListedNodes, 3);
  auto ok = DecodeHeartbeat(EncodeHeartbeat(hb));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->members.size(), kMaxListedNodes);
  hb.members.push_back(2);
  auto too_many = DecodeHeartbeat(EncodeHeartbeat(hb));
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("too many node ids"), std::string::npos);
  DeltaChunk chunk{1, 0, true, {}, {}, std::vector<store::NodeId>(kMaxListedNodes + 1, 4),
                   {}};
  EXPECT_FALSE(DecodeDeltaChunk(EncodeDeltaChunk(chunk)).ok());
  // Retired origins, as many as node lists.
  Heartbeat retiring;
  retiring.node = 1;
  for (store::NodeId n = 1; n <= kMaxListedNodes; ++n) retiring.retired[n] = 5;
  EXPECT_TRUE(DecodeHeartbeat(EncodeHeartbeat(retiring)).ok());
  retiring.retired[kMaxListedNodes + 1] = 5;
  auto retired_too_many = DecodeHeartbeat(EncodeHeartbeat(retiring));
  ASSERT_FALSE(retired_too_many.ok());
  EXPECT_NE(retired_too_many.status().message().find("too many retired origins"),
            std::string::npos);
  DeltaChunk last{1, 0, true, {}, {}, {}, retiring.retired};
  EXPECT_FALSE(DecodeDeltaChunk(EncodeDeltaChunk(last)).ok());
}

// Version vectors and watermarks too: at most kMaxVectorOrigins origins in any
// message (a heartbeat, a catch-up request or chunk).
TEST(Binary, VectorsAreBounded) {
  store::VersionVector full;
  for (uint64_t n = 1; n <= kMaxVectorOrigins; ++n) full[n] = n;
  store::VersionVector over = full;
  over[kMaxVectorOrigins + 1] = 1;
  Heartbeat hb;
  hb.node = 1;
  hb.vv = full;
  hb.collected = full;
  auto ok = DecodeHeartbeat(EncodeHeartbeat(hb));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->vv.size(), kMaxVectorOrigins);
  hb.vv = over;
  auto too_many = DecodeHeartbeat(EncodeHeartbeat(hb));
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("too many origins"), std::string::npos);
  hb.vv = full;
  hb.collected = over;
  EXPECT_FALSE(DecodeHeartbeat(EncodeHeartbeat(hb)).ok());
  EXPECT_FALSE(DecodeSyncRequest(EncodeSyncRequest(SyncRequest{1, false, over})).ok());
  EXPECT_TRUE(DecodeSyncRequest(EncodeSyncRequest(SyncRequest{1, false, full})).ok());
  DeltaChunk chunk;
  chunk.from = 1;
  chunk.delta.vv = over;
  EXPECT_FALSE(DecodeDeltaChunk(EncodeDeltaChunk(chunk)).ok());
  chunk.delta.vv = full;
  chunk.collected = over;
  EXPECT_FALSE(DecodeDeltaChunk(EncodeDeltaChunk(chunk)).ok());
}

TEST(Binary, RejectsOtherKindsAndVersions) {
  const std::string events = EncodeEvents(SampleEvents());
  EXPECT_FALSE(DecodeDeltaChunk(events).ok());
  EXPECT_FALSE(DecodeHeartbeat(events).ok());
  std::string wrong_version = events;
  // Header: endianness byte, 4-byte magic, kind, then the version's first byte.
  wrong_version[6] = 1;  // the previous format
  EXPECT_FALSE(DecodeEvents(wrong_version).ok());
  EXPECT_FALSE(DecodeEvents(events + "x").ok());
}

TEST(Binary, EveryTruncationIsAnError) {
  const std::string bytes = EncodeEvents(SampleEvents());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto decoded = DecodeEvents(absl::string_view(bytes.data(), n));
    EXPECT_FALSE(decoded.ok()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  }
  const std::string delta = EncodeDeltaChunk(DeltaChunk{1, 0, true, {}, {}, {}, {}});
  for (size_t n = 0; n < delta.size(); ++n) {
    EXPECT_FALSE(DecodeDeltaChunk(absl::string_view(delta.data(), n)).ok());
  }
}

TEST(Binary, GarbledInputNeverCrashes) {
  const std::string bytes = EncodeEvents(SampleEvents());
  std::mt19937 rng(12345);
  int decoded_ok = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string garbled = bytes;
    const int flips = 1 + rng() % 8;
    for (int i = 0; i < flips; ++i) {
      garbled[rng() % garbled.size()] = static_cast<char>(rng());
    }
    auto decoded = DecodeEvents(garbled);  // must return, ok or not
    if (decoded.ok()) ++decoded_ok;
  }
  // Flipping bytes inside values still decodes; flipping lengths or the header does not.
  EXPECT_LT(decoded_ok, 3000);
  for (int round = 0; round < 2000; ++round) {
    std::string noise(rng() % 256, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    EXPECT_FALSE(DecodeDeltaChunk(noise).ok());
    EXPECT_FALSE(DecodeEvents(noise).ok());
  }
}

TEST(Binary, HugeLengthsAreRejectedBeforeAllocating) {
  // A valid header, then a list count of 2^62 elements.
  std::string bytes = EncodeEvents({});
  bytes.resize(bytes.size() - 8);
  const uint64_t huge = 1ull << 62;
  bytes.append(reinterpret_cast<const char*>(&huge), 8);
  auto decoded = DecodeEvents(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("length exceeds"), std::string::npos);
}

// The event of a set, push or set_add with a maximal key and value takes at
// most key + value + MaxEventOverhead() bytes (kvd sizes its value limit on it).
TEST(MaxEventOverhead, BoundsTheEventsOfEveryValueWrite) {
  store::FakeClock clock;
  store::Store s(0xffffffffffffff01, &clock);
  const std::string key(1023, 'k');  // + one letter: the 1,024 bytes of kvd's limit
  const std::string value(64 * 1024, 'v');
  std::vector<Event> events;
  auto keep = [&](auto change) {
    ASSERT_TRUE(change.ok()) << change.status();
    ASSERT_TRUE(change->event.has_value());
    events.push_back(*change->event);
  };
  keep(s.Set(key, value, absl::Hours(24 * 365)));
  keep(s.Push(key + "l", value));
  keep(s.SetAdd(key + "s", value));
  keep(s.SetAdd(key + "s", value));  // replaces the member's earlier dot
  for (const Event& e : events) {
    EXPECT_LE(EncodeEvents({e}).size(),
              key.size() + 1 + value.size() + MaxEventOverhead());
  }
  EXPECT_LT(MaxEventOverhead(), 256u);
}

TEST(EncodedHeaderSize, IsTheChunkWithoutItsEntries) {
  DeltaChunk chunk;
  chunk.from = 3;
  chunk.part = 9;
  chunk.delta.vv = {{1, 2}, {3, 4}};
  chunk.collected = {{1, 1}};
  chunk.members = {1, 3, 5};
  EXPECT_EQ(EncodedHeaderSize(chunk), EncodeDeltaChunk(chunk).size());
  KeyState ks;
  ks.key = "k";
  ks.reg = store::RegisterState{{1, 1}, 1, true, std::string(100, 'v'), 0};
  const size_t header = EncodedHeaderSize(chunk);
  chunk.delta.entries = {ks, ks};
  EXPECT_EQ(EncodedHeaderSize(chunk), header);
  EXPECT_LE(EncodeDeltaChunk(chunk).size(), header + 2 * EncodedSize(ks));
}

}  // namespace
}  // namespace kv::codec

namespace kv::codec {
namespace {

TEST(Binary, EventsCarryTheirRequestRecord) {
  std::vector<Event> events = SampleEvents();
  events[1].request =
      store::RequestRecord{"retry-1", R"({"value":-5})", 1700000000123, {5, 6}};
  auto decoded = DecodeEvents(EncodeEvents(events));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FALSE((*decoded)[0].request.has_value());
  ASSERT_TRUE((*decoded)[1].request.has_value());
  EXPECT_EQ((*decoded)[1].request->id, "retry-1");
  EXPECT_EQ((*decoded)[1].request->reply, R"({"value":-5})");
  EXPECT_EQ((*decoded)[1].request->applied_ms, 1700000000123);
  EXPECT_EQ((*decoded)[1].request->dot, (store::Dot{5, 6}));
}

TEST(Binary, RequestRecordsAreBounded) {
  // Peers are not trusted: an id or reply beyond the log's bounds, or an id
  // that is not printable, refuses the whole message.
  for (const store::RequestRecord& bad :
       {store::RequestRecord{std::string(129, 'i'), "{}", 1, {}},
        store::RequestRecord{"", "{}", 1, {}},
        store::RequestRecord{"a\r\nb", "{}", 1, {}},
        store::RequestRecord{"id", std::string(1025, 'r'), 1, {}}}) {
    std::vector<Event> events = SampleEvents();
    events[0].request = bad;
    EXPECT_FALSE(DecodeEvents(EncodeEvents(events)).ok());
    DeltaChunk chunk;
    chunk.last = true;
    chunk.requests = {bad};
    EXPECT_FALSE(DecodeDeltaChunk(EncodeDeltaChunk(chunk)).ok());
  }
}

TEST(Binary, LastChunkCarriesRequests) {
  DeltaChunk chunk;
  chunk.from = 3;
  chunk.last = true;
  chunk.requests = {{"b", R"({"ok":true,"revision":2})", 20, {7, 9}},
                    {"a", "{}", 10, {}}};
  const size_t without = EncodedHeaderSize(DeltaChunk{});
  EXPECT_EQ(EncodedHeaderSize(chunk),
            without + EncodedSize(chunk.requests[0]) + EncodedSize(chunk.requests[1]));
  auto decoded = DecodeDeltaChunk(EncodeDeltaChunk(chunk));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->requests.size(), 2u);
  EXPECT_EQ(decoded->requests[0].id, "b");
  EXPECT_EQ(decoded->requests[0].reply, R"({"ok":true,"revision":2})");
  EXPECT_EQ(decoded->requests[0].dot, (store::Dot{7, 9}));
  EXPECT_EQ(decoded->requests[1].applied_ms, 10);
}

}  // namespace
}  // namespace kv::codec
