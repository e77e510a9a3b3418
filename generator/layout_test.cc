#include "generator/layout.h"

#include <gtest/gtest.h>

#include "generator/yaml_util.h"

namespace weft::generator {
namespace {

std::vector<YAML::Node> Docs(const std::string& text) { return *LoadYamlDocuments(text, "t"); }

TEST(LayoutTest, VersionsMapToLayouts) {
  EXPECT_EQ(LayoutFor(*ParseTalosVersion("v1.11.0")), Layout::kLegacy);
  EXPECT_EQ(LayoutFor(*ParseTalosVersion("1.12")), Layout::kLegacy);
  EXPECT_EQ(LayoutFor(*ParseTalosVersion("v1.13.9")), Layout::kLegacy);
  EXPECT_EQ(LayoutFor(*ParseTalosVersion("v1.14.0-rc.1")), Layout::kMultidoc);
  EXPECT_EQ(LayoutFor(*ParseTalosVersion("v1.14.2")), Layout::kMultidoc);
}

TEST(LayoutTest, UnknownVersionsAreErrors) {
  for (const char* v : {"v1.10.7", "v1.15.0", "2.0.0", "latest", "", "v1.13.x"}) {
    absl::StatusOr<TalosVersion> tv = ParseTalosVersion(v);
    ASSERT_FALSE(tv.ok()) << v;
    EXPECT_EQ(tv.status().message(),
              std::string("unknown Talos version \"") + v +
                  "\" (supported: v1.11, v1.12, v1.13, v1.14)");
  }
}

TEST(LayoutTest, DetectsMultidocFromKubeDocuments) {
  for (const char* kind :
       {"KubeNetworkConfig", "KubeProxyConfig", "KubeFlannelCNIConfig", "KubePrismConfig"}) {
    ConfigShape shape = DetectShape(Docs(std::string("version: v1alpha1\nmachine:\n  type: worker\n"
                                                     "---\napiVersion: v1alpha1\nkind: ") +
                                         kind + "\n"));
    EXPECT_EQ(shape.layout, Layout::kMultidoc) << kind;
    EXPECT_EQ(shape.role, Role::kWorker);
  }
}

TEST(LayoutTest, OtherDocumentsKeepTheLegacyLayout) {
  // Talos 1.13 configs are multi-document too (HostnameConfig), but legacy for Kubernetes.
  ConfigShape shape = DetectShape(Docs(
      "version: v1alpha1\nmachine:\n  type: init\ncluster:\n  network: {}\n---\n"
      "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n"));
  EXPECT_EQ(shape.layout, Layout::kLegacy);
  EXPECT_EQ(shape.role, Role::kControlPlane);  // init is a control plane
}

TEST(LayoutTest, RoleIsUnknownWithoutMachineType) {
  ConfigShape shape = DetectShape(Docs("apiVersion: v1alpha1\nkind: KubePrismConfig\nport: 1\n"));
  EXPECT_FALSE(shape.role.has_value());
}

TEST(LayoutTest, ControlPlaneOnlyKinds) {
  EXPECT_TRUE(IsControlPlaneOnlyKind("KubeProxyConfig"));
  EXPECT_TRUE(IsControlPlaneOnlyKind("KubeFlannelCNIConfig"));
  EXPECT_TRUE(IsControlPlaneOnlyKind("KubeCoreDNSConfig"));
  EXPECT_FALSE(IsControlPlaneOnlyKind("KubePrismConfig"));
  EXPECT_FALSE(IsControlPlaneOnlyKind("KubeNetworkConfig"));
  EXPECT_FALSE(IsControlPlaneOnlyKind("SysctlConfig"));
}

}  // namespace
}  // namespace weft::generator
