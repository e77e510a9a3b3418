#include "agent/routing/reconciler.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace weft::routing {

absl::StatusOr<std::vector<LocalSubnet>> LocalSubnets(netlink::Netlink& nl,
                                                      const std::vector<std::string>& devices) {
  auto links = nl.ListLinks();
  if (!links.ok()) return links.status();
  std::map<int, std::string> names;
  for (const auto& l : *links) names[l.index] = l.name;
  auto addrs = nl.ListAddresses();
  if (!addrs.ok()) return addrs.status();
  std::vector<LocalSubnet> out;
  for (const auto& a : *addrs) {
    const std::string& dev = names[a.index];
    if (dev == "lo") continue;
    if (!devices.empty() && std::find(devices.begin(), devices.end(), dev) == devices.end()) continue;
    // Host routes (/32, /128) and IPv6 link-local say nothing about neighbours.
    if (a.prefix_length == a.address.bits()) continue;
    if (!a.address.is_v4() && (a.address.value() >> 118) == 0x3fa) continue;  // fe80::/10
    out.push_back({dev, a.subnet()});
  }
  return out;
}

ApplyResult ApplyRoutes(netlink::Netlink& nl, const std::vector<Route>& desired,
                        const std::vector<std::string>& devices) {
  ApplyResult result;
  auto links = nl.ListLinks();
  if (!links.ok()) {
    result.problems.push_back(std::string(links.status().message()));
    return result;
  }
  std::map<std::string, int> index_of;
  std::map<int, std::string> name_of;
  for (const auto& l : *links) {
    index_of[l.name] = l.index;
    name_of[l.index] = l.name;
  }
  auto kernel = nl.ListRoutes(netlink::kWeftRouteProtocol);
  if (!kernel.ok()) {
    result.problems.push_back(std::string(kernel.status().message()));
    return result;
  }
  std::vector<Route> installed;
  for (const auto& k : *kernel) {
    // Only gatewayed routes are native routes to other nodes; per-pod host
    // routes (scope link) share the protocol and are the CNI plugin's.
    if (!k.gateway) continue;
    const std::string& device = name_of[k.oif];
    if (!devices.empty() && std::find(devices.begin(), devices.end(), device) == devices.end()) {
      continue;
    }
    installed.push_back({k.dst, *k.gateway, device, ""});
  }
  RouteDiff diff = Diff(installed, desired);
  for (const auto& r : diff.add) {
    netlink::RouteSpec spec;
    spec.dst = r.dst;
    spec.gateway = r.via;
    auto it = index_of.find(r.device);
    if (it == index_of.end()) {
      result.problems.push_back(absl::StrCat("route ", r.dst.ToString(), " via ", r.via.ToString(),
                                             ": device ", r.device, " does not exist"));
      continue;
    }
    spec.oif = it->second;
    spec.onlink = r.onlink;
    spec.prefsrc = r.src;
    if (auto s = nl.ReplaceRoute(spec); !s.ok()) {
      result.problems.push_back(absl::StrCat("node ", r.node, ": ", s.message()));
      continue;
    }
    ++result.added;
  }
  for (const auto& r : diff.remove) {
    netlink::RouteSpec spec;
    spec.dst = r.dst;
    if (auto s = nl.DeleteRoute(spec); !s.ok()) {
      result.problems.push_back(std::string(s.message()));
      continue;
    }
    ++result.removed;
  }
  return result;
}

}  // namespace weft::routing
