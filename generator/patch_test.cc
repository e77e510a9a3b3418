#include "generator/patch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "generator/agent_rbac.h"
#include "generator/config_doc.h"
#include "generator/pins.h"
#include "generator/yaml_util.h"

namespace weft::generator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

Spec TestSpec() { return DefaultSpec(*EmbeddedPins()); }

std::vector<YAML::Node> Generate(const Spec& spec, Role role, Layout layout) {
  PatchOptions o;
  o.role = role;
  o.layout = layout;
  o.layout_source = "test";
  absl::StatusOr<std::vector<YAML::Node>> docs =
      LoadYamlDocuments(GeneratePatch(spec, o), "patch.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  return docs.ok() ? *docs : std::vector<YAML::Node>{};
}

std::vector<std::string> Labels(const std::vector<YAML::Node>& docs) {
  std::vector<std::string> out;
  for (const YAML::Node& d : docs) out.push_back(DocLabel(d));
  return out;
}

std::string Scalar(const YAML::Node& doc, std::initializer_list<const char*> path) {
  std::string out = "<absent>";
  ScalarAt(doc, path, &out);
  return out;
}

TEST(PatchTest, MultidocControlPlaneDocuments) {
  auto docs = Generate(TestSpec(), Role::kControlPlane, Layout::kMultidoc);
  EXPECT_THAT(Labels(docs), ElementsAre("KubeFlannelCNIConfig", "KubeProxyConfig",
                                        "KubeNetworkConfig", "KubePrismConfig", "SysctlConfig",
                                        "KubeInlineManifestConfig/weft-agent"));
  EXPECT_EQ(Scalar(docs[0], {"$patch"}), "delete");
  EXPECT_EQ(Scalar(docs[1], {"enabled"}), "false");  // disabled, not deleted
  EXPECT_EQ(Scalar(docs[3], {"port"}), "7445");
  EXPECT_EQ(Scalar(docs[4], {"params", "net.core.bpf_jit_harden"}), "1");
}

TEST(PatchTest, MultidocWorkerHasNoControlPlaneOnlyDocuments) {
  auto docs = Generate(TestSpec(), Role::kWorker, Layout::kMultidoc);
  EXPECT_THAT(Labels(docs), ElementsAre("KubeNetworkConfig", "KubePrismConfig", "SysctlConfig"));
}

TEST(PatchTest, LegacyControlPlaneFields) {
  auto docs = Generate(TestSpec(), Role::kControlPlane, Layout::kLegacy);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_TRUE(IsV1Alpha1(docs[0]));
  EXPECT_EQ(Scalar(docs[0], {"cluster", "network", "cni", "name"}), "none");
  EXPECT_EQ(Scalar(docs[0], {"cluster", "proxy", "disabled"}), "true");
  EXPECT_EQ(Scalar(docs[0], {"machine", "features", "kubePrism", "enabled"}), "true");
  EXPECT_EQ(Scalar(docs[0], {"machine", "features", "kubePrism", "port"}), "7445");
  EXPECT_EQ(Scalar(docs[0], {"machine", "sysctls", "net.ipv4.conf.all.rp_filter"}), "0");
  EXPECT_EQ(NodeAt(docs[0], {"cluster", "network", "podSubnets"})[0].Scalar(), "10.244.0.0/16");
  EXPECT_FALSE(NodeAt(docs[0], {"cluster", "allowSchedulingOnControlPlanes"}).IsDefined());
  EXPECT_FALSE(NodeAt(docs[0], {"machine", "features", "hostDNS"}).IsDefined());
}

TEST(PatchTest, BpfMasqueradeTurnsOffHostDnsForwarding) {
  Spec spec = TestSpec();
  spec.bpf_masquerade = true;
  auto legacy = Generate(spec, Role::kWorker, Layout::kLegacy);
  EXPECT_EQ(Scalar(legacy[0], {"machine", "features", "hostDNS", "forwardKubeDNSToHost"}),
            "false");
  auto multidoc = Generate(spec, Role::kWorker, Layout::kMultidoc);
  ASSERT_EQ(DocKind(multidoc.back()), "ResolverConfig");
  EXPECT_EQ(Scalar(multidoc.back(), {"hostDNS", "forwardKubeDNSToHost"}), "false");
}

TEST(PatchTest, AllowSchedulingOnControlPlanes) {
  Spec spec = TestSpec();
  spec.allow_scheduling_on_control_planes = true;
  auto legacy = Generate(spec, Role::kControlPlane, Layout::kLegacy);
  EXPECT_EQ(Scalar(legacy[0], {"cluster", "allowSchedulingOnControlPlanes"}), "true");
  auto multidoc = Generate(spec, Role::kControlPlane, Layout::kMultidoc);
  ASSERT_THAT(Labels(multidoc), ::testing::Contains("KubeNodeConfig"));
  for (const YAML::Node& doc : multidoc) {
    if (DocKind(doc) == "KubeNodeConfig") {
      EXPECT_EQ(Scalar(doc, {"taints", "$patch"}), "delete");
    }
  }
  // Workers are not tainted as control planes: nothing to change there.
  EXPECT_THAT(Labels(Generate(spec, Role::kWorker, Layout::kMultidoc)),
              Not(::testing::Contains("KubeNodeConfig")));
}

TEST(PatchTest, DualStackAddsIpv6Forwarding) {
  Spec spec = TestSpec();
  spec.pod_subnets.push_back(*net::IpPrefix::Parse("fd00:10:244::/56"));
  spec.service_subnets.push_back(*net::IpPrefix::Parse("fd00:10:96::/112"));
  auto docs = Generate(spec, Role::kWorker, Layout::kMultidoc);
  EXPECT_EQ(Scalar(docs[2], {"params", "net.ipv6.conf.all.forwarding"}), "1");
  EXPECT_EQ(NodeAt(docs[0], {"podSubnets"}).size(), 2u);
}

// Weft and Cilium differ only in comments, plus Weft's RBAC manifest on control planes.
TEST(PatchTest, CniChangesOnlyCommentsAndWeftManifests) {
  Spec weft = TestSpec();
  Spec cilium = TestSpec();
  cilium.cni = Cni::kCilium;
  for (Role role : {Role::kControlPlane, Role::kWorker}) {
    for (Layout layout : {Layout::kLegacy, Layout::kMultidoc}) {
      auto a = Generate(weft, role, layout);
      auto b = Generate(cilium, role, layout);
      if (role == Role::kControlPlane && layout == Layout::kMultidoc) {
        ASSERT_EQ(DocKind(a.back()), "KubeInlineManifestConfig");
        a.pop_back();
      }
      if (role == Role::kControlPlane && layout == Layout::kLegacy) {
        ASSERT_TRUE(a[0]["cluster"]["inlineManifests"].IsDefined());
        a[0]["cluster"].remove("inlineManifests");
      }
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(EmitYaml(a[i]), EmitYaml(b[i]));
    }
  }
}

// The control-plane patches carry the agent's RBAC verbatim, in each layout's form;
// worker patches carry none (Talos applies inline manifests from control planes).
TEST(PatchTest, WeftControlPlanePatchCarriesTheAgentRbac) {
  auto legacy = Generate(TestSpec(), Role::kControlPlane, Layout::kLegacy);
  YAML::Node manifests = NodeAt(legacy[0], {"cluster", "inlineManifests"});
  ASSERT_EQ(manifests.size(), 1u);
  EXPECT_EQ(manifests[0]["name"].Scalar(), "weft-agent");
  EXPECT_EQ(manifests[0]["contents"].Scalar(), AgentRbacManifest());
  auto multidoc = Generate(TestSpec(), Role::kControlPlane, Layout::kMultidoc);
  EXPECT_EQ(Scalar(multidoc.back(), {"name"}), "weft-agent");
  EXPECT_EQ(NodeAt(multidoc.back(), {"manifest"}).Scalar(), AgentRbacManifest());
  Spec wg = TestSpec();
  wg.encryption = Encryption::kWireGuard;
  EXPECT_EQ(NodeAt(Generate(wg, Role::kControlPlane, Layout::kLegacy)[0], {"cluster", "inlineManifests"})[0]
                ["contents"]
                    .Scalar(),
            AgentRbacManifest(/*wireguard=*/true));
  EXPECT_FALSE(NodeAt(Generate(TestSpec(), Role::kWorker, Layout::kLegacy)[0],
                      {"cluster", "inlineManifests"})
                   .IsDefined());
  EXPECT_THAT(Labels(Generate(TestSpec(), Role::kWorker, Layout::kMultidoc)),
              Not(::testing::Contains("KubeInlineManifestConfig/weft-agent")));
}

TEST(PatchTest, IsDeterministicAndCommented) {
  PatchOptions o;
  o.layout = Layout::kMultidoc;
  o.layout_source = "test";
  std::string a = GeneratePatch(TestSpec(), o);
  EXPECT_EQ(a, GeneratePatch(TestSpec(), o));
  EXPECT_THAT(a, HasSubstr("# `enabled: false` is required: deleting this document does not"));
  EXPECT_THAT(a, HasSubstr("--config-patch-control-plane"));
}

}  // namespace
}  // namespace weft::generator
