// weft-agent's configuration file (--config, YAML). Validated at start: a wrong
// file stops the agent with one line that names the file, line and field.
#ifndef WEFT_AGENT_CONFIG_CONFIG_H_
#define WEFT_AGENT_CONFIG_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/datapath/lb_types.h"
#include "common/net/ip.h"

namespace weft::agent {

enum class RoutingMode { kNative, kTunnel };

enum class EncryptionType { kNone, kWireGuard };
enum class WireGuardBackend { kAuto, kKernel, kUserspace };

// Transparent encryption of pod traffic between nodes (`encryption:`).
struct EncryptionConfig {
  EncryptionType type = EncryptionType::kNone;
  // auto: the kernel module when the kernel has it (Talos), else wireguard-go.
  WireGuardBackend backend = WireGuardBackend::kAuto;
  std::string interface = "weft_wg0";
  int port = 51871;  // UDP listening port; peers are reached on the same port
  // Pod traffic to other nodes' pods that would leave unencrypted is dropped.
  bool strict_mode = false;
  // Replace this node's key pair this often (0: only by `weft encrypt rotate`).
  int64_t rotation_period_seconds = 0;
  // The userspace backend's program. Empty: wireguard-go next to weft-agent,
  // else on $PATH.
  std::string wireguard_go;

  bool enabled() const { return type == EncryptionType::kWireGuard; }
};

// Kubernetes Services in eBPF, instead of kube-proxy (`kubeProxyReplacement:`).
struct KubeProxyReplacementConfig {
  bool enabled = true;
  // How a frontend's backend is chosen for a new connection.
  datapath::LbAlgorithm algorithm = datapath::LbAlgorithm::kRandom;
  // The cgroup v2 folder the socket programs attach to: every process in it
  // and below gets socket-level translation. The root on a node (Talos mounts
  // cgroup v2 at /sys/fs/cgroup).
  std::string cgroup_path = "/sys/fs/cgroup";
  // The cluster's Service ranges (Talos cluster.network.serviceSubnets, IPv4):
  // a connection from a pod or the host to an address in them that no
  // Service has (a deleted one, a port it does not have) is refused at once.
  // Empty: such connections follow the node's routes.
  std::vector<net::IpPrefix> service_cidrs;
};

struct AgentConfig {
  // This node's name as registered with Kubernetes (Node.metadata.name).
  std::string node_name;
  // Credentials for the API server; the server is normally KubePrism.
  std::string kubeconfig = "/var/lib/weft/kubeconfig";
  RoutingMode routing = RoutingMode::kNative;
  // Native routing: install a route for every other node's pod CIDR via its
  // InternalIP when that node is on one of our L2 segments.
  bool direct_routes = true;
  // Native devices (towards other nodes and the outside). Empty: the device of
  // the default route.
  std::vector<std::string> devices;
  // Where this node's pod CIDRs come from. Only "node" (Node.spec.podCIDRs, as
  // Talos's controller-manager allocates them) exists today.
  std::string pod_cidr_source = "node";
  // Destinations inside this range are not masqueraded (the cluster's pod CIDR).
  std::optional<net::IpPrefix> native_routing_cidr;
  bool masquerade = true;
  // Pod MTU; 0 derives it from the native device (minus tunnel overhead).
  int mtu = 0;
  int tunnel_port = 8472;  // VXLAN UDP port in tunnel mode
  std::string state_dir = "/var/lib/weft";
  std::string run_dir = "/var/run/weft";
  std::string bpffs_dir = "/sys/fs/bpf/weft";
  std::string cni_bin_dir = "/opt/cni/bin";
  std::string cni_conf_dir = "/etc/cni/net.d";
  // The weft-cni binary the agent installs into cni_bin_dir. Empty: the
  // weft-cni next to the weft-agent executable (the extension ships both).
  std::string cni_plugin;
  EncryptionConfig encryption;
  KubeProxyReplacementConfig kube_proxy_replacement;

  std::string socket_path() const { return run_dir + "/weft.sock"; }
  // The wireguard-go the agent started (userspace encryption backend).
  std::string wireguard_go_pid_path() const { return run_dir + "/wireguard-go.pid"; }
};

// Parses and validates. `source` names the file in error messages.
absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml, const std::string& source);
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path);

}  // namespace weft::agent

#endif  // WEFT_AGENT_CONFIG_CONFIG_H_
