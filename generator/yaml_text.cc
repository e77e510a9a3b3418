#include "generator/yaml_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "generator/yaml_util.h"

namespace weft::generator {

void YamlText::Comment(int indent, absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    text_.append(indent, ' ');
    if (line.empty()) {
      text_ += "#\n";
    } else {
      absl::StrAppend(&text_, "# ", line, "\n");
    }
  }
}

void YamlText::Line(int indent, absl::string_view text) {
  text_.append(indent, ' ');
  absl::StrAppend(&text_, text, "\n");
}

void YamlText::Scalar(int indent, absl::string_view key, absl::string_view value) {
  Line(indent, absl::StrCat(key, ": ", QuoteScalar(value)));
}

void YamlText::List(int indent, absl::string_view key, const std::vector<std::string>& items) {
  if (items.empty()) {
    Line(indent, absl::StrCat(key, ": []"));
    return;
  }
  Line(indent, absl::StrCat(key, ":"));
  for (const std::string& item : items) Line(indent + 2, absl::StrCat("- ", QuoteScalar(item)));
}

void YamlText::LiteralBlock(int indent, absl::string_view key, absl::string_view text) {
  Line(indent, absl::StrCat(key, ": |"));
  for (absl::string_view line : absl::StrSplit(absl::StripSuffix(text, "\n"), '\n')) {
    if (line.empty()) {
      Blank();
    } else {
      Line(indent + 2, line);
    }
  }
}

}  // namespace weft::generator
