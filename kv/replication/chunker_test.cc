#include "kv/replication/chunker.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "kv/codec/binary.h"
#include "kv/store/clock.h"
#include "kv/store/state_text.h"
#include "kv/store/store.h"

namespace kv::replication {
namespace {

using Outcome = ChunkAssembler::Outcome;

// A store with `n` registers of `value_bytes` each.
std::unique_ptr<store::Store> Registers(store::FakeClock* clock, int n,
                                        size_t value_bytes) {
  auto s = std::make_unique<store::Store>(1, clock);
  for (int i = 0; i < n; ++i) {
    const std::string value(value_bytes, 'v');
    EXPECT_TRUE(s->Set(absl::StrFormat("k%04d", i), value, std::nullopt).ok());
  }
  return s;
}

// Writes `delta` with `budget` bytes for entries: the writer's budget adds the
// last chunk's header (the other chunks' is smaller).
std::vector<codec::DeltaChunk> Write(const store::Delta& delta, size_t budget) {
  std::vector<codec::DeltaChunk> out;
  codec::DeltaChunk last;
  last.from = 7;
  last.delta.vv = delta.vv;
  ChunkWriter w(7, budget + codec::EncodedHeaderSize(last),
                [&](const codec::DeltaChunk& c) {
                  out.push_back(c);
                  return absl::OkStatus();
                });
  for (const store::KeyState& ks : delta.entries) w.Add(ks);
  EXPECT_TRUE(w.Finish(delta.vv).ok()) << w.status();
  EXPECT_EQ(w.chunks(), out.size());
  EXPECT_EQ(w.keys(), delta.entries.size());
  return out;
}

size_t EntriesSize(const codec::DeltaChunk& c) {
  size_t n = 0;
  for (const store::KeyState& ks : c.delta.entries) n += codec::EncodedSize(ks);
  return n;
}

// Merges `chunks` into a fresh store the way a requester does.
void Receive(const std::vector<codec::DeltaChunk>& chunks, store::Store* into) {
  ChunkAssembler a;
  for (const codec::DeltaChunk& c : chunks) {
    const Outcome o = a.Take(c);
    store::Delta entries;
    entries.entries = c.delta.entries;
    ASSERT_TRUE(into->MergeDelta(entries).ok());
    if (o == Outcome::kDone) {
      store::Delta vv;
      vv.vv = c.delta.vv;
      ASSERT_TRUE(into->MergeDelta(vv).ok());
    }
  }
}

TEST(ChunkBudget, StaysUnderTheMaxPayload) {
  EXPECT_EQ(ChunkBudget(512 * 1024, 1024 * 1024), 512u * 1024);
  EXPECT_EQ(ChunkBudget(512 * 1024, 64 * 1024), 64u * 1024);
  EXPECT_EQ(ChunkBudget(512 * 1024, 4096), 4096u);  // small limits too
  EXPECT_EQ(ChunkBudget(1000, 4097), 1000u);
}

// Every chunk, header included, encodes within the budget, whatever the size of
// the watermark and members (many origins) and of the items (one item of a
// list or set near the budget).
TEST(ChunkWriter, EveryEncodedChunkStaysWithinTheBudget) {
  store::FakeClock clock;
  store::Store s(1, &clock);
  const size_t budget = 4096;
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(
        s.Set(absl::StrCat("reg", i), std::string(100 * i, 'r'), std::nullopt).ok());
    ASSERT_TRUE(s.Push("list", std::string(i == 7 ? 3000 : 200, 'l')).ok());
    ASSERT_TRUE(
        s.SetAdd("set", absl::StrCat(i, std::string(i == 9 ? 3000 : 150, 's'))).ok());
  }
  const store::Delta d = s.DeltaAbove({});
  store::VersionVector collected;
  std::vector<store::NodeId> members;
  for (store::NodeId n = 1; n <= 20; ++n) {
    collected[n] = n;
    members.push_back(n);
  }
  store::VersionVector vv = d.vv;
  for (store::NodeId n = 2; n <= 20; ++n) vv[n] = 5;
  std::vector<codec::DeltaChunk> out;
  ChunkWriter w(7, budget, [&](const codec::DeltaChunk& c) {
    EXPECT_LE(codec::EncodeDeltaChunk(c).size(), budget) << "part " << c.part;
    out.push_back(c);
    return absl::OkStatus();
  });
  w.SetCollected(collected, members);
  for (const store::KeyState& ks : d.entries) w.Add(ks);
  ASSERT_TRUE(w.Finish(vv).ok()) << w.status();
  ASSERT_GT(out.size(), 5u);
  EXPECT_TRUE(out.back().last);
  EXPECT_EQ(out.back().members, members);
  store::Store copy(2, &clock);
  Receive(out, &copy);
  EXPECT_EQ(copy.digest(), s.digest());
}

TEST(ChunkWriter, AHeaderThatDoesNotFitIsAnErrorAndNothingIsSent) {
  int emitted = 0;
  ChunkWriter w(7, 1024, [&](const codec::DeltaChunk&) {
    ++emitted;
    return absl::OkStatus();
  });
  store::VersionVector collected;
  for (store::NodeId n = 1; n <= 100; ++n) collected[n] = n;  // 1,600 bytes
  w.SetCollected(collected, {});
  store::KeyState ks;
  ks.key = "k";
  ks.reg = store::RegisterState{{1, 1}, 1, true, "v", 0};
  w.Add(ks);
  EXPECT_TRUE(absl::IsResourceExhausted(w.Finish({{1, 1}}))) << w.status();
  EXPECT_NE(w.status().message().find("header"), std::string::npos) << w.status();
  EXPECT_EQ(emitted, 0);
}

TEST(ChunkWriter, AnItemThatDoesNotFitWithTheHeaderIsAnError) {
  std::vector<codec::DeltaChunk> out;
  ChunkWriter w(7, 2048, [&](const codec::DeltaChunk& c) {
    out.push_back(c);
    return absl::OkStatus();
  });
  store::KeyState small;
  small.key = "a";
  small.reg = store::RegisterState{{1, 1}, 1, true, "v", 0};
  store::KeyState big;
  big.key = "b";
  big.reg = store::RegisterState{{1, 2}, 2, true, std::string(2048, 'v'), 0};
  w.Add(small);
  w.Add(big);
  w.Add(small);
  EXPECT_TRUE(absl::IsResourceExhausted(w.Finish({{1, 2}})));
  EXPECT_NE(w.status().message().find("key 'b'"), std::string::npos) << w.status();
  for (const auto& c : out) EXPECT_FALSE(c.last);  // never a last chunk
}

TEST(ChunkWriter, AnEmitErrorStopsTheWriter) {
  int calls = 0;
  ChunkWriter w(7, 1024, [&](const codec::DeltaChunk&) {
    ++calls;
    return absl::UnavailableError("maximum payload exceeded");
  });
  store::KeyState ks;
  ks.key = "k";
  ks.reg = store::RegisterState{{1, 1}, 1, true, std::string(600, 'v'), 0};
  w.Add(ks);
  w.Add(ks);  // the first chunk goes out (and fails)
  w.Add(ks);
  const absl::Status s = w.Finish({{1, 1}});
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("chunk 0"), std::string::npos) << s;
  EXPECT_EQ(calls, 1);
}

TEST(ChunkWriter, EmptyDeltaIsOneLastChunkWithTheVector) {
  auto chunks = Write(store::Delta{{{1, 3}}, {}}, 1000);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_TRUE(chunks[0].last);
  EXPECT_EQ(chunks[0].part, 0u);
  EXPECT_EQ(chunks[0].from, 7u);
  EXPECT_TRUE(chunks[0].delta.entries.empty());
  EXPECT_EQ(chunks[0].delta.vv, (store::VersionVector{{1, 3}}));
}

TEST(ChunkWriter, ChunksStayWithinTheBudgetAndOnlyTheLastHasTheVector) {
  store::FakeClock clock;
  auto s = Registers(&clock, 50, 100);
  const store::Delta d = s->DeltaAbove({});
  const size_t one = codec::EncodedSize(d.entries[0]);
  auto chunks = Write(d, 5 * one + 3);
  ASSERT_EQ(chunks.size(), 10u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].part, i);
    EXPECT_EQ(chunks[i].last, i + 1 == chunks.size());
    EXPECT_LE(EntriesSize(chunks[i]), 5 * one + 3);
    EXPECT_EQ(chunks[i].delta.vv.empty(), i + 1 != chunks.size());
  }
}

TEST(ChunkWriter, TheLastChunkCarriesTheNewestRequestsThatFit) {
  store::FakeClock clock;
  auto s = Registers(&clock, 3, 100);
  const store::Delta d = s->DeltaAbove({});
  std::vector<store::RequestRecord> requests;
  for (int i = 9; i >= 0; --i) {  // newest first
    requests.push_back({absl::StrCat("id", i), R"({"ok":true,"revision":1})", i});
  }
  const size_t one = codec::EncodedSize(requests[0]);
  codec::DeltaChunk last;
  last.from = 7;
  last.delta.vv = d.vv;
  size_t entries = 0;
  for (const store::KeyState& ks : d.entries) entries += codec::EncodedSize(ks);
  // Room for the entries and four records and a half.
  const size_t budget = codec::EncodedHeaderSize(last) + entries + 4 * one + one / 2;
  std::vector<codec::DeltaChunk> out;
  ChunkWriter w(7, budget, [&](const codec::DeltaChunk& c) {
    out.push_back(c);
    return absl::OkStatus();
  });
  w.SetRequests(requests);
  for (const store::KeyState& ks : d.entries) w.Add(ks);
  ASSERT_TRUE(w.Finish(d.vv).ok()) << w.status();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].delta.entries.size(), 3u);
  ASSERT_EQ(out[0].requests.size(), 4u);
  EXPECT_EQ(out[0].requests[0].id, "id9");
  EXPECT_EQ(out[0].requests[3].id, "id6");
  EXPECT_LE(codec::EncodeDeltaChunk(out[0]).size(), budget);
}

TEST(ChunkWriter, EntriesExactlyAtTheBudgetShareAChunk) {
  store::FakeClock clock;
  auto s = Registers(&clock, 4, 100);
  store::Delta d = s->DeltaAbove({});
  d.vv.clear();  // every chunk's header alike
  const size_t one = codec::EncodedSize(d.entries[0]);
  auto chunks = Write(d, 2 * one);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].delta.entries.size(), 2u);
  EXPECT_EQ(chunks[1].delta.entries.size(), 2u);
  // One byte less: one entry a chunk (the last one may hold the fourth).
  chunks = Write(d, 2 * one - 1);
  ASSERT_EQ(chunks.size(), 4u);
  for (const auto& c : chunks) EXPECT_EQ(c.delta.entries.size(), 1u);
}

TEST(ChunkWriter, AKeyLargerThanTheBudgetIsSplitAndMergesBackWhole) {
  store::FakeClock clock;
  store::Store s(1, &clock);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(s.Push("list", absl::StrCat("item-", i, std::string(40, 'x'))).ok());
    ASSERT_TRUE(s.SetAdd("set", absl::StrCat("member-", i)).ok());
    ASSERT_TRUE(s.Add("ctr", i).ok());
  }
  ASSERT_TRUE(s.ListDel("list", absl::StrCat("item-3", std::string(40, 'x'))).ok());
  ASSERT_TRUE(s.SetRemove("set", "member-7").ok());
  const store::Delta d = s.DeltaAbove({});
  const size_t budget = 2048;
  for (const auto& ks : d.entries) {
    if (ks.key == "ctr") continue;  // one origin's increments stay compact
    ASSERT_GT(codec::EncodedSize(ks), budget) << ks.key;
  }
  auto chunks = Write(d, budget);
  EXPECT_GT(chunks.size(), 6u);
  for (const auto& c : chunks) {
    // Every part of a split key fits (Split aims at half the budget).
    for (const auto& ks : c.delta.entries) EXPECT_LE(codec::EncodedSize(ks), budget);
  }
  store::Store copy(2, &clock);
  Receive(chunks, &copy);
  EXPECT_EQ(copy.digest(), s.digest());
  EXPECT_EQ(copy.vv(), s.vv());
  for (const char* key : {"list", "set", "ctr"}) {
    EXPECT_EQ(store::text::KeyStateText(copy.Export(key)),
              store::text::KeyStateText(s.Export(key)));
  }
}

TEST(Split, SmallStateIsOnePart) {
  store::FakeClock clock;
  store::Store s(1, &clock);
  ASSERT_TRUE(s.Set("k", "v", std::nullopt).ok());
  auto parts = Split(*s.Export("k"), 1 << 20);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(store::text::KeyStateText(parts[0]),
            store::text::KeyStateText(s.Export("k")));
}

TEST(ChunkAssembler, InOrderCompletes) {
  ChunkAssembler a;
  codec::DeltaChunk c;
  c.part = 0;
  EXPECT_EQ(a.Take(c), Outcome::kMore);
  c.part = 1;
  EXPECT_EQ(a.Take(c), Outcome::kMore);
  c.part = 2;
  c.last = true;
  EXPECT_EQ(a.Take(c), Outcome::kDone);
  EXPECT_EQ(a.parts(), 3u);
}

TEST(ChunkAssembler, LostMiddleChunkFailsWithItsCount) {
  ChunkAssembler a;
  codec::DeltaChunk c;
  c.part = 0;
  EXPECT_EQ(a.Take(c), Outcome::kMore);
  c.part = 3;
  c.last = true;
  EXPECT_EQ(a.Take(c), Outcome::kLost);
  EXPECT_EQ(a.lost(), 2u);
}

TEST(ChunkAssembler, DuplicateChunkCountsOnce) {
  ChunkAssembler a;
  codec::DeltaChunk c;
  c.part = 0;
  EXPECT_EQ(a.Take(c), Outcome::kMore);
  EXPECT_EQ(a.Take(c), Outcome::kMore);
  c.part = 1;
  c.last = true;
  EXPECT_EQ(a.Take(c), Outcome::kDone);
  EXPECT_EQ(a.parts(), 2u);
  // A duplicate of a lost-free catch-up's first chunk alone is not enough.
  ChunkAssembler b;
  c.part = 0;
  c.last = false;
  b.Take(c);
  b.Take(c);
  c.part = 2;
  c.last = true;
  EXPECT_EQ(b.Take(c), Outcome::kLost);
  EXPECT_EQ(b.lost(), 1u);
}

TEST(ChunkAssembler, OnlyChunkIsLast) {
  ChunkAssembler a;
  codec::DeltaChunk c;
  c.last = true;
  EXPECT_EQ(a.Take(c), Outcome::kDone);
}

}  // namespace
}  // namespace kv::replication
