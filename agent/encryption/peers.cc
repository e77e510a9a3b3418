#include "agent/encryption/peers.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace weft::encryption {
namespace {

// Annotation values are cluster input of any length: quote a bounded prefix.
std::string Quote(const std::string& value) {
  constexpr size_t kMax = 60;
  std::string shown = value.size() > kMax ? value.substr(0, kMax) + "..." : value;
  return absl::StrCat("\"", shown, "\"");
}

}  // namespace

PeerPlan PlanPeers(const std::string& local_node, const wireguard::Key& local_public_key,
                   const std::vector<routing::NodeInfo>& nodes,
                   const std::map<std::string, std::string>& keys, uint16_t port) {
  PeerPlan plan;
  const routing::NodeInfo* self = nullptr;
  for (const auto& n : nodes) {
    if (n.name == local_node) self = &n;
  }
  std::vector<Peer> candidates;
  for (const auto& n : nodes) {
    if (n.name == local_node) continue;
    auto raw = keys.find(n.name);
    if (raw == keys.end()) {
      plan.pending.push_back(n.name);
      continue;
    }
    auto key = wireguard::ParseBase64Key(raw->second);
    if (!key.ok()) {
      plan.problems.push_back(absl::StrCat("node ", n.name, ": annotation ",
                                           kWireGuardKeyAnnotation, " ", Quote(raw->second),
                                           " is not a WireGuard public key (", key.status().message(),
                                           "); peer skipped"));
      plan.rejected.push_back({n.name, raw->second});
      continue;
    }
    if (*key == local_public_key) {
      plan.problems.push_back(absl::StrCat("node ", n.name,
                                           " publishes this node's own WireGuard public key; peer skipped"));
      continue;
    }
    auto ip = std::find_if(n.internal_ips.begin(), n.internal_ips.end(),
                           [](const net::IpAddress& a) { return a.is_v4(); });
    if (ip == n.internal_ips.end()) {
      plan.problems.push_back(
          absl::StrCat("node ", n.name, ": no IPv4 InternalIP to reach its WireGuard endpoint; peer skipped"));
      continue;
    }
    Peer p;
    p.node = n.name;
    p.config.public_key = *key;
    p.config.endpoint = wireguard::Endpoint{*ip, port};
    p.config.allowed_ips = wireguard::CanonicalPrefixes(n.pod_cidrs);
    p.config.persistent_keepalive = kPersistentKeepaliveSeconds;
    candidates.push_back(std::move(p));
  }
  // Conflicts skip both sides, so the outcome does not depend on order.
  std::set<std::string> conflicted;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Peer& a = candidates[i];
    if (self && std::any_of(a.config.allowed_ips.begin(), a.config.allowed_ips.end(),
                            [&](const net::IpPrefix& c) { return routing::OverlapsAny(c, self->pod_cidrs); })) {
      plan.problems.push_back(absl::StrCat("node ", a.node,
                                           ": pod CIDRs overlap this node's; peer skipped"));
      conflicted.insert(a.node);
    }
    for (size_t j = i + 1; j < candidates.size(); ++j) {
      const Peer& b = candidates[j];
      if (a.config.public_key == b.config.public_key) {
        plan.problems.push_back(absl::StrCat("nodes ", a.node, " and ", b.node,
                                             " publish the same WireGuard public key; both skipped"));
        conflicted.insert(a.node);
        conflicted.insert(b.node);
      }
      bool overlap = std::any_of(a.config.allowed_ips.begin(), a.config.allowed_ips.end(),
                                 [&](const net::IpPrefix& c) { return routing::OverlapsAny(c, b.config.allowed_ips); });
      if (overlap) {
        plan.problems.push_back(absl::StrCat("nodes ", a.node, " and ", b.node,
                                             " have overlapping pod CIDRs; both skipped"));
        conflicted.insert(a.node);
        conflicted.insert(b.node);
      }
    }
  }
  for (auto& p : candidates) {
    if (!conflicted.count(p.node)) plan.peers.push_back(std::move(p));
  }
  std::sort(plan.peers.begin(), plan.peers.end(),
            [](const Peer& a, const Peer& b) { return a.node < b.node; });
  std::sort(plan.pending.begin(), plan.pending.end());
  return plan;
}

std::vector<routing::Route> PeerRoutes(const PeerPlan& plan, const std::string& device,
                                       const std::optional<net::IpAddress>& src) {
  std::vector<routing::Route> out;
  for (const auto& p : plan.peers) {
    for (const auto& cidr : p.config.allowed_ips) {
      if (cidr.family() != net::Family::kV4) continue;
      out.push_back({cidr, p.config.endpoint->ip, device, p.node, /*onlink=*/true, src});
    }
  }
  std::sort(out.begin(), out.end(), routing::RouteLess);
  return out;
}

std::optional<net::IpAddress> RouterAddress(const std::vector<net::IpPrefix>& own_pod_cidrs) {
  for (const auto& c : own_pod_cidrs) {
    if (c.family() == net::Family::kV4) return c.address();
  }
  return std::nullopt;
}

std::vector<routing::NodeInfo> WithoutPeers(const std::vector<routing::NodeInfo>& nodes,
                                            const PeerPlan& plan) {
  std::vector<routing::NodeInfo> out;
  for (const auto& n : nodes) {
    bool peer = std::any_of(plan.peers.begin(), plan.peers.end(),
                            [&](const Peer& p) { return p.node == n.name; });
    if (!peer) out.push_back(n);
  }
  return out;
}

std::vector<net::IpPrefix> StrictCidrs(const std::vector<routing::NodeInfo>& nodes,
                                       const std::optional<net::IpPrefix>& cluster_cidr) {
  std::vector<net::IpPrefix> out;
  auto add = [&](const net::IpPrefix& p) {
    if (p.family() == net::Family::kV4 && std::find(out.begin(), out.end(), p) == out.end()) {
      out.push_back(p);
    }
  };
  if (cluster_cidr) add(*cluster_cidr);
  for (const auto& n : nodes) {
    for (const auto& c : n.pod_cidrs) add(c);
  }
  return out;
}

}  // namespace weft::encryption
