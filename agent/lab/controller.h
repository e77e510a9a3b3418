// The lab controller: the one long-running process of a lab (`weft lab serve`,
// started detached by `weft lab up`). It does what the machines of a real
// cluster would do, in this order:
//
//   1. the network: lab and node namespaces, bridge, veths (network.h)
//   2. the API server: the embedded lab API server on host loopback, or the
//      external one of --kubeconfig; an admin kubeconfig
//   3. KubePrism in every node namespace: 127.0.0.1:7445 relayed to the API server
//   4. the cluster's objects: the workload Namespace, the Nodes with pod CIDRs
//      and InternalIPs (what Talos' controller-manager and kubelet register),
//      the sample Services (cluster IPs of the lab's range unless the API
//      server allocates them)
//   5. a cgroup per node, then weft-agent in every node namespace (and its
//      node's cgroup), as its supervisor (PIDs recorded, logs in the node's
//      folder; an agent outlives no controller)
//   6. the pods, as a kubelet would: Pod object, network namespace, CNI ADD
//      through the protocol, then Pod status with the address; each pod's
//      "server" is a socket this process listens on inside the pod's namespace
//   7. EndpointSlices for the lab's Services (endpointslices.h), written as
//      pods get their address and brought up to date every 2 s while serving
//
// Progress lines and the final verdict go to the readiness descriptor that
// `weft lab up` reads. Then it serves until SIGTERM/SIGINT, when it stops its
// agents and servers. Namespaces, pins, cgroups and files are removed by `weft lab down`
// (from the state file), so a crashed controller leaves nothing unaccounted.
#ifndef WEFT_AGENT_LAB_CONTROLLER_H_
#define WEFT_AGENT_LAB_CONTROLLER_H_

#include <string>

#include "absl/time/time.h"

namespace weft::lab {

// How long an agent gets between SIGTERM and SIGKILL, from the controller when
// it stops and from `weft lab down` when the controller could not.
inline constexpr absl::Duration kAgentStopGrace = absl::Seconds(10);

// The readiness protocol on ControllerOptions::ready_fd, one line each (texts
// C-escaped, so a multi-line error stays one line):
//   "step <text>"   progress
//   "ready"         the lab is up (the descriptor is closed after it)
//   "error <text>"  start-up failed; the controller exits
inline constexpr char kReadyLine[] = "ready";
inline constexpr char kStepPrefix[] = "step ";
inline constexpr char kErrorPrefix[] = "error ";

struct ControllerOptions {
  std::string state_dir;  // holds lab.json written by `weft lab up`
  int ready_fd = -1;      // -1: no one is waiting
};

// Runs the controller; returns the process exit code (0 stopped by a signal
// after a successful start, 1 start-up failed).
int RunController(const ControllerOptions& options);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_CONTROLLER_H_
