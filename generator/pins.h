// The pinned versions (Talos, Kubernetes, Cilium chart, Weft) from the repository's
// pins.yaml, which the build embeds into talosgen so there is exactly one source of truth.
#ifndef WEFT_GENERATOR_PINS_H_
#define WEFT_GENERATOR_PINS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::generator {

// One `name: value` entry with the `# renovate:` annotation above it.
struct Pin {
  std::string name;
  std::string value;
  std::string datasource;
  std::string dep_name;
  std::string registry_url;  // empty unless the annotation has one
  int line = 0;
};

struct Pins {
  std::vector<Pin> entries;

  // The entry named `name`, or nullptr.
  const Pin* Find(absl::string_view name) const;
  const std::string& talos() const;
  const std::string& kubernetes() const;
  const std::string& cilium() const;
  // The Weft system extension image: `<depName>:<value>` of the `weft` entry.
  std::string WeftExtensionImage() const;
};

// Parses pins.yaml text. Every entry must sit directly below a renovate comment, and the
// talos, kubernetes, cilium and weft entries must exist, so Renovate tracks each pin and
// talosgen can rely on them. Errors name `<source>:<line>`.
absl::StatusOr<Pins> ParsePins(absl::string_view text, absl::string_view source);

// pins.yaml as embedded at build time.
absl::string_view EmbeddedPinsText();

// The embedded pins, parsed once.
absl::StatusOr<Pins> EmbeddedPins();

// `talosgen versions`: the pins as YAML with their Renovate sources as comments.
std::string VersionsYaml(const Pins& pins);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_PINS_H_
