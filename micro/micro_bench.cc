// Measures request/reply through a micro::Service on a running nats-server,
// for each reply flush policy described in micro/README.md:
//   default  connection buffers publishes, nats.c's flusher thread writes them
//   asap     service connection made with natsOptions_SetSendAsap(true)
//   flush    handler calls natsConnection_Flush() after each reply
//   prompt   buffered service connection plus a SendAsap one for lone
//            replies (ServiceConfig::prompt_nc)
// For each: the latency of single round trips (one request at a time) and the
// throughput with --inflight requests pipelined.
//
// Usage: micro_bench --url=nats://127.0.0.1:<port> [--rtts=2000]
//        [--requests=100000] [--inflight=128]

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "micro/service.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string url = "nats://127.0.0.1:4222";
  int rtts = 2000;        // single round trips per policy
  int requests = 100000;  // pipelined requests per policy
  int inflight = 128;     // requests in flight in the pipelined run
};
Flags flags;

bool ParseFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--url=")) {
      flags.url = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--rtts=")) {
      if (!absl::SimpleAtoi(arg, &flags.rtts) || flags.rtts < 1) return false;
    } else if (absl::ConsumePrefix(&arg, "--requests=")) {
      if (!absl::SimpleAtoi(arg, &flags.requests) || flags.requests < 1) {
        return false;
      }
    } else if (absl::ConsumePrefix(&arg, "--inflight=")) {
      if (!absl::SimpleAtoi(arg, &flags.inflight) || flags.inflight < 1) {
        return false;
      }
    } else {
      return false;
    }
  }
  return true;
}

natsConnection* Connect(bool send_asap) {
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, flags.url.c_str());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, send_asap);
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    std::fprintf(stderr, "connect: %s\n", natsStatus_GetText(s));
    return nullptr;
  }
  return nc;
}

// Counts replies of the pipelined run and lets the sender keep `inflight`
// requests outstanding.
struct Pipeline {
  absl::Mutex mu;
  int received ABSL_GUARDED_BY(mu) = 0;
};

void OnReply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* p = static_cast<Pipeline*>(closure);
  natsMsg_Destroy(msg);
  absl::MutexLock lock(&p->mu);
  ++p->received;
}

int64_t Percentile(std::vector<int64_t> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * (v.size() - 1))];
}

bool RunPolicy(const std::string& policy) {
  natsConnection* server_nc = Connect(policy == "asap");
  // The client sends at once, so that only the service side policy varies.
  natsConnection* client_nc = Connect(true);
  if (server_nc == nullptr || client_nc == nullptr) return false;
  const bool flush_each = policy == "flush";
  natsConnection* prompt_nc = policy == "prompt" ? Connect(true) : nullptr;
  micro::ServiceConfig config;
  config.name = "bench";
  config.version = "1.0.0";
  config.description = "flush policy bench";
  config.prompt_nc = prompt_nc;
  auto service = micro::Service::Start(server_nc, config);
  if (!service.ok()) return false;
  absl::Status st =
      (*service)->AddEndpoint({"echo",
                               "bench.echo",
                               micro::kDefaultQueueGroup,
                               {},
                               [server_nc, flush_each](micro::Request& req) {
                                 req.Respond(req.data()).IgnoreError();
                                 if (flush_each) {
                                   natsConnection_Flush(server_nc);
                                 }
                                 return absl::OkStatus();
                               }});
  if (!st.ok()) return false;
  natsConnection_Flush(server_nc);
  const std::string payload(16, 'x');

  // Single round trips.
  std::vector<int64_t> rtt_ns;
  const int rtts = flags.rtts;
  for (int i = 0; i < rtts + 100; ++i) {
    natsMsg* reply = nullptr;
    const auto t0 = Clock::now();
    natsStatus s = natsConnection_Request(&reply, client_nc, "bench.echo", payload.data(),
                                          payload.size(), 5000);
    const auto t1 = Clock::now();
    if (s != NATS_OK) {
      std::fprintf(stderr, "request: %s\n", natsStatus_GetText(s));
      return false;
    }
    natsMsg_Destroy(reply);
    if (i >= 100) {  // warm-up excluded
      rtt_ns.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    }
  }

  // Pipelined run.
  Pipeline pipeline;
  natsInbox* inbox = nullptr;
  natsInbox_Create(&inbox);
  natsSubscription* sub = nullptr;
  natsConnection_Subscribe(&sub, client_nc, inbox, OnReply, &pipeline);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsConnection_Flush(client_nc);
  const int total = flags.requests;
  const int inflight = flags.inflight;
  const auto start = Clock::now();
  for (int sent = 0; sent < total; ++sent) {
    {
      absl::MutexLock lock(&pipeline.mu);
      auto room = [&pipeline, sent, inflight]() {
        pipeline.mu.AssertReaderHeld();
        return sent - pipeline.received < inflight;
      };
      if (!pipeline.mu.AwaitWithTimeout(absl::Condition(&room), absl::Seconds(10))) {
        std::fprintf(stderr, "pipelined run stalled\n");
        return false;
      }
    }
    natsConnection_PublishRequest(client_nc, "bench.echo", inbox, payload.data(),
                                  payload.size());
  }
  {
    absl::MutexLock lock(&pipeline.mu);
    auto all = [&pipeline, total]() {
      pipeline.mu.AssertReaderHeld();
      return pipeline.received == total;
    };
    if (!pipeline.mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(30))) {
      std::fprintf(stderr, "pipelined run lost replies\n");
      return false;
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);

  std::printf(
      "%-8s rtt p50 %6.1f us  p90 %6.1f us  p99 %6.1f us | %d in flight: "
      "%8.0f req/s\n",
      policy.c_str(), Percentile(rtt_ns, 0.5) / 1e3, Percentile(rtt_ns, 0.9) / 1e3,
      Percentile(rtt_ns, 0.99) / 1e3, inflight, total / secs);
  std::fflush(stdout);
  service->reset();
  natsConnection_Destroy(client_nc);
  natsConnection_Destroy(server_nc);
  if (prompt_nc != nullptr) natsConnection_Destroy(prompt_nc);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!ParseFlags(argc, argv)) {
    std::fprintf(stderr,
                 "usage: micro_bench [--url=URL] [--rtts=N] [--requests=N] "
                 "[--inflight=N]\n");
    return 2;
  }
  for (const char* policy : {"default", "asap", "flush", "prompt"}) {
    if (!RunPolicy(policy)) return 1;
  }
  nats_Close();
  return 0;
}
