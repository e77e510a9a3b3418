// The lab's layout, decided before anything is created: every name, address and
// path of a lab follows from its id, the number of nodes and the state folder.
// Pure, so the whole layout is unit-tested and recorded in the state file
// before the first namespace exists.
//
//   lab namespace <prefix>-lab: bridge <prefix>-br = the nodes' L2 segment,
//       gateway address (the nodes' default route) and the "outside" address
//   node namespaces <prefix>-nodeN: eth0 (veth, its peer <prefix>-nN on the
//       bridge) with the node's InternalIP, weft-agent, KubePrism on 127.0.0.1:7445
//   pod namespaces <prefix>-pod-<name>: eth0 made by weft-cni
//   pins /sys/fs/bpf/<prefix>-nodeN, files under <state-dir>
#ifndef WEFT_AGENT_LAB_PLAN_H_
#define WEFT_AGENT_LAB_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/ip.h"

namespace weft::lab {

inline constexpr char kDefaultStateDir[] = "/var/run/weft-lab";
// KubePrism's port on a Talos node; the lab serves it in every node namespace.
inline constexpr int kKubePrismPort = 7445;
inline constexpr int kMaxNodes = 16;
// Where bpffs is mounted; each node's pins go in a folder below.
inline constexpr char kBpffsRoot[] = "/sys/fs/bpf";
// The "outside" server (LabPlan::outside) and its answer. Pods reach it only
// when the agent masquerades their traffic: it has no route to pod CIDRs.
inline constexpr int kOutsidePort = 80;
inline constexpr char kOutsideName[] = "outside";

struct NodePlan {
  std::string name;      // Node name and network namespace: "<prefix>-node1"
  std::string lab_veth;  // its veth end on the bridge (lab namespace): "<prefix>-n1"
  std::string device;    // its NIC inside its namespace: "eth0"
  net::IpAddress internal_ip;
  net::IpPrefix pod_cidr;
  std::string pin_dir;  // "/sys/fs/bpf/<prefix>-node1"
  std::string dir;      // "<state-dir>/nodes/<name>": the node's files

  std::string config_path() const { return dir + "/agent.yaml"; }
  // The node's WireGuard interface, unique per lab ("<prefix>-wg1"): wireguard-go's
  // UAPI socket (/var/run/wireguard/<name>.sock) is shared by all namespaces.
  std::string wg_interface() const;
  // Where its agent records the wireguard-go it started.
  std::string wireguard_go_pid_path() const { return run_dir() + "/wireguard-go.pid"; }
  std::string kubeconfig_path() const { return dir + "/kubeconfig"; }
  std::string log_path() const { return dir + "/agent.log"; }
  std::string agent_state_dir() const { return dir + "/state"; }
  std::string run_dir() const { return dir + "/run"; }
  std::string socket_path() const { return run_dir() + "/weft.sock"; }
  std::string cni_bin_dir() const { return dir + "/cni/bin"; }
  std::string cni_conf_dir() const { return dir + "/cni/net.d"; }

  // Talos mode (talos.h): the node's ExtensionServiceConfig document, its files as
  // Talos writes them (/system/overlays/extensions/<service>/ on a node), the runc
  // bundle of the service container, and the node's /run as its CNI plugins see it.
  std::string extension_service_config_path() const {
    return dir + "/extension-service-config.yaml";
  }
  std::string extension_config_dir() const { return dir + "/extension-config"; }
  std::string bundle_dir() const { return dir + "/bundle"; }
  std::string host_run_dir() const { return dir + "/host-run"; }
};

struct PodPlan {
  std::string namespace_;
  std::string name;
  std::string node;          // NodePlan::name
  int port = 0;              // its server answers here with its name
  std::string netns;         // "<prefix>-pod-<name>"
  std::string container_id;  // the sandbox ID a runtime would pass to CNI

  std::string key() const { return namespace_ + "/" + name; }
  std::string greeting() const { return name + "\n"; }
};

struct LabPlan {
  std::string id;      // 4 hex digits, random per lab
  std::string prefix;  // "wl" + id: every name the lab creates starts with it
  std::string state_dir;
  std::string lab_netns;   // "<prefix>-lab"
  std::string bridge;      // "<prefix>-br" in the lab namespace
  net::IpPrefix segment;   // the nodes' L2 segment: 198.18.<n>.0/24 (RFC 2544 range)
  net::IpAddress gateway;  // on the bridge; the nodes' default route
  // An address outside the cluster (lab namespace, loopback) for traffic that
  // leaves the cluster: pods reach it only when masqueraded.
  net::IpAddress outside;
  net::IpPrefix cluster_cidr;      // every node's pod CIDR is inside
  std::string routing = "native";  // the agents' mode: native or tunnel (VXLAN)
  std::string encryption = "none";  // none or wireguard (userspace: wireguard-go)
  bool encryption_strict = false;   // the agents' encryption.strictMode
  std::string pod_namespace;       // the Kubernetes namespace of the workload
  std::vector<NodePlan> nodes;
  std::vector<PodPlan> pods;

  std::string state_path() const { return state_dir + "/lab.json"; }
  std::string controller_log_path() const { return state_dir + "/controller.log"; }
  std::string admin_kubeconfig_path() const { return state_dir + "/admin.kubeconfig"; }
  std::string apiserver_dir() const { return state_dir + "/apiserver"; }
  std::string nodes_dir() const { return state_dir + "/nodes"; }
  // Talos mode: the secrets bundle (unless --secrets), the control-plane patch, the
  // API server's rules, the unpacked extension and runc's state folder.
  std::string talos_dir() const { return state_dir + "/talos"; }
  std::string secrets_path() const { return talos_dir() + "/secrets.yaml"; }
  std::string controlplane_patch_path() const { return talos_dir() + "/controlplane-patch.yaml"; }
  std::string rules_path() const { return talos_dir() + "/apiserver-rules.yaml"; }
  std::string extension_dir() const { return talos_dir() + "/extension"; }
  std::string runc_root() const { return talos_dir() + "/runc"; }

  const NodePlan* FindNode(const std::string& name) const;
  const PodPlan* FindPod(const std::string& key) const;
};

// One application of the sample workload: a pod named `name` serving `port`,
// placed on node number `node_index` (modulo the node count).
struct WorkloadApp {
  std::string name;
  int port;
  int node_index;
};

// frontend (node 1), backend and redis (node 2): with two or more nodes, one
// pair shares a node and one crosses nodes.
std::vector<WorkloadApp> DefaultWorkload();

// The layout for lab `id` (4 lowercase hex digits) with `num_nodes` nodes
// (1..kMaxNodes) and its files under `state_dir` (absolute).
absl::StatusOr<LabPlan> MakePlan(const std::string& id, int num_nodes, const std::string& state_dir,
                                 const std::vector<WorkloadApp>& workload = DefaultWorkload());

// True when `id` is 4 lowercase hex digits.
bool ValidLabId(const std::string& id);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_PLAN_H_
