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

constexpr const char* kEcho = "echo";
constexpr const char* kJetStream = "jetstream";

// The `baseline` row measured with the same op and in-flight as `row`, when
// `row` is compared with it (with echo: every other row; with JetStream: kvd
// rows), else nullptr.
const BenchRow* BaselineFor(const BenchRow& row, const std::vector<BenchRow>& rows,
                            absl::string_view baseline) {
  if (row.target == baseline) return nullptr;
  if (baseline == kJetStream && row.target != "kvd") return nullptr;
  for (const BenchRow& r : rows) {
    if (r.target == baseline && r.op == row.op && r.inflight == row.inflight) return &r;
  }
  return nullptr;
}

bool HasTarget(const std::vector<BenchRow>& rows, absl::string_view target) {
  return std::any_of(rows.begin(), rows.end(),
                     [target](const BenchRow& r) { return r.target == target; });
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

// The two ratio cells of `row` against `base` (empty without one).
void AddRatios(const BenchRow& row, const BenchRow* base,
               std::vector<std::string>* line) {
  if (base == nullptr) {
    line->insert(line->end(), 2, "");
    return;
  }
  line->push_back(absl::StrFormat(
      "%.2fx", Ratio(row.RequestsPerSecond(), base->RequestsPerSecond())));
  line->push_back(absl::StrFormat("%.2fx", Ratio(row.p50_ns, base->p50_ns)));
}

void WriteRatios(const BenchRow& row, const BenchRow* base, absl::string_view name,
                 rapidjson::Writer<rapidjson::StringBuffer>* w) {
  if (base == nullptr) return;
  w->Key(absl::StrCat("requests_per_second_vs_", name).c_str());
  w->Double(Ratio(row.RequestsPerSecond(), base->RequestsPerSecond()));
  w->Key(absl::StrCat("p50_vs_", name).c_str());
  w->Double(Ratio(row.p50_ns, base->p50_ns));
}

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

std::string DisplayOp(const BenchRow& row) {
  return row.target == kJetStream && row.op == "set" ? "put" : row.op;
}

std::string FormatBenchTable(const std::vector<BenchRow>& rows) {
  const bool with_echo = HasTarget(rows, kEcho);
  const bool with_jetstream = HasTarget(rows, kJetStream);
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
  if (with_jetstream) {
    columns.push_back({"req/s vs jetstream", true});
    columns.push_back({"p50 vs jetstream", true});
  }
  std::vector<std::vector<std::string>> cells;
  for (const BenchRow& r : rows) {
    std::vector<std::string> line = {r.target,
                                     DisplayOp(r),
                                     absl::StrCat(r.inflight),
                                     absl::StrFormat("%.0f", r.RequestsPerSecond()),
                                     Micros(r.p50_ns),
                                     Micros(r.p90_ns),
                                     Micros(r.p99_ns),
                                     Micros(r.max_ns),
                                     absl::StrCat(r.errors)};
    if (batches) {
      line.insert(line.begin() + 4, absl::StrFormat("%.0f", r.KeysPerSecond()));
    }
    if (with_echo) AddRatios(r, BaselineFor(r, rows, kEcho), &line);
    if (with_jetstream) AddRatios(r, BaselineFor(r, rows, kJetStream), &line);
    while (!line.empty() && line.back().empty()) line.pop_back();
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
    w.String(DisplayOp(r).c_str());
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
    WriteRatios(r, BaselineFor(r, rows, kEcho), kEcho, &w);
    WriteRatios(r, BaselineFor(r, rows, kJetStream), kJetStream, &w);
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

absl::StatusOr<Baselines> ParseBaselines(absl::string_view text) {
  Baselines b;
  if (text.empty()) return b;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    if (part == kEcho) {
      b.echo = true;
    } else if (part == kJetStream) {
      b.jetstream = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--baseline takes echo, jetstream or echo,jetstream; got '", text, "'"));
    }
  }
  return b;
}

}  // namespace kv::tools
