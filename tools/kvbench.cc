// kvbench: a pipelined load generator for kvd. Keeps N requests in flight on
// one NATS connection for a warm-up and a measured window, then prints
// requests/s, latency percentiles and errors per op and in-flight setting.
// With --baseline echo it also measures a bare nats.c echo responder (a child
// process it starts and stops itself), with --baseline jetstream a JetStream KV
// bucket on the same server, and shows kvd's figures as ratios to them.

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "kv/transport/connection.h"
#include "kv/transport/flags.h"
#include "tools/kvbench_echo.h"
#include "tools/kvbench_jetstream.h"
#include "tools/kvbench_load.h"
#include "tools/kvbench_notify.h"
#include "tools/kvbench_report.h"
#include "tools/kvbench_workload.h"
#include "tools/kvctl_ops.h"

ABSL_FLAG(
    std::string, op, "get",
    "get, set, set_if (a set with \"if\":\"present\", decided by the key's owner), add, "
    "push, pop (of lists preloaded with 16 items each, decided by the key's owner), mget "
    "or mixed (80% get, 20% set)");
ABSL_FLAG(int64_t, batch_keys, 100, "mget: keys per request");
ABSL_FLAG(int64_t, keys, 10000, "key space: requests pick among this many keys");
ABSL_FLAG(int64_t, value_size, 100, "bytes per value (set, push, mixed, preload)");
ABSL_FLAG(std::string, inflight, "1",
          "requests kept in flight; a comma list (1,128) runs each in turn");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "measured time per run");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2), "unmeasured time before each run");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5),
          "a request without a reply after this long counts as an error");
ABSL_FLAG(std::string, link, "default", "link name: requests go to kv.<link>.<op>");
ABSL_FLAG(bool, json, false, "print the results as JSON instead of a table");
ABSL_FLAG(bool, preload, true,
          "set every key once before a get or mixed run, so reads hit data");
ABSL_FLAG(std::string, baseline, "",
          "echo, jetstream or echo,jetstream: also measure a bare nats.c echo "
          "responder and/or a memory JetStream KV bucket (get, put) on the same "
          "server, and print ratios to them");
ABSL_FLAG(bool, kvd, true, "measure kvd (--nokvd with --baseline: the baselines only)");
ABSL_FLAG(std::string, bucket, "",
          "the JetStream KV bucket --baseline jetstream creates and deletes "
          "(default kvbench_<pid>)");
ABSL_FLAG(bool, send_asap, true,
          "write each publish at once (client and echo) rather than through "
          "nats.c's flusher thread, which adds about 1 ms per hop at low load");
ABSL_FLAG(bool, notify_latency, false,
          "also subscribe to kv.<link>.changes.> and print, per kvd run, how long change "
          "notifications took from their write's stamp (1 ms resolution; same machine)");
ABSL_FLAG(bool, serve_echo, false, "internal: run as the echo responder");
ABSL_FLAG(std::string, echo_subject, "", "internal: the echo responder's subject");

namespace kv::tools {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kPreloadInflight = 128;

constexpr const char* kUsage =
    // absl prints "kvbench: " before it.
    "pipelined load generator for kvd (kv.<link>.<op> over NATS).\n\n"
    "usage: kvbench [--server URL] [--op get|set|set_if|add|push|pop|mget|mixed] "
    "[--inflight "
    "1,128]\n"
    "               [--duration 10s] [--warmup 2s] [--keys 10000] [--value_size 100]\n"
    "               [--batch_keys 100]\n"
    "               [--baseline echo,jetstream] [--json]\n\n"
    "Keeps --inflight requests in flight on one connection (each reply sends the\n"
    "next), prints progress once a second on stderr and a table on stdout:\n"
    "requests/s, p50/p90/p99/max latency in microseconds, errors (error replies\n"
    "and timeouts). --baseline echo starts a bare nats.c echo responder as a\n"
    "child process, measures it the same way at each in-flight setting, and\n"
    "shows kvd's req/s and p50 as ratios to it. --baseline jetstream creates a\n"
    "memory JetStream KV bucket (nats.c's kvStore API) on the same server,\n"
    "measures its get (direct get) and put with the same keys, values and\n"
    "in-flight counts, shows kvd's ratios to it, and deletes the bucket; the\n"
    "server needs JetStream (nats-server -js). --op mget reads --batch_keys\n"
    "keys per request and adds a keys/s column. Exit status: 0 done, 1 no\n"
    "connection, no kvd or no JetStream, 2 usage error.\n\n"
    "example: kvbench --server nats://127.0.0.1:4222 --op get --inflight 1,128 "
    "--baseline echo";

struct Settings {
  std::vector<int> inflight;
  Baselines baselines;
  bool kvd = true;
};

int UsageError(absl::string_view message) {
  std::cerr << "kvbench: " << message << "\n(kvbench --help lists every flag)\n";
  return kExitUsage;
}

int Failure(absl::string_view message) {
  std::cerr << "kvbench: " << message << "\n";
  return kExitFailure;
}

absl::StatusOr<Settings> SettingsFromFlags() {
  Settings s;
  absl::StatusOr<std::vector<int>> inflight =
      ParseInflightList(absl::GetFlag(FLAGS_inflight));
  if (!inflight.ok()) return inflight.status();
  s.inflight = *inflight;
  absl::StatusOr<Baselines> baselines = ParseBaselines(absl::GetFlag(FLAGS_baseline));
  if (!baselines.ok()) return baselines.status();
  s.baselines = *baselines;
  s.kvd = absl::GetFlag(FLAGS_kvd);
  if (!s.kvd && !s.baselines.echo && !s.baselines.jetstream)
    return absl::InvalidArgumentError("--nokvd needs a --baseline");
  if (absl::GetFlag(FLAGS_duration) <= absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_warmup) < absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_timeout) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--duration and --timeout must be positive, --warmup not negative");
  }
  return s;
}

LoadOptions BaseLoad(const Workload& workload, std::vector<std::string> subjects) {
  LoadOptions load;
  load.subjects = std::move(subjects);
  load.next = [&workload](uint64_t seq) { return workload.Next(seq); };
  load.warmup = absl::GetFlag(FLAGS_warmup);
  load.duration = absl::GetFlag(FLAGS_duration);
  load.timeout = absl::GetFlag(FLAGS_timeout);
  return load;
}

// Fails with the message users need when nobody serves the kvd subjects.
absl::Status CheckKvd(natsConnection* nc, const Workload& workload,
                      const std::vector<std::string>& subjects) {
  for (size_t i = 0; i < subjects.size(); ++i) {
    const std::string& body = workload.PreloadBody(0);
    absl::Status s = Probe(nc, subjects[i], body, absl::GetFlag(FLAGS_timeout));
    if (absl::IsNotFound(s)) {
      return absl::UnavailableError(
          absl::StrCat("no kv service answers on ", subjects[i], "; is kvd running?"));
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Sends request i for i in [0, keys) once, `kPreloadInflight` at a time.
absl::Status Preload(natsConnection* nc, const std::string& what, LoadOptions load,
                     int64_t keys) {
  load.inflight = kPreloadInflight;
  load.timeout = absl::GetFlag(FLAGS_timeout);
  load.total = static_cast<uint64_t>(keys);
  load.progress_label = absl::StrCat("preload ", what);
  std::cerr << "kvbench: preloading " << keys << " keys into " << what << "\n";
  absl::StatusOr<LoadResult> result = RunLoad(nc, load);
  if (!result.ok()) return result.status();
  if (result->errors > 0) {
    std::cerr << "kvbench: preload " << what << ": " << result->errors << " of " << keys
              << " puts failed\n";
  }
  return absl::OkStatus();
}

absl::Status PreloadKvd(natsConnection* nc, const Workload& workload) {
  LoadOptions load;
  load.subjects = {OpSubject(absl::GetFlag(FLAGS_link), workload.preload_op())};
  load.next = [&workload](uint64_t seq) {
    return WorkItem{0, &workload.PreloadBody(seq)};
  };
  return Preload(nc, "kvd", std::move(load), workload.preload_count());
}

// The JetStream baseline, ready to measure: its bucket (deleted with it) and
// its requests.
struct JetStreamTarget {
  std::unique_ptr<JetStreamBucket> bucket;
  std::unique_ptr<JetStreamWorkload> workload;
};

absl::StatusOr<JetStreamTarget> StartJetStream(natsConnection* nc,
                                               const Workload& workload) {
  std::string name = absl::GetFlag(FLAGS_bucket);
  if (name.empty()) name = absl::StrCat("kvbench_", getpid());
  JetStreamTarget target;
  absl::StatusOr<std::unique_ptr<JetStreamBucket>> bucket =
      JetStreamBucket::Create(nc, name, absl::GetFlag(FLAGS_timeout));
  if (!bucket.ok()) return bucket.status();
  target.bucket = *std::move(bucket);
  absl::StatusOr<JetStreamWorkload> requests =
      JetStreamWorkload::Create(workload, name, target.bucket->direct());
  if (!requests.ok()) return requests.status();
  target.workload = std::make_unique<JetStreamWorkload>(*std::move(requests));
  std::cerr << "kvbench: JetStream KV bucket " << name << " (memory, history 1); get: "
            << (target.bucket->direct()
                    ? "direct get ($JS.API.DIRECT.GET.KV_" + name + ".$KV." + name +
                          ".<key>)"
                    : "message get ($JS.API.STREAM.MSG.GET.KV_" + name + ")")
            << ", put: $KV." << name << ".<key>, as kvStore_Get and kvStore_Put\n";
  if (workload.reads() && absl::GetFlag(FLAGS_preload)) {
    const JetStreamWorkload* js = target.workload.get();
    LoadOptions load;
    load.subjects = {""};  // every item names its subject
    load.check = ReplyCheck::kJetStream;
    load.next = [js](uint64_t seq) { return js->Preload(seq); };
    absl::Status s = Preload(nc, "jetstream", std::move(load), workload.keys());
    if (!s.ok()) return s;
  }
  return target;
}

absl::StatusOr<BenchRow> Measure(natsConnection* nc, LoadOptions load,
                                 const std::string& target, int inflight,
                                 int64_t keys_per_request) {
  const std::string op = absl::GetFlag(FLAGS_op);
  load.inflight = inflight;
  load.progress_label = absl::StrCat(target, " ", op, " x", inflight);
  absl::StatusOr<LoadResult> result = RunLoad(nc, load);
  if (!result.ok()) return result.status();
  BenchRow row;
  row.target = target;
  row.op = op;
  row.inflight = inflight;
  row.keys_per_request = keys_per_request;
  row.seconds = result->seconds;
  row.requests = result->requests;
  row.errors = result->errors;
  SetLatencies(&result->latencies, &row);
  if (result->no_responders > 0) {
    std::cerr << "kvbench: " << target << ": " << result->no_responders
              << " requests found no responders\n";
  }
  return row;
}

absl::StatusOr<std::vector<BenchRow>> RunAll(natsConnection* nc,
                                             const transport::ConnectOptions& options,
                                             const Settings& settings,
                                             const Workload& workload) {
  std::vector<std::string> kvd_subjects;
  for (const std::string& op : workload.ops()) {
    kvd_subjects.push_back(OpSubject(absl::GetFlag(FLAGS_link), op));
  }
  if (settings.kvd) {
    if (absl::Status s = CheckKvd(nc, workload, kvd_subjects); !s.ok()) return s;
  }
  // Both are stopped (the echo process) and deleted (the bucket) on every
  // return below.
  JetStreamTarget jetstream;
  if (settings.baselines.jetstream) {
    absl::StatusOr<JetStreamTarget> started = StartJetStream(nc, workload);
    if (!started.ok()) return started.status();
    jetstream = *std::move(started);
  }
  if (settings.kvd && workload.reads() && absl::GetFlag(FLAGS_preload)) {
    if (absl::Status s = PreloadKvd(nc, workload); !s.ok()) return s;
  }
  std::unique_ptr<EchoProcess> echo;
  const std::string echo_subject = absl::StrCat("_kvbench.echo.", getpid());
  if (settings.baselines.echo) {
    absl::StatusOr<std::unique_ptr<EchoProcess>> started =
        EchoProcess::Start(options, nc, echo_subject);
    if (!started.ok()) return started.status();
    echo = *std::move(started);
  }
  std::unique_ptr<NotifyWatch> notify;
  if (settings.kvd && absl::GetFlag(FLAGS_notify_latency)) {
    absl::StatusOr<std::unique_ptr<NotifyWatch>> started =
        NotifyWatch::Start(nc, absl::GetFlag(FLAGS_link));
    if (!started.ok()) return started.status();
    notify = *std::move(started);
  }
  std::vector<BenchRow> rows;
  for (int inflight : settings.inflight) {
    if (settings.baselines.echo) {
      std::vector<std::string> subjects(workload.ops().size(), echo_subject);
      absl::StatusOr<BenchRow> row = Measure(nc, BaseLoad(workload, subjects), "echo",
                                             inflight, workload.keys_per_request());
      if (!row.ok()) return row.status();
      rows.push_back(*row);
    }
    if (settings.kvd) {
      if (notify) notify->TakeReport();  // not the preload's nor the warm-up's
      absl::StatusOr<BenchRow> row = Measure(nc, BaseLoad(workload, kvd_subjects), "kvd",
                                             inflight, workload.keys_per_request());
      if (!row.ok()) return row.status();
      rows.push_back(*row);
      if (notify) {
        std::cerr << "kvbench: kvd x" << inflight << ": " << notify->TakeReport() << "\n";
      }
    }
    if (settings.baselines.jetstream) {
      LoadOptions load = BaseLoad(workload, std::vector<std::string>(2));
      const JetStreamWorkload* js = jetstream.workload.get();
      load.next = [js](uint64_t seq) { return js->Next(seq); };
      load.check = ReplyCheck::kJetStream;
      absl::StatusOr<BenchRow> row =
          Measure(nc, std::move(load), "jetstream", inflight, 1);
      if (!row.ok()) return row.status();
      rows.push_back(*row);
    }
  }
  return rows;
}

int Main(int argc, char** argv) {
  transport::SetUsage(kUsage);
  transport::HandleHelp(argc, argv);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1)
    return UsageError(absl::StrCat("unexpected argument '", rest[1], "'"));
  transport::ConnectOptions options = transport::OptionsFromFlags();
  options.send_asap = absl::GetFlag(FLAGS_send_asap);
  if (absl::GetFlag(FLAGS_serve_echo)) {
    absl::Status s = ServeEcho(options, absl::GetFlag(FLAGS_echo_subject));
    return s.ok() ? kExitOk : Failure(s.message());
  }
  absl::StatusOr<Settings> settings = SettingsFromFlags();
  if (!settings.ok()) return UsageError(settings.status().message());
  absl::StatusOr<Workload> workload =
      Workload::Create(absl::GetFlag(FLAGS_op), absl::GetFlag(FLAGS_keys),
                       absl::GetFlag(FLAGS_value_size), absl::GetFlag(FLAGS_batch_keys));
  if (!workload.ok()) return UsageError(workload.status().message());
  if (settings->baselines.jetstream) {
    absl::Status s = JetStreamWorkload::CheckOp(workload->name());
    if (!s.ok()) return UsageError(s.message());
  }
  if (options.name.empty()) options.name = "kvbench";
  absl::StatusOr<transport::Connection> nc = transport::Connect(options);
  if (!nc.ok()) return Failure(nc.status().message());
  absl::StatusOr<std::vector<BenchRow>> rows =
      RunAll(nc->get(), options, *settings, *workload);
  if (!rows.ok()) return Failure(rows.status().message());
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << FormatBenchJson(*rows) << "\n";
  } else {
    std::cout << "# kvbench --op " << absl::GetFlag(FLAGS_op) << " --keys "
              << absl::GetFlag(FLAGS_keys) << " --value_size "
              << absl::GetFlag(FLAGS_value_size)
              << (absl::GetFlag(FLAGS_op) == "mget"
                      ? absl::StrCat(" --batch_keys ", absl::GetFlag(FLAGS_batch_keys))
                      : "")
              << " --warmup " << absl::FormatDuration(absl::GetFlag(FLAGS_warmup))
              << " --duration " << absl::FormatDuration(absl::GetFlag(FLAGS_duration))
              << " (server " << kv::transport::RedactUrls(options.servers) << ")\n"
              << FormatBenchTable(*rows);
  }
  return kExitOk;
}

}  // namespace
}  // namespace kv::tools

int main(int argc, char** argv) {
  const int status = kv::tools::Main(argc, argv);
  std::cout.flush();  // before any exit-time checker may end the process
  return status;
}
