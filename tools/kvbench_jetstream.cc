#include "tools/kvbench_jetstream.h"

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kv::tools {
namespace {

constexpr char kProbeKey[] = "kvbench_probe";
constexpr char kProbeValue[] = "kvbench";

// nats.c's text for `s`, with its last error's details when it has them.
std::string NatsText(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') return last;
  return natsStatus_GetText(s);
}

absl::Status NoJetStream(natsStatus s) {
  return absl::FailedPreconditionError(absl::StrCat(
      "no JetStream on the server (its JetStream API: ", NatsText(s),
      "); --baseline jetstream needs a nats-server with JetStream (nats-server -js)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<JetStreamBucket>> JetStreamBucket::Create(
    natsConnection* nc, const std::string& name, absl::Duration timeout) {
  std::unique_ptr<JetStreamBucket> b(new JetStreamBucket(name));
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = absl::ToInt64Milliseconds(timeout);
  natsStatus s = natsConnection_JetStream(&b->js_, nc, &options);
  if (s != NATS_OK) {
    return absl::UnavailableError(absl::StrCat("JetStream context: ", NatsText(s)));
  }
  jsAccountInfo* account = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  s = js_GetAccountInfo(&account, b->js_, nullptr, &jerr);
  jsAccountInfo_Destroy(account);
  if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS) return NoJetStream(s);
  if (s != NATS_OK) {
    return absl::UnavailableError(
        absl::StrCat("JetStream account info: ", NatsText(s), " (error ", jerr, ")"));
  }
  kvConfig config;
  kvConfig_Init(&config);
  config.Bucket = b->name_.c_str();
  config.Description = "kvbench's JetStream baseline (deleted after the run)";
  config.History = 1;
  config.StorageType = js_MemoryStorage;
  config.Replicas = 1;
  s = js_CreateKeyValue(&b->kv_, b->js_, &config);
  if (s != NATS_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot create the JetStream KV bucket ", name, ": ", NatsText(s)));
  }
  jsStreamInfo* info = nullptr;
  s = js_GetStreamInfo(&info, b->js_, absl::StrCat("KV_", name).c_str(), nullptr, &jerr);
  if (s == NATS_OK) b->direct_ = info->Config != nullptr && info->Config->AllowDirect;
  jsStreamInfo_Destroy(info);
  if (s != NATS_OK) {
    return absl::UnavailableError(
        absl::StrCat("JetStream KV bucket ", name, ": stream info: ", NatsText(s)));
  }
  s = kvStore_Put(nullptr, b->kv_, kProbeKey, kProbeValue,
                  static_cast<int>(std::strlen(kProbeValue)));
  kvEntry* entry = nullptr;
  if (s == NATS_OK) s = kvStore_Get(&entry, b->kv_, kProbeKey);
  const bool same =
      s == NATS_OK &&
      kvEntry_ValueLen(entry) == static_cast<int>(std::strlen(kProbeValue)) &&
      std::memcmp(kvEntry_Value(entry), kProbeValue, std::strlen(kProbeValue)) == 0;
  kvEntry_Destroy(entry);
  if (s != NATS_OK || !same) {
    return absl::UnavailableError(
        absl::StrCat("JetStream KV bucket ", name, ": kvStore_Put then kvStore_Get ",
                     s != NATS_OK ? NatsText(s) : "returned another value"));
  }
  return b;
}

JetStreamBucket::~JetStreamBucket() {
  if (kv_ != nullptr) js_DeleteKeyValue(js_, name_.c_str());
  kvStore_Destroy(kv_);
  jsCtx_Destroy(js_);
}

}  // namespace kv::tools
