// A gtest fixture for integration tests: a nats-server of the test's own on a
// free loopback port, and a client connection to it.
#ifndef TESTS_TESTING_FIXTURE_H_
#define TESTS_TESTING_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/testing/harness.h"

namespace testing_util {

class ServerTest : public ::testing::Test {
 protected:
  // Starts the server and connects; the test fails (and stops) if either fails.
  void SetUp() override;

  std::unique_ptr<NatsServer> server_;
  ConnectionPtr nc_;
};

// The node id kvd logged when it started serving `link` ("serving kv.<link>.*
// (node <id>, ..."); "" if it has not.
std::string NodeIdOf(const Process& kvd, absl::string_view link = "default");

}  // namespace testing_util

#endif  // TESTS_TESTING_FIXTURE_H_
