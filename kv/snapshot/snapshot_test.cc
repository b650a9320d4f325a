// Snapshot files: a round trip gives the same state under a new node id; every
// corruption (truncation, a flipped byte, a wrong magic or version, a file too
// large) is a clear error, never a crash.
#include "kv/snapshot/snapshot.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/store/clock.h"
#include "kv/store/state.h"
#include "kv/store/store.h"

namespace kv::snapshot {
namespace {

constexpr store::NodeId kSaver = 0x5a5a;
constexpr store::NodeId kPeer = 0x7e7e;
constexpr store::NodeId kGone = 0x6060;
constexpr store::NodeId kRestored = 0xbeef;

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

StoreReader ReaderOf(const store::Store& s) {
  return [&s](const std::function<void(const store::Store&)>& f) {
    f(s);
    return absl::OkStatus();
  };
}

// A store with every kind of state: strings (one with a TTL), a counter, a
// list, a set, a tombstone, a peer's operations, a collected watermark and a
// retired origin.
class SnapshotTest : public ::testing::Test {
 protected:
  SnapshotTest() {
    store::Store gone(kGone, &clock_);
    Apply(gone.Set("from-gone", "g", std::nullopt));
    store::Store peer(kPeer, &clock_);
    Apply(peer.Set("from-peer", "p", std::nullopt));
    Apply(peer.Push("list", "a"));
    EXPECT_TRUE(s_.Set("str", "value", std::nullopt).ok());
    EXPECT_TRUE(s_.Set("ttl", "soon", absl::Seconds(30)).ok());
    EXPECT_TRUE(s_.Add("counter", 42).ok());
    EXPECT_TRUE(s_.Push("list", "b").ok());
    EXPECT_TRUE(s_.SetAdd("set", "m").ok());
    EXPECT_TRUE(s_.Set("deleted", "x", std::nullopt).ok());
    EXPECT_TRUE(s_.Del("deleted").ok());
    clock_.Advance(absl::Seconds(1));
    // Every replica applied kGone's operation: collected, then retired.
    store::VersionVector stable{{kGone, 1}};
    s_.CollectGarbage(stable, 1);
    EXPECT_TRUE(s_.Retire(kGone));
    EXPECT_TRUE(s_.Set("after", "retire", std::nullopt).ok());
  }

  void Apply(absl::StatusOr<store::Change<bool>> c) { ApplyEvent(c->event); }
  void Apply(absl::StatusOr<store::Change<int64_t>> c) { ApplyEvent(c->event); }
  void ApplyEvent(const std::optional<store::Event>& e) {
    ASSERT_TRUE(e.has_value());
    ASSERT_TRUE(s_.Apply(*e).ok());
  }

  absl::StatusOr<Loaded> SaveAndLoad(const std::string& path,
                                     const SaveOptions& options = SaveOptions()) {
    auto saved = Save(path, ReaderOf(s_), options);
    if (!saved.ok()) return saved.status();
    return Load(path, kRestored, &clock_, store::Limits());
  }

  store::FakeClock clock_;
  store::Store s_{kSaver, &clock_};
};

TEST_F(SnapshotTest, RoundTripKeepsTheStateUnderANewNodeId) {
  const std::string path = TempPath("round.snap");
  auto loaded = SaveAndLoad(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const store::Store& r = *loaded->store;
  EXPECT_EQ(r.node(), kRestored);
  EXPECT_EQ(loaded->saved_by, kSaver);
  EXPECT_EQ(r.digest(), s_.digest());
  EXPECT_EQ(r.vv(), s_.vv());
  EXPECT_EQ(r.collected(), s_.collected());
  EXPECT_EQ(r.Retired(), s_.Retired());
  EXPECT_TRUE(r.IsRetired(kGone));
  EXPECT_GE(r.hlc(), s_.hlc());
  EXPECT_EQ(*r.Get("str"), std::optional<std::string>("value"));
  EXPECT_EQ(*r.Get("ttl"), std::optional<std::string>("soon"));
  EXPECT_EQ(*r.Get("counter"), std::optional<std::string>("42"));
  EXPECT_EQ(*r.Range("list", 0, -1), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*r.SetQuery("set"), std::vector<std::string>{"m"});
  EXPECT_EQ(*r.Get("deleted"), std::nullopt);
  EXPECT_EQ(*r.Get("from-gone"), std::optional<std::string>("g"));
  EXPECT_TRUE(r.Export("deleted").has_value());  // the tombstone is kept
  EXPECT_FALSE(ReadFile(path + ".tmp").size() > 0);
  struct stat st;
  EXPECT_NE(stat((path + ".tmp").c_str(), &st), 0);  // renamed away
}

TEST_F(SnapshotTest, RestoredStoreTakesNewWritesUnderItsOwnId) {
  auto loaded = SaveAndLoad(TempPath("writes.snap"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto c = loaded->store->Set("str", "new", std::nullopt);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->event->dot, (store::Dot{kRestored, 1}));
  EXPECT_EQ(*loaded->store->Get("str"), std::optional<std::string>("new"));
  // The write wins over the saved one everywhere: its stamp is above it.
  ASSERT_TRUE(s_.Apply(*c->event).ok());
  EXPECT_EQ(*s_.Get("str"), std::optional<std::string>("new"));
}

TEST_F(SnapshotTest, ManySmallChunksSplitLargeKeys) {
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(s_.Push("big", std::string(100, 'a' + i % 26)).ok());
    ASSERT_TRUE(s_.Set(absl::StrCat("k", i), "v", std::nullopt).ok());
  }
  SaveOptions small;
  small.chunk_bytes = 2048;
  small.page_keys = 7;
  const std::string path = TempPath("chunks.snap");
  auto saved = Save(path, ReaderOf(s_), small);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_GT(saved->chunks, 10u);
  EXPECT_EQ(saved->bytes, ReadFile(path).size());
  auto loaded = Load(path, kRestored, &clock_, store::Limits());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->store->digest(), s_.digest());
  EXPECT_EQ(loaded->store->vv(), s_.vv());
}

// Keys that expired meanwhile read as absent, and the state is the saved one
// (the peers still hold it until they reclaim it together).
TEST_F(SnapshotTest, ExpiredKeysReadAsAbsent) {
  const std::string path = TempPath("expired.snap");
  ASSERT_TRUE(Save(path, ReaderOf(s_)).ok());
  clock_.Advance(absl::Seconds(60));  // "ttl" expired meanwhile
  auto loaded = Load(path, kRestored, &clock_, store::Limits());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(*loaded->store->Exists("ttl"));
  EXPECT_EQ(*loaded->store->Get("str"), std::optional<std::string>("value"));
  EXPECT_EQ(loaded->store->digest(), s_.digest());
  EXPECT_EQ(loaded->store->vv(), s_.vv());
}

// A TTL changed after the register (persist) is the key's: the key comes back.
TEST_F(SnapshotTest, ATtlWrittenAfterTheRegisterIsKept) {
  ASSERT_TRUE(s_.Persist("ttl").ok());
  const std::string path = TempPath("persisted.snap");
  ASSERT_TRUE(Save(path, ReaderOf(s_)).ok());
  clock_.Advance(absl::Seconds(60));
  auto loaded = Load(path, kRestored, &clock_, store::Limits());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(*loaded->store->Exists("ttl"));
  EXPECT_EQ(loaded->store->digest(), s_.digest());
}

TEST_F(SnapshotTest, MissingFileIsNotFound) {
  auto loaded = Load(TempPath("none.snap"), kRestored, &clock_, store::Limits());
  EXPECT_TRUE(absl::IsNotFound(loaded.status())) << loaded.status();
}

TEST_F(SnapshotTest, EveryTruncationIsDataLoss) {
  const std::string path = TempPath("trunc.snap");
  ASSERT_TRUE(Save(path, ReaderOf(s_)).ok());
  const std::string bytes = ReadFile(path);
  for (size_t n = 0; n < bytes.size(); ++n) {
    WriteFile(path, bytes.substr(0, n));
    auto loaded = Load(path, kRestored, &clock_, store::Limits());
    ASSERT_TRUE(absl::IsDataLoss(loaded.status())) << n << ": " << loaded.status();
  }
}

TEST_F(SnapshotTest, EveryFlippedByteIsDataLoss) {
  const std::string path = TempPath("flip.snap");
  ASSERT_TRUE(Save(path, ReaderOf(s_)).ok());
  const std::string bytes = ReadFile(path);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    WriteFile(path, bad);
    auto loaded = Load(path, kRestored, &clock_, store::Limits());
    ASSERT_TRUE(absl::IsDataLoss(loaded.status())) << i << ": " << loaded.status();
  }
}

TEST_F(SnapshotTest, WrongMagicVersionOrTrailingBytes) {
  const std::string path = TempPath("magic.snap");
  ASSERT_TRUE(Save(path, ReaderOf(s_)).ok());
  const std::string bytes = ReadFile(path);
  WriteFile(path, "PK\x03\x04" + bytes.substr(4));
  auto loaded = Load(path, kRestored, &clock_, store::Limits());
  EXPECT_TRUE(absl::IsDataLoss(loaded.status()));
  EXPECT_NE(loaded.status().message().find("bad magic"), std::string::npos);
  std::string v2 = bytes;
  v2[8] = 2;
  WriteFile(path, v2);
  loaded = Load(path, kRestored, &clock_, store::Limits());
  EXPECT_TRUE(absl::IsDataLoss(loaded.status()));
  EXPECT_NE(loaded.status().message().find("format version 2"), std::string::npos);
  WriteFile(path, bytes + "x");
  loaded = Load(path, kRestored, &clock_, store::Limits());
  EXPECT_TRUE(absl::IsDataLoss(loaded.status()));
  EXPECT_NE(loaded.status().message().find("after the last chunk"), std::string::npos);
  WriteFile(path, "");
  EXPECT_TRUE(absl::IsDataLoss(Load(path, kRestored, &clock_, store::Limits()).status()));
}

TEST_F(SnapshotTest, RefusesFilesLargerThanItCouldHold) {
  const std::string path = TempPath("large.snap");
  ASSERT_TRUE(Save(path, ReaderOf(s_)).ok());
  LoadOptions options;
  options.max_file_bytes = 100;
  auto loaded = Load(path, kRestored, &clock_, store::Limits(), options);
  EXPECT_TRUE(absl::IsOutOfRange(loaded.status())) << loaded.status();
  // A record claiming more than a record may hold is refused before allocation.
  options = LoadOptions();
  options.max_record_bytes = 16;
  loaded = Load(path, kRestored, &clock_, store::Limits(), options);
  EXPECT_TRUE(absl::IsDataLoss(loaded.status())) << loaded.status();
}

TEST_F(SnapshotTest, FailedSaveKeepsThePreviousFile) {
  const std::string path = TempPath("keep.snap");
  ASSERT_TRUE(Save(path, ReaderOf(s_)).ok());
  const std::string before = ReadFile(path);
  int calls = 0;
  StoreReader failing = [&](const std::function<void(const store::Store&)>& f) {
    if (++calls > 1) return absl::AbortedError("the store was replaced");
    f(s_);
    return absl::OkStatus();
  };
  auto saved = Save(path, failing);
  EXPECT_TRUE(absl::IsAborted(saved.status())) << saved.status();
  EXPECT_EQ(ReadFile(path), before);
  struct stat st;
  EXPECT_NE(stat((path + ".tmp").c_str(), &st), 0);
  saved = Save(TempPath("no/such/dir/x.snap"), ReaderOf(s_));
  EXPECT_TRUE(absl::IsNotFound(saved.status())) << saved.status();
  EXPECT_NE(saved.status().message().find("no/such/dir"), std::string::npos);
}

}  // namespace
}  // namespace kv::snapshot
