// kvd: one natskv node. Serves kv.<link>.<op> for each link (README.md) and keeps a
// replica of every link, replicated with the other nodes over NATS.
//
//   kvd [--server nats://127.0.0.1:4222] [--link default] [--replication=true]
//
// Logs one line per event that matters to stderr; on SIGTERM/SIGINT it drains
// (every request received is answered) and exits 0.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
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
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "kv/codec/json.h"
#include "kv/replication/driver.h"
#include "kv/replication/nats_bus.h"
#include "kv/replication/replica.h"
#include "kv/service/service.h"
#include "kv/store/clock.h"
#include "kv/transport/connection.h"
#include "kv/transport/flags.h"
#include "micro/service.h"

ABSL_FLAG(std::string, link, "default",
          "link(s) to serve, comma-separated; each is an isolated store");
ABSL_FLAG(bool, replication, true,
          "replicate with the other nodes of each link; false = standalone cache");
ABSL_FLAG(int64_t, max_key_bytes, 1024, "longest key accepted, in bytes");
ABSL_FLAG(int64_t, max_value_bytes, 0,
          "largest value accepted, in bytes (0 = the server's max payload less 1 KiB)");
ABSL_FLAG(int64_t, max_keys_per_query, 128,
          "most keys in one set_union/set_intersection");
ABSL_FLAG(int64_t, max_page, 10000, "most keys returned by one keys request");
ABSL_FLAG(int64_t, max_list_items, 1 << 20, "most items in one list");
ABSL_FLAG(int64_t, max_set_items, 1 << 20, "most members in one set");
ABSL_FLAG(int64_t, max_range, 100000, "most values returned by one range request");
ABSL_FLAG(absl::Duration, heartbeat, absl::Seconds(1),
          "interval of replication heartbeats");
ABSL_FLAG(absl::Duration, gc_interval, absl::Seconds(30),
          "how often replicas collect the tombstones every peer has applied");
ABSL_FLAG(double, test_drop_events, 0,
          "fault injection for tests: fraction of received replication events to "
          "drop as if lost");
ABSL_FLAG(absl::Duration, max_pause, absl::Seconds(1),
          "when this process did not run for longer than this (SIGSTOP, a frozen "
          "VM), answer 503 to the requests that queued meanwhile instead of "
          "running them late; 0 = off");
ABSL_FLAG(bool, send_asap, true,
          "send a reply at once when no other request waits (a second "
          "connection); false: every reply goes through nats.c's flusher "
          "(about 1 ms later)");

namespace {

constexpr char kVersion[] = "0.1.0";

void Log(absl::string_view line) {
  const std::string stamp =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::fprintf(stderr, "%s kvd: %.*s\n", stamp.c_str(), static_cast<int>(line.size()),
               line.data());
}

bool ValidLink(absl::string_view link) {
  if (link.empty() || link.size() > 64) return false;
  for (char c : link) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

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

int Fail(absl::string_view message) {
  Log(message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  kv::transport::SetUsage(
      "natskv node: serves kv.<link>.<op> on NATS and replicates each link.\n"
      "  kvd [--server nats://127.0.0.1:4222] [--link default] [--replication=true]\n"
      "Secrets may come from NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD, "
      "NATS_TOKEN.");
  kv::transport::HandleHelp(argc, argv);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "kvd: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  std::vector<std::string> links =
      absl::StrSplit(absl::GetFlag(FLAGS_link), ',', absl::SkipWhitespace());
  if (links.empty()) {
    std::fprintf(stderr, "kvd: --link must name at least one link\n");
    return 2;
  }
  for (size_t i = 0; i < links.size(); ++i) {
    if (!ValidLink(links[i])) {
      std::fprintf(stderr,
                   "kvd: invalid link '%s': use 1 to 64 letters, digits, '-' or '_'\n",
                   links[i].c_str());
      return 2;
    }
    for (size_t j = 0; j < i; ++j) {
      if (links[i] == links[j]) {
        std::fprintf(stderr, "kvd: link '%s' is listed twice\n", links[i].c_str());
        return 2;
      }
    }
  }

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);  // the NATS connection closed for good
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  kv::transport::ConnectOptions options = kv::transport::OptionsFromFlags();
  if (options.name.empty()) options.name = "kvd";
  options.reconnect_forever = true;
  options.send_asap = absl::GetFlag(FLAGS_send_asap);
  options.log = Log;
  options.on_closed = [] { kill(getpid(), SIGUSR1); };
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
    kv::transport::ConnectOptions prompt = options;
    prompt.name = absl::StrCat(options.name, "-replies");
    prompt.send_asap = true;
    prompt.log = [](absl::string_view line) { Log(absl::StrCat("replies: ", line)); };
    prompt.on_closed = nullptr;
    auto c = kv::transport::Connect(prompt);
    if (!c.ok()) return Fail(c.status().message());
    prompt_nc = *std::move(c);
  }
  // Limits depend on the server's max payload: wait for the first connection.
  while (natsConnection_Status(nc->get()) != NATS_CONN_STATUS_CONNECTED) {
    if (natsConnection_IsClosed(nc->get())) {
      return Fail(absl::StrCat("cannot connect to ", options.servers,
                               kv::transport::LastError(nc->get())));
    }
    struct timespec wait = {0, 50 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) return 0;
  }

  kv::store::Limits limits;
  limits.max_key_bytes = absl::GetFlag(FLAGS_max_key_bytes);
  const int64_t max_payload = natsConnection_GetMaxPayload(nc->get());
  limits.max_value_bytes = absl::GetFlag(FLAGS_max_value_bytes) > 0
                               ? absl::GetFlag(FLAGS_max_value_bytes)
                               : std::max<int64_t>(1024, max_payload - 1024);
  limits.max_keys_per_query = absl::GetFlag(FLAGS_max_keys_per_query);
  limits.max_page = absl::GetFlag(FLAGS_max_page);
  limits.max_list_items = absl::GetFlag(FLAGS_max_list_items);
  limits.max_set_items = absl::GetFlag(FLAGS_max_set_items);
  limits.max_range = absl::GetFlag(FLAGS_max_range);

  kv::store::SystemClock clock;
  kv::replication::NatsBus bus(nc->get());
  std::vector<std::unique_ptr<kv::replication::Replica>> replicas;
  std::vector<std::unique_ptr<kv::replication::ReplicaDriver>> drivers;
  LinkServices link_services;
  // Endpoint "<link>_<op>" -> index of its link.
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
  config.max_pause = std::max(absl::ZeroDuration(), absl::GetFlag(FLAGS_max_pause));
  kv::service::UseApiErrors(&config);
  config.metadata = {{"links", absl::StrJoin(links, ",")},
                     {"replication", absl::GetFlag(FLAGS_replication) ? "on" : "off"}};
  // Each endpoint reports the figures of its link.
  config.stats_data = [&](absl::string_view endpoint) {
    auto it = link_of_endpoint.find(endpoint);
    return it == link_of_endpoint.end() ? std::string()
                                        : link_services.StatsData(it->second);
  };
  auto service = micro::Service::Start(nc->get(), config);
  if (!service.ok()) return Fail(service.status().message());

  for (const std::string& link : links) {
    kv::replication::ReplicaOptions ro;
    ro.link = link;
    ro.enabled = absl::GetFlag(FLAGS_replication);
    ro.limits = limits;
    ro.heartbeat = absl::GetFlag(FLAGS_heartbeat);
    ro.gc_interval = absl::GetFlag(FLAGS_gc_interval);
    ro.log = Log;
    ro.drop_events = absl::GetFlag(FLAGS_test_drop_events);
    auto replica = kv::replication::Replica::Start(&bus, &clock, ro);
    if (!replica.ok()) return Fail(replica.status().message());
    replicas.push_back(*std::move(replica));
    drivers.push_back(
        std::make_unique<kv::replication::ReplicaDriver>(replicas.back().get(), &clock));
    auto ls = kv::service::LinkService::Start(service->get(), replicas.back().get());
    if (!ls.ok()) return Fail(ls.status().message());
    link_services.Add(*std::move(ls));
    Log(absl::StrCat("serving kv.", link, ".* (node ", replicas.back()->stats().node,
                     ", replication ", ro.enabled ? "on" : "off", ")"));
  }
  Log(absl::StrCat("service kv ", kVersion, " id ", (*service)->id(), "; max value ",
                   limits.max_value_bytes, " bytes"));

  int sig = 0;
  sigwait(&signals, &sig);
  if (sig == SIGUSR1) {
    Log("the NATS connection is closed for good; exiting");
    return 1;
  }
  Log(absl::StrCat("received ", sig == SIGTERM ? "SIGTERM" : "SIGINT", "; draining"));
  absl::Status stopped = (*service)->Stop();
  drivers.clear();
  for (auto& r : replicas) r->Stop();
  if (natsConnection_Status(nc->get()) == NATS_CONN_STATUS_CONNECTED) {
    natsConnection_FlushTimeout(nc->get(), 2000);
  }
  Log(stopped.ok() ? "stopped" : absl::StrCat("stopped: ", stopped.message()));
  link_services.Clear();
  replicas.clear();
  service->reset();
  prompt_nc.reset();
  nc->reset();
  return 0;
}
