// Text tables for the CLI: left-aligned columns two spaces apart.
#ifndef WEFT_COMMON_TEXT_TABLE_H_
#define WEFT_COMMON_TEXT_TABLE_H_

#include <string>
#include <vector>

namespace weft {

// One line per row, each column as wide as its widest cell plus two spaces,
// no trailing blanks. Rows may have different lengths.
std::string RenderTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace weft

#endif  // WEFT_COMMON_TEXT_TABLE_H_
