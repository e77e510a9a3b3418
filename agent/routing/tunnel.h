// Applies the tunnel plan to the kernel: the thin netlink edge of
// tunnel_planner.h. It owns one device, weft_vxlan, and on it only routes with
// Weft's route protocol, permanent neighbours and permanent FDB entries; what the
// kernel learns by itself is left alone.
//
// Order of use: PlanTunnel → EnsureTunnelDevice(plan.local) → ApplyTunnel(plan),
// again on every change of the nodes. Both steps are idempotent.
#ifndef WEFT_AGENT_ROUTING_TUNNEL_H_
#define WEFT_AGENT_ROUTING_TUNNEL_H_

#include <string>

#include "absl/status/statusor.h"
#include "agent/netlink/netlink.h"
#include "agent/routing/reconciler.h"
#include "agent/routing/tunnel_planner.h"

namespace weft::routing {

struct TunnelDeviceSpec {
  Vtep vtep;                    // PlanTunnel(...).local
  std::string underlay_device;  // native device; empty: the one holding vtep.underlay_ip
  int port = 8472;              // AgentConfig.tunnel_port
  int mtu = 0;                  // 0: the underlay's MTU minus kVxlanOverhead
};

// Creates weft_vxlan (VNI kTunnelVni, learning off) or brings it in line with
// `spec`. What VXLAN cannot change in place (VNI, port, local address, underlay,
// learning; or a device of another kind under that name) is fixed by deleting and
// recreating the device, which drops its routes, neighbours and FDB entries:
// ApplyTunnel puts them back. MAC, MTU, the /32 address (any other IPv4 address
// is removed) and the up state are fixed in place. Returns the device as it is;
// a recreated device has a new index, so tc programs must be attached again.
absl::StatusOr<netlink::Link> EnsureTunnelDevice(netlink::Netlink& nl,
                                                 const TunnelDeviceSpec& spec);

// Deletes weft_vxlan with everything routed through it (leaving tunnel mode).
// An absent device is not an error.
absl::Status RemoveTunnelDevice(netlink::Netlink& nl);

// Makes the Weft routes through weft_vxlan and its permanent neighbours and FDB
// entries equal `plan.entries`: replaces what is missing or different, removes
// what is no longer planned (nodes that left). Adds go FDB → neighbour → route
// and removals the other way round, so a route never points at a half-made next
// hop. A failing item is reported (one line in `problems`) and the others are
// still applied; the counts include every kind of entry.
ApplyResult ApplyTunnel(netlink::Netlink& nl, const TunnelPlan& plan);

}  // namespace weft::routing

#endif  // WEFT_AGENT_ROUTING_TUNNEL_H_
