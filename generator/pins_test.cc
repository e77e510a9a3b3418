#include "generator/pins.h"

#include <gtest/gtest.h>

#include "generator/yaml_util.h"

namespace weft::generator {
namespace {

constexpr char kGood[] =
    "# renovate: datasource=github-releases depName=siderolabs/talos\ntalos: v1.13.9\n\n"
    "# renovate: datasource=github-releases depName=kubernetes/kubernetes\nkubernetes: v1.36.3\n"
    "# renovate: datasource=helm depName=cilium registryUrl=https://helm.cilium.io\n"
    "cilium: 1.20.0\n"
    "# renovate: datasource=docker depName=ghcr.io/weft-net/weft-extension\nweft: v0.1.0\n";

TEST(PinsTest, EmbeddedPinsParse) {
  absl::StatusOr<Pins> pins = EmbeddedPins();
  ASSERT_TRUE(pins.ok()) << pins.status();
  EXPECT_EQ(pins->entries.size(), 4u);
  EXPECT_EQ(pins->talos().substr(0, 3), "v1.");
  EXPECT_EQ(pins->WeftExtensionImage(),
            pins->Find("weft")->dep_name + ":" + pins->Find("weft")->value);
}

TEST(PinsTest, ParsesAnnotations) {
  absl::StatusOr<Pins> pins = ParsePins(kGood, "pins.yaml");
  ASSERT_TRUE(pins.ok()) << pins.status();
  const Pin* cilium = pins->Find("cilium");
  ASSERT_NE(cilium, nullptr);
  EXPECT_EQ(cilium->datasource, "helm");
  EXPECT_EQ(cilium->registry_url, "https://helm.cilium.io");
  EXPECT_EQ(cilium->line, 7);
  EXPECT_EQ(pins->WeftExtensionImage(), "ghcr.io/weft-net/weft-extension:v0.1.0");
}

TEST(PinsTest, EveryPinNeedsAnAnnotationDirectlyAbove) {
  absl::StatusOr<Pins> pins = ParsePins(
      "# renovate: datasource=github-releases depName=siderolabs/talos\n\ntalos: v1.13.9\n",
      "pins.yaml");
  ASSERT_FALSE(pins.ok());
  EXPECT_EQ(pins.status().message(),
            "pins.yaml:3: talos: no `# renovate: datasource=... depName=...` comment directly "
            "above; Renovate would not track it");
}

TEST(PinsTest, MissingRequiredPin) {
  absl::StatusOr<Pins> pins = ParsePins(
      "# renovate: datasource=github-releases depName=siderolabs/talos\ntalos: v1.13.9\n",
      "pins.yaml");
  ASSERT_FALSE(pins.ok());
  EXPECT_EQ(pins.status().message(), "pins.yaml: missing pin \"kubernetes\"");
}

TEST(PinsTest, VersionsOutputIsYamlWithEveryPin) {
  Pins pins = *ParsePins(kGood, "pins.yaml");
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadYamlDocuments(VersionsYaml(pins), "v");
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ((*docs)[0]["talos"].as<std::string>(), "v1.13.9");
  EXPECT_EQ((*docs)[0]["cilium"].as<std::string>(), "1.20.0");
  EXPECT_EQ((*docs)[0]["weftExtensionImage"].as<std::string>(),
            "ghcr.io/weft-net/weft-extension:v0.1.0");
}

}  // namespace
}  // namespace weft::generator
