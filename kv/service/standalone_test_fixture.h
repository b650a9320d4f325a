// A gtest fixture for kv/service's unit tests: a standalone replica (no
// replication, ready at once) over the in-memory bus, to run Handle on.
#ifndef KV_SERVICE_STANDALONE_TEST_FIXTURE_H_
#define KV_SERVICE_STANDALONE_TEST_FIXTURE_H_

#include <memory>

#include "gtest/gtest.h"
#include "kv/replication/replica.h"
#include "kv/replication/sim/network.h"
#include "kv/store/store.h"

namespace kv::service {

class StandaloneReplicaTest : public ::testing::Test {
 protected:
  // (Re)starts the replica with `limits`.
  void Start(const store::Limits& limits) {
    replica_.reset();
    bus_ = net_.Connect(0);
    replication::ReplicaOptions o;
    o.enabled = false;
    o.limits = limits;
    auto r = replication::Replica::Start(bus_.get(), net_.clock(), o);
    ASSERT_TRUE(r.ok()) << r.status();
    replica_ = *std::move(r);
  }

  replication::sim::Network net_{1, 1 << 20};
  std::unique_ptr<replication::Bus> bus_;
  std::unique_ptr<replication::Replica> replica_;
};

}  // namespace kv::service

#endif  // KV_SERVICE_STANDALONE_TEST_FIXTURE_H_
