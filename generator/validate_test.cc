#include "generator/validate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "generator/pins.h"

namespace weft::generator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Spec TestSpec() { return DefaultSpec(*EmbeddedPins()); }

std::vector<std::string> Check(const std::vector<std::string>& texts,
                               const Spec& spec = TestSpec()) {
  std::vector<NamedText> files;
  for (size_t i = 0; i < texts.size(); ++i) {
    files.push_back({i == 0 ? "cp.yaml" : "patch" + std::to_string(i) + ".yaml", texts[i]});
  }
  absl::StatusOr<std::vector<YAML::Node>> docs = MergeFiles(files);
  EXPECT_TRUE(docs.ok()) << docs.status();
  std::vector<std::string> out;
  if (!docs.ok()) return out;
  for (const Finding& f : CheckConfig(*docs, spec)) out.push_back(FormatFinding("cp.yaml", f));
  return out;
}

constexpr char kLegacyClean[] =
    "version: v1alpha1\nmachine:\n  type: controlplane\n  features:\n    kubePrism:\n"
    "      enabled: true\n      port: 7445\ncluster:\n  network:\n    cni:\n      name: none\n"
    "  proxy:\n    disabled: true\n";

constexpr char kMultidocClean[] =
    "version: v1alpha1\nmachine:\n  type: controlplane\n---\napiVersion: v1alpha1\n"
    "kind: KubeNetworkConfig\npodSubnets: [10.244.0.0/16]\nserviceSubnets: [10.96.0.0/12]\n"
    "---\napiVersion: v1alpha1\nkind: KubeProxyConfig\nimage: x\nenabled: false\n---\n"
    "apiVersion: v1alpha1\nkind: KubePrismConfig\nport: 7445\n";

TEST(ValidateTest, CleanConfigsHaveNoFindings) {
  EXPECT_THAT(Check({kLegacyClean}), IsEmpty());
  EXPECT_THAT(Check({kMultidocClean}), IsEmpty());
}

TEST(ValidateTest, LegacyFlannelKubeProxyAndKubePrism) {
  EXPECT_THAT(
      Check({"version: v1alpha1\nmachine:\n  type: controlplane\n"}),
      ElementsAre(
          "cp.yaml: v1alpha1: cluster.network.cni.name: Flannel is still enabled (unset means "
          "flannel); set it to none",
          "cp.yaml: v1alpha1: cluster.proxy.disabled: kube-proxy is still enabled",
          "cp.yaml: v1alpha1: machine.features.kubePrism.enabled: KubePrism is off; the CNI "
          "reaches the API server through it"));
}

TEST(ValidateTest, PatchFixesTheLegacyConfig) {
  EXPECT_THAT(Check({"version: v1alpha1\nmachine:\n  type: controlplane\n",
                     "machine:\n  features:\n    kubePrism: {enabled: true, port: 7445}\n"
                     "cluster:\n  network:\n    cni: {name: none}\n  proxy: {disabled: true}\n"}),
              IsEmpty());
}

TEST(ValidateTest, MultidocFlannelAndKubeProxy) {
  EXPECT_THAT(
      Check({"version: v1alpha1\nmachine:\n  type: controlplane\n---\napiVersion: v1alpha1\n"
             "kind: KubeFlannelCNIConfig\nbackendType: vxlan\n---\napiVersion: v1alpha1\n"
             "kind: KubeProxyConfig\nimage: x\n---\napiVersion: v1alpha1\nkind: KubePrismConfig\n"
             "port: 7445\n"}),
      ElementsAre("cp.yaml: KubeFlannelCNIConfig: (document): Flannel is still enabled; delete "
                  "the document (`$patch: delete`)",
                  "cp.yaml: KubeProxyConfig: enabled: kube-proxy is still enabled; set enabled: "
                  "false"));
}

TEST(ValidateTest, DeletedKubeProxyConfigDoesNotDisableKubeProxy) {
  EXPECT_THAT(
      Check({kMultidocClean, "apiVersion: v1alpha1\nkind: KubeProxyConfig\n$patch: delete\n"}),
      ElementsAre("cp.yaml: KubeProxyConfig: (document): missing: Talos falls back to the "
                  "v1alpha1 default and deploys kube-proxy; add the document with enabled: "
                  "false"));
}

TEST(ValidateTest, MissingKubePrismAndWrongPort) {
  EXPECT_THAT(
      Check({kMultidocClean, "apiVersion: v1alpha1\nkind: KubePrismConfig\n$patch: delete\n"}),
      ElementsAre("cp.yaml: KubePrismConfig: (document): missing, so KubePrism is off; the CNI "
                  "reaches the API server through it"));
  EXPECT_THAT(Check({kMultidocClean, "apiVersion: v1alpha1\nkind: KubePrismConfig\nport: 7446\n"}),
              ElementsAre("cp.yaml: KubePrismConfig: port: KubePrism listens on 7446 but the CNI "
                          "is set up for 7445 (spec: kubePrismPort)"));
}

TEST(ValidateTest, LegacyFieldsMixedWithMultidoc) {
  EXPECT_THAT(
      Check({kMultidocClean, "cluster:\n  proxy:\n    disabled: true\n"}),
      ElementsAre("cp.yaml: v1alpha1: cluster.proxy: legacy field mixed with the KubeProxyConfig "
                  "document; Talos 1.14 rejects the config (use one layout)"));
}

TEST(ValidateTest, OverlappingCidrs) {
  EXPECT_THAT(Check({kLegacyClean, "cluster:\n  network:\n    podSubnets: [10.96.0.0/16]\n"}),
              ElementsAre("cp.yaml: v1alpha1: cluster.network.serviceSubnets (default): "
                          "10.96.0.0/12 overlaps cluster.network.podSubnets[0] 10.96.0.0/16"));
  Spec native = TestSpec();
  native.routing_mode = RoutingMode::kNative;
  native.native_routing_cidr = *net::IpPrefix::Parse("10.0.0.0/8");
  EXPECT_THAT(Check({kMultidocClean}, native),
              ElementsAre("cp.yaml: KubeNetworkConfig: serviceSubnets[0]: 10.96.0.0/12 overlaps "
                          "the native-routing CIDR 10.0.0.0/8 (spec: nativeRoutingCIDR)"));
  native.native_routing_cidr = *net::IpPrefix::Parse("10.245.0.0/16");
  EXPECT_THAT(Check({kMultidocClean}, native),
              ElementsAre("cp.yaml: KubeNetworkConfig: podSubnets[0]: 10.244.0.0/16 is outside "
                          "the native-routing CIDR 10.245.0.0/16; pod traffic between nodes "
                          "would be masqueraded"));
  EXPECT_THAT(Check({kLegacyClean, "cluster:\n  network:\n    podSubnets: [10.244.0.1/16]\n"}),
              ElementsAre("cp.yaml: v1alpha1: cluster.network.podSubnets[0]: invalid CIDR "
                          "\"10.244.0.1/16\""));
}

TEST(ValidateTest, WorkerWithControlPlaneDocuments) {
  EXPECT_THAT(
      Check({"version: v1alpha1\nmachine:\n  type: worker\n---\napiVersion: v1alpha1\n"
             "kind: KubePrismConfig\nport: 7445\n---\napiVersion: v1alpha1\nkind: KubeProxyConfig\n"
             "enabled: false\n"}),
      ElementsAre("cp.yaml: KubeProxyConfig: (document): only allowed on control-plane machines; "
                  "Talos rejects this worker config"));
}

TEST(ValidateTest, HostDnsWithBpfMasquerade) {
  std::string resolver =
      "apiVersion: v1alpha1\nkind: ResolverConfig\nhostDNS:\n  enabled: true\n"
      "  forwardKubeDNSToHost: true\n";
  EXPECT_THAT(Check({kMultidocClean, resolver}), IsEmpty());  // fine without BPF masquerade
  Spec spec = TestSpec();
  spec.bpf_masquerade = true;
  EXPECT_THAT(Check({kMultidocClean, resolver}, spec),
              ElementsAre("cp.yaml: ResolverConfig: hostDNS.forwardKubeDNSToHost: host DNS "
                          "forwarding breaks CoreDNS with BPF masquerade (spec: bpfMasquerade: "
                          "true); set it to false"));
  EXPECT_THAT(Check({kMultidocClean, resolver,
                     "apiVersion: v1alpha1\nkind: ResolverConfig\nhostDNS:\n"
                     "  forwardKubeDNSToHost: false\n"},
                    spec),
              IsEmpty());
}

TEST(ValidateTest, CustomCniUrlsWithNone) {
  EXPECT_THAT(
      Check({"version: v1alpha1\nmachine:\n  type: controlplane\n  features:\n    kubePrism:\n"
             "      enabled: true\ncluster:\n  network:\n    cni:\n      name: custom\n"
             "      urls: [https://example.com/cni.yaml]\n  proxy:\n    disabled: true\n",
             "cluster:\n  network:\n    cni:\n      name: none\n"}),
      ElementsAre("cp.yaml: v1alpha1: cluster.network.cni.urls: must be empty with cni name none "
                  "(Talos rejects the config); delete it with `urls: {$patch: delete}`"));
}

TEST(ValidateTest, BreakingSysctls) {
  EXPECT_THAT(Check({kLegacyClean, "machine:\n  sysctls:\n    net.ipv4.ip_forward: \"0\"\n"}),
              ElementsAre("cp.yaml: v1alpha1: machine.sysctls.net.ipv4.ip_forward: forwarding is "
                          "off; no pod traffic leaves its node"));
}

TEST(ValidateTest, ReportSaysOkOrListsProblems) {
  absl::StatusOr<ValidateReport> ok = Validate({{"cp.yaml", kLegacyClean}}, TestSpec());
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->clean);
  EXPECT_EQ(ok->output, "cp.yaml: OK (legacy v1alpha1 layout, controlplane, 0 patches applied)\n");
  absl::StatusOr<ValidateReport> bad =
      Validate({{"cp.yaml", "version: v1alpha1\nmachine: {type: worker}\n"}}, TestSpec());
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->clean);
  absl::StatusOr<ValidateReport> broken =
      Validate({{"cp.yaml", kLegacyClean}, {"p.yaml", "a: [b\n"}}, TestSpec());
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(std::string(broken.status().message()),
              ::testing::StartsWith("p.yaml:2: invalid YAML: "));
}

}  // namespace
}  // namespace weft::generator
