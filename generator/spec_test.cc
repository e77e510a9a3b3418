#include "generator/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace weft::generator {
namespace {

Pins TestPins() {
  return *ParsePins(
      "# renovate: datasource=github-releases depName=siderolabs/talos\ntalos: v1.13.9\n"
      "# renovate: datasource=github-releases depName=kubernetes/kubernetes\n"
      "kubernetes: v1.36.3\n"
      "# renovate: datasource=helm depName=cilium registryUrl=https://helm.cilium.io\n"
      "cilium: 1.20.0\n"
      "# renovate: datasource=docker depName=ghcr.io/weft-net/weft-extension\nweft: v0.1.0\n",
      "pins.yaml");
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<Spec> spec = ParseSpec(text, "spec.yaml", TestPins());
  return spec.ok() ? "OK" : std::string(spec.status().message());
}

TEST(SpecTest, EmptyFileGivesDefaults) {
  absl::StatusOr<Spec> spec = ParseSpec("", "spec.yaml", TestPins());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->talos_version, "v1.13.9");
  EXPECT_EQ(spec->kubernetes_version, "v1.36.3");
  EXPECT_EQ(JoinPrefixes(spec->pod_subnets), "10.244.0.0/16");
  EXPECT_EQ(JoinPrefixes(spec->service_subnets), "10.96.0.0/12");
  ASSERT_TRUE(spec->native_routing_cidr.has_value());
  EXPECT_EQ(spec->native_routing_cidr->ToString(), "10.244.0.0/16");
  EXPECT_EQ(spec->kubeprism_port, 7445);
  EXPECT_EQ(spec->cni, Cni::kWeft);
}

TEST(SpecTest, InitOutputParsesBackToDefaults) {
  Pins pins = TestPins();
  absl::StatusOr<Spec> parsed = ParseSpec(InitSpecYaml(pins), "init.yaml", pins);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Spec defaults = DefaultSpec(pins);
  EXPECT_EQ(parsed->talos_version, defaults.talos_version);
  EXPECT_EQ(parsed->cluster_name, defaults.cluster_name);
  EXPECT_EQ(JoinPrefixes(parsed->pod_subnets), JoinPrefixes(defaults.pod_subnets));
  EXPECT_EQ(JoinPrefixes(parsed->service_subnets), JoinPrefixes(defaults.service_subnets));
  EXPECT_EQ(parsed->operator_replicas, defaults.operator_replicas);
  EXPECT_EQ(parsed->bpf_masquerade, defaults.bpf_masquerade);
  EXPECT_EQ(parsed->routing_mode, defaults.routing_mode);
  EXPECT_EQ(parsed->native_routing_cidr->ToString(), defaults.native_routing_cidr->ToString());
}

TEST(SpecTest, FieldsOverrideDefaults) {
  absl::StatusOr<Spec> spec = ParseSpec(
      "cni: cilium\nroutingMode: native\npodSubnets: [10.42.0.0/16]\n"
      "serviceSubnets: [10.43.0.0/16]\nhubble: {relay: true, ui: true}\n",
      "spec.yaml", TestPins());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->cni, Cni::kCilium);
  EXPECT_EQ(spec->routing_mode, RoutingMode::kNative);
  EXPECT_EQ(spec->native_routing_cidr->ToString(), "10.42.0.0/16");  // follows the pod subnet
  EXPECT_TRUE(spec->hubble_ui);
}

TEST(SpecTest, InvalidCidrNamesFileLineAndField) {
  EXPECT_EQ(ErrorOf("# c\nclusterName: lab\ntalosVersion: v1.14.0\ncni: weft\n"
                    "kubePrismPort: 7445\npodSubnets:\n  - 10.244.0.0/33\n"),
            "spec.yaml:7: podSubnets[0]: invalid CIDR \"10.244.0.0/33\"");
  EXPECT_EQ(ErrorOf("serviceSubnets: [10.96.0.1/12]\n"),
            "spec.yaml:1: serviceSubnets[0]: invalid CIDR \"10.96.0.1/12\"");
  EXPECT_EQ(ErrorOf("nativeRoutingCIDR: banana\n"),
            "spec.yaml:1: nativeRoutingCIDR: invalid CIDR \"banana\"");
}

TEST(SpecTest, UnknownKeyIsAnError) {
  EXPECT_EQ(ErrorOf("clusterName: lab\npodSubnet: 10.244.0.0/16\n"),
            "spec.yaml:2: podSubnet: unknown field (run `talosgen init` to see the fields)");
  EXPECT_EQ(ErrorOf("hubble:\n  relay: true\n  gui: true\n"),
            "spec.yaml:3: hubble.gui: unknown field (known: relay, ui)");
}

TEST(SpecTest, UnknownTalosVersionIsAnError) {
  EXPECT_EQ(ErrorOf("clusterName: lab\ntalosVersion: v1.9.0\n"),
            "spec.yaml:2: talosVersion: unknown Talos version \"v1.9.0\" (supported: v1.11, "
            "v1.12, v1.13, v1.14)");
}

TEST(SpecTest, InvalidYamlNamesTheLine) {
  EXPECT_THAT(ErrorOf("clusterName: lab\npodSubnets: [10.244.0.0/16\n"),
              ::testing::StartsWith("spec.yaml:3: invalid YAML: "));
}

TEST(SpecTest, WrongTypesAreErrors) {
  EXPECT_EQ(ErrorOf("bpfMasquerade: yes\n"),
            "spec.yaml:1: bpfMasquerade: expected true or false, got \"yes\"");
  EXPECT_EQ(ErrorOf("kubePrismPort: 70000\n"),
            "spec.yaml:1: kubePrismPort: expected a number from 1 to 65535, got \"70000\"");
  EXPECT_EQ(ErrorOf("cni: flannel\n"), "spec.yaml:1: cni: expected weft or cilium, got \"flannel\"");
  EXPECT_EQ(ErrorOf("- a\n"), "spec.yaml:1: expected a mapping of spec fields");
  EXPECT_EQ(ErrorOf("extensions: [gvisor]\n"),
            "spec.yaml:1: extensions[0]: \"gvisor\" is not an official extension name "
            "(siderolabs/<name>)");
}

TEST(SpecTest, CrossFieldRulesAreErrors) {
  EXPECT_EQ(ErrorOf("podSubnets: [10.96.0.0/16]\nserviceSubnets: [10.96.0.0/12]\n"),
            "spec.yaml:2: serviceSubnets[0]: 10.96.0.0/12 overlaps podSubnets[0] 10.96.0.0/16");
  EXPECT_EQ(ErrorOf("podSubnets: [10.244.0.0/16, fd00::/56]\n"),
            "spec.yaml:1: serviceSubnets: needs as many entries as podSubnets (one per IP family)");
  EXPECT_EQ(ErrorOf("podSubnets: [10.244.0.0/16, 10.245.0.0/16]\n"),
            "spec.yaml:1: podSubnets[1]: at most one CIDR per IP family (dual-stack: one IPv4, "
            "one IPv6)");
  EXPECT_EQ(ErrorOf("hubble:\n  relay: false\n  ui: true\n"),
            "spec.yaml:3: hubble.ui: Hubble UI needs hubble.relay: true");
  EXPECT_EQ(ErrorOf("encryptionStrictMode: true\n"),
            "spec.yaml:1: encryptionStrictMode: needs encryption: wireguard");
  EXPECT_EQ(ErrorOf("nativeRoutingCIDR: 10.0.0.0/8\n"),
            "spec.yaml:1: nativeRoutingCIDR: 10.0.0.0/8 overlaps serviceSubnets[0] 10.96.0.0/12 "
            "(Service traffic would bypass masquerading)");
  EXPECT_EQ(ErrorOf("routingMode: native\npodSubnets: [fd00::/56]\nserviceSubnets: [fd01::/112]\n"),
            "spec.yaml:1: routingMode: native routing needs an IPv4 nativeRoutingCIDR (no IPv4 "
            "pod subnet to derive it from)");
}

}  // namespace
}  // namespace weft::generator
