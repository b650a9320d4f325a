#include "kv/metrics/prometheus.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace kv::metrics {
namespace {

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto result =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::general);
  return std::string(buf, result.ptr);
}

void TextWriter::Family(absl::string_view name, Type type, absl::string_view help) {
  family_ = std::string(name);
  absl::StrAppend(&out_, "# HELP ", name, " ", EscapeHelp(help), "\n", "# TYPE ", name,
                  " ", TypeName(type), "\n");
}

void TextWriter::Int(const Labels& labels, uint64_t value) {
  Sample("", labels, nullptr, absl::StrCat(value));
}

void TextWriter::Real(const Labels& labels, double value) {
  Sample("", labels, nullptr, FormatValue(value));
}

void TextWriter::Histogram(const Labels& labels, const std::vector<double>& bounds,
                           const std::vector<uint64_t>& counts,
                           std::optional<double> sum) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    if (i < counts.size()) cumulative += counts[i];
    const std::pair<std::string, std::string> le = {
        "le", i < bounds.size() ? FormatValue(bounds[i]) : "+Inf"};
    Sample("_bucket", labels, &le, absl::StrCat(cumulative));
  }
  if (sum.has_value()) Sample("_sum", labels, nullptr, FormatValue(*sum));
  Sample("_count", labels, nullptr, absl::StrCat(cumulative));
}

std::string TextWriter::Take() {
  family_.clear();
  std::string text;
  text.swap(out_);
  return text;
}

void TextWriter::Sample(absl::string_view suffix, const Labels& labels,
                        const std::pair<std::string, std::string>* extra,
                        absl::string_view value) {
  absl::StrAppend(&out_, family_, suffix);
  if (!labels.empty() || extra != nullptr) {
    out_ += '{';
    bool first = true;
    auto add = [&](const std::pair<std::string, std::string>& label) {
      if (!first) out_ += ',';
      first = false;
      absl::StrAppend(&out_, label.first, "=\"", EscapeLabelValue(label.second), "\"");
    };
    for (const auto& label : labels) add(label);
    if (extra != nullptr) add(*extra);
    out_ += '}';
  }
  absl::StrAppend(&out_, " ", value, "\n");
}

}  // namespace kv::metrics
