// Marshalling of the $SRV responses and the default error mapping, without a
// server.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "micro/service.h"
#include "micro/service_internal.h"

namespace micro {
namespace {

ServiceConfig Config() {
  ServiceConfig config;
  config.name = "svc";
  config.version = "1.2.3";
  config.description = "d";
  config.metadata = {{"k", "v"}};
  return config;
}

TEST(Monitoring, MarshalPing) {
  EXPECT_EQ(internal::MarshalPing(Config(), "ID"),
            "{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"svc\","
            "\"id\":\"ID\",\"version\":\"1.2.3\",\"metadata\":{\"k\":\"v\"}}");
}

TEST(Monitoring, MarshalInfoOmitsAnEmptyQueueGroup) {
  internal::EndpointInfo queued{"a", "svc.a", "q", {{"op", "a"}}};
  internal::EndpointInfo plain{"b", "svc.b.*", "", {}};
  EXPECT_EQ(internal::MarshalInfo(Config(), "ID", {&queued, &plain}),
            "{\"type\":\"io.nats.micro.v1.info_response\",\"name\":\"svc\","
            "\"id\":\"ID\",\"version\":\"1.2.3\",\"metadata\":{\"k\":\"v\"},"
            "\"description\":\"d\",\"endpoints\":["
            "{\"name\":\"a\",\"subject\":\"svc.a\",\"queue_group\":\"q\","
            "\"metadata\":{\"op\":\"a\"}},"
            "{\"name\":\"b\",\"subject\":\"svc.b.*\",\"metadata\":{}}]}");
}

TEST(Monitoring, MarshalStatsAveragesAndKeepsOnlyObjectData) {
  internal::EndpointInfo a{"a", "svc.a", "q", {}};
  internal::EndpointInfo b{"b", "svc.b", "q", {}};
  std::vector<internal::EndpointReport> reports = {
      {&a, {4, 1, "400:bad", 1000, {}, {}}, " {\"n\":1} "},
      {&b, {0, 0, "", 0, {}, {}}, "not an object"}};
  const absl::Time started = absl::FromUnixSeconds(1700000000);
  EXPECT_EQ(internal::MarshalStats(Config(), "ID", started, reports),
            "{\"type\":\"io.nats.micro.v1.stats_response\",\"name\":\"svc\","
            "\"id\":\"ID\",\"version\":\"1.2.3\",\"metadata\":{\"k\":\"v\"},"
            "\"started\":\"2023-11-14T22:13:20Z\",\"endpoints\":["
            "{\"name\":\"a\",\"subject\":\"svc.a\",\"queue_group\":\"q\","
            "\"num_requests\":4,\"num_errors\":1,\"last_error\":\"400:bad\","
            "\"processing_time\":1000,\"average_processing_time\":250,"
            "\"data\":{\"n\":1}},"
            "{\"name\":\"b\",\"subject\":\"svc.b\",\"queue_group\":\"q\","
            "\"num_requests\":0,\"num_errors\":0,\"last_error\":\"\","
            "\"processing_time\":0,\"average_processing_time\":0}]}");
}

TEST(DefaultErrorCode, MapsCanonicalCodes) {
  EXPECT_EQ(DefaultErrorCode(absl::InvalidArgumentError("")), 400);
  EXPECT_EQ(DefaultErrorCode(absl::NotFoundError("")), 404);
  EXPECT_EQ(DefaultErrorCode(absl::FailedPreconditionError("")), 409);
  EXPECT_EQ(DefaultErrorCode(absl::OutOfRangeError("")), 413);
  EXPECT_EQ(DefaultErrorCode(absl::ResourceExhaustedError("")), 413);
  EXPECT_EQ(DefaultErrorCode(absl::UnavailableError("")), 503);
  EXPECT_EQ(DefaultErrorCode(absl::InternalError("")), 500);
  EXPECT_EQ(DefaultErrorCode(absl::PermissionDeniedError("")), 500);
}

}  // namespace
}  // namespace micro
