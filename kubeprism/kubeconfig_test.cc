#include "kubeprism/kubeconfig.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::kubeprism {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/kubeconfig_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string cmd = "mkdir -p " + dir_ + "/pki";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void Write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ + "/" + rel) << text;
  }
  std::string dir_;
};

constexpr char kFiles[] = R"(
apiVersion: v1
kind: Config
current-context: agent
clusters:
- name: other
  cluster: {server: "https://10.0.0.1:6443"}
- name: talos
  cluster:
    server: https://127.0.0.1:7445
    certificate-authority: pki/ca.crt
    tls-server-name: kubernetes
contexts:
- name: agent
  context: {cluster: talos, user: weft, namespace: kube-system}
- name: second
  context: {cluster: other, user: tok}
users:
- name: weft
  user:
    client-certificate: pki/client.crt
    client-key: /ABS/pki/client.key
- name: tok
  user:
    tokenFile: token
)";

TEST_F(KubeconfigTest, FilesResolvedRelativeToKubeconfigFolder) {
  Write("pki/ca.crt", "CA PEM");
  Write("pki/client.crt", "CERT PEM");
  Write("pki/client.key", "KEY PEM");
  std::string text = kFiles;
  text.replace(text.find("/ABS"), 4, dir_);
  Write("config", text);
  auto config = LoadKubeconfig(dir_ + "/config");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:7445");
  EXPECT_EQ(config->ca_pem, "CA PEM");
  EXPECT_EQ(config->client_cert_pem, "CERT PEM");
  EXPECT_EQ(config->client_key_pem, "KEY PEM");
  EXPECT_EQ(config->tls_server_name, "kubernetes");
  EXPECT_THAT(config->source, HasSubstr("context agent"));
  EXPECT_THAT(config->DebugString(), Not(HasSubstr("KEY PEM")));
}

TEST_F(KubeconfigTest, ContextOverrideAndTokenFile) {
  Write("token", "  secret-token\n");
  Write("config", kFiles);
  auto config = LoadKubeconfig(dir_ + "/config", "second");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.0.0.1:6443");
  EXPECT_EQ(config->token, "secret-token");
  EXPECT_EQ(config->token_file, dir_ + "/token");
  EXPECT_THAT(config->DebugString(), Not(HasSubstr("secret-token")));
  EXPECT_THAT(config->DebugString(), HasSubstr("token=set"));
}

TEST_F(KubeconfigTest, InlineBase64Data) {
  std::string text = absl::StrCat(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://localhost:7445", certificate-authority-data: )",
                                  absl::Base64Escape("CA"), R"(}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {client-certificate-data: )",
                                  absl::Base64Escape("CERT"), ", client-key-data: ",
                                  absl::Base64Escape("KEY"), ", token: abc}}]\n");
  auto config = ParseKubeconfig(text, dir_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://localhost:7445");
  EXPECT_EQ(config->ca_pem, "CA");
  EXPECT_EQ(config->client_cert_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
  EXPECT_EQ(config->token, "abc");
}

TEST_F(KubeconfigTest, ErrorsNameTheField) {
  auto missing_file = LoadKubeconfig(dir_ + "/nope");
  EXPECT_EQ(missing_file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing_file.status().message(), HasSubstr(dir_ + "/nope"));

  Write("config", kFiles);  // pki/ca.crt does not exist
  auto missing_ca = LoadKubeconfig(dir_ + "/config");
  EXPECT_THAT(missing_ca.status().message(),
              HasSubstr("clusters[name=talos].cluster.certificate-authority: cannot read " + dir_ +
                        "/pki/ca.crt"));

  auto bad_b64 = ParseKubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://x", certificate-authority-data: "!!!"}}]
contexts: [{name: c, context: {cluster: k}}]
)",
                                 dir_);
  EXPECT_THAT(bad_b64.status().message(),
              HasSubstr("clusters[name=k].cluster.certificate-authority-data: not valid base64"));

  auto no_context = ParseKubeconfig("clusters: []\n", dir_);
  EXPECT_THAT(no_context.status().message(), HasSubstr("current-context"));
  auto unknown_context = ParseKubeconfig("current-context: x\ncontexts: []\n", dir_);
  EXPECT_THAT(unknown_context.status().message(), HasSubstr("contexts: no entry named \"x\""));
  auto bad_yaml = ParseKubeconfig("a: [", dir_);
  EXPECT_THAT(bad_yaml.status().message(), HasSubstr("invalid YAML"));
  auto insecure = ParseKubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://x", insecure-skip-tls-verify: true}}]
contexts: [{name: c, context: {cluster: k}}]
)",
                                  dir_);
  EXPECT_THAT(insecure.status().message(), HasSubstr("insecure-skip-tls-verify: not supported"));
  auto exec = ParseKubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {exec: {command: foo}}}]
)",
                              dir_);
  EXPECT_THAT(exec.status().message(), HasSubstr("users[name=u].user.exec: not supported"));
  auto half_cert = ParseKubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {client-certificate-data: Q0VSVA==}}]
)",
                                   dir_);
  EXPECT_THAT(half_cert.status().message(), HasSubstr("must be given together"));
}

TEST_F(KubeconfigTest, FlagsDefaultsToKubePrismAndTalosCa) {
  Write("ca.crt", "TALOS CA");
  ConfigFlags flags;
  flags.default_ca_file = dir_ + "/ca.crt";
  auto config = ResolveClientConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:7445");
  EXPECT_EQ(config->ca_pem, "TALOS CA");

  flags.default_ca_file = dir_ + "/absent.crt";
  auto no_ca = ResolveClientConfig(flags);
  EXPECT_EQ(no_ca.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_ca.status().message(), HasSubstr("--ca-file"));
}

TEST_F(KubeconfigTest, FlagsOverrideKubeconfig) {
  Write("pki/ca.crt", "CA PEM");
  Write("pki/client.crt", "CERT PEM");
  Write("pki/client.key", "KEY PEM");
  Write("other-ca.crt", "OTHER CA");
  Write("t", "tok\n");
  std::string text = kFiles;
  text.replace(text.find("/ABS"), 4, dir_);
  Write("config", text);
  ConfigFlags flags;
  flags.kubeconfig = dir_ + "/config";
  flags.server = "https://localhost:7445";
  flags.fallback_servers = {"https://10.0.0.1:6443"};
  flags.ca_file = dir_ + "/other-ca.crt";
  flags.token_file = dir_ + "/t";
  auto config = ResolveClientConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://localhost:7445");
  EXPECT_EQ(config->fallback_servers.size(), 1u);
  EXPECT_EQ(config->ca_pem, "OTHER CA");
  EXPECT_EQ(config->client_cert_pem, "CERT PEM");
  EXPECT_EQ(config->token, "tok");

  flags.client_cert_file = dir_ + "/pki/client.crt";
  auto half = ResolveClientConfig(flags);
  EXPECT_THAT(half.status().message(), HasSubstr("--client-cert and --client-key"));
}

}  // namespace
}  // namespace weft::kubeprism
