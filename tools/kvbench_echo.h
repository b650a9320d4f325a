// The echo baseline: a bare nats.c responder (one connection, one
// subscription, replies with the request's data) that kvbench runs as a
// separate process, so kvd's figures can be read against what NATS request/
// reply costs by itself.
#ifndef TOOLS_KVBENCH_ECHO_H_
#define TOOLS_KVBENCH_ECHO_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kv/transport/connection.h"

namespace kv::tools {

// The child side: answers every request on `subject` with its own data until
// SIGTERM or SIGINT, then closes the connection. Unavailable when it cannot
// connect or subscribe.
absl::Status ServeEcho(const transport::ConnectOptions& options,
                       const std::string& subject);

// The parent side: owns the echo process. The destructor stops it (SIGTERM,
// then SIGKILL after 2 s) and reaps it; the child also gets SIGTERM should
// this process die first.
class EchoProcess {
 public:
  // Starts `/proc/self/exe --serve_echo --echo_subject=<subject>` with the
  // server and TLS flags of `options` (secrets through the environment), and
  // returns once it answers on `subject`. Internal if it cannot be started;
  // Unavailable if it exits or does not answer within 5 s.
  static absl::StatusOr<std::unique_ptr<EchoProcess>> Start(
      const transport::ConnectOptions& options, natsConnection* nc,
      const std::string& subject);

  EchoProcess(const EchoProcess&) = delete;
  EchoProcess& operator=(const EchoProcess&) = delete;
  ~EchoProcess();

  pid_t pid() const { return pid_; }

 private:
  explicit EchoProcess(pid_t pid) : pid_(pid) {}

  // True once the process has exited (and been reaped).
  bool Exited();

  const pid_t pid_;
  bool reaped_ = false;
};

}  // namespace kv::tools

#endif  // TOOLS_KVBENCH_ECHO_H_
