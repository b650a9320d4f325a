// kvd against nats-servers that require authentication: user/password,
// token (flag and NATS_TOKEN), and nkey (seed file), and against a TLS server.
// Without the right secret (or CA) kvd must not serve, and must say why.

#include <nats/nats.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kv/transport/nkey.h"
#include "tests/testing/client.h"
#include "tests/testing/harness.h"

namespace {

using ::testing_util::Call;
using ::testing_util::ConnectionPtr;
using ::testing_util::KeyBody;
using ::testing_util::KeyValueBody;
using ::testing_util::NatsServer;
using ::testing_util::Process;
using ::testing_util::Reply;
using ::testing_util::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);

std::string KvdPath() { return testing_util::RunfilePath("kv/kvd"); }

// "nats://<userinfo>@127.0.0.1:<port>".
std::string UrlWith(const NatsServer& server, const std::string& userinfo) {
  return absl::StrCat("nats://", userinfo, "@127.0.0.1:", server.port());
}

// A set followed by a get through kvd; true when both answer as expected.
bool SetAndGet(natsConnection* nc, absl::Duration timeout = absl::Seconds(2)) {
  const Reply set = Call(nc, "kv.default.set", KeyValueBody("k", "authed"), timeout);
  if (!set.ok() || set.data != R"({"ok":true})") return false;
  const Reply get = Call(nc, "kv.default.get", KeyBody("k"), timeout);
  return get.ok() && get.data == R"({"exists":true,"value":"authed"})";
}

// Starts kvd (standalone) with `args` and `env`; waits until it serves and
// answers through `nc`.
std::unique_ptr<Process> StartServingKvd(const NatsServer& server, natsConnection* nc,
                                         std::vector<std::string> args,
                                         const std::vector<std::string>& env = {}) {
  args.insert(args.begin(),
              {absl::StrCat("--server=", server.url()), "--replication=false"});
  auto kvd = Process::Start(KvdPath(), args, env);
  if (!kvd.ok()) {
    ADD_FAILURE() << kvd.status();
    return nullptr;
  }
  std::unique_ptr<Process> p = *std::move(kvd);
  if (!p->WaitForOutput("service kv ", kTimeout)) {
    ADD_FAILURE() << "kvd did not serve; output:\n" << p->Output();
    return nullptr;
  }
  if (!WaitFor([&] { return SetAndGet(nc); }, kTimeout)) {
    ADD_FAILURE() << "kvd does not answer; output:\n" << p->Output();
    return nullptr;
  }
  return p;
}

// Starts kvd with credentials the server refuses; expects it never to serve
// and to log an authorization error. Stops it (it may retry forever).
void ExpectRejected(const NatsServer& server, natsConnection* nc,
                    std::vector<std::string> args,
                    const std::vector<std::string>& env = {}) {
  args.insert(args.begin(),
              {absl::StrCat("--server=", server.url()), "--replication=false"});
  auto kvd = Process::Start(KvdPath(), args, env);
  ASSERT_TRUE(kvd.ok()) << kvd.status();
  // kvd may give up (exit non-zero) or keep retrying; either way it must say
  // why. Wait for the line, or for the exit.
  WaitFor(
      [&] {
        return absl::StrContains((*kvd)->Output(), "uthorization") || !(*kvd)->Running();
      },
      kTimeout);
  const std::string output = (*kvd)->Output();
  const bool logged = absl::StrContains(output, "uthorization");
  EXPECT_TRUE(logged) << "kvd did not log an authorization error; output:\n" << output;
  EXPECT_FALSE(absl::StrContains(output, "serving kv.")) << output;
  EXPECT_EQ(Call(nc, "kv.default.get", KeyBody("k"), absl::Seconds(2)).status,
            NATS_NO_RESPONDERS);
  if ((*kvd)->Running()) {
    (*kvd)->Signal(SIGTERM);
    EXPECT_TRUE((*kvd)->Wait(kTimeout).ok());
  } else {
    EXPECT_NE((*kvd)->Wait(kTimeout).value_or(-1), 0) << "gave up with exit 0";
  }
}

TEST(KvdAuth, UserPassword) {
  auto server = NatsServer::Start({"--user", "u", "--pass", "p"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto nc = testing_util::Connect(UrlWith(**server, "u:p"));
  ASSERT_TRUE(nc.ok()) << nc.status();
  auto kvd = StartServingKvd(**server, nc->get(), {"--user=u", "--password=p"});
  ASSERT_NE(kvd, nullptr);
  kvd.reset();
  // The same secrets from the environment.
  auto from_env =
      StartServingKvd(**server, nc->get(), {}, {"NATS_USER=u", "NATS_PASSWORD=p"});
  ASSERT_NE(from_env, nullptr);
}

// A password in a --server URL never reaches the log, whatever the log line
// (connected, reconnected, server unreachable).
TEST(KvdAuth, PasswordsInServerUrlsAreRedactedInTheLog) {
  const std::string password = "pw-n0t-in-logs";
  auto server = NatsServer::Start({"--user", "u", "--pass", password});
  ASSERT_TRUE(server.ok()) << server.status();
  auto nc = testing_util::Connect(UrlWith(**server, "u:" + password));
  ASSERT_TRUE(nc.ok()) << nc.status();
  auto kvd =
      StartServingKvd(**server, nc->get(),
                      {absl::StrCat("--server=", UrlWith(**server, "u:" + password))});
  ASSERT_NE(kvd, nullptr);
  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_TRUE(kvd->WaitForOutput("reconnected to", kTimeout)) << kvd->Output();
  const std::string output = kvd->Output();
  EXPECT_FALSE(absl::StrContains(output, password)) << output;
  EXPECT_TRUE(absl::StrContains(output, "nats://***@127.0.0.1:")) << output;
}

TEST(KvdAuth, WithoutOrWithWrongPasswordIsRejected) {
  auto server = NatsServer::Start({"--user", "u", "--pass", "p"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto nc = testing_util::Connect(UrlWith(**server, "u:p"));
  ASSERT_TRUE(nc.ok()) << nc.status();
  {
    SCOPED_TRACE("no credentials");
    ExpectRejected(**server, nc->get(), {});
  }
  {
    SCOPED_TRACE("wrong password");
    ExpectRejected(**server, nc->get(), {"--user=u", "--password=wrong"});
  }
}

TEST(KvdAuth, TokenFlagAndEnvironment) {
  auto server = NatsServer::Start({"--auth", "s3cr3t-tok"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto nc = testing_util::Connect(UrlWith(**server, "s3cr3t-tok"));
  ASSERT_TRUE(nc.ok()) << nc.status();
  {
    SCOPED_TRACE("--token");
    auto kvd = StartServingKvd(**server, nc->get(), {"--token=s3cr3t-tok"});
    ASSERT_NE(kvd, nullptr);
  }
  {
    SCOPED_TRACE("NATS_TOKEN");
    auto kvd = StartServingKvd(**server, nc->get(), {}, {"NATS_TOKEN=s3cr3t-tok"});
    ASSERT_NE(kvd, nullptr);
  }
}

TEST(KvdAuth, WrongTokenIsRejected) {
  auto server = NatsServer::Start({"--auth", "s3cr3t-tok"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto nc = testing_util::Connect(UrlWith(**server, "s3cr3t-tok"));
  ASSERT_TRUE(nc.ok()) << nc.status();
  ExpectRejected(**server, nc->get(), {"--token=wrong"});
}

// A client connection authenticated with an nkey seed file.
absl::StatusOr<ConnectionPtr> ConnectNKey(const std::string& url,
                                          const std::string& public_key,
                                          const std::string& seed_file) {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
  if (s == NATS_OK) {
    s = natsOptions_SetNKeyFromSeed(opts, public_key.c_str(), seed_file.c_str());
  }
  natsConnection* nc = nullptr;
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    return absl::UnavailableError(absl::StrCat("nkey connect: ", natsStatus_GetText(s)));
  }
  return ConnectionPtr(nc);
}

// A fresh user nkey: the seed file's path and the public key.
std::pair<std::string, std::string> NewNKey(const std::string& name) {
  std::mt19937_64 rng(std::random_device{}());
  std::string raw(32, '\0');
  for (char& c : raw) c = static_cast<char>(rng());
  const std::string seed = kv::transport::NKeyUserSeedFromRaw(raw);
  auto pub = kv::transport::NKeyPublicFromSeed(seed);
  EXPECT_TRUE(pub.ok()) << pub.status();
  EXPECT_TRUE(absl::StartsWith(seed, "SU")) << seed;
  static int counter = 0;
  const std::string path = absl::StrCat(testing_util::TempDir(), "/", name, "-", getpid(),
                                        "-", counter++, ".nk");
  std::ofstream(path) << seed << "\n";
  return {path, pub.ok() ? *pub : ""};
}

// A nats-server that accepts one user nkey, and a client connected with it.
class KvdNKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::tie(seed_file_, public_key_) = NewNKey("kvd");
    ASSERT_TRUE(absl::StartsWith(public_key_, "U")) << public_key_;
    const std::string conf = absl::StrCat(seed_file_, ".conf");
    std::ofstream(conf) << "authorization {\n  users = [\n    { nkey: \"" << public_key_
                        << "\" }\n  ]\n}\n";
    auto server = NatsServer::Start({"-c", conf});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto nc = ConnectNKey(server_->url(), public_key_, seed_file_);
    ASSERT_TRUE(nc.ok()) << nc.status();
    nc_ = *std::move(nc);
  }

  std::string seed_file_;
  std::string public_key_;
  std::unique_ptr<NatsServer> server_;
  ConnectionPtr nc_;
};

TEST_F(KvdNKeyTest, SeedFileFromFlagAndEnvironment) {
  {
    SCOPED_TRACE("--nkey");
    auto kvd = StartServingKvd(*server_, nc_.get(), {"--nkey=" + seed_file_});
    ASSERT_NE(kvd, nullptr);
  }
  {
    SCOPED_TRACE("NATS_NKEY");
    auto kvd = StartServingKvd(*server_, nc_.get(), {}, {"NATS_NKEY=" + seed_file_});
    ASSERT_NE(kvd, nullptr);
  }
}

TEST_F(KvdNKeyTest, UnknownNKeyIsRejected) {
  const std::string other_seed = NewNKey("unknown").first;
  ExpectRejected(*server_, nc_.get(), {"--nkey=" + other_seed});
}

// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl
// command-line tool in `dir`.
struct Certs {
  std::string ca, cert, key;
};

absl::StatusOr<Certs> MakeCerts(const std::string& dir) {
  const std::string script = absl::StrCat(
      "set -e; cd '", dir, "';",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem",
      " -days 2 -subj /CN=natskv-test-ca;",
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr",
      " -subj /CN=127.0.0.1;",
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf;",
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key",
      " -CAcreateserial -out server.pem -days 2 -extfile ext.cnf");
  const std::string command =
      absl::StrCat("bash -c \"", script, "\" > '", dir, "/openssl.log' 2>&1");
  if (std::system(command.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("openssl failed: ", command));
  }
  return Certs{absl::StrCat(dir, "/ca.pem"), absl::StrCat(dir, "/server.pem"),
               absl::StrCat(dir, "/server.key")};
}

TEST(KvdTls, VerifiesTheServerWithTheGivenCa) {
  const std::string dir = testing_util::TempDir();
  auto certs = MakeCerts(dir);
  ASSERT_TRUE(certs.ok()) << certs.status();
  auto server =
      NatsServer::Start({"--tls", "--tlscert", certs->cert, "--tlskey", certs->key});
  ASSERT_TRUE(server.ok()) << server.status();

  // The test's own client, over TLS.
  natsOptions* opts = nullptr;
  ASSERT_EQ(natsOptions_Create(&opts), NATS_OK);
  natsOptions_SetURL(opts, (*server)->url().c_str());
  natsOptions_SetSecure(opts, true);
  ASSERT_EQ(natsOptions_LoadCATrustedCertificates(opts, certs->ca.c_str()), NATS_OK);
  natsConnection* raw = nullptr;
  ASSERT_EQ(natsConnection_Connect(&raw, opts), NATS_OK) << nats_GetLastError(nullptr);
  natsOptions_Destroy(opts);
  ConnectionPtr nc(raw);

  auto kvd = StartServingKvd(**server, nc.get(), {absl::StrCat("--tls_ca=", certs->ca)});
  ASSERT_NE(kvd, nullptr);
  kvd.reset();

  // Without the CA the server's certificate cannot be verified: kvd says so
  // and exits 1 instead of serving.
  auto untrusting = Process::Start(
      KvdPath(), {absl::StrCat("--server=", (*server)->url()), "--replication=false"});
  ASSERT_TRUE(untrusting.ok()) << untrusting.status();
  auto code = (*untrusting)->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << (*untrusting)->Output();
  EXPECT_EQ(*code, 1) << (*untrusting)->Output();
  EXPECT_TRUE(absl::StrContains((*untrusting)->Output(), "certificate"))
      << (*untrusting)->Output();
}

// Least privilege (README, "Security"): kvd's user may publish only on _kv.>
// (with allow_responses for replies), a client's only on kv.> and $SRV.>. Every
// op and discovery answer, a joining node catches up (its catch-up inbox is under
// _kv.>), and the client is refused on _kv.>.
TEST(KvdPermissions, LeastPrivilegeUsersServeReplicateAndFence) {
  const std::string conf = absl::StrCat(testing_util::TempDir(), "/permissions.conf");
  {
    std::ofstream f(conf);
    f << R"(authorization {
  users = [
    {user: kvd, password: kvdpw, permissions: {
      publish: {allow: ["_kv.>", "kv.*.changes.>"]}
      subscribe: {allow: ["kv.>", "_kv.>", "$SRV.>"]}
      allow_responses: true
    }},
    {user: client, password: clientpw, permissions: {
      publish: {allow: ["kv.>", "$SRV.>"]}
      subscribe: {allow: ["_INBOX.>"]}
    }}
  ]
}
)";
  }
  auto server = NatsServer::Start({"-c", conf});
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = testing_util::Connect(UrlWith(**server, "client:clientpw"));
  ASSERT_TRUE(client.ok()) << client.status();
  natsConnection* nc = client->get();
  const std::vector<std::string> args = {
      absl::StrCat("--server=", UrlWith(**server, "kvd:kvdpw")), "--heartbeat=100ms",
      "--first_replica_silence=300ms"};
  auto first = Process::Start(KvdPath(), args);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->WaitForOutput("ready:", kTimeout)) << (*first)->Output();
  EXPECT_TRUE(absl::StrContains((*first)->Output(), "may not publish to _INBOX.>"))
      << (*first)->Output();
  for (int i = 0; i < 50; ++i) {
    const Reply r = Call(nc, "kv.default.set", KeyValueBody(absl::StrCat("k", i), "v"),
                         absl::Seconds(5));
    ASSERT_TRUE(r.ok() && r.code() == 0) << i << ": " << natsStatus_GetText(r.status);
  }
  const Reply ping = Call(nc, "$SRV.PING.kv", "", absl::Seconds(5));
  EXPECT_TRUE(ping.ok()) << natsStatus_GetText(ping.status);

  // A second node joins through a catch-up, then serves alone.
  auto second = Process::Start(KvdPath(), args);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE((*second)->WaitForOutput("ready: caught up", kTimeout))
      << (*second)->Output();
  // One-winner writes: forwarded to the key's owner, which answers the client
  // (allow_responses) once the other node confirmed (both under _kv.>). 503s
  // while the owners settle; then every key of 20 is decided by one of the two.
  for (int i = 0; i < 20; ++i) {
    Reply r;
    ASSERT_TRUE(WaitFor(
        [&] {
          r = Call(nc, "kv.default.set",
                   absl::StrCat(R"({"key":"once)", i, R"(","value":"v","if":"absent"})"),
                   absl::Seconds(5));
          return !r.ok() || r.code() != 503;
        },
        kTimeout));
    ASSERT_TRUE(r.ok()) << i << ": " << natsStatus_GetText(r.status);
    EXPECT_EQ(r.code(), 0) << i << ": " << r.data;
  }
  (*first)->Signal(SIGTERM);
  ASSERT_TRUE((*first)->Wait(kTimeout).ok());
  const Reply got = Call(nc, "kv.default.get", KeyBody("k49"), absl::Seconds(5));
  ASSERT_TRUE(got.ok()) << natsStatus_GetText(got.status);
  EXPECT_EQ(got.data, R"({"exists":true,"value":"v"})");

  // The client may not touch replication.
  ASSERT_EQ(natsConnection_PublishString(nc, "_kv.default.events", "forged"), NATS_OK);
  natsConnection_FlushTimeout(nc, 2000);
  const char* text = nullptr;
  EXPECT_EQ(natsConnection_GetLastError(nc, &text), NATS_NOT_PERMITTED)
      << (text ? text : "");
}

}  // namespace
