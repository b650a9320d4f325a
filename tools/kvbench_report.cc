#include "tools/kvbench_report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tools/kvctl_table.h"

namespace kv::tools {
namespace {

constexpr int kMaxInflight = 65536;

std::string Micros(int64_t nanos) { return absl::StrFormat("%.1f", nanos / 1e3); }

// The echo row measured with the same op and in-flight, or nullptr.
const BenchRow* EchoFor(const BenchRow& row, const std::vector<BenchRow>& rows) {
  if (row.target == "echo") return nullptr;
  for (const BenchRow& r : rows) {
    if (r.target == "echo" && r.op == row.op && r.inflight == row.inflight) return &r;
  }
  return nullptr;
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

}  // namespace

void LatencyRecorder::Record(int64_t nanos) {
  if (!samples_.empty() && nanos < samples_.back()) sorted_ = false;
  samples_.push_back(nanos);
}

void LatencyRecorder::Sort() {
  if (!sorted_) std::sort(samples_.begin(), samples_.end());
  sorted_ = true;
}

int64_t LatencyRecorder::Percentile(double q) {
  if (samples_.empty()) return 0;
  Sort();
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank: the smallest sample with at least q of all at or below it.
  size_t rank = static_cast<size_t>(std::ceil(q * samples_.size()));
  return samples_[rank == 0 ? 0 : rank - 1];
}

int64_t LatencyRecorder::Max() {
  if (samples_.empty()) return 0;
  Sort();
  return samples_.back();
}

void SetLatencies(LatencyRecorder* latencies, BenchRow* row) {
  row->p50_ns = latencies->Percentile(0.50);
  row->p90_ns = latencies->Percentile(0.90);
  row->p99_ns = latencies->Percentile(0.99);
  row->max_ns = latencies->Max();
}

std::string FormatBenchTable(const std::vector<BenchRow>& rows) {
  const bool with_echo = std::any_of(
      rows.begin(), rows.end(), [](const BenchRow& r) { return r.target == "echo"; });
  std::vector<Column> columns = {{"target"},       {"op"},           {"in-flight", true},
                                 {"req/s", true},  {"p50 us", true}, {"p90 us", true},
                                 {"p99 us", true}, {"max us", true}, {"errors", true}};
  const bool batches = std::any_of(
      rows.begin(), rows.end(), [](const BenchRow& r) { return r.keys_per_request > 1; });
  if (batches) columns.insert(columns.begin() + 4, {"keys/s", true});
  if (with_echo) {
    columns.push_back({"req/s vs echo", true});
    columns.push_back({"p50 vs echo", true});
  }
  std::vector<std::vector<std::string>> cells;
  for (const BenchRow& r : rows) {
    std::vector<std::string> line = {r.target,
                                     r.op,
                                     absl::StrCat(r.inflight),
                                     absl::StrFormat("%.0f", r.RequestsPerSecond()),
                                     Micros(r.p50_ns),
                                     Micros(r.p90_ns),
                                     Micros(r.p99_ns),
                                     Micros(r.max_ns),
                                     absl::StrCat(r.errors)};
    if (batches)
      line.insert(line.begin() + 4, absl::StrFormat("%.0f", r.KeysPerSecond()));
    if (const BenchRow* echo = EchoFor(r, rows)) {
      line.push_back(absl::StrFormat(
          "%.2fx", Ratio(r.RequestsPerSecond(), echo->RequestsPerSecond())));
      line.push_back(absl::StrFormat("%.2fx", Ratio(r.p50_ns, echo->p50_ns)));
    }
    cells.push_back(std::move(line));
  }
  return FormatTable(columns, cells);
}

std::string FormatBenchJson(const std::vector<BenchRow>& rows) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("results");
  w.StartArray();
  for (const BenchRow& r : rows) {
    w.StartObject();
    w.Key("target");
    w.String(r.target.c_str());
    w.Key("op");
    w.String(r.op.c_str());
    w.Key("inflight");
    w.Int(r.inflight);
    w.Key("seconds");
    w.Double(r.seconds);
    w.Key("requests");
    w.Uint64(r.requests);
    w.Key("requests_per_second");
    w.Double(r.RequestsPerSecond());
    if (r.keys_per_request > 1) {
      w.Key("keys_per_request");
      w.Int64(r.keys_per_request);
      w.Key("keys_per_second");
      w.Double(r.KeysPerSecond());
    }
    w.Key("errors");
    w.Uint64(r.errors);
    w.Key("p50_us");
    w.Double(r.p50_ns / 1e3);
    w.Key("p90_us");
    w.Double(r.p90_ns / 1e3);
    w.Key("p99_us");
    w.Double(r.p99_ns / 1e3);
    w.Key("max_us");
    w.Double(r.max_ns / 1e3);
    if (const BenchRow* echo = EchoFor(r, rows)) {
      w.Key("requests_per_second_vs_echo");
      w.Double(Ratio(r.RequestsPerSecond(), echo->RequestsPerSecond()));
      w.Key("p50_vs_echo");
      w.Double(Ratio(r.p50_ns, echo->p50_ns));
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<std::vector<int>> ParseInflightList(absl::string_view text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 1 || n > kMaxInflight) {
      return absl::InvalidArgumentError(
          absl::StrCat("--inflight takes positive integers up to ", kMaxInflight,
                       ", comma-separated (e.g. 1,128); got '", text, "'"));
    }
    out.push_back(n);
  }
  return out;
}

}  // namespace kv::tools
