#include "generator/pins.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "generator/yaml_util.h"

namespace weft::generator {

// Defined by the //generator:pins_embed genrule from //:pins.yaml.
extern const char kEmbeddedPinsYaml[];

namespace {

constexpr absl::string_view kRenovatePrefix = "# renovate:";
const char* const kRequired[] = {"talos", "kubernetes", "cilium", "weft"};

absl::Status LineError(absl::string_view source, int line, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(source, ":", line, ": ", msg));
}

// `# renovate: datasource=x depName=y [registryUrl=z]` into `pin`.
absl::Status ParseAnnotation(absl::string_view comment, absl::string_view source, int line,
                             Pin* pin) {
  absl::string_view rest = comment.substr(kRenovatePrefix.size());
  for (absl::string_view field : absl::StrSplit(rest, ' ', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(field, '=');
    if (kv.first == "datasource") {
      pin->datasource = std::string(kv.second);
    } else if (kv.first == "depName") {
      pin->dep_name = std::string(kv.second);
    } else if (kv.first == "registryUrl") {
      pin->registry_url = std::string(kv.second);
    } else {
      return LineError(source, line, absl::StrCat("unknown renovate field \"", field, "\""));
    }
  }
  if (pin->datasource.empty() || pin->dep_name.empty()) {
    return LineError(source, line, "renovate comment needs datasource= and depName=");
  }
  return absl::OkStatus();
}

}  // namespace

const Pin* Pins::Find(absl::string_view name) const {
  for (const Pin& p : entries) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// ParsePins guarantees the required entries, so these never dereference null.
const std::string& Pins::talos() const { return Find("talos")->value; }
const std::string& Pins::kubernetes() const { return Find("kubernetes")->value; }
const std::string& Pins::cilium() const { return Find("cilium")->value; }
std::string Pins::WeftExtensionImage() const {
  const Pin* weft = Find("weft");
  return absl::StrCat(weft->dep_name, ":", weft->value);
}

absl::StatusOr<Pins> ParsePins(absl::string_view text, absl::string_view source) {
  Pins pins;
  Pin pending;
  bool annotated = false;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripTrailingAsciiWhitespace(raw);
    if (line.empty()) {
      annotated = false;  // the annotation must sit directly above its entry
      continue;
    }
    if (absl::StartsWith(line, kRenovatePrefix)) {
      pending = Pin{};
      absl::Status s = ParseAnnotation(line, source, line_no, &pending);
      if (!s.ok()) return s;
      annotated = true;
      continue;
    }
    if (line[0] == '#') {
      annotated = false;  // Renovate's regex wants the entry on the very next line
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      return LineError(source, line_no, "pins are flat `name: value` entries");
    }
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(": ", 1));
    absl::string_view name = kv.first;
    absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    if (absl::ConsumePrefix(&value, "\"")) absl::ConsumeSuffix(&value, "\"");
    if (value.empty() || name.empty()) {
      return LineError(source, line_no, "expected `name: value`");
    }
    if (!annotated) {
      return LineError(source, line_no,
                       absl::StrCat(name, ": no `# renovate: datasource=... depName=...` "
                                          "comment directly above; Renovate would not track it"));
    }
    if (pins.Find(name) != nullptr) {
      return LineError(source, line_no, absl::StrCat(name, ": pinned twice"));
    }
    pending.name = std::string(name);
    pending.value = std::string(value);
    pending.line = line_no;
    pins.entries.push_back(pending);
    annotated = false;
  }
  for (const char* name : kRequired) {
    if (pins.Find(name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": missing pin \"", name, "\""));
    }
  }
  // The file is also YAML for everyone else (Renovate, humans, yq): keep it so.
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadYamlDocuments(std::string(text), source);
  if (!docs.ok()) return docs.status();
  return pins;
}

absl::string_view EmbeddedPinsText() { return kEmbeddedPinsYaml; }

absl::StatusOr<Pins> EmbeddedPins() {
  static const absl::StatusOr<Pins>* const kPins =
      new absl::StatusOr<Pins>(ParsePins(EmbeddedPinsText(), "pins.yaml (embedded)"));
  return *kPins;
}

std::string VersionsYaml(const Pins& pins) {
  std::string out =
      "# Versions pinned in pins.yaml (embedded in talosgen at build time).\n"
      "# Renovate tracks each one through the `# renovate:` source shown above it.\n";
  for (const Pin& p : pins.entries) {
    absl::StrAppend(&out, "# renovate: datasource=", p.datasource, " depName=", p.dep_name);
    if (!p.registry_url.empty()) absl::StrAppend(&out, " registryUrl=", p.registry_url);
    absl::StrAppend(&out, "\n", p.name, ": ", QuoteScalar(p.value), "\n");
  }
  absl::StrAppend(&out,
                  "# Derived: the image `talosgen schematic` passes to imager "
                  "(--system-extension-image).\n",
                  "weftExtensionImage: ", QuoteScalar(pins.WeftExtensionImage()), "\n");
  return out;
}

}  // namespace weft::generator
