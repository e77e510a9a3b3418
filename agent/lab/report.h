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
};

struct PodRow {
  std::string namespace_;
  std::string name;
  std::string node;
  std::string ip;
  int port = 0;
  std::string phase;  // from the API (empty when it could not be read)
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

  int passed() const;
  // Everything works: the controller runs, no lab-wide problem, every agent is
  // healthy and every cell passes.
  bool ok() const;
};

std::string RenderReport(const LabReport& report);
std::string ReportJson(const LabReport& report);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_REPORT_H_
