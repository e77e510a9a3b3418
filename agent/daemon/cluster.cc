#include "agent/daemon/cluster.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace weft::daemon {

const routing::NodeInfo* ClusterView::Find(const std::string& name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

ClusterView BuildClusterView(const std::vector<const kubeprism::Node*>& nodes) {
  ClusterView view;
  for (const kubeprism::Node* node : nodes) {
    routing::NodeInfo info;
    info.name = node->meta.name;
    for (size_t i = 0; i < node->pod_cidrs.size(); ++i) {
      auto prefix = net::IpPrefix::Parse(node->pod_cidrs[i]);
      if (!prefix.ok()) {
        view.problems.push_back(absl::StrCat("node ", info.name, ": podCIDRs[", i, "] \"",
                                             node->pod_cidrs[i], "\": ", prefix.status().message()));
        continue;
      }
      info.pod_cidrs.push_back(*prefix);
    }
    for (const auto& a : node->addresses) {
      if (a.type != "InternalIP") continue;
      auto ip = net::IpAddress::Parse(a.address);
      if (!ip.ok()) {
        view.problems.push_back(absl::StrCat("node ", info.name, ": InternalIP \"", a.address,
                                             "\": ", ip.status().message()));
        continue;
      }
      info.internal_ips.push_back(*ip);
    }
    view.nodes.push_back(std::move(info));
  }
  std::sort(view.nodes.begin(), view.nodes.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return view;
}

std::vector<net::IpPrefix> NonMasqueradeCidrs(const ClusterView& view,
                                              const std::optional<net::IpPrefix>& native_cidr) {
  std::vector<net::IpPrefix> out;
  auto add = [&](const net::IpPrefix& p) {
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  if (native_cidr) add(*native_cidr);
  for (const auto& n : view.nodes) {
    for (const auto& c : n.pod_cidrs) add(c);
  }
  for (const auto& n : view.nodes) {
    for (const auto& ip : n.internal_ips) add(net::IpPrefix::Of(ip, ip.bits()));
  }
  return out;
}

}  // namespace weft::daemon
