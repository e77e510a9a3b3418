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
//   pins /sys/fs/bpf/<prefix>-nodeN, cgroups <cgroup v2 root>/<prefix>-nodeN,
//   files under <state-dir>
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
// Where cgroup v2 is mounted on a unified host (and on Talos); `weft lab up`
// places the nodes' cgroups under this machine's mount (SetCgroupRoot).
inline constexpr char kDefaultCgroupRoot[] = "/sys/fs/cgroup";
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
  // The node's cgroup v2 folder ("<cgroup v2 root>/<prefix>-node1"): its agent
  // attaches the socket programs (Service translation) there, so only sockets
  // of this node's processes are translated, never the machine's.
  std::string cgroup;
  std::string dir;  // "<state-dir>/nodes/<name>": the node's files

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
  std::string port_name;     // the container port's name ("http")
  std::string netns;         // "<prefix>-pod-<name>"
  std::string container_id;  // the sandbox ID a runtime would pass to CNI

  std::string key() const { return namespace_ + "/" + name; }
  std::string greeting() const { return name + "\n"; }
};

// A Service of the sample workload, selecting one app's pod (app=<app>).
struct ServicePlan {
  std::string namespace_;
  std::string name;
  std::string type;  // "ClusterIP" | "NodePort"
  int port = 80;
  std::string port_name = "http";
  // spec.ports[0].targetPort: a container port's name ("http") or number ("80").
  std::string target_port;
  std::string app;  // the selector's app label = the pod's name
  // What the lab asks for from the embedded API server, which allocates
  // nothing: an address of LabPlan::service_cidr and a fixed NodePort (0 for
  // ClusterIP). An existing cluster (--kubeconfig) allocates both itself; the
  // addresses in use are in the state (ServiceRecord).
  std::string cluster_ip;
  int node_port = 0;

  std::string key() const { return namespace_ + "/" + name; }
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
  // The Services' cluster IPs (embedded API server): 198.19.<n>.0/24, the other
  // half of the RFC 2544 range, apart from pods, nodes and the outside.
  net::IpPrefix service_cidr;
  std::string routing = "native";  // the agents' mode: native or tunnel (VXLAN)
  std::string encryption = "none";  // none or wireguard (userspace: wireguard-go)
  bool encryption_strict = false;   // the agents' encryption.strictMode
  std::string pod_namespace;       // the Kubernetes namespace of the workload
  std::vector<NodePlan> nodes;
  std::vector<PodPlan> pods;
  std::vector<ServicePlan> services;

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
  // The pod whose name is `app` (a Service's selector).
  const PodPlan* FindApp(const std::string& app) const;
};

// One application of the sample workload: a pod named `name` (label app=<name>)
// serving `port` (container port named `port_name`), placed on node number
// `node_index` (modulo the node count), and optionally a Service of the same
// name selecting it, port 80.
struct WorkloadApp {
  std::string name;
  int port;
  int node_index;
  std::string port_name = "http";
  std::string service_type;          // "" (none), "ClusterIP" or "NodePort"
  bool target_port_by_name = false;  // targetPort: port_name rather than the number
  int node_port = 0;                 // NodePort: the one asked for
};

// frontend (node 1, NodePort Service 80 -> 80, nodePort 30080), backend (node 2,
// ClusterIP Service 80 -> targetPort "http" = 8080) and redis (node 2, no
// Service): with two or more nodes, one pair shares a node and one crosses nodes.
std::vector<WorkloadApp> DefaultWorkload();

// The layout for lab `id` (4 lowercase hex digits) with `num_nodes` nodes
// (1..kMaxNodes) and its files under `state_dir` (absolute).
absl::StatusOr<LabPlan> MakePlan(const std::string& id, int num_nodes, const std::string& state_dir,
                                 const std::vector<WorkloadApp>& workload = DefaultWorkload());

// Puts every node's cgroup under `root` (this machine's cgroup v2 mount).
void SetCgroupRoot(const std::string& root, LabPlan* plan);

// True when `id` is 4 lowercase hex digits.
bool ValidLabId(const std::string& id);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_PLAN_H_
