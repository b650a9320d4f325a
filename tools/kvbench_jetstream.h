// The JetStream baseline: a memory-storage JetStream KV bucket that kvbench
// creates with nats.c's kvStore API on the server it measures, checks with
// kvStore_Put and kvStore_Get, and deletes when done. The load itself goes
// through kvbench's load generator with the messages those calls send
// (JetStreamWorkload).
#ifndef TOOLS_KVBENCH_JETSTREAM_H_
#define TOOLS_KVBENCH_JETSTREAM_H_

#include <nats/nats.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kv::tools {

// Thread safety: none needed; created, read and destroyed on one thread.
class JetStreamBucket {
 public:
  // Creates bucket `name` (js_CreateKeyValue: memory storage, history 1, one
  // replica; an existing bucket of that name and configuration is reused),
  // puts and gets one key through kvStore_Put / kvStore_Get, and reads from
  // the stream's configuration whether gets are direct gets. `nc` must
  // outlive the result. FailedPrecondition when the server has no JetStream
  // (no answer from its JetStream API within `timeout`); Unavailable for any
  // other failure, with nats.c's error text.
  static absl::StatusOr<std::unique_ptr<JetStreamBucket>> Create(natsConnection* nc,
                                                                 const std::string& name,
                                                                 absl::Duration timeout);

  JetStreamBucket(const JetStreamBucket&) = delete;
  JetStreamBucket& operator=(const JetStreamBucket&) = delete;
  // Deletes the bucket (js_DeleteKeyValue), then frees the handles.
  ~JetStreamBucket();

  const std::string& name() const { return name_; }
  // True when the bucket's stream allows direct get (kvStore_Get then uses
  // $JS.API.DIRECT.GET), false when kvStore_Get asks $JS.API.STREAM.MSG.GET.
  bool direct() const { return direct_; }

 private:
  explicit JetStreamBucket(std::string name) : name_(std::move(name)) {}

  const std::string name_;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;
  bool direct_ = false;
};

}  // namespace kv::tools

#endif  // TOOLS_KVBENCH_JETSTREAM_H_
