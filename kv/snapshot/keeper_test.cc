// Keeper: the data directory is locked, replicas are saved periodically and at
// stop and restored at start; a corrupt file is logged and ignored.
#include "kv/snapshot/keeper.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/replication/replica.h"
#include "kv/store/clock.h"
#include "kv/store/store.h"

namespace kv::snapshot {
namespace {

using replication::Replica;
using replication::ReplicaOptions;

std::string TempDir(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

class KeeperTest : public ::testing::Test {
 protected:
  KeeperOptions Options(absl::string_view name, absl::Duration interval) {
    KeeperOptions o;
    o.dir = TempDir(name);
    o.interval = interval;
    o.log = [this](absl::string_view link, absl::string_view line) {
      absl::MutexLock lock(&mu_);
      log_.push_back(absl::StrCat(link, ": ", line));
    };
    return o;
  }
  std::string Logged() {
    absl::MutexLock lock(&mu_);
    return absl::StrJoin(log_, "\n");
  }
  // A standalone replica (no bus) of link "default" restored by `keeper`.
  std::vector<std::unique_ptr<Replica>> Start(const Keeper& keeper) {
    ReplicaOptions ro;
    ro.enabled = false;
    ro.restore = keeper.Restorer("default", &clock_, ro.limits);
    auto r = Replica::Start(nullptr, &clock_, ro);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::unique_ptr<Replica>> replicas;
    if (r.ok()) replicas.push_back(*std::move(r));
    return replicas;
  }
  static bool Set(Replica& r, const std::string& key) {
    return r.Mutate([&](store::Store& s) { return s.Set(key, "v", std::nullopt); }).ok();
  }
  static bool Exists(Replica& r, const std::string& key) {
    auto e = r.Read([&](const store::Store& s) { return s.Exists(key); });
    return e.ok() && *e;
  }

  store::SystemClock clock_;
  absl::Mutex mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
};

TEST_F(KeeperTest, SavedAtStopAndRestoredAtStart) {
  {
    auto keeper = Keeper::Open(Options("stop", absl::ZeroDuration()));
    ASSERT_TRUE(keeper.ok()) << keeper.status();
    auto r = Start(**keeper);
    EXPECT_TRUE(absl::StrContains(Logged(), "no snapshot")) << Logged();
    ASSERT_TRUE(Set(*r[0], "a"));
    (*keeper)->Start(r);
    ASSERT_TRUE((*keeper)->SaveAll().ok());
    EXPECT_EQ((*keeper)->saves(), 1);
  }
  auto keeper = Keeper::Open(Options("stop", absl::ZeroDuration()));
  ASSERT_TRUE(keeper.ok()) << keeper.status();
  auto r = Start(**keeper);
  EXPECT_TRUE(Exists(*r[0], "a"));
  EXPECT_TRUE(absl::StrContains(Logged(), "loaded snapshot")) << Logged();
}

TEST_F(KeeperTest, DirectoryIsLockedForOneProcess) {
  auto first = Keeper::Open(Options("locked", absl::ZeroDuration()));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Keeper::Open(Options("locked", absl::ZeroDuration()));
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_TRUE(absl::StrContains(second.status().message(), "in use by another kvd"));
  first->reset();
  EXPECT_TRUE(Keeper::Open(Options("locked", absl::ZeroDuration())).ok());
  KeeperOptions nowhere = Options("no/such/parent", absl::ZeroDuration());
  EXPECT_TRUE(absl::IsNotFound(Keeper::Open(nowhere).status()));
}

TEST_F(KeeperTest, SavesPeriodically) {
  auto keeper = Keeper::Open(Options("periodic", absl::Milliseconds(100)));
  ASSERT_TRUE(keeper.ok()) << keeper.status();
  auto r = Start(**keeper);
  ASSERT_TRUE(Set(*r[0], "a"));
  (*keeper)->Start(r);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*keeper)->saves() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));  // polls the count, with a deadline
  }
  EXPECT_GE((*keeper)->saves(), 2) << Logged();
  keeper->reset();  // as a kill: no save at stop
  auto again = Keeper::Open(Options("periodic", absl::ZeroDuration()));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(Exists(*Start(**again)[0], "a"));
}

TEST_F(KeeperTest, CorruptSnapshotIsLoggedAndIgnored) {
  auto keeper = Keeper::Open(Options("corrupt", absl::ZeroDuration()));
  ASSERT_TRUE(keeper.ok()) << keeper.status();
  std::ofstream(PathFor(TempDir("corrupt"), "default")) << "NKVSNAP\ngarbage";
  auto r = Start(**keeper);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0]->stats().keys, 0u);
  EXPECT_TRUE(absl::StrContains(Logged(), "cannot load snapshot")) << Logged();
  EXPECT_TRUE(absl::StrContains(Logged(), "ignored")) << Logged();
}

}  // namespace
}  // namespace kv::snapshot
