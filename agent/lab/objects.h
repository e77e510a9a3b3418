// What the lab writes: Kubernetes objects (as a kubelet and the
// controller-manager would make them), each agent's config and kubeconfig.
// Pure.
#ifndef WEFT_AGENT_LAB_OBJECTS_H_
#define WEFT_AGENT_LAB_OBJECTS_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "agent/lab/plan.h"
#include "nlohmann/json.hpp"

namespace weft::lab {

// Label on every object the lab creates: weft.dev/lab=<prefix>.
inline constexpr char kLabLabel[] = "weft.dev/lab";

// The workload's Namespace.
nlohmann::json NamespaceObject(const LabPlan& plan);

// A Node with its pod CIDR (what Talos' controller-manager allocates). It is
// cordoned and tainted: against an existing cluster (--kubeconfig), the
// scheduler must never place real pods on a node that has no kubelet.
nlohmann::json NodeObject(const LabPlan& plan, const NodePlan& node);
// Merge patch for nodes/<name>/status: InternalIP and Hostname addresses.
nlohmann::json NodeStatusPatch(const NodePlan& node);

// A Pod bound to its node (spec.nodeName: no scheduler involved), labelled
// app=<name>, its container port named (Services target it by name). It
// tolerates every taint, like a DaemonSet pod, so an existing cluster's node
// lifecycle controller does not evict it from a node whose kubelet never reports.
nlohmann::json PodObject(const LabPlan& plan, const PodPlan& pod);
// Merge patch for pods/<name>/status once CNI ADD gave the pod its address:
// Running and Ready, as kubelet reports a pod whose containers started.
nlohmann::json PodStatusPatch(const std::string& pod_ip, const std::string& host_ip);

// A Service selecting app=<service.app>. With `ask_addresses` (the embedded API
// server, which allocates nothing) it carries the plan's clusterIP and
// nodePort; without (an existing cluster) the API server allocates them.
nlohmann::json ServiceObject(const LabPlan& plan, const ServicePlan& service, bool ask_addresses);
// spec.clusterIP and the first port's nodePort of a Service as the API server
// returned it.
absl::StatusOr<std::pair<std::string, int>> ServiceAddresses(const nlohmann::json& service);

// weft-agent's --config for `node` (agent/config/config.h keys). With
// `service_range` (the embedded API server: the lab allocates the cluster IPs
// from plan.service_cidr), addresses of that range that no Service has are
// refused; an existing cluster's range is its own.
std::string AgentConfigYaml(const LabPlan& plan, const NodePlan& node,
                            const std::string& cni_plugin, bool service_range = true);

// A kubeconfig with inline data and one context.
struct KubeconfigSpec {
  std::string server;
  std::string ca_pem;
  std::string tls_server_name;  // when the certificate does not name `server`'s host
  std::string user;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;
};
std::string KubeconfigYaml(const KubeconfigSpec& spec);

// "https://host:port[/...]" -> host and port (443 when absent); IPv6 hosts in
// brackets come back without them.
struct HostPort {
  std::string host;
  int port = 443;
};
absl::StatusOr<HostPort> ParseServerUrl(const std::string& url);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_OBJECTS_H_
