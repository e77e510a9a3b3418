// yaml-cpp at the edge: loading YAML text into nodes without letting exceptions escape,
// source line numbers for error messages, and scalar quoting for the text we emit.
#ifndef WEFT_GENERATOR_YAML_UTIL_H_
#define WEFT_GENERATOR_YAML_UTIL_H_

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::generator {

// Parses every document of `text` (a multi-document YAML stream). Empty documents are
// dropped. A syntax error becomes `<name>:<line>: invalid YAML: <reason>`.
absl::StatusOr<std::vector<YAML::Node>> LoadYamlDocuments(const std::string& text,
                                                          absl::string_view name);

// 1-based source line of `node`, or 0 when the node was not read from text.
int SourceLine(const YAML::Node& node);

// Reads a scalar as text without throwing; false for maps, sequences and null.
bool ScalarText(const YAML::Node& node, std::string* out);

// `node` as a block of YAML (used to print merged configs); never throws.
std::string EmitYaml(const YAML::Node& node);

// A scalar for our own YAML text: plain when that round-trips as the same string,
// double-quoted otherwise (e.g. "1", "true", "", strings with ": ").
std::string QuoteScalar(absl::string_view value);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_YAML_UTIL_H_
