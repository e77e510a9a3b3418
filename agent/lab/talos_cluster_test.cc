#include "agent/lab/talos_cluster.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>

#include "absl/strings/str_cat.h"
#include "agent/lab/talos.h"
#include "common/file_util.h"
#include "kubeprism/kubeconfig.h"

namespace weft::lab {
namespace {

using kubeprism::testing::LabRule;
using ::testing::Contains;
using ::testing::HasSubstr;

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

LabPlan Plan() {
  auto plan = MakePlan("1a2b", 2, "/var/run/weft-lab-test");
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

bool Has(const std::vector<LabRule>& rules, const LabRule& want) {
  for (const LabRule& r : rules) {
    if (r.subject == want.subject && r.verb == want.verb && r.group == want.group &&
        r.resource == want.resource) {
      return true;
    }
  }
  return false;
}

// A generated bundle reads back as talosgen reads the one of `talosctl gen secrets`,
// and the credentials minted from it are the ExtensionServiceConfig Talos gets.
TEST(TalosClusterTest, BundleCredentialsAndConfig) {
  auto bundle = GenerateSecretsBundle();
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_THAT(*bundle, HasSubstr("\n    k8s:\n        crt: "));
  EXPECT_THAT(*bundle, HasSubstr("k8sserviceaccount:"));
  const std::string path = absl::StrCat(::testing::TempDir(), "/secrets-", getpid(), ".yaml");
  ASSERT_TRUE(WriteFileAtomically(path, *bundle, 0600).ok());
  auto ca = LoadKubernetesCa(path, Now());
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(pki::SubjectOrganizations(ca->cert.get()), std::vector<std::string>{"kubernetes"});

  LabPlan plan = Plan();
  auto spec = LabClusterSpec(plan);
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto document = NodeExtensionServiceConfig(*spec, *ca, plan.nodes[0].name, Now());
  ASSERT_TRUE(document.ok()) << document.status();
  auto config = ParseExtensionServiceConfig(*document, "esc");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name, "weft");
  ASSERT_EQ(config->config_files.size(), 2u);
  EXPECT_EQ(config->config_files[0].mount_path, "/etc/weft/agent.yaml");
  EXPECT_THAT(config->config_files[0].content,
              HasSubstr(absl::StrCat("nodeName: ", plan.nodes[0].name)));
  EXPECT_THAT(config->config_files[0].content, HasSubstr("routing: native"));
  EXPECT_THAT(config->config_files[0].content, HasSubstr("nativeRoutingCIDR: 10.200.0.0/16"));
  auto kube = kubeprism::ParseKubeconfig(config->config_files[1].content, "/etc/weft");
  ASSERT_TRUE(kube.ok()) << kube.status();
  EXPECT_EQ(kube->server, "https://127.0.0.1:7445");
  auto cert = pki::ParseCertificatePem(kube->client_cert_pem);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(pki::SubjectCommonName(cert->get()), "weft:agent");
  EXPECT_TRUE(pki::VerifyCertificate(ca->cert.get(), cert->get(), true, Now()).ok());
  unlink(path.c_str());
}

TEST(TalosClusterTest, RulesOfTheControlPlanePatchPlusTheBuiltinOnes) {
  auto spec = LabClusterSpec(Plan());
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto rules = ApiServerRules(ControlPlanePatch(*spec), "patch");
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_TRUE(Has(*rules, {"group:weft:agents", "list", "", "nodes"}));
  EXPECT_TRUE(Has(*rules, {"group:weft:agents", "watch", "", "pods"}));
  EXPECT_TRUE(Has(*rules, {"group:weft:agents", "watch", "", "services"}));
  EXPECT_TRUE(Has(*rules, {"group:weft:agents", "list", "discovery.k8s.io", "endpointslices"}));
  EXPECT_TRUE(Has(*rules, {"group:system:masters", "*", "*", "*"}));
  EXPECT_EQ(rules->size(), 9u);
  auto bad = ApiServerRules("kind: ConfigMap\n", "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("x.yaml: "));
}

TEST(TalosClusterTest, TunnelLabSpec) {
  LabPlan plan = Plan();
  plan.routing = "tunnel";
  auto spec = LabClusterSpec(plan);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->routing_mode, generator::RoutingMode::kTunnel);
  EXPECT_EQ(spec->cluster_name, plan.prefix);
}

}  // namespace
}  // namespace weft::lab
