// `talosgen values`: Helm values for installing Cilium on Talos, for the chart versions
// whose rules talosgen knows (1.16.x, 1.19.x, 1.20.x; Cilium FACTS §1).
#ifndef WEFT_GENERATOR_VALUES_H_
#define WEFT_GENERATOR_VALUES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "generator/spec.h"

namespace weft::generator {

// A supported chart release line.
struct ChartVersion {
  int minor = 0;      // 16, 19 or 20
  std::string text;   // as given, e.g. "1.19.6"
};

// "1.19.6" / "v1.19.6": any patch release of 1.16, 1.19 or 1.20; else an error.
absl::StatusOr<ChartVersion> ParseChartVersion(absl::string_view text);

// The values as commented YAML. Pure. The spec has already been checked for combinations
// the chart rejects (Hubble UI without relay, native routing without an IPv4 CIDR).
std::string GenerateValues(const Spec& spec, const ChartVersion& chart);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_VALUES_H_
