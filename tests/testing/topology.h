// Multi-server NATS topologies for integration tests: nats-server clusters
// (routes), superclusters (gateways) and leaf nodes, on loopback ports, plus
// a check that two servers forward each other's messages.
//
// Every server is a NatsServer started with a configuration file written
// here; its client port is picked by the kernel (-p -1) and kept on
// Restart(), and its cluster, gateway and leaf ports are picked free once, at
// creation, and written into the file, so a restarted server listens where
// its peers expect it.

#ifndef TESTS_TESTING_TOPOLOGY_H_
#define TESTS_TESTING_TOPOLOGY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/harness.h"

namespace testing_util {

// A TCP port on 127.0.0.1 that nothing listened on a moment ago (the kernel
// picks it; another process may take it before it is used). Internal if no
// socket could be bound.
absl::StatusOr<int> FreePort();

// Writes `text` to a new file `name` under TempDir(); returns its path.
absl::StatusOr<std::string> WriteConfig(const std::string& name, const std::string& text);

// `size` servers forming one cluster named `name` (every server routes to
// every other). The servers are started in order; routes form in the
// background (see WaitForwarding).
absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>> StartCluster(
    const std::string& name, int size);

// Two single-server clusters, `a` and `b`, joined by a gateway (a
// supercluster of two "regions"). Returns {server of a, server of b}.
absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>> StartSupercluster(
    const std::string& a, const std::string& b);

// A hub server accepting leaf node connections and a leaf node server that
// connects to it. Returns {hub, leaf}.
absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>> StartHubAndLeaf();

// Waits until a message published on `from` reaches a subscriber on `to` (a
// fresh subject; publishes every 20 ms). OK once it did; DeadlineExceeded
// after `timeout`; Unavailable if either server cannot be connected to.
absl::Status WaitForwarding(const NatsServer& from, const NatsServer& to,
                            absl::Duration timeout);

// WaitForwarding in both directions between every pair of `servers`.
absl::Status WaitAllForwarding(const std::vector<NatsServer*>& servers,
                               absl::Duration timeout);

}  // namespace testing_util

#endif  // TESTS_TESTING_TOPOLOGY_H_
