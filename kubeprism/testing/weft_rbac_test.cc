#include "kubeprism/testing/weft_rbac.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "generator/credentials.h"
#include "generator/layout.h"
#include "generator/patch.h"
#include "generator/pins.h"
#include "generator/spec.h"
#include "kubeprism/kubeconfig.h"
#include "kubeprism/testing/lab_test_client.h"

namespace weft::kubeprism::testing {

bool operator==(const LabRule& a, const LabRule& b) {
  return a.subject == b.subject && a.verb == b.verb && a.group == b.group &&
         a.resource == b.resource;
}

void PrintTo(const LabRule& r, std::ostream* os) {
  *os << "{" << r.subject << " " << r.verb << " '" << r.group << "' " << r.resource << "}";
}

namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

generator::Spec DefaultSpec() {
  absl::StatusOr<generator::Pins> pins = generator::EmbeddedPins();
  EXPECT_TRUE(pins.ok());
  return generator::DefaultSpec(*pins);
}

std::string Patch(generator::Role role, generator::Layout layout) {
  generator::PatchOptions options;
  options.role = role;
  options.layout = layout;
  options.layout_source = "test";
  return generator::GeneratePatch(DefaultSpec(), options);
}

TEST(WeftRbacTest, AgentMayListAndWatchNodesPodsServicesAndEndpointSlices) {
  EXPECT_THAT(
      WeftAgentLabRules(),
      UnorderedElementsAre(
          LabRule{"group:weft:agents", "list", "", "nodes"},
          LabRule{"group:weft:agents", "watch", "", "nodes"},
          LabRule{"group:weft:agents", "list", "", "pods"},
          LabRule{"group:weft:agents", "watch", "", "pods"},
          LabRule{"group:weft:agents", "list", "", "services"},
          LabRule{"group:weft:agents", "watch", "", "services"},
          LabRule{"group:weft:agents", "list", "discovery.k8s.io", "endpointslices"},
          LabRule{"group:weft:agents", "watch", "discovery.k8s.io", "endpointslices"}));
}

// The lab enforces what the cluster gets: the rules read back from the control-plane
// patches (both layouts) are the agent's rules; worker patches carry no manifests.
TEST(WeftRbacTest, ControlPlanePatchesCarryTheSameRules) {
  for (generator::Layout layout : {generator::Layout::kLegacy, generator::Layout::kMultidoc}) {
    absl::StatusOr<std::vector<LabRule>> rules =
        LabRulesFromFile(Patch(generator::Role::kControlPlane, layout));
    ASSERT_TRUE(rules.ok()) << rules.status();
    EXPECT_EQ(*rules, WeftAgentLabRules());
    EXPECT_FALSE(LabRulesFromFile(Patch(generator::Role::kWorker, layout)).ok());
  }
}

TEST(WeftRbacTest, RefusesWhatLabRulesCannotExpress) {
  const std::string role =
      "kind: ClusterRole\nmetadata: {name: r}\nrules:\n"
      "- {apiGroups: [''], resources: [nodes], verbs: [get], resourceNames: [n1]}\n"
      "---\nkind: ClusterRoleBinding\nmetadata: {name: b}\n"
      "roleRef: {kind: ClusterRole, name: r}\nsubjects: [{kind: User, name: u}]\n";
  EXPECT_EQ(LabRulesFromRbacManifests(role).status().message(),
            "ClusterRole r: rules[0]: resourceNames: the lab's rules cannot name objects");
  EXPECT_THAT(std::string(LabRulesFromRbacManifests(
                              "kind: ClusterRole\nmetadata: {name: r}\nrules:\n"
                              "- {nonResourceURLs: [/healthz], verbs: [get]}\n")
                              .status()
                              .message()),
              HasSubstr("nonResourceURLs"));
  EXPECT_THAT(std::string(LabRulesFromRbacManifests(
                              "kind: RoleBinding\nmetadata: {name: b, namespace: x}\n")
                              .status()
                              .message()),
              HasSubstr("namespaced RBAC"));
  EXPECT_EQ(LabRulesFromRbacManifests("kind: ClusterRoleBinding\nmetadata: {name: b}\n"
                                      "roleRef: {kind: ClusterRole, name: gone}\n")
                .status()
                .message(),
            "ClusterRoleBinding b: no ClusterRole \"gone\" in these manifests");
}

TEST(WeftRbacTest, SubjectsAndWildcards) {
  absl::StatusOr<std::vector<LabRule>> rules = LabRulesFromRbacManifests(
      "kind: ClusterRole\nmetadata: {name: r}\nrules:\n"
      "- {apiGroups: ['*'], resources: ['*'], verbs: ['*']}\n"
      "---\nkind: ClusterRoleBinding\nmetadata: {name: b}\n"
      "roleRef: {kind: ClusterRole, name: r}\nsubjects:\n"
      "- {kind: User, name: alice}\n- {kind: Group, name: ops}\n"
      "- {kind: ServiceAccount, name: sa, namespace: kube-system}\n");
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_THAT(*rules, UnorderedElementsAre(
                          LabRule{"alice", "*", "*", "*"}, LabRule{"group:ops", "*", "*", "*"},
                          LabRule{"system:serviceaccount:kube-system:sa", "*", "*", "*"}));
}

// The file `lab-apiserver --rules` reads, through its own loader.
TEST(WeftRbacTest, RulesYamlReadsBack) {
  std::vector<LabRule> rules = WeftAgentLabRules();
  auto back = ParseLabRulesYaml(LabRulesYaml(rules), "rules.yaml");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, rules);
}

TEST(WeftRbacTest, BuiltinRulesAreTheSuperuserGroupOnly) {
  EXPECT_THAT(KubernetesBuiltinLabRules(),
              ::testing::ElementsAre(LabRule{"group:system:masters", "*", "*", "*"}));
}

// ---- the whole chain against the lab API server ----
//
// The lab's CA is the Kubernetes CA of a secrets bundle; the agent's credentials come
// from `talosgen credentials` code on that bundle (a kubeconfig pointing at the lab's
// port, as at KubePrism's); the rules come from the control-plane patch. The agent's
// requests pass; anything else, and each request once its rule is removed, is a 403.
class WeftRbacLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string secrets_path = std::string(std::getenv("TEST_SRCDIR")) +
                                     "/weft/testdata/generator/secrets/ecdsa.yaml";
    absl::StatusOr<std::string> secrets = weft::ReadFile(secrets_path);
    ASSERT_TRUE(secrets.ok()) << secrets.status();
    YAML::Node k8s = YAML::Load(*secrets)["certs"]["k8s"];
    std::string ca_pem, ca_key;
    ASSERT_TRUE(absl::Base64Unescape(k8s["crt"].as<std::string>(), &ca_pem));
    ASSERT_TRUE(absl::Base64Unescape(k8s["key"].as<std::string>(), &ca_key));
    static std::atomic<int> counter{0};
    state_dir_ = absl::StrCat(::testing::TempDir(), "/weft-rbac-", getpid(), "-", ++counter);
    ASSERT_TRUE(weft::MakeDirs(state_dir_).ok());
    ASSERT_TRUE(weft::WriteFileAtomically(state_dir_ + "/ca.crt", ca_pem, 0644).ok());
    ASSERT_TRUE(weft::WriteFileAtomically(state_dir_ + "/ca.key", ca_key, 0600).ok());

    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    absl::StatusOr<pki::CertificateAndKey> ca =
        generator::ParseSecretsKubernetesCa(*secrets, secrets_path, now);
    ASSERT_TRUE(ca.ok()) << ca.status();
    absl::StatusOr<generator::AgentCredentials> creds =
        generator::MintAgentCredentials(*ca, 86400, now);
    ASSERT_TRUE(creds.ok()) << creds.status();
    credentials_ = *creds;

    absl::StatusOr<std::vector<LabRule>> rules = LabRulesFromFile(
        Patch(generator::Role::kControlPlane, generator::Layout::kMultidoc));
    ASSERT_TRUE(rules.ok()) << rules.status();
    rules_ = *rules;
    Start(rules_);
  }

  void Start(std::vector<LabRule> rules) {
    server_.reset();
    LabApiServerOptions options;
    options.state_dir = state_dir_;
    options.rules = std::move(rules);
    options.bookmark_interval_ms = 50;
    auto server = LabApiServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    // The kubeconfig the ExtensionServiceConfig carries, with the lab's port for KubePrism's.
    generator::Spec spec = DefaultSpec();
    spec.kubeprism_port = server_->port();
    YAML::Node doc =
        YAML::Load(generator::ExtensionServiceConfigYaml(spec, "worker-1", credentials_));
    absl::StatusOr<ClientConfig> kube =
        ParseKubeconfig(doc["configFiles"][1]["content"].as<std::string>(), "/etc/weft");
    ASSERT_TRUE(kube.ok()) << kube.status();
    ASSERT_EQ(kube->server, server_->url());
    agent_ = std::make_unique<LabTestClient>(kube->server, kube->ca_pem);
    agent_->SetClientCert(kube->client_cert_pem, kube->client_key_pem);
  }

  long Watch(const std::string& collection) {
    return agent_
        ->Watch(absl::StrCat(collection, collection.find('?') == std::string::npos ? "?" : "&",
                             "watch=true&timeoutSeconds=1&resourceVersion=",
                             server_->resource_version()),
                [](const std::string&) { return true; }, 10)
        .code;
  }

  static constexpr char kSlices[] = "/apis/discovery.k8s.io/v1/endpointslices";
  const std::string pods_ = "/api/v1/pods?fieldSelector=" +
                            LabTestClient::Escape("spec.nodeName=worker-1");
  std::string state_dir_;
  generator::AgentCredentials credentials_;
  std::vector<LabRule> rules_;
  std::unique_ptr<LabApiServer> server_;
  std::unique_ptr<LabTestClient> agent_;
};

TEST_F(WeftRbacLabTest, AgentCertificateGetsExactlyItsRules) {
  EXPECT_EQ(agent_->Get("/api/v1/nodes").code, 200);
  EXPECT_EQ(Watch("/api/v1/nodes"), 200);
  EXPECT_EQ(agent_->Get(pods_).code, 200);
  EXPECT_EQ(Watch(pods_), 200);
  EXPECT_EQ(agent_->Get("/api/v1/services").code, 200);
  EXPECT_EQ(Watch("/api/v1/services"), 200);
  EXPECT_EQ(agent_->Get(kSlices).code, 200);
  EXPECT_EQ(Watch(kSlices), 200);
  // Nothing else: no single-object reads, no other resources, no writes.
  EXPECT_EQ(agent_->Get("/api/v1/nodes/worker-1").code, 403);
  EXPECT_EQ(agent_->Get("/api/v1/namespaces/default/services/web").code, 403);
  EXPECT_EQ(agent_->Get("/api/v1/namespaces").code, 403);
  EXPECT_EQ(agent_->Post("/api/v1/namespaces/default/pods",
                         R"({"metadata":{"name":"x","namespace":"default"}})")
                .code,
            403);
}

TEST_F(WeftRbacLabTest, RemovingAnyRuleRefusesTheRequestThatNeedsIt) {
  for (size_t i = 0; i < rules_.size(); ++i) {
    std::vector<LabRule> fewer = rules_;
    const LabRule removed = fewer[i];
    fewer.erase(fewer.begin() + static_cast<long>(i));
    Start(fewer);
    const std::string path = removed.resource == "pods"             ? pods_
                             : removed.resource == "services"       ? "/api/v1/services"
                             : removed.resource == "endpointslices" ? kSlices
                                                                    : "/api/v1/nodes";
    const long code = removed.verb == "watch" ? Watch(path) : agent_->Get(path).code;
    EXPECT_EQ(code, 403) << removed.verb << " " << removed.resource;
  }
}

}  // namespace
}  // namespace weft::kubeprism::testing
