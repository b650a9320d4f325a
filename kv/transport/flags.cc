#include "kv/transport/flags.h"

#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/internal/program_name.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

ABSL_FLAG(std::string, server, "",
          "NATS server URL(s), comma-separated; when not given: $NATS_URL, else "
          "nats://127.0.0.1:4222 (as the nats CLI)");
ABSL_FLAG(std::string, name, "", "NATS connection name");
ABSL_FLAG(std::string, creds, "", "user credentials file (env NATS_CREDS)");
ABSL_FLAG(std::string, nkey, "", "nkey seed file (env NATS_NKEY)");
ABSL_FLAG(std::string, user, "", "user name (env NATS_USER)");
ABSL_FLAG(std::string, password, "", "password (env NATS_PASSWORD)");
ABSL_FLAG(std::string, token, "", "authentication token (env NATS_TOKEN)");
ABSL_FLAG(std::string, tls_ca, "", "CA certificate file to verify the server");
ABSL_FLAG(std::string, tls_cert, "", "client certificate file");
ABSL_FLAG(std::string, tls_key, "", "client private key file");

namespace kv::transport {

std::string ServersFrom(absl::string_view flag, const char* nats_url) {
  if (!flag.empty()) return std::string(flag);
  if (nats_url != nullptr && *nats_url != '\0') return nats_url;
  return kDefaultServer;
}

void SetUsage(absl::string_view message) {
  absl::SetProgramUsageMessage(message);
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view file) {
    // Flags only tests use live in files named *test_flags*: they work but
    // --help does not list them (--helpfull does).
    if (absl::StrContains(file, "test_flags")) return false;
    return absl::StrContains(file, "kv/") || absl::StrContains(file, "tools/");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
}

void HandleHelp(int argc, char** argv) {
  using absl::flags_internal::HelpMode;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") return;
    HelpMode mode = HelpMode::kNone;
    if (arg == "--help" || arg == "-help" || arg == "-h") mode = HelpMode::kImportant;
    if (arg == "--helpfull" || arg == "-helpfull") mode = HelpMode::kFull;
    if (mode == HelpMode::kNone) continue;
    absl::flags_internal::SetProgramInvocationName(argv[0]);
    absl::flags_internal::SetFlagsHelpMode(mode);
    absl::flags_internal::HandleUsageFlags(std::cout, absl::ProgramUsageMessage());
    std::exit(0);
  }
}

ConnectOptions OptionsFromFlags() {
  ConnectOptions o;
  o.servers = ServersFrom(absl::GetFlag(FLAGS_server), std::getenv("NATS_URL"));
  o.name = absl::GetFlag(FLAGS_name);
  o.creds_file = absl::GetFlag(FLAGS_creds);
  o.nkey_seed_file = absl::GetFlag(FLAGS_nkey);
  o.user = absl::GetFlag(FLAGS_user);
  o.password = absl::GetFlag(FLAGS_password);
  o.token = absl::GetFlag(FLAGS_token);
  o.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  o.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key = absl::GetFlag(FLAGS_tls_key);
  ApplyEnvironment(&o);
  return o;
}

}  // namespace kv::transport
