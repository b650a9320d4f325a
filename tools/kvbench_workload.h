// What kvbench sends: realistic JSON request bodies for an op over a key
// space, prebuilt so the load generator only picks one; and the same requests
// as nats.c's JetStream KV calls send them. Pure.
#ifndef TOOLS_KVBENCH_WORKLOAD_H_
#define TOOLS_KVBENCH_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kv::tools {

// One request: the index of its op in Workload::ops() and its body; when
// `subject` is set, it goes there instead of the op's subject.
struct WorkItem {
  size_t op = 0;
  const std::string* body = nullptr;
  const std::string* subject = nullptr;
};

// The op index and key index of request `seq`.
struct Pick {
  size_t op = 0;
  size_t key = 0;
};

class Workload {
 public:
  // `op`: get, set, add, push, mget or mixed (80% get, 20% set). Keys are
  // "k:000000".."k:<keys-1>" for strings, "c:..." for add's counters and
  // "l:..." for push's lists (so ops never meet a key of another type);
  // values are `value_size` printable ASCII bytes. InvalidArgument for an unknown op or a
  // key space or value size out of range (keys 1..10,000,000, value size 0..64 MiB).
  //
  // `op` mget: each request reads `batch_keys` consecutive keys "k:..." (1..
  // 10,000; from a pseudo-random first key, wrapping around the key space).
  //
  // `op` pop: pops the left item of a list "l:..." (a one-winner write,
  // decided by the key's owner); the preload pushes kPopItemsPerKey items
  // onto every list first.
  static absl::StatusOr<Workload> Create(absl::string_view op, int64_t keys,
                                         int64_t value_size, int64_t batch_keys = 100);

  // The op names requests go to ("get", or "get" and "set" for mixed).
  const std::vector<std::string>& ops() const { return ops_; }

  // The request numbered `seq`: a pseudo-random key (and op, for mixed) that
  // depends on seq only, so any thread may ask. The body lives as long as this.
  WorkItem Next(uint64_t seq) const;
  // The op and key of request `seq`: what Next(seq) sends.
  Pick PickAt(uint64_t seq) const;

  // Items each list holds before a pop run.
  static constexpr int64_t kPopItemsPerKey = 16;

  // Request i of the preload, which fills the store before reads and pops: a
  // "set" of key i % keys() with a value (pop: a "push" onto list i % keys()).
  const std::string& PreloadBody(uint64_t i) const;
  // The op the preload sends, and how many requests (keys(), or
  // keys() * kPopItemsPerKey for pop).
  const std::string& preload_op() const { return preload_op_; }
  int64_t preload_count() const;

  int64_t keys() const { return static_cast<int64_t>(set_bodies_.size()); }
  // Keys one request reads or writes: batch_keys for mget, else 1.
  int64_t keys_per_request() const { return keys_per_request_; }
  // True when reads (or pops) are measured, so the store should be filled first.
  bool reads() const {
    return !get_bodies_.empty() || keys_per_request_ > 1 || name_ == "pop";
  }
  const std::string& name() const { return name_; }
  // The value every set, push and preload carries.
  const std::string& value() const { return value_; }

 private:
  Workload() = default;

  std::string name_;
  std::string value_;
  std::vector<std::string> ops_;
  std::vector<std::string> get_bodies_;   // get, mixed
  std::vector<std::string> set_bodies_;   // every op: preload, set, mixed
  std::vector<std::string> main_bodies_;  // add, push, mget, set_if, pop
  std::vector<std::string> push_bodies_;  // pop's preload
  std::string preload_op_ = "set";
  int64_t keys_per_request_ = 1;
};

// The requests of a Workload (get, set or mixed) against the JetStream KV
// bucket `bucket`, exactly as nats.c 3.4.1 sends them: kvStore_Put publishes
// the value to $KV.<bucket>.<key> and waits for the stream's ack; kvStore_Get
// is, on a bucket with direct get (js_CreateKeyValue sets AllowDirect), an
// empty request to $JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>, and
// otherwise {"last_by_subj":"$KV.<bucket>.<key>"} to
// $JS.API.STREAM.MSG.GET.KV_<bucket>. Request `seq` is the workload's request
// `seq` (same op, same key, same value); keys are the workload's with '_' for
// ':', which KV keys do not allow ("k_000123").
class JetStreamWorkload {
 public:
  // InvalidArgument for a workload other than get, set or mixed. `workload`
  // must outlive the result.
  static absl::StatusOr<JetStreamWorkload> Create(const Workload& workload,
                                                  absl::string_view bucket, bool direct);
  // OK for the workloads JetStream KV can run (get, set, mixed), else
  // InvalidArgument saying so.
  static absl::Status CheckOp(absl::string_view op);

  WorkItem Next(uint64_t seq) const;
  // A put of key i % keys, to fill the bucket before reads.
  WorkItem Preload(uint64_t i) const;

 private:
  explicit JetStreamWorkload(const Workload& workload) : workload_(&workload) {}

  const Workload* workload_;
  std::string empty_;
  std::string msg_get_subject_;            // "" for direct get
  std::vector<std::string> put_subjects_;  // $KV.<bucket>.<key>
  std::vector<std::string> get_subjects_;  // direct get: one per key
  std::vector<std::string> get_bodies_;    // message get: one per key
};

// Whether a JetStream reply is a failure: a status header ("404" for a get of
// a missing key, "503" for no responders), or a JSON body with an "error"
// member (a refused put or message get). Values never start with '{' here.
bool JetStreamReplyFailed(absl::string_view status, absl::string_view body);

// A 64-bit mix of x (splitmix64's finalizer): well-spread pseudo-random bits.
uint64_t Mix64(uint64_t x);

}  // namespace kv::tools

#endif  // TOOLS_KVBENCH_WORKLOAD_H_
