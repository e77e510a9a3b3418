#include "agent/lab/plan.h"

#include <sys/un.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace weft::lab {
namespace {

// The longest path a UNIX socket address holds (the agent's API socket).
constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;

net::IpAddress V4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return net::IpAddress::V4((a << 24) | (b << 16) | (c << 8) | d);
}

}  // namespace

bool ValidLabId(const std::string& id) {
  if (id.size() != 4) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<WorkloadApp> DefaultWorkload() {
  return {{"frontend", 80, 0, "http", "NodePort", false, 30080},
          {"backend", 8080, 1, "http", "ClusterIP", true, 0},
          {"redis", 6379, 1, "redis", "", false, 0}};
}

std::string NodePlan::wg_interface() const {
  // "<prefix>-node<N>" -> "<prefix>-wg<N>" (at most 6 + 3 + 2 characters).
  const size_t at = name.rfind("-node");
  return name.substr(0, at) + "-wg" + name.substr(at + 5);
}

const NodePlan* LabPlan::FindNode(const std::string& name) const {
  for (const NodePlan& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

const PodPlan* LabPlan::FindPod(const std::string& key) const {
  for (const PodPlan& p : pods) {
    if (p.key() == key) return &p;
  }
  return nullptr;
}

const PodPlan* LabPlan::FindApp(const std::string& app) const {
  for (const PodPlan& p : pods) {
    if (p.name == app) return &p;
  }
  return nullptr;
}

void SetCgroupRoot(const std::string& root, LabPlan* plan) {
  for (NodePlan& node : plan->nodes) node.cgroup = absl::StrCat(root, "/", node.name);
}

absl::StatusOr<LabPlan> MakePlan(const std::string& id, int num_nodes, const std::string& state_dir,
                                 const std::vector<WorkloadApp>& workload) {
  if (!ValidLabId(id)) {
    return absl::InvalidArgumentError(absl::StrCat("lab id \"", id, "\" is not 4 hex digits"));
  }
  if (num_nodes < 1 || num_nodes > kMaxNodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--nodes: ", num_nodes, " is not between 1 and ", kMaxNodes));
  }
  if (!absl::StartsWith(state_dir, "/") || state_dir.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("--state-dir: \"", state_dir, "\" is not an absolute path"));
  }
  LabPlan plan;
  plan.id = id;
  plan.prefix = "wl" + id;
  plan.state_dir = state_dir;
  while (plan.state_dir.size() > 1 && plan.state_dir.back() == '/') plan.state_dir.pop_back();
  plan.lab_netns = plan.prefix + "-lab";
  plan.bridge = plan.prefix + "-br";
  // 198.18.0.0/15 is reserved for benchmarking (RFC 2544) and not routed on the
  // internet; the third octet comes from the id so two labs differ.
  uint32_t octet = 0;
  if (!absl::SimpleHexAtoi(id.substr(0, 2), &octet)) octet = 0;  // validated above
  plan.segment = net::IpPrefix::Of(V4(198, 18, octet, 0), 24);
  plan.gateway = V4(198, 18, octet, 1);
  plan.outside = V4(192, 0, 2, 1);  // TEST-NET-1 (RFC 5737)
  plan.cluster_cidr = net::IpPrefix::Of(V4(10, 200, 0, 0), 16);
  plan.service_cidr = net::IpPrefix::Of(V4(198, 19, octet, 0), 24);
  plan.pod_namespace = plan.prefix;

  for (int i = 1; i <= num_nodes; ++i) {
    NodePlan node;
    node.name = absl::StrCat(plan.prefix, "-node", i);
    node.lab_veth = absl::StrCat(plan.prefix, "-n", i);
    node.device = "eth0";
    node.internal_ip = V4(198, 18, octet, 10 + i);
    node.pod_cidr = net::IpPrefix::Of(V4(10, 200, i, 0), 24);
    node.pin_dir = absl::StrCat(kBpffsRoot, "/", node.name);
    node.cgroup = absl::StrCat(kDefaultCgroupRoot, "/", node.name);
    node.dir = absl::StrCat(plan.nodes_dir(), "/", node.name);
    if (node.socket_path().size() > kMaxSocketPath) {
      return absl::InvalidArgumentError(
          absl::StrCat("--state-dir: \"", plan.state_dir, "\" is too long: the agent socket ",
                       node.socket_path(), " exceeds the ", kMaxSocketPath,
                       " characters a UNIX socket path may have"));
    }
    plan.nodes.push_back(std::move(node));
  }
  for (const WorkloadApp& app : workload) {
    PodPlan pod;
    pod.namespace_ = plan.pod_namespace;
    pod.name = app.name;
    pod.node = plan.nodes[app.node_index % num_nodes].name;
    pod.port = app.port;
    pod.port_name = app.port_name;
    pod.netns = absl::StrCat(plan.prefix, "-pod-", app.name);
    pod.container_id = absl::StrCat(plan.prefix, "-", app.name);
    plan.pods.push_back(std::move(pod));
    if (app.service_type.empty()) continue;
    ServicePlan service;
    service.namespace_ = plan.pod_namespace;
    service.name = app.name;
    service.type = app.service_type;
    service.target_port = app.target_port_by_name ? app.port_name : absl::StrCat(app.port);
    service.app = app.name;
    // .1-.9 left alone (a cluster's own "kubernetes" Service takes the first).
    service.cluster_ip =
        V4(198, 19, octet, 10 + static_cast<uint32_t>(plan.services.size())).ToString();
    service.node_port = app.service_type == "NodePort" ? app.node_port : 0;
    plan.services.push_back(std::move(service));
  }
  return plan;
}

}  // namespace weft::lab
