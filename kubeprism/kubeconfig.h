// Client configuration: from a kubeconfig (clusters, users, contexts,
// current-context) and/or explicit flags, with KubePrism defaults.
#ifndef WEFT_KUBEPRISM_KUBECONFIG_H_
#define WEFT_KUBEPRISM_KUBECONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace weft::kubeprism {

// KubePrism listens on the node's loopback (Talos machine.features.kubePrism).
inline constexpr absl::string_view kKubePrismServer = "https://127.0.0.1:7445";
// Talos writes the Kubernetes CA here on every node.
inline constexpr absl::string_view kTalosCaPath = "/etc/kubernetes/pki/ca.crt";

struct ClientConfig {
  std::string server = std::string(kKubePrismServer);
  // Tried in order when the current server does not accept connections.
  std::vector<std::string> fallback_servers;
  std::string ca_pem;
  std::string client_cert_pem;
  std::string client_key_pem;  // secret: never logged
  std::string token;           // secret: never logged
  std::string token_file;      // re-read periodically (projected tokens rotate)
  // Name for SNI and certificate checks when it differs from the URL's host.
  std::string tls_server_name;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(30);
  // Where this came from, for messages ("kubeconfig /x context admin@c").
  std::string source;

  // Describes the configuration without key material or tokens.
  std::string DebugString() const;
};

// Parses kubeconfig text. Relative file paths are resolved against `base_dir`;
// `context` overrides current-context when not empty.
absl::StatusOr<ClientConfig> ParseKubeconfig(absl::string_view yaml, const std::string& base_dir,
                                             const std::string& context = "",
                                             const std::string& source = "kubeconfig");
absl::StatusOr<ClientConfig> LoadKubeconfig(const std::string& path,
                                            const std::string& context = "");

// Explicit settings; non-empty ones override the kubeconfig.
struct ConfigFlags {
  std::string kubeconfig;
  std::string context;
  std::string server;
  std::vector<std::string> fallback_servers;
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
  std::string token_file;
  std::string tls_server_name;
  // Used when neither the kubeconfig nor the flags name a CA.
  std::string default_ca_file = std::string(kTalosCaPath);
};

// Kubeconfig (when given) + flags + defaults (KubePrism server, Talos CA path).
absl::StatusOr<ClientConfig> ResolveClientConfig(const ConfigFlags& flags);

// Whole file contents; errors name the file and what it was for.
absl::StatusOr<std::string> ReadFileForConfig(const std::string& path, absl::string_view what);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_KUBECONFIG_H_
