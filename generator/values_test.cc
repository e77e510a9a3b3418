#include "generator/values.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "generator/config_doc.h"
#include "generator/pins.h"
#include "generator/yaml_util.h"

namespace weft::generator {
namespace {

Spec TestSpec() { return DefaultSpec(*EmbeddedPins()); }

YAML::Node Values(const Spec& spec, const char* version) {
  absl::StatusOr<ChartVersion> chart = ParseChartVersion(version);
  EXPECT_TRUE(chart.ok()) << chart.status();
  absl::StatusOr<std::vector<YAML::Node>> docs =
      LoadYamlDocuments(GenerateValues(spec, *chart), "values.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ(docs->size(), 1u);
  return (*docs)[0];
}

std::string Scalar(const YAML::Node& doc, std::initializer_list<const char*> path) {
  std::string out = "<absent>";
  ScalarAt(doc, path, &out);
  return out;
}

std::vector<std::string> List(const YAML::Node& doc, std::initializer_list<const char*> path) {
  std::vector<std::string> out;
  for (const auto& item : NodeAt(doc, path)) out.push_back(item.Scalar());
  return out;
}

TEST(ValuesTest, ChartVersions) {
  EXPECT_EQ(ParseChartVersion("1.16.6")->minor, 16);
  EXPECT_EQ(ParseChartVersion("v1.19.2")->minor, 19);
  EXPECT_EQ(ParseChartVersion("1.20.0")->minor, 20);
  for (const char* bad : {"1.18.3", "1.21.0", "1.20", "2.0.0", "latest"}) {
    absl::StatusOr<ChartVersion> v = ParseChartVersion(bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.status().message(), std::string("unsupported Cilium chart version \"") + bad +
                                        "\" (supported: 1.16.x, 1.19.x, 1.20.x)");
  }
}

TEST(ValuesTest, TalosEssentials) {
  for (const char* v : {"1.16.6", "1.19.6", "1.20.0"}) {
    YAML::Node values = Values(TestSpec(), v);
    EXPECT_EQ(Scalar(values, {"ipam", "mode"}), "kubernetes") << v;
    EXPECT_EQ(Scalar(values, {"k8sServiceHost"}), "localhost");
    EXPECT_EQ(Scalar(values, {"k8sServicePort"}), "7445");
    EXPECT_EQ(Scalar(values, {"cgroup", "autoMount", "enabled"}), "false");
    EXPECT_EQ(Scalar(values, {"cgroup", "hostRoot"}), "/sys/fs/cgroup");
    EXPECT_THAT(List(values, {"securityContext", "capabilities", "ciliumAgent"}),
                ::testing::Not(::testing::Contains("SYS_MODULE")));
    EXPECT_THAT(List(values, {"securityContext", "capabilities", "cleanCiliumState"}),
                ::testing::ElementsAre("NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"));
  }
}

TEST(ValuesTest, VersionDifferences) {
  YAML::Node v16 = Values(TestSpec(), "1.16.6");
  YAML::Node v19 = Values(TestSpec(), "1.19.6");
  // SYSLOG joined the chart's default agent capabilities in 1.19.
  EXPECT_THAT(List(v16, {"securityContext", "capabilities", "ciliumAgent"}),
              ::testing::Not(::testing::Contains("SYSLOG")));
  EXPECT_THAT(List(v19, {"securityContext", "capabilities", "ciliumAgent"}),
              ::testing::Contains("SYSLOG"));
  // 1.16 documents kubeProxyReplacement as a string; 1.19+ as a boolean.
  EXPECT_EQ(NodeAt(v16, {"kubeProxyReplacement"}).Tag(), "!");  // quoted
  EXPECT_EQ(NodeAt(v19, {"kubeProxyReplacement"}).Tag(), "?");  // plain true
}

TEST(ValuesTest, StrictModeLayoutFollowsTheChart) {
  Spec spec = TestSpec();
  spec.encryption = Encryption::kWireGuard;
  spec.encryption_strict_mode = true;
  YAML::Node v16 = Values(spec, "1.16.6");
  EXPECT_EQ(Scalar(v16, {"encryption", "strictMode", "enabled"}), "true");
  EXPECT_EQ(Scalar(v16, {"encryption", "strictMode", "cidr"}), "10.244.0.0/16");
  for (const char* v : {"1.19.6", "1.20.0"}) {
    YAML::Node values = Values(spec, v);
    EXPECT_EQ(Scalar(values, {"encryption", "strictMode", "egress", "enabled"}), "true");
    EXPECT_FALSE(NodeAt(values, {"encryption", "strictMode", "enabled"}).IsDefined());
  }
}

TEST(ValuesTest, NativeRoutingAlwaysCarriesTheCidr) {
  Spec spec = TestSpec();
  spec.routing_mode = RoutingMode::kNative;
  for (const char* v : {"1.16.6", "1.19.6", "1.20.0"}) {
    YAML::Node values = Values(spec, v);
    EXPECT_EQ(Scalar(values, {"routingMode"}), "native");
    EXPECT_EQ(Scalar(values, {"ipv4NativeRoutingCIDR"}), "10.244.0.0/16");
    EXPECT_EQ(Scalar(values, {"autoDirectNodeRoutes"}), "true");
  }
  EXPECT_EQ(Scalar(Values(TestSpec(), "1.20.0"), {"ipv4NativeRoutingCIDR"}), "<absent>");
}

TEST(ValuesTest, OptionalFeatures) {
  Spec spec = TestSpec();
  spec.hubble_relay = spec.hubble_ui = spec.l2_announcements = true;
  spec.bandwidth_manager = spec.bpf_masquerade = true;
  spec.operator_replicas = 2;
  YAML::Node values = Values(spec, "1.20.0");
  EXPECT_EQ(Scalar(values, {"hubble", "relay", "enabled"}), "true");
  EXPECT_EQ(Scalar(values, {"hubble", "ui", "enabled"}), "true");
  EXPECT_EQ(Scalar(values, {"l2announcements", "enabled"}), "true");
  EXPECT_EQ(Scalar(values, {"bandwidthManager", "bbr"}), "true");
  EXPECT_EQ(Scalar(values, {"bpf", "masquerade"}), "true");
  EXPECT_EQ(Scalar(values, {"operator", "replicas"}), "2");
}

}  // namespace
}  // namespace weft::generator
