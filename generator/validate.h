// `talosgen validate`: applies patches to a machine config (Talos strategic merge) and
// reports what breaks a Flannel-free, kube-proxy-free setup: Flannel or kube-proxy still on,
// KubePrism off, legacy fields mixed with 1.14 documents, overlapping CIDRs, a worker with
// control-plane-only documents, host DNS forwarding together with BPF masquerade.
#ifndef WEFT_GENERATOR_VALIDATE_H_
#define WEFT_GENERATOR_VALIDATE_H_

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "generator/spec.h"

namespace weft::generator {

struct Finding {
  std::string document;  // "v1alpha1", "KubeProxyConfig", ...
  std::string field;     // "cluster.proxy.disabled", or "(document)" for the whole document
  std::string message;
};

// `<file>: <document>: <field>: <message>`.
std::string FormatFinding(absl::string_view file, const Finding& finding);

struct NamedText {
  std::string name;  // for messages
  std::string text;
};

// The first file is the base config, the others strategic-merge patches applied in order.
// Errors (unreadable YAML, malformed patches) are one line naming file and line.
absl::StatusOr<std::vector<YAML::Node>> MergeFiles(const std::vector<NamedText>& files);

// Problems in a (merged) config. `spec` supplies what the config must agree with: the
// KubePrism port, the native-routing CIDR, whether BPF masquerade is on.
std::vector<Finding> CheckConfig(const std::vector<YAML::Node>& docs, const Spec& spec);

// The whole `validate` run: stdout text and whether the config is clean.
struct ValidateReport {
  std::string output;
  bool clean = true;
};
absl::StatusOr<ValidateReport> Validate(const std::vector<NamedText>& files, const Spec& spec);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_VALIDATE_H_
