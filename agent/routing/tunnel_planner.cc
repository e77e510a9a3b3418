#include "agent/routing/tunnel_planner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace weft::routing {
namespace {

std::optional<net::IpAddress> FirstV4(const std::vector<net::IpAddress>& ips) {
  for (const auto& ip : ips) {
    if (ip.is_v4()) return ip;
  }
  return std::nullopt;
}

std::vector<net::IpPrefix> V4Cidrs(const std::vector<net::IpPrefix>& cidrs) {
  std::vector<net::IpPrefix> out;
  for (const auto& c : cidrs) {
    if (c.family() == net::Family::kV4) out.push_back(c);
  }
  return out;
}

// A remote node that passed the checks of its own fields; conflicts between
// remote nodes are found afterwards.
struct Candidate {
  const NodeInfo* node;
  net::IpAddress underlay;
  std::vector<net::IpPrefix> cidrs;  // IPv4, not overlapping this node's
  std::vector<bool> keep;            // per CIDR: no conflict with another node
  bool dropped = false;              // shares its InternalIP with another node
};

}  // namespace

net::Mac VtepMac(const net::IpAddress& internal_ipv4) {
  uint32_t ip = internal_ipv4.v4();
  // 0x0a: the locally administered bit set, the multicast bit clear.
  return {0x0a,
          0x58,
          static_cast<uint8_t>(ip >> 24),
          static_cast<uint8_t>(ip >> 16),
          static_cast<uint8_t>(ip >> 8),
          static_cast<uint8_t>(ip)};
}

net::IpAddress TunnelAddress(const net::IpPrefix& pod_cidr) { return pod_cidr.address(); }

TunnelPlan PlanTunnel(const std::string& local_node, const std::vector<NodeInfo>& nodes) {
  TunnelPlan plan;
  // By name, so that problems come out in the same order whatever the input order.
  std::vector<const NodeInfo*> sorted;
  for (const auto& n : nodes) sorted.push_back(&n);
  std::sort(sorted.begin(), sorted.end(),
            [](const NodeInfo* a, const NodeInfo* b) { return a->name < b->name; });

  const NodeInfo* self = nullptr;
  for (const NodeInfo* n : sorted) {
    if (n->name == local_node) self = n;
  }
  std::vector<net::IpPrefix> own_cidrs;
  std::optional<net::IpAddress> own_ip;
  if (self == nullptr) {
    plan.problems.push_back(
        absl::StrCat("this node (", local_node, ") is not among the nodes; no tunnel device"));
  } else {
    own_cidrs = self->pod_cidrs;
    own_ip = FirstV4(self->internal_ips);
    std::vector<net::IpPrefix> own_v4 = V4Cidrs(own_cidrs);
    if (!own_ip) {
      plan.problems.push_back(
          absl::StrCat("this node (", local_node, "): no IPv4 InternalIP; no tunnel device"));
    } else if (own_v4.empty()) {
      plan.problems.push_back(
          absl::StrCat("this node (", local_node, "): no IPv4 pod CIDR yet; no tunnel device"));
    } else {
      plan.local = Vtep{*own_ip, VtepMac(*own_ip), TunnelAddress(own_v4.front())};
    }
  }

  std::vector<Candidate> candidates;
  for (const NodeInfo* n : sorted) {
    if (n->name == local_node) continue;
    for (const auto& cidr : n->pod_cidrs) {
      if (cidr.family() != net::Family::kV4) {
        plan.problems.push_back(absl::StrCat("node ", n->name, ": pod CIDR ", cidr.ToString(),
                                             " is IPv6; the tunnel carries IPv4 only"));
      }
    }
    std::vector<net::IpPrefix> v4 = V4Cidrs(n->pod_cidrs);
    if (v4.empty()) {
      // An IPv6-only node was reported above; one without any CIDR is waiting
      // for the controller-manager to allocate one.
      if (n->pod_cidrs.empty()) {
        plan.problems.push_back(absl::StrCat("node ", n->name, ": no pod CIDR yet; not tunnelled"));
      }
      continue;
    }
    std::optional<net::IpAddress> ip = FirstV4(n->internal_ips);
    if (!ip) {
      plan.problems.push_back(
          absl::StrCat("node ", n->name, ": no IPv4 InternalIP; pod CIDRs not tunnelled"));
      continue;
    }
    if (own_ip && *ip == *own_ip) {
      plan.problems.push_back(absl::StrCat("node ", n->name, ": InternalIP ", ip->ToString(),
                                           " is this node's as well; not tunnelled"));
      continue;
    }
    Candidate c{n, *ip, {}, {}};
    for (const auto& cidr : v4) {
      if (OverlapsAny(cidr, own_cidrs)) {
        plan.problems.push_back(absl::StrCat("node ", n->name, ": pod CIDR ", cidr.ToString(),
                                             " overlaps this node's pod CIDR; not routed"));
        continue;
      }
      c.cidrs.push_back(cidr);
    }
    c.keep.assign(c.cidrs.size(), true);
    if (!c.cidrs.empty()) candidates.push_back(std::move(c));
  }

  // Conflicts between two other nodes: neither side wins, both are reported.
  for (size_t i = 0; i < candidates.size(); ++i) {
    for (size_t j = i + 1; j < candidates.size(); ++j) {
      Candidate& a = candidates[i];
      Candidate& b = candidates[j];
      if (a.underlay == b.underlay) {
        for (const Candidate* c : {&a, &b}) {
          const Candidate* other = c == &a ? &b : &a;
          plan.problems.push_back(absl::StrCat("node ", c->node->name, ": InternalIP ",
                                               c->underlay.ToString(), " is node ",
                                               other->node->name, "'s as well; not tunnelled"));
        }
        a.dropped = b.dropped = true;
      }
      for (size_t x = 0; x < a.cidrs.size(); ++x) {
        for (size_t y = 0; y < b.cidrs.size(); ++y) {
          if (!a.cidrs[x].Overlaps(b.cidrs[y])) continue;
          a.keep[x] = b.keep[y] = false;
          plan.problems.push_back(absl::StrCat(
              "node ", a.node->name, ": pod CIDR ", a.cidrs[x].ToString(), " overlaps node ",
              b.node->name, "'s ", b.cidrs[y].ToString(), "; neither is routed"));
          plan.problems.push_back(absl::StrCat(
              "node ", b.node->name, ": pod CIDR ", b.cidrs[y].ToString(), " overlaps node ",
              a.node->name, "'s ", a.cidrs[x].ToString(), "; neither is routed"));
        }
      }
    }
  }

  TunnelEntries& e = plan.entries;
  for (const Candidate& c : candidates) {
    if (c.dropped) continue;
    std::optional<net::IpAddress> gateway;
    for (size_t x = 0; x < c.cidrs.size(); ++x) {
      if (!c.keep[x]) continue;
      // One gateway per node: the remote device's address (its first CIDR's).
      if (!gateway) gateway = TunnelAddress(c.cidrs[x]);
      e.routes.push_back({c.cidrs[x], *gateway, kTunnelDevice, c.node->name});
    }
    if (!gateway) continue;
    net::Mac mac = VtepMac(c.underlay);
    e.neighbors.push_back({*gateway, mac, c.node->name});
    e.fdb.push_back({mac, c.underlay, c.node->name});
  }
  std::sort(e.routes.begin(), e.routes.end(), RouteLess);
  std::sort(e.neighbors.begin(), e.neighbors.end(),
            [](const TunnelNeighbor& a, const TunnelNeighbor& b) { return a.ip < b.ip; });
  std::sort(e.fdb.begin(), e.fdb.end(),
            [](const TunnelFdbEntry& a, const TunnelFdbEntry& b) { return a.remote < b.remote; });
  return plan;
}

TunnelDiff DiffTunnel(const TunnelEntries& installed, const TunnelEntries& desired) {
  TunnelDiff d;
  RouteDiff routes = Diff(installed.routes, desired.routes);
  d.add.routes = std::move(routes.add);
  d.remove.routes = std::move(routes.remove);
  auto same_ip = [](const TunnelNeighbor& a, const TunnelNeighbor& b) { return a.ip == b.ip; };
  auto same_mac = [](const TunnelFdbEntry& a, const TunnelFdbEntry& b) { return a.mac == b.mac; };
  DiffBy(installed.neighbors, desired.neighbors, same_ip, &d.add.neighbors, &d.remove.neighbors);
  DiffBy(installed.fdb, desired.fdb, same_mac, &d.add.fdb, &d.remove.fdb);
  return d;
}

}  // namespace weft::routing
