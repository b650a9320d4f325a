// kvctl: the command-line client for natskv. Sends one request per op to
// kv.<link>.<op> and prints the reply for people (or raw with --json); ls,
// info and stats query the NATS micro-services discovery subjects.
// `kvctl help` lists every op with its equivalent `nats req` line.

#include <nats/nats.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "kv/codec/position.h"
#include "kv/transport/connection.h"
#include "kv/transport/flags.h"
#include "tools/kvctl_args.h"
#include "tools/kvctl_discovery.h"
#include "tools/kvctl_ops.h"
#include "tools/kvctl_status.h"
#include "tools/kvctl_watch.h"

ABSL_FLAG(std::string, link, "default", "link name: requests go to kv.<link>.<op>");
ABSL_FLAG(absl::Duration, timeout, absl::ZeroDuration(),
          "reply timeout; 0 means 2s for operations and 500ms (the time to collect "
          "replies) for ls/info/stats");
ABSL_FLAG(bool, json, false, "print raw reply bodies (JSON) instead of text");
ABSL_FLAG(int64_t, ttl, 0,
          "set, mset: expire the key(s) after this many seconds (0: never)");
ABSL_FLAG(bool, base64, false,
          "VALUE arguments and printed values are base64 (\"encoding\":\"base64\")");
ABSL_FLAG(int64_t, limit, 0, "keys: print at most this many keys (0: all)");
ABSL_FLAG(std::string, if, "",
          "set: only if the key is \"absent\" or \"present\" (else 412, nothing "
          "changes)");
ABSL_FLAG(std::string, revision, "",
          "set, del: only if the key is at this revision (0: absent; else 412); "
          "the revision is in --json replies");
ABSL_FLAG(std::string, end, "",
          "pop: the end to take the item from, left (default) or right");
ABSL_FLAG(std::string, after, "",
          "run the request only once the node applied this position (the "
          "Kv-Position of an earlier reply, printed by --json or --verbose): "
          "read-your-writes across nodes even after lost messages");
ABSL_FLAG(absl::Duration, wait, absl::ZeroDuration(),
          "check: keep asking until the replicas agree or this long has passed");
ABSL_FLAG(bool, snapshot, false,
          "watch: first print every key of the prefix (\"= KEY ...\" lines, from "
          "the watch op), then only the changes they do not include");
ABSL_FLAG(bool, verbose, false,
          "also print the reply's position (Kv-Position) on stderr, as --json does");

namespace kv::tools {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr absl::Duration kOpTimeout = absl::Seconds(2);
constexpr absl::Duration kDiscoveryWait = absl::Milliseconds(500);

// A reply: its body, and the service error it carries, if any.
struct CallResult {
  std::string body;
  std::optional<ServiceError> error;
  std::string position;  // Kv-Position, empty when absent
};

int UsageError(absl::string_view message, const OpSpec* op) {
  std::cerr << "kvctl: " << message << "\n";
  if (op != nullptr) {
    std::cerr << "usage: kvctl [flags] " << op->name << " " << op->args << "\n";
  } else {
    std::cerr << "usage: kvctl [flags] <op> args...   (kvctl help: every op)\n";
  }
  return kExitUsage;
}

int Failure(absl::string_view message) {
  std::cerr << "kvctl: " << message << "\n";
  return kExitFailure;
}

std::string ServerUrls() {
  return transport::RedactUrls(transport::OptionsFromFlags().servers);
}

absl::StatusOr<transport::Connection> ConnectFromFlags(absl::Duration timeout) {
  transport::ConnectOptions options = transport::OptionsFromFlags();
  options.timeout = timeout;
  if (options.name.empty()) options.name = "kvctl";
  return transport::Connect(options);
}

// Sends one request, with header Kv-After: --after when set. Unavailable: no
// responders, no reply in time or a lost connection, with a message naming the
// subject and the server.
absl::StatusOr<CallResult> Call(natsConnection* nc, const std::string& subject,
                                const std::string& body, absl::Duration timeout) {
  natsMsg* reply = nullptr;
  natsMsg* request = nullptr;
  natsStatus s = natsMsg_Create(&request, subject.c_str(), nullptr, body.data(),
                                static_cast<int>(body.size()));
  const std::string after = absl::GetFlag(FLAGS_after);
  if (s == NATS_OK && !after.empty()) {
    s = natsMsgHeader_Set(request, codec::kAfterHeader, after.c_str());
  }
  if (s == NATS_OK) {
    s = natsConnection_RequestMsg(&reply, nc, request,
                                  absl::ToInt64Milliseconds(timeout));
  }
  natsMsg_Destroy(request);
  if (s == NATS_NO_RESPONDERS) {
    return absl::UnavailableError(
        absl::StrCat("no kv service answers on ", subject, "; is kvd running?"));
  }
  if (s == NATS_TIMEOUT) {
    return absl::UnavailableError(absl::StrCat("no reply on ", subject, " within ",
                                               absl::FormatDuration(timeout), " (server ",
                                               ServerUrls(), ")"));
  }
  if (s != NATS_OK) {
    return absl::UnavailableError(absl::StrCat("request on ", subject,
                                               " failed: ", natsStatus_GetText(s),
                                               " (server ", ServerUrls(), ")"));
  }
  CallResult result;
  result.body.assign(natsMsg_GetData(reply), natsMsg_GetDataLength(reply));
  const char* code = nullptr;
  const char* message = nullptr;
  natsMsgHeader_Get(reply, "Nats-Service-Error-Code", &code);
  natsMsgHeader_Get(reply, "Nats-Service-Error", &message);
  result.error = FindServiceError(code, message, result.body);
  const char* position = nullptr;
  if (natsMsgHeader_Get(reply, codec::kPositionHeader, &position) == NATS_OK &&
      position != nullptr) {
    result.position = position;
  }
  natsMsg_Destroy(reply);
  return result;
}

// With --json or --verbose, the reply's position on stderr (stdout keeps the
// reply alone).
void PrintPosition(const CallResult& result) {
  if (result.position.empty()) return;
  if (absl::GetFlag(FLAGS_json) || absl::GetFlag(FLAGS_verbose)) {
    std::cerr << codec::kPositionHeader << ": " << result.position << "\n";
  }
}

int PrintServiceError(const ServiceError& e) {
  std::cerr << "error " << e.code << ": " << e.message << "\n";
  return kExitFailure;
}

// Collects every reply to an empty request on `subject` for `wait`.
absl::StatusOr<std::vector<std::string>> CollectReplies(natsConnection* nc,
                                                        const std::string& subject,
                                                        absl::Duration wait) {
  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  natsStatus s = natsInbox_Create(&inbox);
  if (s == NATS_OK) s = natsConnection_SubscribeSync(&sub, nc, inbox);
  if (s == NATS_OK) s = natsConnection_PublishRequest(nc, subject.c_str(), inbox, "", 0);
  if (s == NATS_OK) s = natsConnection_Flush(nc);
  std::vector<std::string> replies;
  const absl::Time deadline = absl::Now() + wait;
  while (s == NATS_OK) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    natsMsg* msg = nullptr;
    if (ms <= 0 || natsSubscription_NextMsg(&msg, sub, ms) != NATS_OK) break;
    const bool no_responders = natsMsg_IsNoResponders(msg);
    if (!no_responders) {
      replies.emplace_back(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    }
    natsMsg_Destroy(msg);
    if (no_responders) break;  // nobody subscribes: no reply will come
  }
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
  if (s != NATS_OK) {
    return absl::UnavailableError(
        absl::StrCat("request on ", subject, " failed: ", natsStatus_GetText(s)));
  }
  return replies;
}

int RunDiscovery(const std::string& verb, absl::Duration wait) {
  absl::StatusOr<transport::Connection> nc = ConnectFromFlags(kOpTimeout);
  if (!nc.ok()) return Failure(nc.status().message());
  std::string upper = verb == "ls" ? "PING" : verb == "info" ? "INFO" : "STATS";
  const std::string subject = absl::StrCat("$SRV.", upper, ".kv");
  absl::StatusOr<std::vector<std::string>> replies =
      CollectReplies(nc->get(), subject, wait);
  if (!replies.ok()) return Failure(replies.status().message());
  if (replies->empty()) {
    return Failure(absl::StrCat("no kv service answered on ", subject, " within ",
                                absl::FormatDuration(wait), " (server ", ServerUrls(),
                                "); is kvd running?"));
  }
  if (absl::GetFlag(FLAGS_json)) {
    for (const std::string& r : *replies) std::cout << r << "\n";
  } else if (verb == "ls") {
    std::cout << FormatPingReplies(*replies);
  } else if (verb == "info") {
    std::cout << FormatInfoReplies(*replies);
  } else {
    std::cout << FormatStatsReplies(*replies);
  }
  return kExitOk;
}

// kvctl status: the replicas of --link; kvctl check: exit 0 when they agree,
// asking again every `wait` (the time to collect replies) until --wait passed.
int RunReplicas(const std::string& verb, absl::Duration wait) {
  absl::StatusOr<transport::Connection> nc = ConnectFromFlags(kOpTimeout);
  if (!nc.ok()) return Failure(nc.status().message());
  const std::string link = absl::GetFlag(FLAGS_link);
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_wait);
  while (true) {
    absl::StatusOr<std::vector<std::string>> replies =
        CollectReplies(nc->get(), "$SRV.STATS.kv", wait);
    if (!replies.ok()) return Failure(replies.status().message());
    const std::vector<ReplicaRow> rows = ParseReplicaRows(*replies, link);
    if (verb == "status") {
      if (rows.empty()) {
        return Failure(
            absl::StrCat("no kvd serves link ", link, " (server ", ServerUrls(), ")"));
      }
      std::cout << FormatReplicaRows(rows);
      return kExitOk;
    }
    const Agreement agreement = CheckAgreement(rows, link);
    if (agreement.ok || absl::Now() >= deadline) {
      (agreement.ok ? std::cout : std::cerr) << agreement.message << "\n";
      return agreement.ok ? kExitOk : kExitFailure;
    }
  }
}

// The options set by flags; BuildRequest checks that they apply to the op.
absl::StatusOr<RequestOptions> OptionsFromFlags() {
  RequestOptions options;
  if (const std::string rev = absl::GetFlag(FLAGS_revision); !rev.empty()) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(rev, &n)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--revision must be an integer between 0 and 2^64-1 (got '", rev, "')"));
    }
    options.revision = n;
  }
  if (int64_t ttl = absl::GetFlag(FLAGS_ttl); ttl != 0) options.ttl_seconds = ttl;
  if (int64_t limit = absl::GetFlag(FLAGS_limit); limit != 0) options.limit = limit;
  options.base64 = absl::GetFlag(FLAGS_base64);
  options.if_state = absl::GetFlag(FLAGS_if);
  options.end = absl::GetFlag(FLAGS_end);
  return options;
}

// Follows the cursor through every page, printing as pages arrive, up to
// options.limit keys in all.
int RunKeys(natsConnection* nc, const OpSpec& op, const std::vector<std::string>& args,
            RequestOptions options, absl::Duration timeout) {
  const std::optional<int64_t> cap = options.limit;
  const std::string subject = OpSubject(absl::GetFlag(FLAGS_link), op.name);
  int64_t printed = 0;
  while (true) {
    if (cap) options.limit = *cap - printed;
    absl::StatusOr<std::string> body = BuildRequest(op, args, options);
    if (!body.ok()) return UsageError(body.status().message(), &op);
    absl::StatusOr<CallResult> result = Call(nc, subject, *body, timeout);
    if (!result.ok()) return Failure(result.status().message());
    if (result->error) return PrintServiceError(*result->error);
    absl::StatusOr<KeysPage> page = ParseKeysPage(result->body);
    if (!page.ok()) return Failure(page.status().message());
    if (absl::GetFlag(FLAGS_json)) std::cout << result->body << "\n";
    for (const std::string& key : page->keys) {
      if (cap && printed >= *cap) break;
      if (!absl::GetFlag(FLAGS_json)) std::cout << key << "\n";
      ++printed;
    }
    std::cout.flush();
    if (page->cursor.empty() || (cap && printed >= *cap)) return kExitOk;
    if (page->cursor == options.cursor)
      return Failure("keys: the cursor did not advance");
    options.cursor = page->cursor;
  }
}

int RunOp(const OpSpec& op, const std::vector<std::string>& args) {
  if (const std::string after = absl::GetFlag(FLAGS_after); !after.empty()) {
    if (absl::Status s = codec::ParsePosition(after).status(); !s.ok()) {
      return UsageError(absl::StrCat("--after: ", s.message()), &op);
    }
  }
  const absl::StatusOr<RequestOptions> flagged = OptionsFromFlags();
  if (!flagged.ok()) return UsageError(flagged.status().message(), &op);
  const RequestOptions& options = *flagged;
  absl::StatusOr<std::string> body = BuildRequest(op, args, options);
  if (!body.ok()) return UsageError(body.status().message(), &op);
  absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout <= absl::ZeroDuration()) timeout = kOpTimeout;
  absl::StatusOr<transport::Connection> nc = ConnectFromFlags(timeout);
  if (!nc.ok()) return Failure(nc.status().message());
  if (op.paged) return RunKeys(nc->get(), op, args, options, timeout);
  // A 503 changed nothing (catching up, owners settling): asked again until the timeout.
  const absl::Time give_up = absl::Now() + timeout;
  absl::StatusOr<CallResult> result;
  for (absl::Duration pause = absl::Milliseconds(50);;
       pause = std::min(2 * pause, absl::Milliseconds(500))) {
    result = Call(nc->get(), OpSubject(absl::GetFlag(FLAGS_link), op.name), *body,
                  std::max(give_up - absl::Now(), absl::Milliseconds(1)));
    const bool again = result.ok() && result->error && result->error->code == 503;
    if (!again || absl::Now() + pause >= give_up) break;
    absl::SleepFor(pause);
  }
  if (!result.ok()) return Failure(result.status().message());
  if (result->error) return PrintServiceError(*result->error);
  PrintPosition(*result);
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << result->body << "\n";
    return kExitOk;
  }
  absl::StatusOr<std::string> text = FormatReply(op, result->body);
  if (!text.ok()) return Failure(text.status().message());
  std::cout << *text;
  return kExitOk;
}

std::atomic<bool> interrupted{false};
void OnInterrupt(int) { interrupted.store(true); }

// kvctl watch [PREFIX] [--snapshot]: prints each change of the keys with the
// prefix as it comes (README.md, "Watching"), until SIGINT or SIGTERM.
int RunWatch(const std::vector<std::string>& args) {
  if (args.size() > 1) return UsageError("watch takes at most one PREFIX", nullptr);
  const std::string prefix = args.empty() ? "" : args[0];
  const std::string link = absl::GetFlag(FLAGS_link);
  absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout <= absl::ZeroDuration()) timeout = kOpTimeout;
  absl::StatusOr<transport::Connection> nc = ConnectFromFlags(timeout);
  if (!nc.ok()) return Failure(nc.status().message());
  // Subscribed before the snapshot is read: no change falls in between.
  std::vector<natsSubscription*> subs;
  natsStatus s = NATS_OK;
  for (const std::string& subject : WatchSubjects(link, prefix)) {
    natsSubscription* sub = nullptr;
    if (s == NATS_OK) s = natsConnection_SubscribeSync(&sub, nc->get(), subject.c_str());
    if (sub != nullptr) subs.push_back(sub);
  }
  if (s == NATS_OK) s = natsConnection_Flush(nc->get());
  auto done = [&](int code) {
    for (natsSubscription* sub : subs) natsSubscription_Destroy(sub);
    return code;
  };
  if (s != NATS_OK) {
    return done(Failure(absl::StrCat("cannot subscribe: ", natsStatus_GetText(s))));
  }
  const bool json = absl::GetFlag(FLAGS_json);
  SnapshotRule rule;
  if (absl::GetFlag(FLAGS_snapshot)) {
    std::string cursor;
    do {
      RequestOptions options;
      options.cursor = cursor;
      absl::StatusOr<std::string> body = BuildRequest(*FindOp("watch"), args, options);
      if (!body.ok()) return done(UsageError(body.status().message(), nullptr));
      absl::StatusOr<CallResult> result =
          Call(nc->get(), OpSubject(link, "watch"), *body, timeout);
      if (!result.ok()) return done(Failure(result.status().message()));
      if (result->error) return done(PrintServiceError(*result->error));
      absl::StatusOr<WatchPage> page = ParseWatchPage(result->body);
      if (!page.ok()) return done(Failure(page.status().message()));
      if (json) std::cout << result->body << "\n";
      for (const Change& e : page->entries) {
        if (!json) std::cout << FormatChange(e) << "\n";
      }
      std::cout.flush();
      rule.AddPage(*page);
      if (!page->cursor.empty() && page->cursor == cursor) {
        return done(Failure("watch: the cursor did not advance"));
      }
      cursor = page->cursor;
    } while (!cursor.empty());
  }
  signal(SIGINT, OnInterrupt);
  signal(SIGTERM, OnInterrupt);
  // One subscription is polled at a time; each waits briefly, so that an
  // interrupt ends the watch within about 100 ms.
  while (!interrupted.load()) {
    for (natsSubscription* sub : subs) {
      natsMsg* msg = nullptr;
      const int wait_ms = subs.size() == 1 ? 100 : 20;
      if (natsSubscription_NextMsg(&msg, sub, wait_ms) != NATS_OK) continue;
      const std::string data(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
      natsMsg_Destroy(msg);
      absl::StatusOr<Change> change = ParseChange(data);
      if (!change.ok()) {
        std::cerr << "kvctl: ignoring a message that is no change: "
                  << change.status().message() << "\n";
        continue;
      }
      if (!absl::StartsWith(change->key, prefix) || rule.Covered(*change)) continue;
      std::cout << (json ? data : FormatChange(*change)) << "\n";
      std::cout.flush();
    }
  }
  return done(kExitOk);
}

int RunHelp(const std::vector<std::string>& args) {
  const std::string link = absl::GetFlag(FLAGS_link);
  if (args.empty()) {
    std::cout << UsageText(link);
    return kExitOk;
  }
  if (args.size() > 1) return UsageError("help takes at most one op", nullptr);
  if (const OpSpec* op = FindOp(args[0])) {
    std::cout << OpHelp(*op, link);
    return kExitOk;
  }
  if (args[0] == "ls" || args[0] == "info" || args[0] == "stats" || args[0] == "status" ||
      args[0] == "check") {
    std::cout << UsageText(link);
    return kExitOk;
  }
  return UsageError(absl::StrCat("unknown op '", args[0], "'"), nullptr);
}

// The positional arguments, negative numbers after the op included.
// InvalidArgument for a flag this program does not define.
absl::StatusOr<std::vector<std::string>> ParseArgs(int argc, char** argv) {
  const ScannedArgs scanned =
      PreScanArgs(std::vector<std::string>(argv, argv + argc), AbslFlagKind);
  if (!scanned.unknown_flags.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown flag '", scanned.unknown_flags[0],
                     "' (a value starting with '-' goes after --: kvctl set k -- -x)"));
  }
  std::vector<char*> flag_argv;
  for (const std::string& a : scanned.for_flag_parser) {
    flag_argv.push_back(const_cast<char*>(a.c_str()));
  }
  std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(flag_argv.size()), flag_argv.data());
  return MergeNegatives(std::vector<std::string>(rest.begin() + 1, rest.end()),
                        scanned.negatives);
}

int Main(int argc, char** argv) {
  // absl prints "kvctl: " before the message itself.
  transport::SetUsage(absl::StripPrefix(UsageText("default"), "kvctl: "));
  transport::HandleHelp(argc, argv);
  absl::StatusOr<std::vector<std::string>> parsed = ParseArgs(argc, argv);
  if (!parsed.ok()) return UsageError(parsed.status().message(), nullptr);
  const std::vector<std::string>& positional = *parsed;
  if (positional.empty()) return UsageError("no op given", nullptr);
  const std::string verb = positional[0];
  const std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (verb == "help") return RunHelp(args);
  if (verb == "watch") return RunWatch(args);
  if (verb == "ls" || verb == "info" || verb == "stats") {
    if (!args.empty())
      return UsageError(absl::StrCat(verb, " takes no arguments"), nullptr);
    absl::Duration wait = absl::GetFlag(FLAGS_timeout);
    return RunDiscovery(verb, wait > absl::ZeroDuration() ? wait : kDiscoveryWait);
  }
  if (verb == "status" || verb == "check") {
    if (!args.empty())
      return UsageError(absl::StrCat(verb, " takes no arguments"), nullptr);
    absl::Duration wait = absl::GetFlag(FLAGS_timeout);
    return RunReplicas(verb, wait > absl::ZeroDuration() ? wait : kDiscoveryWait);
  }
  const OpSpec* op = FindOp(verb);
  if (op == nullptr) return UsageError(absl::StrCat("unknown op '", verb, "'"), nullptr);
  return RunOp(*op, args);
}

}  // namespace
}  // namespace kv::tools

int main(int argc, char** argv) {
  const int status = kv::tools::Main(argc, argv);
  std::cout.flush();  // before any exit-time checker may end the process
  return status;
}
