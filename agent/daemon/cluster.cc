#include "agent/daemon/cluster.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kubeprism/json_fields.h"

namespace weft::daemon {

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
    if (const std::string* key = kubeprism::FindKey(node->meta.annotations, encryption::kWireGuardKeyAnnotation)) {
      view.wireguard_keys[info.name] = *key;
    }
    view.nodes.push_back(std::move(info));
  }
  std::sort(view.nodes.begin(), view.nodes.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return view;
}

bool ViewInputsChanged(const kubeprism::Node& before, const kubeprism::Node& after) {
  auto same_address = [](const kubeprism::NodeAddress& a, const kubeprism::NodeAddress& b) {
    return a.type == b.type && a.address == b.address;
  };
  auto key = [](const kubeprism::Node& n) -> std::string {
    const std::string* v = kubeprism::FindKey(n.meta.annotations, encryption::kWireGuardKeyAnnotation);
    return v ? *v : "";
  };
  return before.pod_cidrs != after.pod_cidrs || key(before) != key(after) ||
         !std::equal(before.addresses.begin(), before.addresses.end(), after.addresses.begin(),
                     after.addresses.end(), same_address);
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
