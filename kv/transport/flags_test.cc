#include "kv/transport/flags.h"

#include "gtest/gtest.h"

namespace kv::transport {
namespace {

TEST(ServersFrom, FlagThenNatsUrlThenDefault) {
  EXPECT_EQ(ServersFrom("nats://a:1", "nats://b:2"), "nats://a:1");
  EXPECT_EQ(ServersFrom("", "nats://b:2,nats://c:3"), "nats://b:2,nats://c:3");
  EXPECT_EQ(ServersFrom("", ""), "nats://127.0.0.1:4222");
  EXPECT_EQ(ServersFrom("", nullptr), "nats://127.0.0.1:4222");
}

}  // namespace
}  // namespace kv::transport
