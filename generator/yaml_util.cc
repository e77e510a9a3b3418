#include "generator/yaml_util.h"

#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace weft::generator {

absl::StatusOr<std::vector<YAML::Node>> LoadYamlDocuments(const std::string& text,
                                                          absl::string_view name) {
  try {
    std::vector<YAML::Node> docs;
    for (YAML::Node& doc : YAML::LoadAll(text)) {
      if (!doc.IsNull()) docs.push_back(doc);
    }
    return docs;
  } catch (const YAML::Exception& e) {
    // yaml-cpp marks are 0-based; editors and the rest of our messages are 1-based.
    int line = e.mark.is_null() ? 1 : e.mark.line + 1;
    return absl::InvalidArgumentError(absl::StrCat(name, ":", line, ": invalid YAML: ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": invalid YAML: ", e.what()));
  }
}

int SourceLine(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

bool ScalarText(const YAML::Node& node, std::string* out) {
  if (!node.IsDefined() || !node.IsScalar()) return false;
  *out = node.Scalar();
  return true;
}

namespace {

// Like `emitter << node`, but keeps quoted scalars quoted: "1" in a sysctl map must stay a
// string (Talos' schema says string), and yaml-cpp would print it as a plain 1.
void Emit(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& kv : node) {
        out << YAML::Key;
        Emit(out, kv.first);
        out << YAML::Value;
        Emit(out, kv.second);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : node) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") {
        out << YAML::DoubleQuoted << node.Scalar();
      } else {
        out << node.Scalar();
      }
      break;
    default:
      out << YAML::Null;
  }
}

}  // namespace

std::string EmitYaml(const YAML::Node& node) {
  try {
    YAML::Emitter emitter;
    emitter.SetIndent(2);
    Emit(emitter, node);
    return std::string(emitter.c_str()) + "\n";
  } catch (const std::exception& e) {
    return absl::StrCat("# cannot print: ", e.what(), "\n");
  }
}

namespace {

// Plain scalars YAML 1.1/1.2 resolvers would read as something other than a string.
bool LooksTyped(absl::string_view v) {
  std::string lower = absl::AsciiStrToLower(v);
  static const char* const kWords[] = {"true", "false", "yes", "no", "on", "off",
                                       "null", "~", "y", "n"};
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  // Numbers (ints, floats, 0x, 0o, .5, 1e3, 1_000): anything starting with a digit,
  // sign or dot followed by a digit is quoted rather than guessed about.
  char c = v[0];
  if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
    // CIDRs and versions like 10.244.0.0/16 or 1.2.3 are plain strings in YAML.
    int dots = 0;
    bool slash = false;
    for (char ch : v) {
      if (ch == '.') ++dots;
      if (ch == '/') slash = true;
    }
    return !(slash || dots >= 2);
  }
  if ((c == '-' || c == '+' || c == '.') && v.size() > 1 &&
      absl::ascii_isdigit(static_cast<unsigned char>(v[1]))) {
    return true;
  }
  return false;
}

}  // namespace

std::string QuoteScalar(absl::string_view value) {
  bool plain = !value.empty() && !LooksTyped(value);
  if (plain) {
    static const absl::string_view kBadFirst = "-?:,[]{}#&*!|>'\"%@` ";
    if (kBadFirst.find(value.front()) != absl::string_view::npos) plain = false;
    if (value.back() == ' ' || value.back() == ':') plain = false;
    if (value.find(": ") != absl::string_view::npos) plain = false;
    if (value.find(" #") != absl::string_view::npos) plain = false;
    for (char c : value) {
      if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') plain = false;
    }
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrCat("\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace weft::generator
