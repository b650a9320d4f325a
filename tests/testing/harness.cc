#include "tests/testing/harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

extern char** environ;

namespace testing_util {
namespace {

constexpr char kNatsServerPath[] = "/usr/sbin/nats-server";
constexpr absl::Duration kPollInterval = absl::Milliseconds(5);
constexpr absl::Duration kServerReadyTimeout = absl::Seconds(10);
constexpr absl::Duration kStopGrace = absl::Seconds(5);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// True if something accepts TCP connections on 127.0.0.1:port.
bool PortAccepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Finds the port in the client URL list of a nats-server ports file, e.g.
// {"nats":["nats://127.0.0.1:4222"],...} ("tls://" when TLS is on).
absl::optional<int> ParsePortsFile(const std::string& text) {
  size_t at = text.find("nats://");
  if (at == std::string::npos) at = text.find("tls://");
  if (at == std::string::npos) return absl::nullopt;
  const size_t end = text.find('"', at);
  const std::string url = text.substr(at, end - at);
  const size_t colon = url.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(url.substr(colon + 1), &port)) {
    return absl::nullopt;
  }
  return port;
}

struct CallbackState {
  ConnectOptions options;
};

void OnDisconnected(natsConnection*, void* closure) {
  auto* state = static_cast<CallbackState*>(closure);
  if (state->options.on_disconnected) state->options.on_disconnected();
}

void OnReconnected(natsConnection*, void* closure) {
  auto* state = static_cast<CallbackState*>(closure);
  if (state->options.on_reconnected) state->options.on_reconnected();
}

void OnError(natsConnection*, natsSubscription*, natsStatus err, void* closure) {
  auto* state = static_cast<CallbackState*>(closure);
  if (state->options.on_error) state->options.on_error(err);
}

// nats.c delivers the closed callback last, on its callback thread: the
// callback state dies with it.
void OnClosed(natsConnection*, void* closure) {
  delete static_cast<CallbackState*>(closure);
}

}  // namespace

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(kPollInterval);
  }
  return cond();
}

std::string TempDir() {
  static const std::string* const dir = [] {
    const char* env = std::getenv("TEST_TMPDIR");
    if (env != nullptr && env[0] != '\0') return new std::string(env);
    char tmpl[] = "/tmp/natskv-test-XXXXXX";
    const char* made = mkdtemp(tmpl);
    return new std::string(made != nullptr ? made : "/tmp");
  }();
  return *dir;
}

// ---------------------------------------------------------------------------
// Process

absl::StatusOr<std::unique_ptr<Process>> Process::Start(
    const std::string& path, const std::vector<std::string>& args,
    const std::vector<std::string>& extra_env) {
  static std::atomic<int> counter{0};
  const std::string base = path.substr(path.rfind('/') + 1);
  const std::string output_path =
      absl::StrCat(TempDir(), "/", base, "-", getpid(), "-", counter++, ".log");
  const int out_fd =
      open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) {
    return absl::InternalError(
        absl::StrCat("open ", output_path, ": ", std::strerror(errno)));
  }

  // Everything the child needs is prepared before fork(): after it, only
  // async-signal-safe calls are allowed.
  std::vector<std::string> argv_strings;
  argv_strings.push_back(path);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const absl::string_view entry(*e);
    const absl::string_view name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const std::string& extra : extra_env) {
      if (absl::StartsWith(extra, absl::StrCat(name, "="))) overridden = true;
    }
    if (!overridden) env_strings.emplace_back(entry);
  }
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  // Reports exec failure: the child writes errno; a successful exec closes
  // the write end (O_CLOEXEC) and the parent reads EOF.
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    close(out_fd);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(out_fd);
    close(exec_pipe[0]);
    close(exec_pipe[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(out_fd, STDOUT_FILENO);
    dup2(out_fd, STDERR_FILENO);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execve(path.c_str(), argv.data(), envp.data());
    const int err = errno;
    ssize_t ignored = write(exec_pipe[1], &err, sizeof(err));
    (void)ignored;
    _exit(127);
  }
  close(out_fd);
  close(exec_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(exec_pipe[0]);
  std::unique_ptr<Process> process(new Process(pid, output_path));
  if (n > 0) {
    process->Wait(absl::Seconds(5)).IgnoreError();
    return absl::NotFoundError(
        absl::StrCat("exec ", path, ": ", std::strerror(child_errno)));
  }
  return process;
}

Process::~Process() {
  if (!exit_code_.has_value()) {
    Signal(SIGKILL);
    Wait(absl::InfiniteDuration()).IgnoreError();
  }
}

void Process::Signal(int sig) {
  if (!exit_code_.has_value()) kill(pid_, sig);
}

bool Process::Running() {
  if (exit_code_.has_value()) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status)     ? WEXITSTATUS(status)
                 : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                       : 255;
    return false;
  }
  return r == 0;
}

absl::StatusOr<int> Process::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid_, " still running"));
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  if (!exit_code_.has_value()) {
    return absl::InternalError(absl::StrCat("process ", pid_, " lost"));
  }
  return *exit_code_;
}

std::string Process::Output() const { return ReadFile(output_path_); }

bool Process::WaitForOutput(absl::string_view needle, absl::Duration timeout) const {
  return WaitFor([&] { return absl::StrContains(Output(), needle); }, timeout);
}

// ---------------------------------------------------------------------------
// NatsServer

absl::StatusOr<std::unique_ptr<NatsServer>> NatsServer::Start(
    std::vector<std::string> extra_args) {
  static std::atomic<int> counter{0};
  const std::string dir =
      absl::StrCat(TempDir(), "/nats-server-", getpid(), "-", counter++);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", std::strerror(errno)));
  }
  std::unique_ptr<NatsServer> server(new NatsServer(std::move(extra_args), dir));
  const absl::Status status = server->Launch({"-p", "-1"}, true);
  if (!status.ok()) return status;
  return server;
}

NatsServer::~NatsServer() { Stop().IgnoreError(); }

std::string NatsServer::url() const { return absl::StrCat("nats://127.0.0.1:", port_); }

std::string NatsServer::Output() const {
  return process_ == nullptr ? std::string() : process_->Output();
}

absl::Status NatsServer::Launch(const std::vector<std::string>& port_args,
                                bool read_port) {
  std::vector<std::string> args = {"-a", "127.0.0.1"};
  args.insert(args.end(), port_args.begin(), port_args.end());
  args.push_back("--ports_file_dir");
  args.push_back(dir_);
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  auto process = Process::Start(kNatsServerPath, args);
  if (!process.ok()) return process.status();
  process_ = std::move(*process);
  const std::string ports_file =
      absl::StrCat(dir_, "/nats-server_", process_->pid(), ".ports");

  const auto failure = [this](absl::string_view what) {
    const std::string output = process_->Output();
    Stop().IgnoreError();
    return absl::InternalError(absl::StrCat("nats-server ", what, "; output:\n", output));
  };
  const bool ready = WaitFor(
      [&] {
        if (!process_->Running()) return true;
        if (read_port) {
          const absl::optional<int> port = ParsePortsFile(ReadFile(ports_file));
          if (!port.has_value()) return false;
          port_ = *port;
        }
        return PortAccepts(port_);
      },
      kServerReadyTimeout);
  if (!process_->Running()) return failure("exited during start");
  if (!ready) return failure("not ready after 10 s");
  return absl::OkStatus();
}

absl::Status NatsServer::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  process_->Signal(SIGTERM);
  absl::StatusOr<int> code = process_->Wait(kStopGrace);
  if (!code.ok()) {
    process_->Signal(SIGKILL);
    code = process_->Wait(absl::InfiniteDuration());
  }
  process_.reset();
  return code.ok() ? absl::OkStatus() : code.status();
}

absl::Status NatsServer::Restart() {
  const absl::Status stopped = Stop();
  if (!stopped.ok()) return stopped;
  return Launch({"-p", absl::StrCat(port_)}, false);
}

void NatsServer::Signal(int sig) {
  if (process_ != nullptr) process_->Signal(sig);
}

// ---------------------------------------------------------------------------
// Connect

absl::StatusOr<ConnectionPtr> Connect(const std::string& url, ConnectOptions options) {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  auto* state = new CallbackState{std::move(options)};
  const ConnectOptions& o = state->options;
  if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, o.send_asap);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts, o.max_reconnect != 0);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, o.max_reconnect);
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectWait(opts, absl::ToInt64Milliseconds(o.reconnect_wait));
  }
  if (s == NATS_OK) {
    s = natsOptions_SetDisconnectedCB(opts, &OnDisconnected, state);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectedCB(opts, &OnReconnected, state);
  }
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, &OnError, state);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, &OnClosed, state);
  natsConnection* nc = nullptr;
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    delete state;  // never connected: no callback will come
    return absl::UnavailableError(
        absl::StrCat("connect ", url, ": ", natsStatus_GetText(s)));
  }
  return ConnectionPtr(nc);
}

std::map<std::string, std::string> MessageHeaders(natsMsg* msg) {
  std::map<std::string, std::string> headers;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK) return headers;
  for (int i = 0; i < count; ++i) {
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK) {
      headers.emplace(keys[i], value);
    }
  }
  free(keys);
  return headers;
}

std::string RunfilePath(absl::string_view relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir != nullptr) {
    const std::string path = absl::StrCat(srcdir, "/natskv/", relative);
    if (access(path.c_str(), F_OK) == 0) return path;
  }
  return std::string(relative);
}

}  // namespace testing_util
