// Native routing without an overlay: which routes this node needs so that the
// kernel forwards pod traffic straight to the node that owns the destination pod.
// Pure: cluster state in, desired routes out; the netlink edge applies the diff.
#ifndef WEFT_AGENT_ROUTING_PLANNER_H_
#define WEFT_AGENT_ROUTING_PLANNER_H_

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "common/net/ip.h"

namespace weft::routing {

struct NodeInfo {
  std::string name;
  std::vector<net::IpAddress> internal_ips;  // Node.status.addresses[type=InternalIP]
  std::vector<net::IpPrefix> pod_cidrs;      // Node.spec.podCIDRs
};

// One subnet this node is directly attached to (an address on a native device).
struct LocalSubnet {
  std::string device;
  net::IpPrefix subnet;
};

struct Route {
  net::IpPrefix dst;    // a remote node's pod CIDR
  net::IpAddress via;   // that node's InternalIP
  std::string device;   // the native device that reaches it
  std::string node;     // for reports
  // The gateway is in none of the device's subnets (a WireGuard peer's
  // InternalIP behind weft_wg0): installed with RTNH_F_ONLINK.
  bool onlink = false;
  // Source address for this node's own packets on the route (RTA_PREFSRC):
  // over WireGuard, an address the peer allows from us (in our pod CIDR).
  std::optional<net::IpAddress> src;

  friend bool operator==(const Route& a, const Route& b) {
    return a.dst == b.dst && a.via == b.via && a.device == b.device;
  }
};

struct RoutePlan {
  std::vector<Route> routes;
  // Nodes whose pod CIDRs cannot be routed directly, with the reason (another L2
  // segment, no InternalIP of the CIDR's family, a CIDR that overlaps ours...).
  // Tunnel mode is what such clusters need; native mode reports and skips them.
  std::vector<std::string> problems;
};

// Routes for every other node's pod CIDRs via its InternalIP, when that address
// is inside one of `local_subnets` (same L2 segment: the kernel can resolve it
// with ARP/ND, no gateway in between). Deterministic order.
RoutePlan PlanDirectRoutes(const std::string& local_node, const std::vector<NodeInfo>& nodes,
                           const std::vector<LocalSubnet>& local_subnets);

// Orders routes by destination (address, then length): plans are deterministic.
bool RouteLess(const Route& a, const Route& b);

bool OverlapsAny(const net::IpPrefix& cidr, const std::vector<net::IpPrefix>& others);

// The diff of kernel entries of any kind: `add` gets the desired entries not
// installed exactly as they are (missing, or to replace), `remove` the
// installed ones with no desired entry of the same key.
template <typename T, typename SameKey>
void DiffBy(const std::vector<T>& installed, const std::vector<T>& desired, SameKey same_key,
            std::vector<T>* add, std::vector<T>* remove) {
  for (const auto& want : desired) {
    if (std::find(installed.begin(), installed.end(), want) == installed.end()) add->push_back(want);
  }
  for (const auto& have : installed) {
    bool wanted = std::any_of(desired.begin(), desired.end(),
                              [&](const T& want) { return same_key(want, have); });
    if (!wanted) remove->push_back(have);
  }
}

struct RouteDiff {
  std::vector<Route> add;     // missing or different next hop: replace
  std::vector<Route> remove;  // installed by us, no longer desired
};
// `installed` are the routes Weft installed earlier (found by its route protocol).
RouteDiff Diff(const std::vector<Route>& installed, const std::vector<Route>& desired);

}  // namespace weft::routing

#endif  // WEFT_AGENT_ROUTING_PLANNER_H_
