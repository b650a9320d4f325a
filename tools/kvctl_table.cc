#include "tools/kvctl_table.h"

#include <algorithm>

namespace kv::tools {
namespace {

void AppendCell(const std::string& cell, size_t width, bool right_aligned, bool last,
                std::string* line) {
  const std::string padding(width - std::min(width, cell.size()), ' ');
  if (right_aligned) {
    *line += padding + cell;
  } else {
    *line += cell;
    if (!last) *line += padding;
  }
}

void AppendLine(const std::vector<Column>& columns, const std::vector<size_t>& widths,
                const std::vector<std::string>& cells, std::string* out) {
  std::string line;
  for (size_t c = 0; c < columns.size(); ++c) {
    if (c > 0) line += "  ";
    const std::string empty;
    const std::string& cell = c < cells.size() ? cells[c] : empty;
    AppendCell(cell, widths[c], columns[c].right_aligned, c + 1 == columns.size(), &line);
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  *out += line + "\n";
}

}  // namespace

std::string FormatTable(const std::vector<Column>& columns,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(columns.size());
  std::vector<std::string> headers;
  for (size_t c = 0; c < columns.size(); ++c) {
    headers.push_back(columns[c].header);
    widths[c] = columns[c].header.size();
    for (const auto& row : rows) {
      if (c < row.size()) widths[c] = std::max(widths[c], row[c].size());
    }
  }
  std::string out;
  AppendLine(columns, widths, headers, &out);
  for (const auto& row : rows) AppendLine(columns, widths, row, &out);
  return out;
}

}  // namespace kv::tools
