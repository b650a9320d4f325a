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

std::vector<codec::DeltaChunk> Write(const store::Delta& delta, size_t budget) {
  std::vector<codec::DeltaChunk> out;
  ChunkWriter w(7, budget, [&](const codec::DeltaChunk& c) { out.push_back(c); });
  for (const store::KeyState& ks : delta.entries) w.Add(ks);
  w.Finish(delta.vv);
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
  EXPECT_EQ(ChunkBudget(512 * 1024, 64 * 1024), 62u * 1024);
  EXPECT_EQ(ChunkBudget(512 * 1024, 4096), 512u * 1024);  // tiny limits: as asked
  EXPECT_EQ(ChunkBudget(1000, 4097), 1000u);
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

TEST(ChunkWriter, EntriesExactlyAtTheBudgetShareAChunk) {
  store::FakeClock clock;
  auto s = Registers(&clock, 4, 100);
  const store::Delta d = s->DeltaAbove({});
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
