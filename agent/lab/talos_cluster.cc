#include "agent/lab/talos_cluster.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "generator/credentials.h"
#include "generator/layout.h"
#include "generator/patch.h"
#include "generator/pins.h"
#include "kubeprism/testing/weft_rbac.h"

namespace weft::lab {
namespace {

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  return out;
}

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  ASSIGN_OR_RETURN(std::string raw, RandomBytes(bytes));
  return absl::BytesToHexString(raw);
}

// A private key as Talos writes it: "EC PRIVATE KEY" (SEC1) for ECDSA, and PKCS#8
// under the label "ED25519 PRIVATE KEY" for Ed25519.
absl::StatusOr<std::string> TalosKeyPem(const EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
    ASSIGN_OR_RETURN(std::string pkcs8, pki::PrivateKeyToPem(key));
    return absl::StrReplaceAll(pkcs8, {{" PRIVATE KEY-----", " ED25519 PRIVATE KEY-----"}});
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey_traditional(bio.get(), const_cast<EVP_PKEY*>(key), nullptr, nullptr,
                                           0, nullptr, nullptr) != 1) {
    return absl::InternalError("cannot encode a private key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

struct CaPem {
  std::string crt;
  std::string key;
};

// A CA with Talos's subjects (an O, or a CN for the aggregator).
absl::StatusOr<CaPem> NewCa(const std::string& common_name, const std::string& organization,
                            pki::KeyType key_type) {
  pki::CaOptions options;
  options.common_name = common_name;
  if (!organization.empty()) options.organizations = {organization};
  options.key_type = key_type;
  ASSIGN_OR_RETURN(pki::CertificateAndKey ca, pki::GenerateCa(options));
  CaPem out;
  ASSIGN_OR_RETURN(out.crt, pki::CertificateToPem(ca.cert.get()));
  ASSIGN_OR_RETURN(out.key, TalosKeyPem(ca.key.get()));
  return out;
}

std::string B64(const std::string& text) { return absl::Base64Escape(text); }

}  // namespace

absl::StatusOr<std::string> GenerateSecretsBundle() {
  ASSIGN_OR_RETURN(CaPem etcd, NewCa("", "etcd", pki::KeyType::kEcdsaP256));
  ASSIGN_OR_RETURN(CaPem k8s, NewCa("", "kubernetes", pki::KeyType::kEcdsaP256));
  ASSIGN_OR_RETURN(CaPem aggregator, NewCa("front-proxy", "", pki::KeyType::kEcdsaP256));
  ASSIGN_OR_RETURN(CaPem os, NewCa("", "talos", pki::KeyType::kEd25519));
  ASSIGN_OR_RETURN(pki::PrivateKeyPtr sa, pki::GenerateKey(pki::KeyType::kEcdsaP256));
  ASSIGN_OR_RETURN(std::string sa_pem, TalosKeyPem(sa.get()));
  ASSIGN_OR_RETURN(std::string cluster_id, RandomBytes(32));
  ASSIGN_OR_RETURN(std::string cluster_secret, RandomBytes(32));
  ASSIGN_OR_RETURN(std::string secretbox, RandomBytes(32));
  ASSIGN_OR_RETURN(std::string bootstrap_a, RandomHex(3));
  ASSIGN_OR_RETURN(std::string bootstrap_b, RandomHex(8));
  ASSIGN_OR_RETURN(std::string trustd_a, RandomHex(3));
  ASSIGN_OR_RETURN(std::string trustd_b, RandomHex(8));
  return absl::StrCat(
      "# Secrets bundle of a `weft lab` cluster (the shape `talosctl gen secrets` writes).\n",
      "# Fresh keys for this lab only; the lab uses certs.k8s, the Kubernetes CA.\n", "cluster:\n",
      "    id: ", B64(cluster_id), "\n", "    secret: ", B64(cluster_secret), "\n", "secrets:\n",
      "    bootstraptoken: ", bootstrap_a, ".", bootstrap_b, "\n",
      "    secretboxencryptionsecret: ", B64(secretbox), "\n", "trustdinfo:\n",
      "    token: ", trustd_a, ".", trustd_b, "\n", "certs:\n", "    etcd:\n",
      "        crt: ", B64(etcd.crt), "\n", "        key: ", B64(etcd.key), "\n", "    k8s:\n",
      "        crt: ", B64(k8s.crt), "\n", "        key: ", B64(k8s.key), "\n",
      "    k8saggregator:\n", "        crt: ", B64(aggregator.crt), "\n",
      "        key: ", B64(aggregator.key), "\n", "    k8sserviceaccount:\n",
      "        key: ", B64(sa_pem), "\n", "    os:\n", "        crt: ", B64(os.crt), "\n",
      "        key: ", B64(os.key), "\n");
}

absl::StatusOr<pki::CertificateAndKey> LoadKubernetesCa(const std::string& secrets_path,
                                                        int64_t now_unix) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(secrets_path));
  return generator::ParseSecretsKubernetesCa(text, secrets_path, now_unix);
}

absl::StatusOr<generator::Spec> LabClusterSpec(const LabPlan& plan) {
  ASSIGN_OR_RETURN(generator::Pins pins, generator::EmbeddedPins());
  generator::Spec spec = generator::DefaultSpec(pins);
  spec.source = absl::StrCat("weft lab ", plan.prefix);
  spec.cluster_name = plan.prefix;
  spec.cni = generator::Cni::kWeft;
  spec.pod_subnets = {plan.cluster_cidr};
  spec.native_routing_cidr = plan.cluster_cidr;
  spec.service_subnets = {plan.service_cidr};  // the agents refuse what no Service has there
  spec.routing_mode =
      plan.routing == "tunnel" ? generator::RoutingMode::kTunnel : generator::RoutingMode::kNative;
  spec.kubeprism_port = kKubePrismPort;
  return spec;
}

std::string ControlPlanePatch(const generator::Spec& spec) {
  generator::PatchOptions options;
  options.role = generator::Role::kControlPlane;
  absl::StatusOr<generator::TalosVersion> version =
      generator::ParseTalosVersion(spec.talos_version);
  options.layout = version.ok() ? generator::LayoutFor(*version) : generator::Layout::kLegacy;
  options.layout_source = absl::StrCat("Talos ", spec.talos_version);
  return generator::GeneratePatch(spec, options);
}

absl::StatusOr<std::string> NodeExtensionServiceConfig(const generator::Spec& spec,
                                                       const pki::CertificateAndKey& ca,
                                                       const std::string& node_name,
                                                       int64_t now_unix) {
  RETURN_IF_ERROR(generator::CheckNodeName(node_name));
  ASSIGN_OR_RETURN(
      generator::AgentCredentials credentials,
      generator::MintAgentCredentials(ca, generator::kDefaultCredentialsLifetimeSeconds, now_unix));
  return generator::ExtensionServiceConfigYaml(spec, node_name, credentials);
}

absl::StatusOr<std::vector<kubeprism::testing::LabRule>> ApiServerRules(const std::string& text,
                                                                        const std::string& source) {
  absl::StatusOr<std::vector<kubeprism::testing::LabRule>> rules =
      kubeprism::testing::LabRulesFromFile(text);
  if (!rules.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", rules.status().message()));
  }
  for (kubeprism::testing::LabRule& r : kubeprism::testing::KubernetesBuiltinLabRules()) {
    rules->push_back(std::move(r));
  }
  return rules;
}

}  // namespace weft::lab
