// Which machine-config layout a Talos version (or an existing config) uses, and which role
// a config is for. Talos 1.14 moved the Kubernetes settings out of the v1alpha1 document
// into separate documents and rejects configs that mix both (FACTS §0), so every patch
// must match the layout of the config it lands on, not just the node's Talos version.
#ifndef WEFT_GENERATOR_LAYOUT_H_
#define WEFT_GENERATOR_LAYOUT_H_

#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::generator {

enum class Layout {
  kLegacy,    // Talos <= 1.13: cluster.network, cluster.proxy, machine.features.kubePrism, ...
  kMultidoc,  // Talos >= 1.14: KubeNetworkConfig, KubeProxyConfig, KubePrismConfig, ...
};

enum class Role { kControlPlane, kWorker };

// A supported Talos release line ("v1.13.9", "1.14", "v1.14.0-rc.1" -> 14).
struct TalosVersion {
  int minor = 0;
  std::string text;  // as given
};

// Accepts 1.11 to 1.14; anything else is an error naming the supported lines.
absl::StatusOr<TalosVersion> ParseTalosVersion(absl::string_view text);

Layout LayoutFor(const TalosVersion& version);

absl::string_view LayoutName(Layout layout);  // "legacy v1alpha1" / "multi-document"
absl::string_view RoleName(Role role);        // "controlplane" / "worker"

// "controlplane" / "worker" (also "init", which Talos treats as a control plane).
std::optional<Role> ParseRole(absl::string_view text);

// The document kinds whose presence marks a config generated with the 1.14 contract.
bool IsMultidocMarkerKind(absl::string_view kind);

// Documents Talos accepts only on control-plane machines (container/validate.go).
bool IsControlPlaneOnlyKind(absl::string_view kind);

struct ConfigShape {
  Layout layout = Layout::kLegacy;
  std::optional<Role> role;  // from machine.type of the v1alpha1 document
};

// Layout and role of an existing machine config (all its documents).
ConfigShape DetectShape(const std::vector<YAML::Node>& docs);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_LAYOUT_H_
