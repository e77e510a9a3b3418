#include "agent/lab/network.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "agent/netlink/netlink.h"
#include "common/netns/netns.h"
#include "common/netns/process.h"
#include "common/status_macros.h"

namespace weft::lab {
namespace {

// Ordinary routes of the lab (the nodes' default route): not Weft's protocol,
// so the agent's route reconciler never touches them.
constexpr uint8_t kStaticRouteProtocol = 4;  // RTPROT_STATIC

// `ip -n <netns> <args...>`: creating a bridge and enslaving a port are not in
// agent/netlink (the agent never needs them).
absl::Status Ip(const std::string& netns_name, std::vector<std::string> args) {
  netns::SpawnOptions options;
  options.argv = {"ip", "-n", netns_name};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  ASSIGN_OR_RETURN(netns::ProcessResult r, netns::RunProcess(options, "", absl::Seconds(30)));
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat(absl::StrJoin(options.argv, " "), ": ", absl::StripAsciiWhitespace(r.err)));
  }
  return absl::OkStatus();
}

absl::Status CreateNamespace(const std::string& name, const BeforeCreate& before_create) {
  RETURN_IF_ERROR(before_create(name));
  return netns::Create(name);
}

absl::Status CreateLabNamespace(const LabPlan& plan, const BeforeCreate& before_create) {
  RETURN_IF_ERROR(CreateNamespace(plan.lab_netns, before_create));
  RETURN_IF_ERROR(Ip(plan.lab_netns, {"link", "add", plan.bridge, "type", "bridge"}));
  ASSIGN_OR_RETURN(auto nl, netlink::Netlink::OpenInNamespace(netns::PathOf(plan.lab_netns)));
  ASSIGN_OR_RETURN(netlink::Link bridge, nl->GetLink(plan.bridge));
  RETURN_IF_ERROR(nl->AddAddress(bridge.index, plan.gateway, plan.segment.length()));
  RETURN_IF_ERROR(nl->SetLinkUp(bridge.index));
  ASSIGN_OR_RETURN(netlink::Link lo, nl->GetLink("lo"));
  return nl->AddAddress(lo.index, plan.outside, 32);
}

absl::Status CreateNodeNamespace(const LabPlan& plan, const NodePlan& node,
                                 const BeforeCreate& before_create) {
  RETURN_IF_ERROR(CreateNamespace(node.name, before_create));
  const std::string node_path = netns::PathOf(node.name);
  {
    ASSIGN_OR_RETURN(auto lab, netlink::Netlink::OpenInNamespace(netns::PathOf(plan.lab_netns)));
    int node_fd = open(node_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (node_fd < 0) {
      return absl::InternalError(absl::StrCat("open ", node_path, ": ", strerror(errno)));
    }
    absl::Status veth = lab->CreateVeth(node.lab_veth, node.device, 1500, node_fd);
    close(node_fd);
    RETURN_IF_ERROR(veth);
  }
  RETURN_IF_ERROR(Ip(plan.lab_netns, {"link", "set", node.lab_veth, "master", plan.bridge, "up"}));

  // A real node's forwarding settings (what the Talos patch sets).
  RETURN_IF_ERROR(netns::WriteSysctl(node_path, "net.ipv4.ip_forward", "1"));
  RETURN_IF_ERROR(netns::WriteSysctl(node_path, "net.ipv4.conf.all.rp_filter", "0"));
  RETURN_IF_ERROR(netns::WriteSysctl(node_path, "net.ipv4.conf.default.rp_filter", "0"));
  RETURN_IF_ERROR(netns::WriteSysctl(
      node_path, absl::StrCat("net.ipv4.conf.", node.device, ".rp_filter"), "0"));

  ASSIGN_OR_RETURN(auto nl, netlink::Netlink::OpenInNamespace(node_path));
  ASSIGN_OR_RETURN(netlink::Link eth, nl->GetLink(node.device));
  RETURN_IF_ERROR(nl->AddAddress(eth.index, node.internal_ip, plan.segment.length()));
  RETURN_IF_ERROR(nl->SetLinkUp(eth.index));
  netlink::RouteSpec def;
  def.dst = net::IpPrefix::Of(net::IpAddress::V4(0), 0);
  def.gateway = plan.gateway;
  def.oif = eth.index;
  def.protocol = kStaticRouteProtocol;
  return nl->ReplaceRoute(def);
}

}  // namespace

absl::Status CreateLabNetwork(const LabPlan& plan, const BeforeCreate& before_create) {
  RETURN_IF_ERROR(CreateLabNamespace(plan, before_create));
  for (const NodePlan& node : plan.nodes) {
    if (auto s = CreateNodeNamespace(plan, node, before_create); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("node ", node.name, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace weft::lab
