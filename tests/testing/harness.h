// Test harness for integration tests against a real nats-server: child
// processes with captured output, a nats-server on a free loopback port, a
// polling wait, and connection helpers.
//
// Every child is killed and reaped by its owner's destructor, and is also
// sent SIGKILL by the kernel if the thread that started it exits (so a
// crashing test leaves no server behind).

#ifndef TESTS_TESTING_HARNESS_H_
#define TESTS_TESTING_HARNESS_H_

#include <nats/nats.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace testing_util {

// Polls `cond` every few milliseconds until it returns true (returns true) or
// `timeout` passes (returns false; `cond` is evaluated one last time).
bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout);

// A directory for test files: $TEST_TMPDIR under Bazel, else a fresh
// directory under /tmp.
std::string TempDir();

// The path of `relative` (e.g. "kv/kvd", a `data` dependency of the test) in
// the test's runfiles, or `relative` itself outside Bazel.
std::string RunfilePath(absl::string_view relative);

// A child process (fork/exec) whose stdout and stderr go to one file.
//
// Thread safety: not thread-safe, except that Output() and WaitForOutput()
// may be called from any thread.
class Process {
 public:
  // Starts `path` with `args` (not including argv[0]) and the current
  // environment plus `extra_env` ("NAME=value" entries, overriding).
  // Returns the process once exec succeeded; NotFound if `path` cannot be
  // executed, Internal if fork or the output file fail.
  static absl::StatusOr<std::unique_ptr<Process>> Start(
      const std::string& path, const std::vector<std::string>& args,
      const std::vector<std::string>& extra_env = {});

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // SIGKILLs and reaps the process if it is still running.
  ~Process();

  pid_t pid() const { return pid_; }
  const std::string& output_path() const { return output_path_; }

  // Sends `sig` unless the process has been reaped already.
  void Signal(int sig);

  // Waits for the process to exit and reaps it. Returns its exit code, or
  // 128 + signal number if a signal killed it; DeadlineExceeded if it is
  // still running after `timeout`. Once reaped, returns the same code again.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // True until the process has exited (reaps it if it just did).
  bool Running();

  // Everything the process wrote to stdout and stderr so far.
  std::string Output() const;

  // True once Output() contains `needle`; false after `timeout`.
  bool WaitForOutput(absl::string_view needle, absl::Duration timeout) const;

 private:
  Process(pid_t pid, std::string output_path)
      : pid_(pid), output_path_(std::move(output_path)) {}

  const pid_t pid_;
  const std::string output_path_;
  absl::optional<int> exit_code_;
};

// A nats-server (/usr/sbin/nats-server) on 127.0.0.1 and a free port.
//
// Thread safety: not thread-safe.
class NatsServer {
 public:
  // Starts the server on a port the kernel picks (-p -1, port read back from
  // --ports_file_dir) with `extra_args` appended (e.g. "-js", or
  // "--user", "u", "--pass", "p", or "-c", conf path), and waits until it
  // accepts TCP connections. Returns Internal/DeadlineExceeded (with the
  // server's output) if it exits or does not become ready within 10 s.
  static absl::StatusOr<std::unique_ptr<NatsServer>> Start(
      std::vector<std::string> extra_args = {});

  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // Stop()s the server.
  ~NatsServer();

  int port() const { return port_; }
  // "nats://127.0.0.1:<port>".
  std::string url() const;
  // The server's log so far (of the current run).
  std::string Output() const;

  // SIGTERM, SIGKILL if it has not exited after 5 s; always reaps. OK if it
  // is stopped (also when it was not running).
  absl::Status Stop();

  // Stops the server and starts it again on the same port with the same
  // arguments; waits until it accepts connections.
  absl::Status Restart();

  // Sends `sig` to the running server (e.g. SIGSTOP, SIGCONT); nothing if it
  // is stopped.
  void Signal(int sig);

 private:
  NatsServer(std::vector<std::string> extra_args, std::string dir)
      : extra_args_(std::move(extra_args)), dir_(std::move(dir)) {}

  // Starts nats-server with `port_args` + extra args; waits for the ports
  // file (when `read_port`) and for the port to accept connections.
  absl::Status Launch(const std::vector<std::string>& port_args, bool read_port);

  const std::vector<std::string> extra_args_;
  const std::string dir_;  // ports file directory
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

// Deletes a natsConnection (natsConnection_Destroy closes it first).
struct ConnectionDeleter {
  void operator()(natsConnection* nc) const { natsConnection_Destroy(nc); }
};
using ConnectionPtr = std::unique_ptr<natsConnection, ConnectionDeleter>;

// Every header of `msg` (the first value of each name).
std::map<std::string, std::string> MessageHeaders(natsMsg* msg);

// Options of Connect() beyond the URL.
struct ConnectOptions {
  bool send_asap = true;
  // -1: reconnect forever; 0: no reconnects.
  int max_reconnect = -1;
  absl::Duration reconnect_wait = absl::Milliseconds(50);
  // Called on nats.c threads.
  std::function<void()> on_disconnected;
  std::function<void()> on_reconnected;
  // Called on nats.c threads with the nats.c error (e.g. slow consumer).
  std::function<void(natsStatus)> on_error;
};

// Connects to `url`. Callbacks in `options` are kept alive by the returned
// connection. Returns Unavailable (with nats.c's text) on failure.
absl::StatusOr<ConnectionPtr> Connect(const std::string& url,
                                      ConnectOptions options = {});

}  // namespace testing_util

#endif  // TESTS_TESTING_HARNESS_H_
