// A demo micro service for interoperability tests: service "demo" with
//   echo  (subject "demo.echo"): replies the request body, and
//   fail  (subject "demo.fail"): always replies error 400.
// Prints "micro_demo ready id=<id>" once it serves, then runs until SIGINT or
// SIGTERM, and stops (draining) before exiting.
//
// Usage: micro_demo [--url=nats://127.0.0.1:4222] [--name=demo]

#include <nats/nats.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "micro/json.h"
#include "micro/service.h"

int main(int argc, char** argv) {
  std::string url = "nats://127.0.0.1:4222";
  std::string name = "demo";
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--url=")) {
      url = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--name=")) {
      name = std::string(arg);
    } else {
      std::fprintf(stderr, "usage: micro_demo [--url=URL] [--name=NAME]\n");
      return 2;
    }
  }

  // Block the stop signals before nats.c starts its threads, so that they
  // inherit the mask and sigwait() below receives the signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  // Replies leave at once (see the flush policies in micro/README.md).
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    std::fprintf(stderr, "micro_demo: connect %s: %s\n", url.c_str(),
                 natsStatus_GetText(s));
    return 1;
  }

  micro::ServiceConfig config;
  config.name = name;
  config.version = "1.0.0";
  config.description = "natskv micro demo: echo and fail";
  config.metadata = {{"impl", "natskv-micro"}};
  config.stats_data = [](absl::string_view endpoint) {
    return absl::StrCat("{\"endpoint\":", micro::JsonQuote(endpoint), "}");
  };
  config.error_body = [](int code, absl::string_view message, const absl::Status&) {
    return absl::StrCat("{\"error\":{\"code\":", code,
                        ",\"message\":", micro::JsonQuote(message), "}}");
  };
  auto service = micro::Service::Start(nc, std::move(config));
  if (!service.ok()) {
    std::fprintf(stderr, "micro_demo: %s\n", service.status().ToString().c_str());
    natsConnection_Destroy(nc);
    return 1;
  }
  micro::Group group = (*service)->AddGroup(name);
  absl::Status status = group.AddEndpoint({"echo",
                                           "echo",
                                           micro::kDefaultQueueGroup,
                                           {{"kind", "echo"}},
                                           [](micro::Request& req) {
                                             // A failed reply means the requester is
                                             // gone: nothing to do.
                                             req.Respond(req.data()).IgnoreError();
                                             return absl::OkStatus();
                                           }});
  if (status.ok()) {
    status = group.AddEndpoint(
        {"fail", "fail", micro::kDefaultQueueGroup, {}, [](micro::Request&) {
           return absl::InvalidArgumentError("demo failure");
         }});
  }
  if (!status.ok()) {
    std::fprintf(stderr, "micro_demo: %s\n", status.ToString().c_str());
    service->reset();
    natsConnection_Destroy(nc);
    return 1;
  }
  std::printf("micro_demo ready id=%s\n", (*service)->id().c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  status = (*service)->Stop();
  service->reset();
  natsConnection_Destroy(nc);
  nats_Close();
  std::printf("micro_demo stopped (%s)\n", status.ToString().c_str());
  return status.ok() ? 0 : 1;
}
