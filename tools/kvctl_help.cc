// kvctl's help: the usage listing and each op's detail, from the API table.
#include "absl/strings/str_cat.h"
#include "kv/codec/ops.h"
#include "tools/kvctl_ops.h"

namespace kv::tools {
namespace {

constexpr const char* kDiscoveryHelp =
    "  ls                                running kv instances: name, id, version\n"
    "      nats micro ls kv              (request $SRV.PING.kv, every reply)\n"
    "  info                              endpoints and subjects of each instance\n"
    "      nats micro info kv            (request $SRV.INFO.kv, every reply)\n"
    "  stats                             requests, errors, latency per endpoint\n"
    "      nats micro stats kv           (request $SRV.STATS.kv, every reply)\n"
    "  status                            the replicas of --link, one row per node:\n"
    "                                    ready, keys, peers, lag, digest, agreement\n"
    "  check [--wait 10s]                exit 0 when every replica of --link is ready\n"
    "                                    with one digest (asking again until --wait),\n"
    "                                    else 1, printing who differs\n"
    "  watch [PREFIX] [--snapshot]       prints each change of the keys with PREFIX\n"
    "                                    as it comes (kv.<link>.changes.>), until\n"
    "                                    Ctrl-C; --snapshot: first every key, from\n"
    "                                    the watch op above\n";

constexpr const char* kFlagsHelp =
    "flags (anywhere on the line; --help lists them all):\n"
    "  --server URL       NATS server(s), comma-separated (default $NATS_URL,\n"
    "                     else nats://127.0.0.1:4222)\n"
    "  --link L           link name: subjects kv.<L>.<op> (default \"default\")\n"
    "  --timeout D        reply timeout (default 2s; for ls/info/stats the time to\n"
    "                     collect replies, default 500ms); a 503 (nothing changed:\n"
    "                     a node catching up, owners settling) is asked again\n"
    "                     until then\n"
    "  --json             print raw reply bodies (JSON) instead of text\n"
    "  --ttl SECONDS      set, add, push, set_add, mset: the key(s) expire after\n"
    "                     SECONDS\n"
    "  --base64           VALUE arguments and printed values are base64\n"
    "                     (\"encoding\":\"base64\" on the wire: binary values)\n"
    "  VALUE - or @FILE   read the value from stdin or FILE, any bytes (sent as\n"
    "                     base64); @@x is the literal value @x\n"
    "  --limit N          keys: print at most N keys (default: every page)\n"
    "  auth and TLS       --creds, --nkey, --user/--password, --token, --tls_ca,\n"
    "                     --tls_cert, --tls_key (secrets also from NATS_CREDS,\n"
    "                     NATS_NKEY, NATS_USER, NATS_PASSWORD, NATS_TOKEN)\n"
    "\n"
    "exit status: 0 success (also for a missing key), 1 service error or no\n"
    "connection, 2 usage error.\n";

}  // namespace

std::string NatsReqLine(const OpSpec& op, absl::string_view link) {
  return absl::StrCat("nats req ", OpSubject(link, op.name), " '", op.api->example, "'");
}

std::string UsageText(absl::string_view link) {
  std::string out =
      "kvctl: command-line client for the natskv key-value service\n"
      "(request/reply on kv.<link>.<op> over NATS, JSON bodies).\n\n"
      "usage: kvctl [flags] <op> args...\n"
      "       kvctl help [op]\n\n"
      "operations (each with the equivalent raw request):\n";
  for (const OpSpec& op : AllOps()) {
    std::string head = absl::StrCat("  ", op.name, " ", op.args);
    // A long usage puts the summary on the next line, in the same column.
    if (head.size() >= 34) absl::StrAppend(&head, "\n", std::string(34, ' '));
    if (head.size() < 34) head.resize(34, ' ');
    absl::StrAppend(&out, head, " ", op.api->summary, "\n      ", NatsReqLine(op, link),
                    "\n");
  }
  absl::StrAppend(&out, "\nservice discovery (NATS micro protocol):\n", kDiscoveryHelp,
                  "\n", kFlagsHelp);
  return out;
}

std::string OpHelp(const OpSpec& op, absl::string_view link) {
  std::string example = absl::StrCat("kvctl ", op.name);
  for (const std::string& a : op.example_args) absl::StrAppend(&example, " ", a);
  if (const auto& ttl = op.example_options.ttl_seconds) {
    absl::StrAppend(&example, " --ttl ", *ttl);
  }
  if (const auto& limit = op.example_options.limit) {
    absl::StrAppend(&example, " --limit ", *limit);
  }
  return absl::StrCat("usage: kvctl [flags] ", op.name, " ", op.args, "\n\n  ",
                      op.api->summary, "\n\n  subject: ", OpSubject(link, op.name),
                      "\n  request: ", codec::RequestDoc(*op.api),
                      "\n  reply:   ", codec::ReplyDoc(*op.api),
                      "\n\n  example: ", example, "\n  same as: ", NatsReqLine(op, link),
                      "\n");
}

}  // namespace kv::tools
