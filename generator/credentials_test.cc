#include "generator/credentials.h"

#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "absl/strings/escaping.h"
#include "agent/config/config.h"
#include "common/pki.h"
#include "generator/agent_rbac.h"
#include "generator/cli.h"
#include "generator/pins.h"
#include "generator/spec.h"
#include "kubeprism/kubeconfig.h"

namespace weft::generator {
namespace {

using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/weft/testdata/generator/secrets/" + name;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

Spec DefaultTestSpec() {
  absl::StatusOr<Pins> pins = EmbeddedPins();
  EXPECT_TRUE(pins.ok());
  return DefaultSpec(*pins);
}

pki::CertificateAndKey LoadCa(const std::string& fixture) {
  absl::StatusOr<pki::CertificateAndKey> ca =
      ParseSecretsKubernetesCa(Read(Fixture(fixture)), fixture, Now());
  EXPECT_TRUE(ca.ok()) << ca.status();
  return ca.ok() ? *std::move(ca) : pki::CertificateAndKey{};
}

class MintTest : public ::testing::TestWithParam<const char*> {};

// Each CA key type Talos uses: the minted certificate verifies against the CA as a client
// certificate, with the agent's subject, clientAuth only, and the asked lifetime.
TEST_P(MintTest, CertificateVerifiesWithTheAgentIdentity) {
  pki::CertificateAndKey ca = LoadCa(GetParam());
  ASSERT_NE(ca.cert, nullptr);
  const int64_t now = Now();
  absl::StatusOr<AgentCredentials> c = MintAgentCredentials(ca, 30 * 86400, now);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<pki::X509Ptr> leaf = pki::ParseCertificatePem(c->cert_pem);
  ASSERT_TRUE(leaf.ok());
  EXPECT_TRUE(pki::VerifyCertificate(ca.cert.get(), leaf->get(), /*client_auth=*/true, now).ok());
  EXPECT_FALSE(pki::VerifyCertificate(ca.cert.get(), leaf->get(), /*client_auth=*/false, now).ok())
      << "not a server certificate";
  EXPECT_EQ(pki::SubjectCommonName(leaf->get()), "weft:agent");
  EXPECT_THAT(pki::SubjectOrganizations(leaf->get()), ::testing::ElementsAre("weft:agents"));
  EXPECT_EQ(X509_check_ca(leaf->get()), 0);
  EXPECT_EQ(X509_get_extended_key_usage(leaf->get()), static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_TRUE(X509_get_key_usage(leaf->get()) & KU_DIGITAL_SIGNATURE);
  EXPECT_NEAR(static_cast<double>(c->not_after_unix - now), 30 * 86400, 60);
  EXPECT_LE(c->not_before_unix, now);
  // The key belongs to the certificate, and the CA in the output is the bundle's.
  absl::StatusOr<pki::PrivateKeyPtr> key = pki::ParsePrivateKeyPem(c->key_pem);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(pki::CheckKeyMatchesCertificate(leaf->get(), key->get()).ok());
  EXPECT_EQ(c->ca_pem, *pki::CertificateToPem(ca.cert.get()));
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, MintTest,
                         ::testing::Values("ecdsa.yaml", "rsa.yaml", "ed25519.yaml"));

TEST(CredentialsTest, TwoMintsGiveTwoKeys) {
  pki::CertificateAndKey ca = LoadCa("ecdsa.yaml");
  auto a = MintAgentCredentials(ca, 86400, Now());
  auto b = MintAgentCredentials(ca, 86400, Now());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->key_pem, b->key_pem);
  EXPECT_NE(a->cert_pem, b->cert_pem);
}

TEST(CredentialsTest, BadSecretsAreOneClearLine) {
  struct Case {
    const char* fixture;
    const char* want;
  };
  for (const Case& c : std::vector<Case>{
           {"no-k8s-ca.yaml",
            "no-k8s-ca.yaml: certs.k8s: missing: no Kubernetes CA in this file (expected the "
            "output of `talosctl gen secrets`)"},
           {"key-mismatch.yaml",
            "key-mismatch.yaml:16: certs.k8s.key: does not belong to certs.k8s.crt "
            "(O=kubernetes): the bundle mixes keys of different clusters"},
           {"expired-ca.yaml",
            "expired-ca.yaml:15: certs.k8s.crt: the Kubernetes CA (O=kubernetes) expired on "
            "2021-01-01T00:00:00Z; the cluster needs a new CA before Weft can get a "
            "certificate"},
           {"not-a-ca.yaml",
            "not-a-ca.yaml:15: certs.k8s.crt: CN=admin,O=system:masters is not a CA certificate"},
       }) {
    absl::StatusOr<pki::CertificateAndKey> ca =
        ParseSecretsKubernetesCa(Read(Fixture(c.fixture)), c.fixture, Now());
    ASSERT_FALSE(ca.ok()) << c.fixture;
    EXPECT_EQ(ca.status().message(), c.want);
  }
}

TEST(CredentialsTest, MalformedFields) {
  auto parse = [](const std::string& text) {
    return std::string(ParseSecretsKubernetesCa(text, "s.yaml", Now()).status().message());
  };
  EXPECT_EQ(parse("certs:\n  k8s:\n    crt: '%%%'\n    key: eA==\n"),
            "s.yaml:3: certs.k8s.crt: not base64");
  EXPECT_EQ(parse("certs:\n  k8s:\n    crt: aGVsbG8=\n    key: eA==\n"),
            "s.yaml:3: certs.k8s.crt: not a PEM certificate");
  EXPECT_EQ(parse("certs:\n  k8s:\n    key: eA==\n"), "s.yaml: certs.k8s.crt: missing");
  EXPECT_EQ(parse("- a list\n"),
            "s.yaml: not a secrets bundle (expected the YAML map that `talosctl gen secrets` "
            "writes)");
  EXPECT_THAT(parse("certs: [\n"), HasSubstr("invalid YAML"));
  // A certificate with an unreadable key.
  std::string ecdsa = Read(Fixture("ecdsa.yaml"));
  YAML::Node root = YAML::Load(ecdsa);
  std::string bad = "certs:\n  k8s:\n    crt: " + root["certs"]["k8s"]["crt"].as<std::string>() +
                    "\n    key: " + absl::Base64Escape("-----BEGIN DSA PRIVATE KEY-----\nAAAA\n"
                                                       "-----END DSA PRIVATE KEY-----\n") +
                    "\n";
  EXPECT_EQ(parse(bad),
            "s.yaml:4: certs.k8s.key: not a private key OpenSSL can read (PEM \"DSA PRIVATE "
            "KEY\"; expected EC, RSA, ED25519 or PKCS#8 PRIVATE KEY)");
}

TEST(CredentialsTest, LifetimeMustEndBeforeTheCa) {
  pki::CertificateAndKey ca = LoadCa("ecdsa.yaml");
  absl::StatusOr<AgentCredentials> c = MintAgentCredentials(ca, 200LL * 365 * 86400, Now());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("the certificate would outlive the Kubernetes CA, which is valid until "
                        "2126-"));
  EXPECT_THAT(c.status().message(), HasSubstr("; use at most --lifetime "));
}

TEST(CredentialsTest, ParseLifetime) {
  EXPECT_EQ(*ParseLifetime("8760h"), 8760LL * 3600);
  EXPECT_EQ(*ParseLifetime("90d"), 90LL * 86400);
  EXPECT_EQ(*ParseLifetime("1h30m"), 5400);
  EXPECT_EQ(*ParseLifetime("3600s"), 3600);
  for (const char* bad : {"", "10", "h", "5x", "30m", "-1h", "1.5h"}) {
    EXPECT_FALSE(ParseLifetime(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseLifetime("30m").status().message(), "\"30m\" is shorter than 1h");
}

TEST(CredentialsTest, NodeNames) {
  for (const char* ok : {"worker-1", "talos-abc-123", "node.example.com", "n"}) {
    EXPECT_TRUE(CheckNodeName(ok).ok()) << ok;
  }
  for (const char* bad : {"", "Worker", "-a", "a-", "a..b", "a_b", "a b"}) {
    EXPECT_FALSE(CheckNodeName(bad).ok()) << bad;
  }
}

// The document's files are what the agent reads: its config parser accepts agent.yaml,
// and the kubeconfig loader finds KubePrism, the CA and the client credentials.
TEST(CredentialsTest, ExtensionServiceConfigCarriesAgentConfigAndKubeconfig) {
  pki::CertificateAndKey ca = LoadCa("rsa.yaml");
  absl::StatusOr<AgentCredentials> c = MintAgentCredentials(ca, 86400, Now());
  ASSERT_TRUE(c.ok());
  Spec spec = DefaultTestSpec();
  std::string text = ExtensionServiceConfigYaml(spec, "worker-1", *c);
  EXPECT_EQ(text, ExtensionServiceConfigYaml(spec, "worker-1", *c)) << "pure";

  YAML::Node doc = YAML::Load(text);
  EXPECT_EQ(doc["apiVersion"].as<std::string>(), "v1alpha1");
  EXPECT_EQ(doc["kind"].as<std::string>(), "ExtensionServiceConfig");
  EXPECT_EQ(doc["name"].as<std::string>(), "weft");
  EXPECT_FALSE(doc["environment"].IsDefined());
  ASSERT_EQ(doc["configFiles"].size(), 2u);
  EXPECT_EQ(doc["configFiles"][0]["mountPath"].as<std::string>(), "/etc/weft/agent.yaml");
  EXPECT_EQ(doc["configFiles"][1]["mountPath"].as<std::string>(), "/etc/weft/kubeconfig");

  absl::StatusOr<agent::AgentConfig> config = agent::ParseAgentConfig(
      doc["configFiles"][0]["content"].as<std::string>(), "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->node_name, "worker-1");
  EXPECT_EQ(config->kubeconfig, "/etc/weft/kubeconfig");
  EXPECT_EQ(config->routing, agent::RoutingMode::kTunnel);
  ASSERT_TRUE(config->native_routing_cidr.has_value());
  EXPECT_EQ(config->native_routing_cidr->ToString(), "10.244.0.0/16");
  // The spec's Service ranges: what no Service has there is refused.
  ASSERT_EQ(config->kube_proxy_replacement.service_cidrs.size(), spec.service_subnets.size());
  EXPECT_EQ(config->kube_proxy_replacement.service_cidrs[0], spec.service_subnets[0]);

  absl::StatusOr<kubeprism::ClientConfig> kube = kubeprism::ParseKubeconfig(
      doc["configFiles"][1]["content"].as<std::string>(), "/etc/weft");
  ASSERT_TRUE(kube.ok()) << kube.status();
  EXPECT_EQ(kube->server, "https://127.0.0.1:7445");
  EXPECT_EQ(kube->ca_pem, c->ca_pem);
  EXPECT_EQ(kube->client_cert_pem, c->cert_pem);
  EXPECT_EQ(kube->client_key_pem, c->key_pem);
}

TEST(CredentialsTest, NativeRoutingAndKubePrismPortFollowTheSpec) {
  Spec spec = DefaultTestSpec();
  spec.routing_mode = RoutingMode::kNative;
  spec.kubeprism_port = 7446;
  AgentCredentials c{"ca", "cert", "key", 0, 86400};
  YAML::Node doc = YAML::Load(ExtensionServiceConfigYaml(spec, "cp-1", c));
  absl::StatusOr<agent::AgentConfig> config = agent::ParseAgentConfig(
      doc["configFiles"][0]["content"].as<std::string>(), "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->routing, agent::RoutingMode::kNative);
  EXPECT_THAT(doc["configFiles"][1]["content"].as<std::string>(),
              HasSubstr("server: https://127.0.0.1:7446\n"));
}

TEST(CredentialsTest, ServiceRangesAreTheSpecsIpv4ServiceSubnets) {
  Spec spec = DefaultTestSpec();
  spec.service_subnets = {*net::IpPrefix::Parse("10.100.0.0/16"),
                          *net::IpPrefix::Parse("fd00:10:96::/112")};
  AgentCredentials c{"ca", "cert", "key", 0, 86400};
  YAML::Node doc = YAML::Load(ExtensionServiceConfigYaml(spec, "cp-1", c));
  auto config = agent::ParseAgentConfig(doc["configFiles"][0]["content"].as<std::string>(),
                                        "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->kube_proxy_replacement.service_cidrs.size(), 1u) << "IPv6 left out";
  EXPECT_EQ(config->kube_proxy_replacement.service_cidrs[0].ToString(), "10.100.0.0/16");
}

TEST(CredentialsTest, WireGuardEncryptionFollowsTheSpec) {
  Spec spec = DefaultTestSpec();
  AgentCredentials c{"ca", "cert", "key", 0, 86400};
  auto agent_config = [&] {
    YAML::Node doc = YAML::Load(ExtensionServiceConfigYaml(spec, "cp-1", c));
    return agent::ParseAgentConfig(doc["configFiles"][0]["content"].as<std::string>(), "agent.yaml");
  };
  auto plain = agent_config();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->encryption.enabled());
  spec.encryption = Encryption::kWireGuard;
  spec.encryption_strict_mode = true;
  auto encrypted = agent_config();
  ASSERT_TRUE(encrypted.ok()) << encrypted.status();
  EXPECT_TRUE(encrypted->encryption.enabled());
  EXPECT_EQ(encrypted->encryption.backend, agent::WireGuardBackend::kAuto);
  EXPECT_TRUE(encrypted->encryption.strict_mode);
}

// The command: --out writes mode 0600 whatever the umask and prints nothing on stdout;
// bad input writes nothing and leaves an existing file alone.
TEST(CredentialsCliTest, OutFileIsPrivate) {
  std::string out = TempPath("weft-cred.yaml");
  ::umask(0);
  CliResult r = RunCli({"credentials", "--secrets", Fixture("ecdsa.yaml"), "--node-name",
                        "worker-1", "--out", out});
  ::umask(022);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("wrote " + out + " (mode 0600)"));
  struct stat st;
  ASSERT_EQ(stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(Read(out), HasSubstr("kind: ExtensionServiceConfig"));
}

TEST(CredentialsCliTest, BadInputWritesNothing) {
  std::string out = TempPath("weft-untouched.yaml");
  std::ofstream(out) << "old\n";
  for (const char* fixture : {"no-k8s-ca.yaml", "key-mismatch.yaml", "expired-ca.yaml"}) {
    CliResult r = RunCli({"credentials", "--secrets", Fixture(fixture), "--node-name", "w1",
                          "--out", out});
    EXPECT_EQ(r.exit_code, 1) << fixture;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
    EXPECT_THAT(r.err, ::testing::StartsWith("talosgen: "));
    EXPECT_EQ(Read(out), "old\n") << fixture;
  }
  std::string fresh = TempPath("weft-never.yaml");
  CliResult r = RunCli({"credentials", "--secrets", Fixture("expired-ca.yaml"), "--node-name",
                        "w1", "--out", fresh});
  EXPECT_EQ(r.exit_code, 1);
  struct stat st;
  EXPECT_NE(stat(fresh.c_str(), &st), 0) << "no file for bad input";
}

TEST(CredentialsCliTest, UsageErrors) {
  EXPECT_EQ(RunCli({"credentials", "--node-name", "w1"}).err,
            "talosgen: credentials: --secrets FILE is required (see `talosgen credentials "
            "--help`)\n");
  EXPECT_EQ(RunCli({"credentials", "--secrets", Fixture("ecdsa.yaml")}).exit_code, 2);
  EXPECT_EQ(RunCli({"credentials", "--secrets", Fixture("ecdsa.yaml"), "--node-name", "W1"})
                .exit_code,
            2);
  EXPECT_EQ(RunCli({"credentials", "--secrets", Fixture("ecdsa.yaml"), "--node-name", "w1",
                    "--lifetime", "forever"})
                .exit_code,
            2);
}

}  // namespace
}  // namespace weft::generator
