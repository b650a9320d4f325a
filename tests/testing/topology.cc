#include "tests/testing/topology.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace testing_util {
namespace {

// Picks `n` free ports.
absl::StatusOr<std::vector<int>> FreePorts(int n) {
  std::vector<int> ports;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<int> port = FreePort();
    if (!port.ok()) return port.status();
    ports.push_back(*port);
  }
  return ports;
}

// Starts one server per configuration text, in order.
absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>> StartAll(
    const std::vector<std::pair<std::string, std::string>>& configs) {
  std::vector<std::unique_ptr<NatsServer>> servers;
  for (const auto& [name, text] : configs) {
    absl::StatusOr<std::string> path = WriteConfig(name, text);
    if (!path.ok()) return path.status();
    auto server = NatsServer::Start({"-c", *path});
    if (!server.ok()) return server.status();
    servers.push_back(*std::move(server));
  }
  return servers;
}

}  // namespace

absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("bind: ", std::strerror(err)));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

absl::StatusOr<std::string> WriteConfig(const std::string& name,
                                        const std::string& text) {
  static std::atomic<int> counter{0};
  const std::string path =
      absl::StrCat(TempDir(), "/", name, "-", getpid(), "-", counter++, ".conf");
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return path;
}

absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>> StartCluster(
    const std::string& name, int size) {
  absl::StatusOr<std::vector<int>> ports = FreePorts(size);
  if (!ports.ok()) return ports.status();
  std::vector<std::pair<std::string, std::string>> configs;
  for (int i = 0; i < size; ++i) {
    std::vector<std::string> routes;
    for (int j = 0; j < size; ++j) {
      if (j != i)
        routes.push_back(absl::StrCat("\"nats-route://127.0.0.1:", (*ports)[j], "\""));
    }
    const std::string server_name = absl::StrCat(name, "-", i);
    configs.emplace_back(
        server_name,
        absl::StrCat("server_name: \"", server_name, "\"\n", "cluster {\n  name: \"",
                     name, "\"\n  listen: \"127.0.0.1:", (*ports)[i], "\"\n  routes: [",
                     absl::StrJoin(routes, ", "), "]\n}\n"));
  }
  return StartAll(configs);
}

absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>> StartSupercluster(
    const std::string& a, const std::string& b) {
  absl::StatusOr<std::vector<int>> ports = FreePorts(2);
  if (!ports.ok()) return ports.status();
  const auto config = [&](const std::string& self, int own, const std::string& other,
                          int other_port) {
    return absl::StrCat("server_name: \"", self, "\"\n", "gateway {\n  name: \"", self,
                        "\"\n  listen: \"127.0.0.1:", own, "\"\n  gateways: [{name: \"",
                        other, "\", urls: [\"nats://127.0.0.1:", other_port,
                        "\"]}]\n}\n");
  };
  return StartAll({{a, config(a, (*ports)[0], b, (*ports)[1])},
                   {b, config(b, (*ports)[1], a, (*ports)[0])}});
}

absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>> StartHubAndLeaf() {
  absl::StatusOr<int> port = FreePort();
  if (!port.ok()) return port.status();
  return StartAll(
      {{"hub", absl::StrCat("server_name: \"hub\"\nleafnodes {\n  listen: \"127.0.0.1:",
                            *port, "\"\n}\n")},
       {"leaf", absl::StrCat("server_name: \"leaf\"\nleafnodes {\n  remotes: [{url: "
                             "\"nats-leaf://127.0.0.1:",
                             *port, "\"}]\n}\n")}});
}

absl::Status WaitForwarding(const NatsServer& from, const NatsServer& to,
                            absl::Duration timeout) {
  ConnectOptions once;
  once.max_reconnect = 0;
  auto pub = Connect(from.url(), once);
  if (!pub.ok()) return pub.status();
  auto sub_nc = Connect(to.url(), once);
  if (!sub_nc.ok()) return sub_nc.status();
  static std::atomic<int> counter{0};
  const std::string subject =
      absl::StrCat("probe.", getpid(), ".", counter++, ".", from.port(), ".", to.port());
  natsSubscription* sub = nullptr;
  if (natsConnection_SubscribeSync(&sub, sub_nc->get(), subject.c_str()) != NATS_OK ||
      natsConnection_Flush(sub_nc->get()) != NATS_OK) {
    natsSubscription_Destroy(sub);
    return absl::UnavailableError(absl::StrCat("cannot subscribe on ", to.url()));
  }
  const absl::Time deadline = absl::Now() + timeout;
  bool arrived = false;
  while (!arrived && absl::Now() < deadline) {
    natsConnection_PublishString(pub->get(), subject.c_str(), "probe");
    natsConnection_Flush(pub->get());
    natsMsg* msg = nullptr;
    if (natsSubscription_NextMsg(&msg, sub, 20) == NATS_OK) {
      natsMsg_Destroy(msg);
      arrived = true;
    }
  }
  natsSubscription_Destroy(sub);
  if (arrived) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("messages published on ", from.url(),
                                                  " do not reach ", to.url(), " after ",
                                                  absl::FormatDuration(timeout)));
}

absl::Status WaitAllForwarding(const std::vector<NatsServer*>& servers,
                               absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (NatsServer* from : servers) {
    for (NatsServer* to : servers) {
      if (from == to) continue;
      absl::Status s = WaitForwarding(*from, *to, deadline - absl::Now());
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace testing_util
