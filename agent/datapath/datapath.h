// The BPF datapath as the agent sees it: load the programs, pin their maps under
// one bpffs folder, attach them to devices, and keep the endpoints map in step
// with the pods on this node.
//
// Restart safety: maps are pinned (LIBBPF_PIN_BY_NAME) and reused on the next
// load, and attaching replaces the previous program in place (tc filter replace),
// so restarting the agent changes no forwarding state and breaks no connection.
#ifndef WEFT_AGENT_DATAPATH_DATAPATH_H_
#define WEFT_AGENT_DATAPATH_DATAPATH_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/ip.h"

namespace weft::datapath {

struct Endpoint {
  net::IpAddress ip;
  int ifindex = 0;                     // host side of the pod's veth
  std::array<uint8_t, 6> mac{};        // the pod's eth0
  std::array<uint8_t, 6> node_mac{};   // the host side of the veth
};

// What the CNI handling and reconciliation code needs; FakeEndpointMap in tests.
class EndpointMap {
 public:
  virtual ~EndpointMap() = default;
  virtual absl::Status Upsert(const Endpoint& ep) = 0;
  // Removing an absent endpoint is not an error.
  virtual absl::Status Delete(const net::IpAddress& ip) = 0;
  virtual absl::StatusOr<std::vector<Endpoint>> List() = 0;
};

class Datapath {
 public:
  // Mounts bpffs on /sys/fs/bpf when it is not mounted, creates `pin_dir`
  // (which must be inside a bpffs), loads the programs and reuses pinned maps.
  static absl::StatusOr<std::unique_ptr<Datapath>> Load(const std::string& pin_dir);
  virtual ~Datapath() = default;

  // tc ingress of a pod's host-side veth: traffic from the pod.
  virtual absl::Status AttachFromContainer(int ifindex) = 0;
  // tc ingress of a native device: traffic from other nodes.
  virtual absl::Status AttachFromNetdev(int ifindex) = 0;
  // Removes Weft's filter from the device's ingress hook (idempotent).
  virtual absl::Status Detach(int ifindex) = 0;
  virtual EndpointMap& endpoints() = 0;
};

// Removes the pinned maps under `pin_dir` and the folder (uninstall, tests).
absl::Status RemovePins(const std::string& pin_dir);

}  // namespace weft::datapath

#endif  // WEFT_AGENT_DATAPATH_DATAPATH_H_
