// The cluster as the agent needs it, derived from Node objects: every node's
// InternalIPs and pod CIDRs, this node's own entry, and the destinations that
// stay inside the cluster (never masqueraded). Pure: objects in, values out.
#ifndef WEFT_AGENT_DAEMON_CLUSTER_H_
#define WEFT_AGENT_DAEMON_CLUSTER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/encryption/peers.h"
#include "agent/routing/planner.h"
#include "common/net/ip.h"
#include "kubeprism/objects.h"

namespace weft::daemon {

struct ClusterView {
  std::vector<routing::NodeInfo> nodes;  // sorted by name
  // Node name -> the value of its encryption::kWireGuardKeyAnnotation, unchecked (the
  // encryption planner validates it). Nodes without the annotation are absent.
  std::map<std::string, std::string> wireguard_keys;
  // One line per unusable field ("node n2: podCIDRs[0] \"x\": ..."). A node
  // with a bad field keeps its other, valid fields.
  std::vector<std::string> problems;
};

ClusterView BuildClusterView(const std::vector<const kubeprism::Node*>& nodes);

// Whether an update of a Node changes what the view is built from (pod CIDRs,
// addresses, the WireGuard key annotation). Most Node updates are the kubelet's status heartbeats: no change.
bool ViewInputsChanged(const kubeprism::Node& before, const kubeprism::Node& after);

// Destinations that are not masqueraded: the configured native-routing CIDR,
// every node's pod CIDRs, and every node's InternalIP (as a host prefix: other
// nodes route our pod CIDR back natively, so their replies need no NAT),
// without duplicates, in a stable order.
std::vector<net::IpPrefix> NonMasqueradeCidrs(const ClusterView& view,
                                              const std::optional<net::IpPrefix>& native_cidr);

}  // namespace weft::daemon

#endif  // WEFT_AGENT_DAEMON_CLUSTER_H_
