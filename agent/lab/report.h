// `weft lab status` as values: the lab, its nodes and agents, its pods and the
// connectivity matrix, rendered as text tables or JSON. Pure.
#ifndef WEFT_AGENT_LAB_REPORT_H_
#define WEFT_AGENT_LAB_REPORT_H_

#include <string>
#include <vector>

namespace weft::lab {

struct NodeRow {
  std::string name;
  std::string internal_ip;
  std::string pod_cidr;
  int agent_pid = 0;  // the agent's, or (Talos mode) its runc's
  bool agent_running = false;
  bool agent_healthy = false;               // GetStatus answered healthy
  std::string agent_error;                  // GetStatus failed: why
  std::vector<std::string> agent_problems;  // GetStatus answered unhealthy: the agent's problems
  int endpoints = 0;
  std::string container;  // Talos mode: the runc container the agent runs in
  // Encryption on: the agent's mode ("WireGuard (userspace)") and its peers.
  std::string encryption;
  int peers = 0;
  int peers_with_handshake = 0;
  std::vector<std::string> encryption_skipped;  // peers skipped for bad input
  // Services in eBPF (GetStatus): "True" or "False" ("" when not answering),
  // what is active, and the frontends in the datapath.
  std::string kube_proxy_replacement;
  std::vector<std::string> kube_proxy_replacement_features;
  int service_frontends = 0;
};

struct PodRow {
  std::string namespace_;
  std::string name;
  std::string node;
  std::string ip;
  int port = 0;
  std::string phase;  // from the API (empty when it could not be read)
};

// A Service of the lab: its addresses (from the state: what the API server
// gave it) and its ready endpoints (from the EndpointSlices).
struct ServiceRow {
  std::string namespace_;
  std::string name;
  std::string type;        // ClusterIP | NodePort
  std::string cluster_ip;  // empty: not created
  int port = 0;
  int node_port = 0;
  std::string target_port;  // "http" or "80"
  // Ready endpoints "ip:port" of every EndpointSlice of the Service; unknown
  // when the API could not be read.
  std::vector<std::string> endpoints;
  bool endpoints_known = false;
};

// One cell: a TCP connection from `from` (a pod or a node) to `to` (a pod, or
// the server outside the cluster).
struct Cell {
  std::string from;  // "pod frontend", "node wl3f9a-node1"
  std::string to;    // pod name or "outside"
  bool ok = false;
  std::string error;
};

struct LabReport {
  std::string prefix;
  std::string state_dir;
  std::string phase;  // starting | ready | failed
  std::string phase_error;
  std::string api_mode;
  std::string api_server;
  std::string routing;
  std::string encryption;  // none | wireguard
  std::string segment;
  std::string outside;
  // Talos mode: the extension image whose service container each agent runs in.
  std::string talos_extension;
  int controller_pid = 0;
  bool controller_running = false;
  std::vector<std::string> problems;  // lab-wide (controller gone, API unreadable, ...)
  std::vector<NodeRow> nodes;
  std::vector<PodRow> pods;
  std::vector<std::string> sources;  // matrix rows, in order
  std::vector<std::string> targets;  // matrix columns (pod names, "outside"), in order
  std::vector<Cell> cells;           // row-major

  std::vector<ServiceRow> services;
  // Services by cluster IP: from every node's namespace and one pod per node,
  // each socket made in the node's cgroup (socket-level translation).
  std::vector<std::string> service_sources;  // rows: "node <name>", "pod <name>"
  std::vector<std::string> service_targets;  // columns: Service names
  std::vector<Cell> service_cells;           // row-major
  // Services by NodePort: from the lab namespace (outside every node) to each
  // node's InternalIP (translated by the node's tc programs).
  std::vector<std::string> nodeport_nodes;    // rows: node names
  std::vector<std::string> nodeport_targets;  // columns: "<service>:<nodePort>"
  std::vector<Cell> nodeport_cells;           // row-major

  int passed() const;
  // Service cells (both matrices) that pass, and how many there are.
  int services_passed() const;
  int services_total() const;
  // Everything works: the controller runs, no lab-wide problem, every agent is
  // healthy and every cell (the Services' too) passes.
  bool ok() const;
};

std::string RenderReport(const LabReport& report);
std::string ReportJson(const LabReport& report);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_REPORT_H_
