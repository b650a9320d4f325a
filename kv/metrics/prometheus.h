// The Prometheus text exposition format (version 0.0.4): families with their
// HELP and TYPE lines, samples with escaped label values, histograms with
// cumulative buckets. Pure text: no I/O, no locks.
#ifndef KV_METRICS_PROMETHEUS_H_
#define KV_METRICS_PROMETHEUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace kv::metrics {

// Content-Type of the text format.
inline constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Label (name, value) pairs, written in this order.
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { kCounter, kGauge, kHistogram };

// A label value as written between double quotes: backslash, double quote and
// line feed escaped as \\, \" and \n; every other byte kept.
std::string EscapeLabelValue(absl::string_view value);

// HELP text as written after the metric name: backslash and line feed escaped
// as \\ and \n.
std::string EscapeHelp(absl::string_view help);

// A sample value: the shortest decimal that reads back as `value`, in %g
// style as the Go client writes it (0.0001, 5e-05), "+Inf",
// "-Inf" or "NaN".
std::string FormatValue(double value);

// Builds one exposition. Families must be written whole, one after the other
// (each name once), and names must match [a-zA-Z_:][a-zA-Z0-9_:]* (label
// names [a-zA-Z_][a-zA-Z0-9_]*, not "le" for histograms): they come from the
// program, not from input, so they are not checked.
class TextWriter {
 public:
  // Starts family `name`: its HELP and TYPE lines.
  void Family(absl::string_view name, Type type, absl::string_view help);

  // A sample of the current counter or gauge family.
  void Int(const Labels& labels, uint64_t value);
  void Real(const Labels& labels, double value);

  // The samples of one histogram of the current histogram family:
  // `<name>_bucket` for each of `bounds` (ascending upper bounds, inclusive)
  // and for +Inf, cumulative; `<name>_sum` when `sum` is given; `<name>_count`.
  // `counts` holds the per-bucket (not cumulative) counts, one per bound and
  // one above the last bound; a missing count is taken as 0.
  void Histogram(const Labels& labels, const std::vector<double>& bounds,
                 const std::vector<uint64_t>& counts, std::optional<double> sum);

  // The text written so far; the writer is empty afterwards.
  std::string Take();

 private:
  void Sample(absl::string_view suffix, const Labels& labels,
              const std::pair<std::string, std::string>* extra, absl::string_view value);

  std::string family_;
  std::string out_;
};

}  // namespace kv::metrics

#endif  // KV_METRICS_PROMETHEUS_H_
