// The BPF datapath as the agent sees it: load the programs, pin their maps under
// one bpffs folder, attach them to devices, and keep the endpoints map in step
// with the pods on this node.
//
// Restart safety: maps are pinned (LIBBPF_PIN_BY_NAME) and reused on the next
// load, and attaching replaces the previous program in place (tc filter replace),
// so restarting the agent changes no forwarding state and breaks no connection.
// That includes masqueraded connections: their NAT state lives in pinned maps.
#ifndef WEFT_AGENT_DATAPATH_DATAPATH_H_
#define WEFT_AGENT_DATAPATH_DATAPATH_H_

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/datapath/lb_types.h"
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

// The Service frontends in the load-balancing maps (bpf/maps/lb.h);
// FakeServiceMap in tests.
class ServiceMap {
 public:
  virtual ~ServiceMap() = default;
  // Makes the maps hold exactly `services` (at most one per key): changed
  // frontends are rewritten, new ones added, the others removed. Each
  // frontend changes atomically (bpf/maps/lb.h); unchanged ones are not
  // touched. An error names the frontend; the others are still applied.
  virtual absl::Status Replace(const std::vector<LbService>& services) = 0;
  // Adds or changes one frontend, atomically.
  virtual absl::Status Upsert(const LbService& service) = 0;
  // Removing an absent frontend is not an error.
  virtual absl::Status Delete(const LbFrontendKey& key) = 0;
  // What the maps hold, read back from them (ids set), sorted by key.
  virtual absl::StatusOr<std::vector<LbService>> List() = 0;
  // The source address of externalTrafficPolicy: Cluster flows (LB4_F_SNAT):
  // this node's InternalIP.
  virtual absl::Status SetSnatAddress(const net::IpAddress& ipv4) = 0;
  // The cluster's Service ranges (IPv4): a connection from a pod or the host
  // to an address in them that is no frontend is refused (bpf/maps/lb.h).
  // Replaces the previous set; empty: nothing is refused that way.
  virtual absl::Status SetServiceRanges(const std::vector<net::IpPrefix>& ranges) = 0;
};

// How a native device treats the pod traffic that leaves through it.
struct NetdevOptions {
  // Masquerade (source NAT): pod traffic to destinations outside the
  // non-masquerade CIDRs leaves with `masquerade_ipv4` as its source, and the
  // replies are translated back. Off: pod traffic leaves with pod addresses.
  bool masquerade = false;
  // The device's IPv4 address; required when `masquerade` is on.
  std::optional<net::IpAddress> masquerade_ipv4;
  // Encryption strict mode: pod traffic to the strict-encryption CIDRs that
  // would leave through this device (in plain text) is dropped instead.
  bool encrypt_strict = false;
};

// InvalidArgument when `options` cannot be programmed (masquerade without an
// IPv4 address). Datapath implementations and fakes check with this.
absl::Status ValidateNetdevOptions(const NetdevOptions& options);

class Datapath {
 public:
  // Mounts bpffs on /sys/fs/bpf when it is not mounted, creates `pin_dir`
  // (which must be inside a bpffs), loads the programs and reuses pinned maps.
  static absl::StatusOr<std::unique_ptr<Datapath>> Load(const std::string& pin_dir);
  virtual ~Datapath() = default;

  // tc ingress of a pod's host-side veth: traffic from the pod.
  virtual absl::Status AttachFromContainer(int ifindex) = 0;
  // A native device (towards other nodes and the outside): its settings go
  // into the netdev map, tc egress masquerades pod traffic (weft_to_netdev),
  // tc ingress translates replies back and delivers to local pods
  // (weft_from_netdev). Calling it again updates the settings and replaces
  // both programs in place; established flows are kept (masqueraded ones end
  // when masquerade is turned off).
  virtual absl::Status AttachNetdev(int ifindex, const NetdevOptions& options) = 0;
  // AttachNetdev without masquerade (tunnel devices, callers that predate it).
  absl::Status AttachFromNetdev(int ifindex) { return AttachNetdev(ifindex, NetdevOptions{}); }
  // Replaces the destinations that pods reach with their own address, never
  // masqueraded: the cluster's pod CIDR and the native-routing CIDR. IPv6
  // prefixes are accepted and ignored (no IPv6 masquerade yet).
  virtual absl::Status SetNonMasqueradeCidrs(const std::vector<net::IpPrefix>& cidrs) = 0;
  // Replaces the destinations pods may reach only encrypted (every pod CIDR
  // of the cluster), enforced on devices attached with `encrypt_strict`.
  // IPv6 prefixes are accepted and ignored.
  virtual absl::Status SetStrictEncryptionCidrs(const std::vector<net::IpPrefix>& cidrs) = 0;
  // Packets dropped by strict mode since the counter's pin was created.
  virtual absl::StatusOr<uint64_t> StrictEncryptionDrops() = 0;
  // tc ingress of an L3 device (the WireGuard device): replies to Service
  // flows from outside that were source-translated to an address routed
  // through it (weft_from_l3dev). Replaces in place; Detach removes it.
  virtual absl::Status AttachL3Ingress(int ifindex) = 0;
  // Removes Weft's filters from the device's ingress and egress hooks and its
  // netdev settings (idempotent; also for devices that are already gone).
  virtual absl::Status Detach(int ifindex) = 0;
  virtual EndpointMap& endpoints() = 0;
  virtual ServiceMap& services() = 0;

  // Socket-level Service translation (cgroup connect4, sendmsg4, recvmsg4,
  // getpeername4; connect6, recvmsg6, getpeername6 for IPv6 sockets to
  // v4-mapped addresses) for every process in the cgroup v2 folder
  // `cgroup_path` and below (the cgroup root on a node: pods and host).
  // The links are pinned in
  // the pin folder, so they outlive the agent; attaching again (a restart)
  // swaps the programs in place. Idempotent.
  virtual absl::Status AttachSocketLb(const std::string& cgroup_path) = 0;
  // Detaches what AttachSocketLb attached (idempotent).
  virtual absl::Status DetachSocketLb() = 0;
};

// Removes the pinned maps under `pin_dir` and the folder (uninstall, tests).
absl::Status RemovePins(const std::string& pin_dir);

}  // namespace weft::datapath

#endif  // WEFT_AGENT_DATAPATH_DATAPATH_H_
