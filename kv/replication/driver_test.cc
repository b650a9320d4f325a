#include "kv/replication/driver.h"

#include <memory>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "kv/replication/sim/network.h"
#include "kv/store/clock.h"

namespace kv::replication {
namespace {

TEST(ReplicaDriver, TicksTheReplicaUntilStopped) {
  sim::Network net(1, 4096);
  std::unique_ptr<Bus> bus = net.Connect(0);
  store::SystemClock clock;
  ReplicaOptions options;
  options.join_timeout = absl::Seconds(30);  // one attempt, still waiting
  options.heartbeat = absl::Milliseconds(50);
  options.first_replica_silence = absl::Milliseconds(100);
  auto replica = Replica::Start(bus.get(), &clock, options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  {
    ReplicaDriver driver(replica->get(), &clock);
    // Long enough for the first tick (at once) and a few more.
    absl::SleepFor(absl::Milliseconds(300));
  }  // the thread has ended: the network is this thread's again
  // The first tick sent the join request, and a tick after the silence another
  // one; nobody subscribes to sync.any, so the answers are "no responders": the
  // replica is the first, and ready.
  EXPECT_FALSE((*replica)->ready());
  net.RunFor(absl::Milliseconds(10));
  EXPECT_TRUE((*replica)->ready());
  EXPECT_GT(net.delivered(), 0u);
}

TEST(ReplicaDriver, StopIsIdempotent) {
  sim::Network net(1, 4096);
  std::unique_ptr<Bus> bus = net.Connect(0);
  store::SystemClock clock;
  ReplicaOptions options;
  options.enabled = false;
  auto replica = Replica::Start(bus.get(), &clock, options);
  ASSERT_TRUE(replica.ok());
  ReplicaDriver driver(replica->get(), &clock);
  driver.Stop();
  driver.Stop();
  EXPECT_TRUE((*replica)->ready());
}

}  // namespace
}  // namespace kv::replication
