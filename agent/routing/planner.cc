#include "agent/routing/planner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace weft::routing {

RoutePlan PlanDirectRoutes(const std::string& local_node, const std::vector<NodeInfo>& nodes,
                           const std::vector<LocalSubnet>& local_subnets) {
  RoutePlan plan;
  std::vector<net::IpPrefix> own_cidrs;
  for (const auto& n : nodes) {
    if (n.name == local_node) own_cidrs = n.pod_cidrs;
  }
  for (const auto& n : nodes) {
    if (n.name == local_node) continue;
    for (const auto& cidr : n.pod_cidrs) {
      if (OverlapsAny(cidr, own_cidrs)) {
        plan.problems.push_back(absl::StrCat("node ", n.name, ": pod CIDR ", cidr.ToString(),
                                             " overlaps this node's pod CIDR; not routed"));
        continue;
      }
      const LocalSubnet* via_subnet = nullptr;
      net::IpAddress via;
      for (const auto& ip : n.internal_ips) {
        if (ip.family() != cidr.family()) continue;
        for (const auto& s : local_subnets) {
          if (s.subnet.Contains(ip)) {
            via_subnet = &s;
            via = ip;
            break;
          }
        }
        if (via_subnet) break;
      }
      if (via_subnet == nullptr) {
        bool has_family = std::any_of(n.internal_ips.begin(), n.internal_ips.end(),
                                      [&](const net::IpAddress& ip) { return ip.family() == cidr.family(); });
        plan.problems.push_back(
            has_family ? absl::StrCat("node ", n.name, ": InternalIP is not on a directly attached "
                                                       "subnet; pod CIDR ", cidr.ToString(),
                                      " needs routing: tunnel")
                       : absl::StrCat("node ", n.name, ": no InternalIP of the family of pod CIDR ",
                                      cidr.ToString()));
        continue;
      }
      plan.routes.push_back({cidr, via, via_subnet->device, n.name});
    }
  }
  std::sort(plan.routes.begin(), plan.routes.end(), RouteLess);
  return plan;
}

bool RouteLess(const Route& a, const Route& b) {
  return a.dst.address() < b.dst.address() ||
         (a.dst.address() == b.dst.address() && a.dst.length() < b.dst.length());
}

bool OverlapsAny(const net::IpPrefix& cidr, const std::vector<net::IpPrefix>& others) {
  return std::any_of(others.begin(), others.end(),
                     [&](const net::IpPrefix& o) { return o.Overlaps(cidr); });
}

RouteDiff Diff(const std::vector<Route>& installed, const std::vector<Route>& desired) {
  RouteDiff d;
  // A route whose next hop changed is replaced by `add`, not removed.
  DiffBy(installed, desired, [](const Route& a, const Route& b) { return a.dst == b.dst; }, &d.add,
         &d.remove);
  return d;
}

}  // namespace weft::routing
