#include "generator/merge.h"

#include <gtest/gtest.h>

#include "generator/config_doc.h"
#include "generator/yaml_util.h"

namespace weft::generator {
namespace {

std::vector<YAML::Node> Docs(const std::string& text) {
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadYamlDocuments(text, "t.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  return docs.ok() ? *docs : std::vector<YAML::Node>{};
}

std::vector<YAML::Node> Merge(const std::string& base, const std::string& patch) {
  absl::StatusOr<std::vector<YAML::Node>> out = StrategicMerge(Docs(base), Docs(patch), "p.yaml");
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<YAML::Node>{};
}

std::string Scalar(const YAML::Node& doc, std::initializer_list<const char*> path) {
  std::string out = "<absent>";
  ScalarAt(doc, path, &out);
  return out;
}

std::vector<std::string> Kinds(const std::vector<YAML::Node>& docs) {
  std::vector<std::string> out;
  for (const YAML::Node& d : docs) out.push_back(DocLabel(d));
  return out;
}

TEST(MergeTest, MapsMergeKeyByKey) {
  auto out = Merge("version: v1alpha1\nmachine:\n  type: worker\n  features:\n    a: 1\n",
                   "machine:\n  features:\n    b: 2\n");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Scalar(out[0], {"machine", "type"}), "worker");
  EXPECT_EQ(Scalar(out[0], {"machine", "features", "a"}), "1");
  EXPECT_EQ(Scalar(out[0], {"machine", "features", "b"}), "2");
}

TEST(MergeTest, ListsAppendExceptReplaceFields) {
  auto out = Merge(
      "version: v1alpha1\nmachine:\n  certSANs: [a]\ncluster:\n  network:\n"
      "    podSubnets: [10.244.0.0/16]\n    serviceSubnets: [10.96.0.0/12]\n",
      "machine:\n  certSANs: [b]\ncluster:\n  network:\n    podSubnets: [10.42.0.0/16]\n");
  YAML::Node sans = NodeAt(out[0], {"machine", "certSANs"});
  ASSERT_EQ(sans.size(), 2u);
  EXPECT_EQ(sans[1].Scalar(), "b");
  YAML::Node pods = NodeAt(out[0], {"cluster", "network", "podSubnets"});
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].Scalar(), "10.42.0.0/16");
  EXPECT_EQ(NodeAt(out[0], {"cluster", "network", "serviceSubnets"}).size(), 1u);
}

TEST(MergeTest, KubeNetworkConfigSubnetsAreReplaced) {
  auto out = Merge("apiVersion: v1alpha1\nkind: KubeNetworkConfig\npodSubnets: [10.244.0.0/16]\n",
                   "apiVersion: v1alpha1\nkind: KubeNetworkConfig\npodSubnets: [10.1.0.0/16]\n");
  ASSERT_EQ(NodeAt(out[0], {"podSubnets"}).size(), 1u);
  EXPECT_EQ(NodeAt(out[0], {"podSubnets"})[0].Scalar(), "10.1.0.0/16");
}

TEST(MergeTest, ScalarsOverwriteButZeroValuesDoNot) {
  auto out = Merge("apiVersion: v1alpha1\nkind: X\nport: 7445\nname2: a\nflag: true\ns: \"1\"\n",
                   "apiVersion: v1alpha1\nkind: X\nport: 0\nname2: \"\"\nflag: false\ns: \"0\"\n");
  EXPECT_EQ(Scalar(out[0], {"port"}), "7445");
  EXPECT_EQ(Scalar(out[0], {"name2"}), "a");
  EXPECT_EQ(Scalar(out[0], {"flag"}), "false");  // bool false is merged
  EXPECT_EQ(Scalar(out[0], {"s"}), "0");          // quoted "0" is a string, not a zero
}

TEST(MergeTest, DocumentsMatchByKindAndName) {
  auto out = Merge(
      "apiVersion: v1alpha1\nkind: KubeAuthorizerConfig\nname: node\ntype: Node\n---\n"
      "apiVersion: v1alpha1\nkind: KubeAuthorizerConfig\nname: rbac\ntype: RBAC\n",
      "apiVersion: v1alpha1\nkind: KubeAuthorizerConfig\nname: rbac\ntype: Webhook\n---\n"
      "apiVersion: v1alpha1\nkind: KubePrismConfig\nport: 7445\n");
  ASSERT_EQ(Kinds(out), (std::vector<std::string>{"KubeAuthorizerConfig/node",
                                                  "KubeAuthorizerConfig/rbac", "KubePrismConfig"}));
  EXPECT_EQ(Scalar(out[0], {"type"}), "Node");
  EXPECT_EQ(Scalar(out[1], {"type"}), "Webhook");
}

TEST(MergeTest, DeleteSelectorRemovesTheDocument) {
  auto out = Merge(
      "version: v1alpha1\n---\napiVersion: v1alpha1\nkind: KubeFlannelCNIConfig\n"
      "backendType: vxlan\n---\napiVersion: v1alpha1\nkind: KubeProxyConfig\nimage: x\n",
      "apiVersion: v1alpha1\nkind: KubeFlannelCNIConfig\n$patch: delete\n---\n"
      "apiVersion: v1alpha1\nkind: KubeProxyConfig\nenabled: false\n");
  EXPECT_EQ(Kinds(out), (std::vector<std::string>{"v1alpha1", "KubeProxyConfig"}));
  EXPECT_EQ(Scalar(out[1], {"enabled"}), "false");
  EXPECT_EQ(Scalar(out[1], {"image"}), "x");
}

TEST(MergeTest, DeleteSelectorForMissingDocumentIsSkipped) {
  auto out = Merge("version: v1alpha1\n",
                   "apiVersion: v1alpha1\nkind: KubeFlannelCNIConfig\n$patch: delete\n");
  EXPECT_EQ(Kinds(out), (std::vector<std::string>{"v1alpha1"}));
}

TEST(MergeTest, FieldDeleteRemovesTheField) {
  auto out = Merge(
      "apiVersion: v1alpha1\nkind: KubeNodeConfig\nlabels: {a: b}\n"
      "taints:\n  node-role.kubernetes.io/control-plane: NoSchedule\n",
      "apiVersion: v1alpha1\nkind: KubeNodeConfig\ntaints:\n  $patch: delete\n");
  EXPECT_FALSE(NodeAt(out[0], {"taints"}).IsDefined());
  EXPECT_EQ(Scalar(out[0], {"labels", "a"}), "b");
}

TEST(MergeTest, UnmatchedDocumentsAreAppendedWithoutMarkers) {
  auto out = Merge("version: v1alpha1\n",
                   "apiVersion: v1alpha1\nkind: KubeNodeConfig\ntaints:\n  $patch: delete\n"
                   "labels: {a: b}\n");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(NodeAt(out[1], {"taints"}).IsDefined());
  EXPECT_EQ(Scalar(out[1], {"labels", "a"}), "b");
}

TEST(MergeTest, InputsAreNotModified) {
  std::vector<YAML::Node> base = Docs("version: v1alpha1\ncluster:\n  proxy: {image: x}\n");
  std::vector<YAML::Node> patch = Docs("cluster:\n  proxy: {disabled: true}\n");
  ASSERT_TRUE(StrategicMerge(base, patch, "p.yaml").ok());
  EXPECT_EQ(Scalar(base[0], {"cluster", "proxy", "disabled"}), "<absent>");
}

TEST(MergeTest, BadPatchesAreErrors) {
  absl::StatusOr<std::vector<YAML::Node>> twice = StrategicMerge(
      Docs("version: v1alpha1\n"),
      Docs("apiVersion: v1alpha1\nkind: KubePrismConfig\nport: 1\n---\n"
           "apiVersion: v1alpha1\nkind: KubePrismConfig\nport: 2\n"),
      "p.yaml");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(),
            "p.yaml:5: KubePrismConfig: a single patch cannot modify the same document more "
            "than once");
  absl::StatusOr<std::vector<YAML::Node>> del =
      StrategicMerge(Docs("version: v1alpha1\n"), Docs("$patch: delete\n"), "p.yaml");
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.status().message(), "p.yaml:1: v1alpha1: the v1alpha1 document cannot be deleted");
}

}  // namespace
}  // namespace weft::generator
