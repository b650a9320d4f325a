// kvd: one natskv node. Serves kv.<link>.<op> for each link (README.md) and keeps a
// replica of every link, replicated with the other nodes over NATS (kvd --help).
// Logs one line per event that matters to stderr; on SIGTERM/SIGINT it drains
// (the requests received are answered for up to --drain_timeout) and exits 0.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "kv/codec/binary.h"
#include "kv/codec/json.h"
#include "kv/link_flags.h"
#include "kv/log/logger.h"
#include "kv/memory_flags.h"
#include "kv/metrics/collector.h"
#include "kv/replication/driver.h"
#include "kv/replication/nats_bus.h"
#include "kv/replication/replica.h"
#include "kv/service/service.h"
#include "kv/snapshot/keeper.h"
#include "kv/store/clock.h"
#include "kv/systemd/notify.h"
#include "kv/test_flags.h"
#include "kv/transport/connection.h"
#include "kv/transport/flags.h"
#include "micro/service.h"

ABSL_FLAG(bool, replication, true,
          "replicate with the other nodes of each link; false = standalone cache");
ABSL_FLAG(int64_t, max_key_bytes, 1024, "longest key accepted, in bytes");
ABSL_FLAG(int64_t, max_value_bytes, 0,
          "largest value accepted, in bytes (0 = what fits in one message: the "
          "server's max payload less --max_key_bytes and the event's encoding)");
ABSL_FLAG(int64_t, max_keys_per_query, 128,
          "most keys in one set_union/set_intersection");
ABSL_FLAG(int64_t, max_page, 10000, "most keys returned by one keys request");
ABSL_FLAG(int64_t, max_batch_keys, 1000,
          "most keys in one mget or mdel, entries in one mset");
ABSL_FLAG(int64_t, max_list_items, 1 << 20, "most items in one list");
ABSL_FLAG(int64_t, max_set_items, 1 << 20, "most members in one set");
ABSL_FLAG(int64_t, max_range, 100000, "most values returned by one range request");
ABSL_FLAG(absl::Duration, heartbeat, absl::Seconds(1),
          "interval of replication heartbeats");
ABSL_FLAG(absl::Duration, first_replica_silence, absl::Seconds(3),
          "a joining node that hears no peer for this long after connecting is the "
          "first replica of its link (at least two --heartbeat intervals)");
ABSL_FLAG(absl::Duration, max_clock_skew, absl::Seconds(60),
          "how far ahead of this node's clock a peer's stamps (events, catch-up "
          "states, heartbeats) may be; beyond it they are refused and counted as "
          "bad peer messages");
ABSL_FLAG(absl::Duration, gc_interval, absl::Seconds(30),
          "how often replicas collect the tombstones every peer has applied");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "on SIGTERM/SIGINT, how long requests already received may take to be "
          "answered; those still queued then are dropped (and counted in the log)");
ABSL_FLAG(absl::Duration, max_pause, absl::Seconds(1),
          "when this process did not run for longer than this (SIGSTOP, a frozen "
          "VM), answer 503 to the requests that queued meanwhile instead of "
          "running them late; 0 = off");
ABSL_FLAG(std::string, metrics_addr, "",
          "host:port (e.g. 127.0.0.1:9464) to serve Prometheus metrics on "
          "/metrics and readiness on /healthz; empty: off");
ABSL_FLAG(bool, send_asap, true,
          "send a reply at once when no other request waits (a second "
          "connection); false: every reply goes through nats.c's flusher "
          "(about 1 ms later)");
ABSL_FLAG(std::string, log_format, "text",
          "log lines as text, or json: one object per line with time, level, "
          "link (when about one) and message");

namespace {

constexpr char kVersion[] = "0.1.0";

// The log (kv/log/logger.h), set up once the flags are parsed.
kv::log::Logger* logger = nullptr;

void Log(absl::string_view line) { logger->Log(kv::log::GuessLevel(line), "", line); }

// The link services, added while the micro service already answers STATS.
class LinkServices {
 public:
  void Add(std::unique_ptr<kv::service::LinkService> service) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    services_.push_back(std::move(service));
  }
  // The stats data of link number `i`, "" while it is not added yet.
  std::string StatsData(size_t i) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return i < services_.size() ? services_[i]->StatsData() : std::string();
  }
  void Clear() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    services_.clear();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<kv::service::LinkService>> services_ ABSL_GUARDED_BY(mu_);
};

// The flags kvd cannot run with: each limit in its range (keys are stored with a
// 16-bit length), no zero intervals. InvalidArgument names the flag and the range.
absl::Status CheckFlags() {
  kv::store::Limits memory;
  if (absl::Status s = kv::ApplyMemoryFlags(&memory); !s.ok()) return s;
  struct Range {
    const char* flag;
    int64_t value;
    int64_t min;
    int64_t max;
  };
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const Range ranges[] = {
      {"max_key_bytes", absl::GetFlag(FLAGS_max_key_bytes), 1, 65535},
      {"max_value_bytes", absl::GetFlag(FLAGS_max_value_bytes), 0, kMax},
      {"max_keys_per_query", absl::GetFlag(FLAGS_max_keys_per_query), 1, kMax},
      {"max_page", absl::GetFlag(FLAGS_max_page), 1, kMax},
      {"max_batch_keys", absl::GetFlag(FLAGS_max_batch_keys), 1, kMax},
      {"max_list_items", absl::GetFlag(FLAGS_max_list_items), 1, kMax},
      {"max_set_items", absl::GetFlag(FLAGS_max_set_items), 1, kMax},
      {"max_range", absl::GetFlag(FLAGS_max_range), 1, kMax},
  };
  for (const Range& r : ranges) {
    if (r.value < r.min || r.value > r.max) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", r.flag, "=", r.value, " is out of range: use ", r.min, " to ",
          r.max == kMax ? std::string("any larger number") : absl::StrCat(r.max)));
    }
  }
  struct Interval {
    const char* flag;
    absl::Duration value;
    absl::Duration min;
  };
  const Interval intervals[] = {
      {"heartbeat", absl::GetFlag(FLAGS_heartbeat), absl::Milliseconds(10)},
      {"gc_interval", absl::GetFlag(FLAGS_gc_interval), absl::Milliseconds(100)},
      {"drain_timeout", absl::GetFlag(FLAGS_drain_timeout), absl::ZeroDuration()},
      {"max_clock_skew", absl::GetFlag(FLAGS_max_clock_skew), absl::Seconds(1)},
  };
  for (const Interval& i : intervals) {
    if (i.value < i.min || i.value > absl::Hours(24)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", i.flag, "=", absl::FormatDuration(i.value),
                       " is out of range: use ", absl::FormatDuration(i.min), " to 24h"));
    }
  }
  if (absl::GetFlag(FLAGS_replication) &&
      absl::GetFlag(FLAGS_first_replica_silence) < 2 * absl::GetFlag(FLAGS_heartbeat)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--first_replica_silence must be at least two --heartbeat intervals (",
        absl::FormatDuration(2 * absl::GetFlag(FLAGS_heartbeat)), ")"));
  }
  const double drop = absl::GetFlag(FLAGS_test_drop_events);
  if (!(drop >= 0 && drop <= 1)) {
    return absl::InvalidArgumentError("--test_drop_events must be between 0 and 1");
  }
  if (auto f = kv::log::ParseFormat(absl::GetFlag(FLAGS_log_format)); !f.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format: ", f.status().message()));
  }
  return absl::OkStatus();
}

// The replicas told when the NATS connection is back (Replica::OnReconnected),
// from nats.c's thread.
class ReconnectListeners {
 public:
  void Add(kv::replication::Replica* r) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    replicas_.push_back(r);
  }
  void Notify() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    for (kv::replication::Replica* r : replicas_) r->OnReconnected();
  }
  void Clear() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    replicas_.clear();
  }

 private:
  absl::Mutex mu_;
  std::vector<kv::replication::Replica*> replicas_ ABSL_GUARDED_BY(mu_);
};

// Whether `nc` may publish to a client's inbox: a probe publish, then a round
// trip, after which the server's "Permissions Violation" (if any) has arrived.
bool CanPublishReplies(natsConnection* nc) {
  if (natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) return true;
  natsConnection_PublishString(nc, "_INBOX.kvd-permission-probe", "");
  if (natsConnection_FlushTimeout(nc, 2000) != NATS_OK) return true;
  const char* text = nullptr;
  return natsConnection_GetLastError(nc, &text) != NATS_NOT_PERMITTED;
}

int Fail(absl::string_view message) {
  logger->Log(kv::log::Level::kError, "", message);
  return 1;
}

// Tells the service manager (Type=notify units) how kvd is doing; a failure is
// logged once.
void Notify(absl::string_view state) {
  static bool failed = false;
  if (absl::Status s = kv::systemd::Notify(state); !s.ok() && !failed) {
    failed = true;
    Log(s.message());
  }
}

}  // namespace

int main(int argc, char** argv) {
  kv::transport::SetUsage(
      "natskv node: serves kv.<link>.<op> on NATS and replicates each link.\n"
      "  kvd [--server nats://127.0.0.1:4222] [--link default] [--replication=true]\n"
      "Without --server, NATS_URL names the server(s). Secrets may come from "
      "NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD, NATS_TOKEN.\n"
      "Any flag may come from a file: --flagfile=/etc/natskv/kvd.flags.");
  kv::transport::HandleHelp(argc, argv);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "kvd: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  if (absl::Status s = CheckFlags(); !s.ok()) {
    std::fprintf(stderr, "kvd: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  logger =
      new kv::log::Logger("kvd", *kv::log::ParseFormat(absl::GetFlag(FLAGS_log_format)));
  auto keeper = kv::snapshot::KeeperFromFlags(logger);  // --data_dir
  if (!keeper.ok()) {
    std::fprintf(stderr, "kvd: %s\n", std::string(keeper.status().message()).c_str());
    return absl::IsInvalidArgument(keeper.status()) ? 2 : 1;
  }
  const std::string metrics_addr = absl::GetFlag(FLAGS_metrics_addr);
  if (auto p = kv::metrics::ListeningPort(metrics_addr);
      !metrics_addr.empty() && !p.ok()) {
    std::fprintf(stderr, "kvd: --metrics_addr: %s\n",
                 std::string(p.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::vector<std::string>> parsed_links = kv::LinksFromFlags();
  if (!parsed_links.ok()) {
    std::fprintf(stderr, "kvd: %s\n",
                 std::string(parsed_links.status().message()).c_str());
    return 2;
  }
  const std::vector<std::string>& links = *parsed_links;

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);  // the NATS connection closed for good
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  kv::transport::ConnectOptions options = kv::transport::OptionsFromFlags();
  if (absl::Status s = kv::transport::CheckOptions(options); !s.ok()) {
    std::fprintf(stderr, "kvd: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (options.name.empty()) options.name = "kvd";
  options.reconnect_forever = true;
  options.send_asap = absl::GetFlag(FLAGS_send_asap);
  options.log = Log;
  options.on_closed = [] { kill(getpid(), SIGUSR1); };
  // Outlives the connection (declared before it).
  ReconnectListeners reconnect_listeners;
  options.on_reconnected = [&reconnect_listeners] { reconnect_listeners.Notify(); };
  // The service's connection buffers what it publishes (batches under load);
  // a second one writes at once, for replies when no other request waits
  // (micro::ServiceConfig::prompt_nc).
  const bool prompt_replies = options.send_asap;
  options.send_asap = false;
  // A node skips its own replication events; without the echo, a request does
  // not wait for the node's own events published on this connection to come
  // back (LinkService waits for the events received before each request).
  options.no_echo = true;
  auto nc = kv::transport::Connect(options);
  if (!nc.ok()) return Fail(nc.status().message());
  kv::transport::Connection prompt_nc;
  if (prompt_replies) {
    kv::transport::ConnectOptions prompt =
        kv::transport::CompanionOptions(options, "replies");
    prompt.send_asap = true;
    auto c = kv::transport::Connect(prompt);
    if (!c.ok()) return Fail(c.status().message());
    prompt_nc = *std::move(c);
  }
  // Change notifications leave on a third connection, buffered: one
  // connection keeps an origin's notifications in order, and the service's
  // connection holds no notification when a lone request picks the prompt one.
  // (None when no link publishes notifications.)
  kv::transport::Connection notes_nc;
  if (kv::AnyNotifies(links)) {
    auto c = kv::transport::Connect(kv::transport::CompanionOptions(options, "changes"));
    if (!c.ok()) return Fail(c.status().message());
    notes_nc = *std::move(c);
  }
  // Limits depend on the server's max payload: wait for the connections.
  auto connected = [](natsConnection* c) {
    return c == nullptr || natsConnection_Status(c) == NATS_CONN_STATUS_CONNECTED;
  };
  while (!connected(nc->get()) || !connected(prompt_nc.get()) ||
         !connected(notes_nc.get())) {
    if (natsConnection_IsClosed(nc->get())) {
      return Fail(absl::StrCat("cannot connect to ",
                               kv::transport::RedactUrls(options.servers),
                               kv::transport::LastError(nc->get())));
    }
    struct timespec wait = {0, 50 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) return 0;
  }

  // Replies on the second connection are publishes of another connection than the
  // one the request came on: a server that grants kvd's user only
  // `allow_responses` refuses them. Then every reply goes on the service's own
  // connection.
  if (prompt_nc != nullptr && !CanPublishReplies(prompt_nc.get())) {
    Log("the NATS user may not publish to _INBOX.> from a second connection "
        "(allow_responses only): replies go through the service's connection, "
        "about 1 ms later when idle (grant publish on _INBOX.> for prompt replies)");
    prompt_nc.reset();
  }

  kv::store::Limits limits;
  (void)kv::ApplyMemoryFlags(&limits);  // checked by CheckFlags
  limits.max_key_bytes = absl::GetFlag(FLAGS_max_key_bytes);
  const int64_t max_payload = natsConnection_GetMaxPayload(nc->get());
  // A write's event (and a catch-up chunk carrying the value) must fit in one
  // message: key + value + the event's encoding + a margin for a chunk's header
  // (its vectors grow with the number of origins: 1/64 of the payload, at
  // least 256 bytes) stay under the max payload.
  const int64_t write_bytes = max_payload -
                              static_cast<int64_t>(kv::codec::MaxEventOverhead()) -
                              std::max<int64_t>(256, max_payload / 64);
  if (write_bytes - static_cast<int64_t>(limits.max_key_bytes) < 1) {
    return Fail(absl::StrCat("the server's max payload (", max_payload,
                             " bytes) leaves no room for a value after --max_key_bytes=",
                             limits.max_key_bytes, ": use a smaller --max_key_bytes"));
  }
  limits.max_write_bytes = static_cast<size_t>(write_bytes);
  limits.max_value_bytes = absl::GetFlag(FLAGS_max_value_bytes) > 0
                               ? absl::GetFlag(FLAGS_max_value_bytes)
                               : write_bytes - limits.max_key_bytes;
  limits.max_keys_per_query = absl::GetFlag(FLAGS_max_keys_per_query);
  limits.max_page = absl::GetFlag(FLAGS_max_page);
  limits.max_list_items = absl::GetFlag(FLAGS_max_list_items);
  limits.max_set_items = absl::GetFlag(FLAGS_max_set_items);
  limits.max_range = absl::GetFlag(FLAGS_max_range);
  limits.max_clock_skew = absl::GetFlag(FLAGS_max_clock_skew);
  // Room for the JSON framing of a reply and its headers.
  limits.max_reply_bytes =
      static_cast<size_t>(std::max<int64_t>(1024, max_payload - 1024));

  kv::store::SystemClock clock;
  kv::replication::NatsBus bus(nc->get());
  kv::replication::NatsBus notes_bus(notes_nc.get());
  std::vector<std::unique_ptr<kv::replication::Replica>> replicas;
  std::vector<std::unique_ptr<kv::replication::ReplicaDriver>> drivers;
  LinkServices link_services;
  absl::flat_hash_map<std::string, size_t> link_of_endpoint;
  for (size_t i = 0; i < links.size(); ++i) {
    for (kv::codec::Op op : kv::codec::AllOps()) {
      link_of_endpoint[absl::StrCat(links[i], "_", kv::codec::OpName(op))] = i;
    }
  }

  micro::ServiceConfig config;
  config.name = "kv";
  config.version = kVersion;
  config.description = "natskv: distributed in-memory key-value cache";
  config.prompt_nc = prompt_nc.get();
  config.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  config.max_pause = std::max(absl::ZeroDuration(), absl::GetFlag(FLAGS_max_pause));
  kv::service::UseApiErrors(&config);
  config.metadata = {{"links", absl::StrJoin(links, ",")},
                     {"replication", absl::GetFlag(FLAGS_replication) ? "on" : "off"}};
  // A link's figures in its get endpoint's data only: STATS stays small.
  config.stats_data = [&](absl::string_view endpoint) {
    auto it = link_of_endpoint.find(endpoint);
    if (it == link_of_endpoint.end()) return std::string();
    if (absl::EndsWith(endpoint, "_get")) return link_services.StatsData(it->second);
    return absl::StrCat("{\"link\":\"", links[it->second], "\"}");
  };
  auto service = micro::Service::Start(nc->get(), config);
  if (!service.ok()) return Fail(service.status().message());
  // Declared after the replicas and the service: stops before they go.
  kv::metrics::NodeCollector collector(service->get());
  std::unique_ptr<kv::metrics::MetricsServer> metrics;
  if (!metrics_addr.empty()) {
    auto m = kv::metrics::ServeNodeMetrics(metrics_addr, &collector);
    if (!m.ok()) return Fail(m.status().message());
    metrics = *std::move(m);
    Log(absl::StrCat("metrics on ", metrics_addr, " (port ", metrics->port(), ")"));
  }

  for (const std::string& link : links) {
    kv::replication::ReplicaOptions ro;
    ro.link = link;
    ro.enabled = absl::GetFlag(FLAGS_replication);
    ro.limits = limits;
    ro.heartbeat = absl::GetFlag(FLAGS_heartbeat);
    ro.first_replica_silence = absl::GetFlag(FLAGS_first_replica_silence);
    ro.gc_interval = absl::GetFlag(FLAGS_gc_interval);
    ro.log = [link](absl::string_view line) {
      logger->Log(kv::log::GuessLevel(line), link, line);
    };
    ro.drop_events = absl::GetFlag(FLAGS_test_drop_events);
    ro.on_change = kv::NotifyObserver(link, static_cast<size_t>(max_payload), &notes_bus);
    ro.expiry_grace = absl::GetFlag(FLAGS_test_expiry_grace);
    if (*keeper) ro.restore = (*keeper)->Restorer(link, &clock, limits);
    auto replica = kv::replication::Replica::Start(&bus, &clock, ro);
    if (!replica.ok()) return Fail(replica.status().message());
    replicas.push_back(*std::move(replica));
    reconnect_listeners.Add(replicas.back().get());
    collector.AddLink(replicas.back().get());
    drivers.push_back(
        std::make_unique<kv::replication::ReplicaDriver>(replicas.back().get(), &clock));
    kv::service::BatchLimits batch;
    batch.max_batch_keys = absl::GetFlag(FLAGS_max_batch_keys);
    auto ls =
        kv::service::LinkService::Start(service->get(), replicas.back().get(), batch);
    if (!ls.ok()) return Fail(ls.status().message());
    link_services.Add(*std::move(ls));
    logger->Log(
        kv::log::Level::kInfo, link,
        absl::StrCat("serving kv.", link, ".* (node ", replicas.back()->stats().node,
                     ", replication ", ro.enabled ? "on" : "off", ")"));
  }
  Log(absl::StrCat("service kv ", kVersion, " id ", (*service)->id(), "; max value ",
                   limits.max_value_bytes, " bytes"));
  if (*keeper) (*keeper)->Start(replicas);  // periodic snapshots

  Notify("STATUS=joining: catching up with the peers of each link");
  bool ready = false;  // READY=1 sent: every link answers requests
  int sig = 0;
  do {
    // Every 50 ms until ready, so that READY=1 follows readiness closely.
    const struct timespec wait = {ready ? 1 : 0, ready ? 0 : 50 * 1000 * 1000};
    sig = sigtimedwait(&signals, nullptr, &wait);
    logger->Flush();
    if (!ready && std::all_of(replicas.begin(), replicas.end(),
                              [](const auto& r) { return r->ready(); })) {
      ready = true;
      Notify(absl::StrCat("READY=1\nSTATUS=serving ", links.size(), " link(s)"));
    }
  } while (sig <= 0);
  if (sig == SIGUSR1) {
    if (*keeper) (void)(*keeper)->SaveAll();
    return Fail("the NATS connection is closed for good; exiting");
  }
  Notify("STOPPING=1\nSTATUS=draining");
  Log(absl::StrCat("received ", sig == SIGTERM ? "SIGTERM" : "SIGINT", "; draining"));
  absl::Status stopped = (*service)->Stop();
  drivers.clear();
  reconnect_listeners.Clear();
  for (auto& r : replicas) r->Stop();
  if (*keeper) (void)(*keeper)->SaveAll();  // nothing changes any more
  for (natsConnection* c : {nc->get(), notes_nc.get()}) {
    if (c != nullptr && natsConnection_Status(c) == NATS_CONN_STATUS_CONNECTED) {
      natsConnection_FlushTimeout(c, 2000);
    }
  }
  Log(stopped.ok() ? "stopped" : absl::StrCat("stopped: ", stopped.message()));
  metrics.reset();
  link_services.Clear();
  replicas.clear();
  service->reset();
  prompt_nc.reset();
  notes_nc.reset();
  nc->reset();
  return 0;
}
