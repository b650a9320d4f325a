#include "kv/metrics/prometheus.h"

#include <limits>

#include "gtest/gtest.h"

namespace kv::metrics {
namespace {

TEST(EscapeLabelValue, EscapesBackslashQuoteAndNewlineOnly) {
  EXPECT_EQ(EscapeLabelValue("plain-link_1"), "plain-link_1");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeLabelValue("tab\there, caf\xc3\xa9"), "tab\there, caf\xc3\xa9");
  EXPECT_EQ(EscapeLabelValue(""), "");
}

TEST(EscapeHelp, EscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(EscapeHelp("say \"hi\"\\now\nthen"), "say \"hi\"\\\\now\\nthen");
}

TEST(FormatValue, ShortestRoundTripAndSpecialValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.00005), "5e-05");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(TextWriter, FamiliesHaveHelpAndTypeLinesThenSamples) {
  TextWriter w;
  w.Family("natskv_peers", Type::kGauge, "peers heard\nrecently");
  w.Int({{"link", "a\"b"}}, 2);
  w.Int({}, 3);
  w.Family("natskv_events_in_total", Type::kCounter, "events");
  w.Int({{"link", "x"}, {"op", "get"}}, 18446744073709551615u);
  w.Real({{"link", "y"}}, 0.25);
  EXPECT_EQ(w.Take(),
            "# HELP natskv_peers peers heard\\nrecently\n"
            "# TYPE natskv_peers gauge\n"
            "natskv_peers{link=\"a\\\"b\"} 2\n"
            "natskv_peers 3\n"
            "# HELP natskv_events_in_total events\n"
            "# TYPE natskv_events_in_total counter\n"
            "natskv_events_in_total{link=\"x\",op=\"get\"} 18446744073709551615\n"
            "natskv_events_in_total{link=\"y\"} 0.25\n");
  EXPECT_EQ(w.Take(), "");
}

TEST(TextWriter, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  TextWriter w;
  w.Family("d_seconds", Type::kHistogram, "durations");
  // 1 at <= 0.001, 0 in (0.001, 0.01], 2 in (0.01, 1], 4 above.
  w.Histogram({{"link", "l"}}, {0.001, 0.01, 1}, {1, 0, 2, 4}, 12.5);
  EXPECT_EQ(w.Take(),
            "# HELP d_seconds durations\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{link=\"l\",le=\"0.001\"} 1\n"
            "d_seconds_bucket{link=\"l\",le=\"0.01\"} 1\n"
            "d_seconds_bucket{link=\"l\",le=\"1\"} 3\n"
            "d_seconds_bucket{link=\"l\",le=\"+Inf\"} 7\n"
            "d_seconds_sum{link=\"l\"} 12.5\n"
            "d_seconds_count{link=\"l\"} 7\n");
}

TEST(TextWriter, HistogramWithoutSumOrLabelsAndShortCounts) {
  TextWriter w;
  w.Family("h", Type::kHistogram, "h");
  w.Histogram({}, {1, 2}, {5}, std::nullopt);
  EXPECT_EQ(w.Take(),
            "# HELP h h\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 5\nh_bucket{le=\"+Inf\"} 5\n"
            "h_count 5\n");
}

}  // namespace
}  // namespace kv::metrics
