// `talosgen credentials`: the Weft agent's Kubernetes identity and configuration for one
// node, as the ExtensionServiceConfig document Talos hands to the `weft` extension.
//
// Talos gives extension services no Kubernetes credentials, so the agent gets its own:
// a client certificate signed by the cluster's Kubernetes CA, read from the bundle that
// `talosctl gen secrets` writes (certs.k8s.crt / certs.k8s.key, each base64 of PEM; the
// key ECDSA, RSA or Ed25519). Subject CN=weft:agent, O=weft:agents (agent_rbac.h). The
// private key exists only in memory and in the returned document.
#ifndef WEFT_GENERATOR_CREDENTIALS_H_
#define WEFT_GENERATOR_CREDENTIALS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki.h"
#include "generator/spec.h"

namespace weft::generator {

inline constexpr int64_t kDefaultCredentialsLifetimeSeconds = 8760LL * 3600;  // 8760h
// Where the ExtensionServiceConfig mounts the files in the agent's container; the
// service spec (extension/weft.yaml) passes --config kAgentConfigPath.
inline constexpr absl::string_view kAgentConfigPath = "/etc/weft/agent.yaml";
inline constexpr absl::string_view kAgentKubeconfigPath = "/etc/weft/kubeconfig";
// The extension service's name (extension/weft.yaml `name`).
inline constexpr absl::string_view kExtensionServiceName = "weft";

// The Kubernetes CA from a `talosctl gen secrets` bundle, checked: certificate and key
// present and decodable, the key belongs to the certificate, the certificate is a CA and
// valid at `now_unix`. Errors are one line, `<source>[:<line>]: certs.k8s.<field>: ...`.
absl::StatusOr<pki::CertificateAndKey> ParseSecretsKubernetesCa(const std::string& text,
                                                                absl::string_view source,
                                                                int64_t now_unix);

// "8760h", "90m", "3600s", "1h30m", "30d" -> seconds (> 0).
absl::StatusOr<int64_t> ParseLifetime(absl::string_view text);

// The client certificate (PEM) and its private key (PEM) for the agent, valid from now
// for `lifetime_seconds`, which must end before the CA does.
struct AgentCredentials {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;  // secret
  int64_t not_before_unix = 0;
  int64_t not_after_unix = 0;
};
absl::StatusOr<AgentCredentials> MintAgentCredentials(const pki::CertificateAndKey& ca,
                                                      int64_t lifetime_seconds,
                                                      int64_t now_unix);

// Node names are what the kubelet registers: lower-case DNS-1123 subdomains.
absl::Status CheckNodeName(absl::string_view name);

// weft-agent's config file (agent/config/config.h keys) for `node_name` under `spec`.
std::string AgentConfigYaml(const Spec& spec, absl::string_view node_name);

// A kubeconfig for KubePrism (https://127.0.0.1:<port>) with the CA, certificate and key
// inline.
std::string AgentKubeconfig(const AgentCredentials& credentials, int kubeprism_port);

// The whole ExtensionServiceConfig document, commented. Pure: same inputs, same text.
std::string ExtensionServiceConfigYaml(const Spec& spec, absl::string_view node_name,
                                       const AgentCredentials& credentials);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_CREDENTIALS_H_
