#include "tools/kvbench_echo.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tools/kvbench_load.h"

extern char** environ;

namespace kv::tools {
namespace {

constexpr absl::Duration kReadyTimeout = absl::Seconds(5);
constexpr absl::Duration kStopGrace = absl::Seconds(2);
constexpr const char* kSelf = "/proc/self/exe";

void OnEchoRequest(natsConnection* nc, natsSubscription* sub, natsMsg* msg,
                   void* closure) {
  (void)sub;
  (void)closure;
  const char* reply = natsMsg_GetReply(msg);
  if (reply != nullptr && *reply != '\0') {
    natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  }
  natsMsg_Destroy(msg);
}

std::vector<std::string> ChildArgs(const transport::ConnectOptions& o,
                                   const std::string& subject) {
  std::vector<std::string> args = {"kvbench",
                                   "--serve_echo",
                                   absl::StrCat("--echo_subject=", subject),
                                   absl::StrCat("--server=", o.servers),
                                   "--name=kvbench-echo",
                                   absl::StrCat("--send_asap=", o.send_asap)};
  if (!o.tls_ca.empty()) args.push_back(absl::StrCat("--tls_ca=", o.tls_ca));
  if (!o.tls_cert.empty()) args.push_back(absl::StrCat("--tls_cert=", o.tls_cert));
  if (!o.tls_key.empty()) args.push_back(absl::StrCat("--tls_key=", o.tls_key));
  return args;
}

// This environment without NATS_* secrets, plus the secrets of `o`: they
// reach the child without showing on its command line.
std::vector<std::string> ChildEnvironment(const transport::ConnectOptions& o) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "NATS_")) env.emplace_back(*e);
  }
  const std::pair<const char*, const std::string*> secrets[] = {
      {"NATS_CREDS", &o.creds_file},
      {"NATS_NKEY", &o.nkey_seed_file},
      {"NATS_USER", &o.user},
      {"NATS_PASSWORD", &o.password},
      {"NATS_TOKEN", &o.token}};
  for (const auto& [name, value] : secrets) {
    if (!value->empty()) env.push_back(absl::StrCat(name, "=", *value));
  }
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

absl::Status ServeEcho(const transport::ConnectOptions& options,
                       const std::string& subject) {
  // Blocked before nats.c starts its threads, so only sigwait sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  absl::StatusOr<transport::Connection> nc = transport::Connect(options);
  if (!nc.ok()) return nc.status();
  natsSubscription* sub = nullptr;
  natsStatus s =
      natsConnection_Subscribe(&sub, nc->get(), subject.c_str(), OnEchoRequest, nullptr);
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, -1, -1);
  if (s == NATS_OK) s = natsConnection_Flush(nc->get());
  if (s != NATS_OK) {
    natsSubscription_Destroy(sub);
    return absl::UnavailableError(
        absl::StrCat("echo: cannot subscribe to ", subject, ": ", natsStatus_GetText(s)));
  }
  int signal = 0;
  sigwait(&stop, &signal);
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<EchoProcess>> EchoProcess::Start(
    const transport::ConnectOptions& options, natsConnection* nc,
    const std::string& subject) {
  std::vector<std::string> args = ChildArgs(options, subject);
  std::vector<std::string> env = ChildEnvironment(options);
  std::vector<char*> argv = CStrings(args);
  std::vector<char*> envp = CStrings(env);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError(
        absl::StrCat("cannot start the echo responder: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    execve(kSelf, argv.data(), envp.data());
    _exit(127);
  }
  std::unique_ptr<EchoProcess> echo(new EchoProcess(pid));
  const absl::Time deadline = absl::Now() + kReadyTimeout;
  while (true) {
    if (echo->Exited()) {
      return absl::UnavailableError("the echo responder exited before answering");
    }
    if (Probe(nc, subject, "{}", absl::Milliseconds(250)).ok()) return echo;
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat("the echo responder did not answer on ",
                                                 subject, " within ",
                                                 absl::FormatDuration(kReadyTimeout)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

bool EchoProcess::Exited() {
  if (reaped_) return true;
  int status = 0;
  reaped_ = waitpid(pid_, &status, WNOHANG) == pid_;
  return reaped_;
}

EchoProcess::~EchoProcess() {
  if (Exited()) return;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + kStopGrace;
  while (!Exited() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  if (Exited()) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
}

}  // namespace kv::tools
