#include "generator/agent_rbac.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace weft::generator {
namespace {

std::vector<YAML::Node> Documents() { return YAML::LoadAll(AgentRbacManifest()); }

TEST(AgentRbacTest, ManifestIsAClusterRoleAndItsBinding) {
  std::vector<YAML::Node> docs = Documents();
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0]["apiVersion"].as<std::string>(), "rbac.authorization.k8s.io/v1");
  EXPECT_EQ(docs[0]["kind"].as<std::string>(), "ClusterRole");
  EXPECT_EQ(docs[0]["metadata"]["name"].as<std::string>(), "weft-agent");
  EXPECT_EQ(docs[1]["kind"].as<std::string>(), "ClusterRoleBinding");
  EXPECT_EQ(docs[1]["roleRef"]["kind"].as<std::string>(), "ClusterRole");
  EXPECT_EQ(docs[1]["roleRef"]["name"].as<std::string>(), "weft-agent");
  EXPECT_EQ(docs[1]["roleRef"]["apiGroup"].as<std::string>(), "rbac.authorization.k8s.io");
  ASSERT_EQ(docs[1]["subjects"].size(), 1u);
  EXPECT_EQ(docs[1]["subjects"][0]["kind"].as<std::string>(), "Group");
  EXPECT_EQ(docs[1]["subjects"][0]["name"].as<std::string>(), std::string(kAgentGroup));
}

// The manifest says exactly what the table says, and the table is read-only: the agent
// never writes to the API server today.
TEST(AgentRbacTest, RulesAreTheTableAndReadOnly) {
  YAML::Node rules = Documents()[0]["rules"];
  std::vector<AgentPermission> table = AgentPermissions();
  ASSERT_EQ(rules.size(), table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(rules[i]["apiGroups"].as<std::vector<std::string>>(),
              std::vector<std::string>{table[i].api_group});
    EXPECT_EQ(rules[i]["resources"].as<std::vector<std::string>>(), table[i].resources);
    EXPECT_EQ(rules[i]["verbs"].as<std::vector<std::string>>(), table[i].verbs);
    for (const std::string& verb : table[i].verbs) {
      EXPECT_THAT(verb, ::testing::AnyOf("list", "watch")) << table[i].resources[0];
    }
    EXPECT_FALSE(rules[i]["resourceNames"].IsDefined());
  }
}

// With WireGuard the agent writes one thing: its Node's key annotation (patch).
TEST(AgentRbacTest, WireGuardAddsOnlyPatchOnNodes) {
  std::vector<AgentPermission> plain = AgentPermissions();
  std::vector<AgentPermission> wg = AgentPermissions(/*wireguard=*/true);
  ASSERT_EQ(wg.size(), plain.size() + 1);
  EXPECT_EQ(wg.back().resources, std::vector<std::string>{"nodes"});
  EXPECT_EQ(wg.back().verbs, std::vector<std::string>{"patch"});
  YAML::Node rules = YAML::LoadAll(AgentRbacManifest(true))[0]["rules"];
  ASSERT_EQ(rules.size(), wg.size());
  EXPECT_EQ(rules[wg.size() - 1]["verbs"][0].Scalar(), "patch");
}

TEST(AgentRbacTest, TodayTheAgentWatchesNodesPodsServicesAndEndpointSlices) {
  std::vector<std::string> resources;
  for (const AgentPermission& p : AgentPermissions()) {
    for (const std::string& r : p.resources) resources.push_back(p.api_group + "/" + r);
  }
  EXPECT_THAT(resources, ::testing::ElementsAre("/nodes", "/pods", "/services",
                                                "discovery.k8s.io/endpointslices"));
}

}  // namespace
}  // namespace weft::generator
