// A tiny writer for commented YAML. yaml-cpp's emitter cannot put a comment block above a
// key, and the comments are the point of talosgen's output, so the text is built by hand
// from known-safe pieces (scalars go through QuoteScalar).
#ifndef WEFT_GENERATOR_YAML_TEXT_H_
#define WEFT_GENERATOR_YAML_TEXT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace weft::generator {

class YamlText {
 public:
  // `# ` + each line of `text` (split on '\n'), indented by `indent` spaces.
  void Comment(int indent, absl::string_view text);
  // One line, indented.
  void Line(int indent, absl::string_view text);
  // `key: value` with the value quoted when needed.
  void Scalar(int indent, absl::string_view key, absl::string_view value);
  // `key:` then `- item` per item (or `key: []`).
  void List(int indent, absl::string_view key, const std::vector<std::string>& items);
  // `key: |` then each line of `text` (a trailing newline dropped) indented by
  // `indent` + 2: a literal block scalar whose value is `text`.
  void LiteralBlock(int indent, absl::string_view key, absl::string_view text);
  void Blank() { text_ += "\n"; }
  void DocumentSeparator() { text_ += "---\n"; }

  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_YAML_TEXT_H_
