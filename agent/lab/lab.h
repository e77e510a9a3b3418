// `weft lab up|status|down` as operations on a state folder (the CLI in
// agent/cli/lab_command.cc parses flags and prints).
//
//   Up      cleans a crashed lab found in the state folder, writes the plan
//           (and in Talos mode the secrets bundle),
//           starts the controller (`weft lab serve`, detached) and follows its
//           progress until the lab is ready, then waits until every
//           connection of the matrix passes (or time runs out)
//   Report  reads the state, asks every agent for its status, reads the pods
//           and the Services' EndpointSlices from the API and runs the
//           connectivity matrix and the Services' (by cluster IP from sockets
//           of each node's cgroup, by NodePort from the lab namespace)
//   Down    CNI DEL for every pod, deletes the API objects, stops the
//           controller and any agent still running (by PID, command line
//           checked), kills and deletes the lab's runc containers (Talos
//           mode), removes namespaces, pins, cgroups and files
#ifndef WEFT_AGENT_LAB_LAB_H_
#define WEFT_AGENT_LAB_LAB_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/lab/plan.h"
#include "agent/lab/report.h"
#include "agent/lab/state.h"

namespace weft::lab {

struct UpOptions {
  std::string state_dir = kDefaultStateDir;
  int nodes = 2;
  std::string routing = "native";  // the agents' routing mode: native or tunnel
  std::string encryption = "none";  // none or wireguard (wireguard-go in each node)
  bool encryption_strict = false;    // drop pod traffic between nodes that is not encrypted
  // Empty: the embedded lab API server. Otherwise an existing cluster's.
  std::string kubeconfig;
  std::string agent_binary;  // weft-agent
  std::string cni_plugin;    // weft-cni (the agents install it)
  std::string weft_binary;   // runs the controller: `<weft> lab serve`
  absl::Duration start_timeout = absl::Minutes(3);
  // How long the controller waits for every agent's CNI configuration.
  absl::Duration agent_timeout = absl::Seconds(90);
  // Talos mode: each agent runs as the extension's service container under runc
  // (agent_binary and cni_plugin are not used: the extension carries both).
  bool talos = false;
  std::string extension_image;  // OCI image layout folder or oci-archive
  std::string secrets;          // `talosctl gen secrets` bundle; empty: generate one
  std::string rbac;             // RBAC manifests or a Talos patch; empty: talosgen's
  std::string runc = "runc";
  // After start-up: how long the connectivity matrix may take to pass (the
  // agents program routes to the other nodes as they see their Node objects).
  absl::Duration settle_timeout = absl::Seconds(30);
};

// Creates a lab; progress lines go to `progress`. Returns the first report in
// which everything passed, or the last one when `settle_timeout` ran out (the
// lab is then left up for inspection). An error means there is no lab: what
// was created has been removed again.
absl::StatusOr<LabReport> Up(const UpOptions& options, std::ostream& progress);

// The lab in `state_dir` as it is now. NotFound when there is no lab.
absl::StatusOr<LabReport> Report(const std::string& state_dir,
                                 absl::Duration probe_timeout = absl::Seconds(2));

// Removes the lab in `state_dir`. NotFound when there is none. Problems that
// do not stop the removal (an agent no longer answering CNI DEL, an API server
// gone with a crashed controller) are reported on `progress`.
absl::Status Down(const std::string& state_dir, std::ostream& progress);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_LAB_H_
