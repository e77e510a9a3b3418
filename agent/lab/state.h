// The lab's state file (<state-dir>/lab.json): the plan plus everything the lab
// has started or created, so `weft lab status` and `weft lab down` — or the
// next `weft lab up` after a crash — find all of it without guessing.
//
// Written as an intent log: a namespace, pin folder or cgroup is recorded
// before it is created, a process right after it started, an API object right after it was
// accepted. Only one process writes it at a time: `weft lab up` before it
// starts the controller, then the controller. Every write is atomic.
#ifndef WEFT_AGENT_LAB_STATE_H_
#define WEFT_AGENT_LAB_STATE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/lab/plan.h"
#include "nlohmann/json.hpp"

namespace weft::lab {

enum class Phase { kStarting, kReady, kFailed };
const char* PhaseName(Phase phase);

// A process the lab started: its PID and the exact command line it was given,
// checked against /proc/<pid>/cmdline before it is ever signalled.
struct ProcessRecord {
  int pid = 0;
  std::vector<std::string> cmdline;
};

struct AgentRecord {
  std::string node;
  ProcessRecord process;
};

// An object the lab created through the API ("pods", "wl3f9a", "frontend").
struct ApiObjectRecord {
  std::string resource;  // plural: namespaces, nodes, pods
  std::string namespace_;
  std::string name;

  friend bool operator==(const ApiObjectRecord& a, const ApiObjectRecord& b) {
    return a.resource == b.resource && a.namespace_ == b.namespace_ && a.name == b.name;
  }
};

// What CNI ADD returned for a pod (kept for DEL's prevResult, as libcni does).
struct PodRecord {
  std::string key;  // "<namespace>/<name>"
  std::string ip;
  nlohmann::json cni_result;
};

// A Service the lab created, with the addresses the API server gave it (the
// embedded one keeps what the lab asked for; a real cluster allocates).
struct ServiceRecord {
  std::string key;  // "<namespace>/<name>"
  std::string cluster_ip;
  int node_port = 0;  // 0: not a NodePort Service
};

// Talos mode (`weft lab up --talos`): each agent runs as the extension's service
// container under runc (talos.h, talos_node.h), against an API server that trusts
// the secrets bundle's Kubernetes CA and enforces the agent's RBAC.
struct TalosState {
  std::string secrets;  // the bundle: --secrets, or generated (plan.secrets_path())
  bool secrets_generated = false;
  std::string rbac;             // --rbac FILE; empty: `talosgen patch --cni weft`
  std::string extension_image;  // OCI layout folder or oci-archive
  std::string runc = "runc";
  std::string service = "weft";  // the extension service the agent is
  // runc container IDs (one per node), recorded before `runc run`.
  std::vector<std::string> containers;
};

struct LabState {
  LabPlan plan;
  Phase phase = Phase::kStarting;
  std::string error;  // why, when kFailed

  // The API server: "embedded" (the lab's own) or "external" (--kubeconfig).
  std::string api_mode = "embedded";
  std::string api_server;        // its URL as seen from the host
  std::string admin_kubeconfig;  // the lab's admin credentials (or the user's kubeconfig)
  std::string agent_binary;
  std::string cni_plugin;
  // How long the controller waits for every agent's CNI configuration.
  int agent_timeout_seconds = 90;
  std::optional<TalosState> talos;

  ProcessRecord controller;
  std::vector<AgentRecord> agents;
  std::vector<std::string> netns;     // network namespaces, in creation order
  std::vector<std::string> pin_dirs;  // bpffs folders handed to the agents
  std::vector<std::string> cgroups;   // the nodes' cgroup v2 folders
  std::vector<ApiObjectRecord> api_objects;
  std::vector<PodRecord> pods;
  std::vector<ServiceRecord> services;

  const PodRecord* FindPod(const std::string& key) const;
  const ServiceRecord* FindService(const std::string& key) const;
};

std::string StateToJson(const LabState& state);
// `source` names the file in error messages.
absl::StatusOr<LabState> StateFromJson(const std::string& text, const std::string& source);

// <state_dir>/lab.json. ReadState is NotFound when there is no lab there.
absl::Status WriteState(const LabState& state);
absl::StatusOr<LabState> ReadState(const std::string& state_dir);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_STATE_H_
