#include "agent/routing/tunnel.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace weft::routing {
namespace {

// The device that carries `ip` (the node's InternalIP is on its native device).
absl::StatusOr<netlink::Link> DeviceHolding(netlink::Netlink& nl, const net::IpAddress& ip) {
  ASSIGN_OR_RETURN(auto addrs, nl.ListAddresses());
  for (const auto& a : addrs) {
    if (a.address == ip) return nl.GetLink(a.index);
  }
  return absl::NotFoundError(
      absl::StrCat("tunnel underlay: no device holds the InternalIP ", ip.ToString()));
}

// True when `link` is a VXLAN device with the settings that cannot change in place.
bool SettingsMatch(const netlink::Link& link, const TunnelDeviceSpec& spec, int underlay_index) {
  if (link.kind != "vxlan" || !link.vxlan) return false;
  const netlink::VxlanInfo& v = *link.vxlan;
  return v.vni == kTunnelVni && v.port == spec.port && v.local == spec.vtep.underlay_ip &&
         v.underlay_index == underlay_index && !v.learning;
}


// The Weft entries now on the device, in the planner's terms.
absl::StatusOr<TunnelEntries> Installed(netlink::Netlink& nl, int index) {
  TunnelEntries have;
  ASSIGN_OR_RETURN(auto routes, nl.ListRoutes(netlink::kWeftRouteProtocol));
  for (const auto& r : routes) {
    if (r.oif != index || !r.gateway) continue;
    have.routes.push_back({r.dst, *r.gateway, kTunnelDevice, ""});
  }
  ASSIGN_OR_RETURN(auto neighbors, nl.ListNeighbors(index));
  for (const auto& n : neighbors) {
    // Only permanent entries are ours; the kernel's own come and go.
    if (!n.permanent() || !n.mac) continue;
    have.neighbors.push_back({n.address, *n.mac, ""});
  }
  ASSIGN_OR_RETURN(auto fdb, nl.ListFdb(index));
  for (const auto& f : fdb) {
    if (!f.permanent) continue;
    // An entry without a remote never matches a planned one, so it is removed.
    have.fdb.push_back({f.mac, f.dst.value_or(net::IpAddress::V4(0)), ""});
  }
  return have;
}

// Counts a successful step or records the failure, prefixed with the node.
void Record(const absl::Status& s, const std::string& node, int* count, ApplyResult* result) {
  if (s.ok()) {
    ++*count;
  } else if (node.empty()) {
    result->problems.push_back(std::string(s.message()));
  } else {
    result->problems.push_back(absl::StrCat("node ", node, ": ", s.message()));
  }
}

}  // namespace

absl::StatusOr<netlink::Link> EnsureTunnelDevice(netlink::Netlink& nl,
                                                 const TunnelDeviceSpec& spec) {
  absl::StatusOr<netlink::Link> underlay = spec.underlay_device.empty()
                                               ? DeviceHolding(nl, spec.vtep.underlay_ip)
                                               : nl.GetLink(spec.underlay_device);
  if (!underlay.ok()) return underlay.status();
  const int mtu = spec.mtu > 0 ? spec.mtu : underlay->mtu - kVxlanOverhead;

  absl::StatusOr<netlink::Link> dev = nl.GetLink(kTunnelDevice);
  if (!dev.ok() && !absl::IsNotFound(dev.status())) return dev.status();
  if (dev.ok() && !SettingsMatch(*dev, spec, underlay->index)) {
    RETURN_IF_ERROR(nl.DeleteLink(kTunnelDevice));
    dev = absl::NotFoundError("recreated");
  }
  if (!dev.ok()) {
    RETURN_IF_ERROR(nl.CreateVxlan(kTunnelDevice, kTunnelVni, spec.port, spec.vtep.underlay_ip,
                                   underlay->index, mtu));
    dev = nl.GetLink(kTunnelDevice);
    if (!dev.ok()) return dev.status();
  }

  // No annotation carries the MAC: other nodes derive it from our InternalIP.
  if (dev->mac != spec.vtep.mac) RETURN_IF_ERROR(nl.SetMac(dev->index, spec.vtep.mac));
  if (dev->mtu != mtu) RETURN_IF_ERROR(nl.SetMtu(dev->index, mtu));
  // Host-originated traffic to remote pods takes this address as its source, so
  // replies come back through the tunnel as well.
  RETURN_IF_ERROR(netlink::EnsureSoleIpv4Address(nl, dev->index, spec.vtep.address));
  if (!dev->up) RETURN_IF_ERROR(nl.SetLinkUp(dev->index));
  return nl.GetLink(dev->index);
}

absl::Status RemoveTunnelDevice(netlink::Netlink& nl) {
  absl::Status s = nl.DeleteLink(kTunnelDevice);
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

ApplyResult ApplyTunnel(netlink::Netlink& nl, const TunnelPlan& plan) {
  ApplyResult result;
  auto dev = nl.GetLink(kTunnelDevice);
  if (!dev.ok()) {
    result.problems.push_back(
        absl::StrCat("tunnel device: ", dev.status().message(), " (EnsureTunnelDevice first)"));
    return result;
  }
  const int index = dev->index;
  auto installed = Installed(nl, index);
  if (!installed.ok()) {
    result.problems.push_back(std::string(installed.status().message()));
    return result;
  }
  TunnelDiff diff = DiffTunnel(*installed, plan.entries);

  for (const auto& f : diff.add.fdb) {
    Record(nl.ReplaceFdb(index, f.mac, f.remote), f.node, &result.added, &result);
  }
  for (const auto& n : diff.add.neighbors) {
    Record(nl.ReplaceNeighbor(index, n.ip, n.mac), n.node, &result.added, &result);
  }
  for (const auto& r : diff.add.routes) {
    netlink::RouteSpec spec;
    spec.dst = r.dst;
    spec.gateway = r.via;
    spec.oif = index;
    // The gateway (the remote device's address) is in no local subnet.
    spec.onlink = true;
    Record(nl.ReplaceRoute(spec), r.node, &result.added, &result);
  }

  for (const auto& r : diff.remove.routes) {
    netlink::RouteSpec spec;
    spec.dst = r.dst;
    Record(nl.DeleteRoute(spec), "", &result.removed, &result);
  }
  for (const auto& n : diff.remove.neighbors) {
    Record(nl.DeleteNeighbor(index, n.ip), "", &result.removed, &result);
  }
  for (const auto& f : diff.remove.fdb) {
    Record(nl.DeleteFdb(index, f.mac), "", &result.removed, &result);
  }
  return result;
}

}  // namespace weft::routing
