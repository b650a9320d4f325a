// kvbench's figures: latency percentiles, one result row per measured run,
// and the result table (with ratios to the echo and JetStream baselines) or
// JSON; parsing of its list flags. Pure.
#ifndef TOOLS_KVBENCH_REPORT_H_
#define TOOLS_KVBENCH_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kv::tools {

// Every latency sample of a run, kept exactly (8 bytes each: a 10 s run at
// 200k req/s holds 16 MB).
//
// Thread safety: none; the load generator records under its own mutex.
class LatencyRecorder {
 public:
  void Record(int64_t nanos);
  size_t count() const { return samples_.size(); }
  // The nearest-rank percentile for q in [0, 1] (0.5: median); 0 when empty.
  int64_t Percentile(double q);
  int64_t Max();

 private:
  void Sort();

  std::vector<int64_t> samples_;
  bool sorted_ = true;
};

// One measured run.
struct BenchRow {
  std::string target;  // "kvd", "echo" or "jetstream"
  std::string op;
  int inflight = 0;
  double seconds = 0;
  uint64_t requests = 0;  // replies received in the measured window
  uint64_t errors = 0;    // error-header replies and timeouts
  int64_t p50_ns = 0;
  int64_t p90_ns = 0;
  int64_t p99_ns = 0;
  int64_t max_ns = 0;

  int64_t keys_per_request = 1;  // mget: keys read per request
  double RequestsPerSecond() const { return seconds > 0 ? requests / seconds : 0; }
  double KeysPerSecond() const { return RequestsPerSecond() * keys_per_request; }
};

// Fills the percentiles of `row` from `latencies`.
void SetLatencies(LatencyRecorder* latencies, BenchRow* row);

// The op a row shows: a JetStream "set" is a put ("put"); else `row.op`.
std::string DisplayOp(const BenchRow& row);

// The result table: target, op, in-flight, req/s (and keys/s when a row's
// requests carry several keys), p50/p90/p99/max in
// microseconds, errors; when echo rows are present, every other row also
// shows its req/s and p50 as ratios to the echo row of the same op and
// in-flight ("vs echo"); when JetStream rows are present, kvd rows show theirs
// to the JetStream row ("vs jetstream"). A ratio with no row to compare with
// is left empty.
std::string FormatBenchTable(const std::vector<BenchRow>& rows);

// The same as JSON: {"results":[{...}]}, with requests_per_second_vs_echo and
// p50_vs_echo (..._vs_jetstream) on rows that have such a row to compare with.
std::string FormatBenchJson(const std::vector<BenchRow>& rows);

// Parses "--inflight": one positive integer or a comma list ("1,128").
absl::StatusOr<std::vector<int>> ParseInflightList(absl::string_view text);

// What "--baseline" asks for: "", "echo", "jetstream" or both, comma-separated.
struct Baselines {
  bool echo = false;
  bool jetstream = false;
};
absl::StatusOr<Baselines> ParseBaselines(absl::string_view text);

}  // namespace kv::tools

#endif  // TOOLS_KVBENCH_REPORT_H_
