// What kvbench sends: realistic JSON request bodies for an op over a key
// space, prebuilt so the load generator only picks one. Pure.
#ifndef TOOLS_KVBENCH_WORKLOAD_H_
#define TOOLS_KVBENCH_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kv::tools {

// One request: the index of its op in Workload::ops() and its body.
struct WorkItem {
  size_t op = 0;
  const std::string* body = nullptr;
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
  static absl::StatusOr<Workload> Create(absl::string_view op, int64_t keys,
                                         int64_t value_size, int64_t batch_keys = 100);

  // The op names requests go to ("get", or "get" and "set" for mixed).
  const std::vector<std::string>& ops() const { return ops_; }

  // The request numbered `seq`: a pseudo-random key (and op, for mixed) that
  // depends on seq only, so any thread may ask. The body lives as long as this.
  WorkItem Next(uint64_t seq) const;

  // A "set" of key i % keys() with a value, to fill the store before reads.
  const std::string& PreloadBody(uint64_t i) const;

  int64_t keys() const { return static_cast<int64_t>(set_bodies_.size()); }
  // Keys one request reads or writes: batch_keys for mget, else 1.
  int64_t keys_per_request() const { return keys_per_request_; }
  // True when reads are measured, so the store should be filled first.
  bool reads() const { return !get_bodies_.empty() || keys_per_request_ > 1; }

 private:
  Workload() = default;

  std::string name_;
  std::vector<std::string> ops_;
  std::vector<std::string> get_bodies_;   // get, mixed
  std::vector<std::string> set_bodies_;   // every op: preload, set, mixed
  std::vector<std::string> main_bodies_;  // add, push, mget
  int64_t keys_per_request_ = 1;
};

// A 64-bit mix of x (splitmix64's finalizer): well-spread pseudo-random bits.
uint64_t Mix64(uint64_t x);

}  // namespace kv::tools

#endif  // TOOLS_KVBENCH_WORKLOAD_H_
