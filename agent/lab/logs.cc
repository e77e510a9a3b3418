#include "agent/lab/logs.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"

namespace weft::lab {

std::string LogTail(const std::string& path, size_t lines) {
  auto text = ReadFile(path);
  if (!text.ok()) return "";
  std::vector<std::string> all =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(*text), '\n', absl::SkipEmpty());
  if (all.empty()) return "";
  std::vector<std::string> last(all.end() - std::min(lines, all.size()), all.end());
  return absl::StrCat("\n  last lines of ", path, ":\n    ", absl::StrJoin(last, "\n    "));
}

}  // namespace weft::lab
