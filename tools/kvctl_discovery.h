// Readable tables from NATS micro-services discovery replies (ADR-32:
// io.nats.micro.v1.ping_response / info_response / stats_response), as kvctl
// ls / info / stats print them. Pure: the caller collects the replies.
#ifndef TOOLS_KVCTL_DISCOVERY_H_
#define TOOLS_KVCTL_DISCOVERY_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kv::tools {

// One table row per instance: NAME, ID, VERSION, sorted by name then id.
// Replies that are not JSON objects are skipped.
std::string FormatPingReplies(const std::vector<std::string>& replies);

// Per instance a heading (name, version, id, description) and a table of its
// endpoints: NAME, SUBJECT, QUEUE GROUP.
std::string FormatInfoReplies(const std::vector<std::string>& replies);

// One row per instance and endpoint: INSTANCE, ENDPOINT, REQUESTS, ERRORS,
// AVG LATENCY, LAST ERROR.
std::string FormatStatsReplies(const std::vector<std::string>& replies);

// A latency in nanoseconds for people: "850ns", "12.3us", "4.56ms", "1.20s".
std::string FormatNanos(int64_t nanos);

}  // namespace kv::tools

#endif  // TOOLS_KVCTL_DISCOVERY_H_
