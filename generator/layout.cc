#include "generator/layout.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "generator/config_doc.h"

namespace weft::generator {

namespace {
constexpr int kOldestMinor = 11;
constexpr int kNewestMinor = 14;
constexpr int kFirstMultidocMinor = 14;
}  // namespace

absl::StatusOr<TalosVersion> ParseTalosVersion(absl::string_view text) {
  absl::string_view v = text;
  absl::ConsumePrefix(&v, "v");
  // Drop pre-release and build suffixes: "1.14.0-rc.1" belongs to the 1.14 line.
  v = v.substr(0, v.find_first_of("-+"));
  std::vector<absl::string_view> parts = absl::StrSplit(v, '.');
  int major = 0, minor = 0, patch = 0;
  bool ok = (parts.size() == 2 || parts.size() == 3) && absl::SimpleAtoi(parts[0], &major) &&
            absl::SimpleAtoi(parts[1], &minor) &&
            (parts.size() == 2 || absl::SimpleAtoi(parts[2], &patch));
  if (!ok || major != 1 || minor < kOldestMinor || minor > kNewestMinor || patch < 0) {
    return absl::InvalidArgumentError(absl::StrCat("unknown Talos version \"", text,
                                                   "\" (supported: v1.11, v1.12, v1.13, v1.14)"));
  }
  return TalosVersion{minor, std::string(text)};
}

Layout LayoutFor(const TalosVersion& version) {
  return version.minor >= kFirstMultidocMinor ? Layout::kMultidoc : Layout::kLegacy;
}

absl::string_view LayoutName(Layout layout) {
  return layout == Layout::kMultidoc ? "multi-document" : "legacy v1alpha1";
}

absl::string_view RoleName(Role role) {
  return role == Role::kControlPlane ? "controlplane" : "worker";
}

std::optional<Role> ParseRole(absl::string_view text) {
  if (text == "controlplane" || text == "init") return Role::kControlPlane;
  if (text == "worker") return Role::kWorker;
  return std::nullopt;
}

bool IsMultidocMarkerKind(absl::string_view kind) {
  return kind == "KubeNetworkConfig" || kind == "KubeProxyConfig" ||
         kind == "KubeFlannelCNIConfig" || kind == "KubePrismConfig";
}

bool IsControlPlaneOnlyKind(absl::string_view kind) {
  static const char* const kKinds[] = {
      "KubeAdmissionControlConfig", "KubeAggregatorCAConfig",  "KubeAPIServerConfig",
      "KubeAuditPolicyConfig",      "KubeAuthenticationConfig", "KubeAuthorizerConfig",
      "KubeControllerManagerConfig", "KubeCoreDNSConfig",       "KubeEtcdEncryptionConfig",
      "KubeFlannelCNIConfig",       "KubeProxyConfig",          "KubeSchedulerConfig",
      "KubeServiceAccountConfig",   "KubeTalosAPIAccessConfig",
  };
  for (const char* k : kKinds) {
    if (kind == k) return true;
  }
  return false;
}

ConfigShape DetectShape(const std::vector<YAML::Node>& docs) {
  ConfigShape shape;
  for (const YAML::Node& doc : docs) {
    if (IsMultidocMarkerKind(DocKind(doc))) shape.layout = Layout::kMultidoc;
    if (IsV1Alpha1(doc)) {
      std::string type;
      if (ScalarAt(doc, {"machine", "type"}, &type)) shape.role = ParseRole(type);
    }
  }
  return shape;
}

}  // namespace weft::generator
