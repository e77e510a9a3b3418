// Tunnel routing (routing: tunnel): a VXLAN overlay between nodes, for clusters
// whose nodes are not on one L2 segment. Flannel's shape, without its annotation
// exchange: every node has one VXLAN device whose MAC is derived from the node's
// InternalIP, so each node can compute every other node's tunnel endpoint from
// the Node objects alone.
//
// For a remote node with InternalIP 192.168.20.2 and pod CIDR 10.244.2.0/24,
// this node needs on weft_vxlan:
//   route      10.244.2.0/24 via 10.244.2.0 dev weft_vxlan onlink proto 215
//   neighbour  10.244.2.0 lladdr 0a:58:c0:a8:14:02 PERMANENT
//   FDB entry  0a:58:c0:a8:14:02 dst 192.168.20.2 self permanent
// The route's gateway is the remote device's own address (the first address of
// its pod CIDR), the neighbour gives it the remote device's MAC, and the FDB
// entry sends frames for that MAC to the remote node. Pure: nodes in, desired
// entries out; tunnel.h applies them.
#ifndef WEFT_AGENT_ROUTING_TUNNEL_PLANNER_H_
#define WEFT_AGENT_ROUTING_TUNNEL_PLANNER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/routing/planner.h"
#include "common/net/ip.h"
#include "common/net/mac.h"

namespace weft::routing {

inline constexpr char kTunnelDevice[] = "weft_vxlan";
inline constexpr uint32_t kTunnelVni = 1;
// Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers: the
// tunnel device's MTU is the underlay's minus this.
inline constexpr int kVxlanOverhead = 50;

// The MAC of a node's tunnel device: 0a:58 followed by its IPv4 InternalIP
// (locally administered, unicast). Distinct nodes have distinct InternalIPs, so
// distinct MACs, and every node can compute every other node's.
net::Mac VtepMac(const net::IpAddress& internal_ipv4);

// The address of a node's tunnel device and the gateway other nodes route its
// pod CIDR through: the first address of the pod CIDR (Flannel's 10.244.X.0/32).
// IPAM never hands it to a pod (agent/ipam skips the network address).
net::IpAddress TunnelAddress(const net::IpPrefix& pod_cidr);

// This node's end of the tunnel.
struct Vtep {
  net::IpAddress underlay_ip;  // InternalIP: source of the outer packets
  net::Mac mac;                // VtepMac(underlay_ip)
  net::IpAddress address;      // TunnelAddress(pod CIDR), /32 on the device
};

// `ip` lladdr `mac` on the tunnel device (a remote tunnel device's address).
struct TunnelNeighbor {
  net::IpAddress ip;
  net::Mac mac;
  std::string node;  // for reports

  friend bool operator==(const TunnelNeighbor& a, const TunnelNeighbor& b) {
    return a.ip == b.ip && a.mac == b.mac;
  }
};

// Frames for `mac` go to the remote node's InternalIP `remote`.
struct TunnelFdbEntry {
  net::Mac mac;
  net::IpAddress remote;
  std::string node;  // for reports

  friend bool operator==(const TunnelFdbEntry& a, const TunnelFdbEntry& b) {
    return a.mac == b.mac && a.remote == b.remote;
  }
};

// Kernel state on the tunnel device, desired or installed.
struct TunnelEntries {
  std::vector<Route> routes;  // device is kTunnelDevice; installed onlink
  std::vector<TunnelNeighbor> neighbors;
  std::vector<TunnelFdbEntry> fdb;
};

struct TunnelPlan {
  // Absent when this node has no IPv4 InternalIP or IPv4 pod CIDR (yet): then
  // the device cannot be set up (see `problems`).
  std::optional<Vtep> local;
  TunnelEntries entries;
  // One line per node (or pod CIDR) that is not tunnelled, with the reason.
  std::vector<std::string> problems;
};

// The tunnel entries for every other node with an IPv4 InternalIP (the first
// one) and IPv4 pod CIDRs, all of a node's CIDRs via one gateway. Nodes without
// an IPv4 InternalIP, pod CIDRs overlapping this node's or another node's, and
// InternalIPs shared by two nodes (one VTEP MAC for both) are reported and
// skipped: both sides of a conflict, so the result does not depend on order.
// Entries are sorted by address, whatever the order of `nodes`.
TunnelPlan PlanTunnel(const std::string& local_node, const std::vector<NodeInfo>& nodes);

struct TunnelDiff {
  TunnelEntries add;     // missing or different: replace
  TunnelEntries remove;  // installed, no longer wanted (by destination / IP / MAC)
};
TunnelDiff DiffTunnel(const TunnelEntries& installed, const TunnelEntries& desired);

}  // namespace weft::routing

#endif  // WEFT_AGENT_ROUTING_TUNNEL_PLANNER_H_
