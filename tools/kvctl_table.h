// Plain-text tables with aligned columns, for kvctl's discovery output and
// kvbench's results.
#ifndef TOOLS_KVCTL_TABLE_H_
#define TOOLS_KVCTL_TABLE_H_

#include <string>
#include <vector>

namespace kv::tools {

struct Column {
  std::string header;
  // Numbers read best right-aligned.
  bool right_aligned = false;
};

// Renders a header line and one line per row, columns separated by two spaces
// and padded to their widest cell (bytes, so ASCII content aligns exactly).
// Rows shorter than `columns` get empty cells; extra cells are dropped. The
// last column is not padded, so lines carry no trailing spaces.
std::string FormatTable(const std::vector<Column>& columns,
                        const std::vector<std::vector<std::string>>& rows);

}  // namespace kv::tools

#endif  // TOOLS_KVCTL_TABLE_H_
