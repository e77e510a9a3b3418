#include "agent/cni/plugin.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/api/agent.grpc.pb.h"
#include "agent/netlink/netlink.h"
#include "common/net/mac.h"

namespace weft::cni {
namespace {

namespace v1 = weft::agent::v1;

constexpr int kRpcDeadlineSeconds = 15;

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

class GrpcAgentClient : public AgentClient {
 public:
  explicit GrpcAgentClient(const std::string& socket_path)
      : socket_(socket_path),
        stub_(v1::Agent::NewStub(grpc::CreateChannel("unix:" + socket_path,
                                                     grpc::InsecureChannelCredentials()))) {}

  absl::StatusOr<v1::AllocateAddressesResponse> Allocate(
      const v1::AllocateAddressesRequest& req) override {
    v1::AllocateAddressesResponse resp;
    return Call([&](grpc::ClientContext* c) { return stub_->AllocateAddresses(c, req, &resp); }, resp);
  }
  absl::Status Register(const v1::RegisterEndpointRequest& req) override {
    v1::RegisterEndpointResponse resp;
    return Call([&](grpc::ClientContext* c) { return stub_->RegisterEndpoint(c, req, &resp); }, resp)
        .status();
  }
  absl::StatusOr<v1::ReleaseEndpointResponse> Release(const v1::ReleaseEndpointRequest& req) override {
    v1::ReleaseEndpointResponse resp;
    return Call([&](grpc::ClientContext* c) { return stub_->ReleaseEndpoint(c, req, &resp); }, resp);
  }
  absl::StatusOr<v1::Endpoint> Get(const v1::GetEndpointRequest& req) override {
    v1::Endpoint resp;
    return Call([&](grpc::ClientContext* c) { return stub_->GetEndpoint(c, req, &resp); }, resp);
  }

 private:
  template <typename F, typename R>
  absl::StatusOr<R> Call(F f, R& resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kRpcDeadlineSeconds));
    grpc::Status s = f(&ctx);
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::UnavailableError(absl::StrCat("weft-agent is not answering on ", socket_,
                                                 " (", s.error_message(), ")"));
    }
    if (!s.ok()) return FromGrpc(s);
    return resp;
  }
  std::string socket_;
  std::unique_ptr<v1::Agent::Stub> stub_;
};

Error FromStatus(const absl::Status& s, const std::string& what) {
  if (absl::IsUnavailable(s)) {
    return {kAgentUnavailable, "weft-agent is not running",
            absl::StrCat(s.message(), ": check the ext-weft service (talosctl services)")};
  }
  if (absl::IsResourceExhausted(s)) {
    return {kPoolExhausted, "no free pod address on this node",
            absl::StrCat(s.message(), ": delete unused pods or give nodes larger pod CIDRs "
                                      "(KubeNetworkConfig nodeCIDRMaskSizeIPv4)")};
  }
  return {kInternal, absl::StrCat(what, " failed"), std::string(s.message())};
}

v1::EndpointId IdOf(const Invocation& inv) {
  v1::EndpointId id;
  id.set_container_id(inv.container_id);
  id.set_ifname(inv.ifname);
  return id;
}

// Parses "10.244.1.5/32".
bool ParseHostAddress(const std::string& text, net::IpAddress* ip) {
  auto slash = text.find('/');
  auto parsed = net::IpAddress::Parse(text.substr(0, slash));
  if (!parsed.ok()) return false;
  *ip = *parsed;
  return true;
}

// Everything ADD creates in the kernel, undone on failure: deleting the host
// veth removes its peer in the pod and every route through it.
absl::Status WirePod(const Invocation& inv, const std::string& host_name, int mtu,
                     const std::vector<net::IpAddress>& addrs, const net::IpAddress& gateway,
                     netlink::Link* host, netlink::Link* pod) {
  auto host_nl = netlink::Netlink::Open();
  if (!host_nl.ok()) return host_nl.status();
  // A veth left by an ADD that crashed half-way.
  (*host_nl)->DeleteLink(host_name).IgnoreError();
  int netns_fd = open(inv.netns.c_str(), O_RDONLY | O_CLOEXEC);
  if (netns_fd < 0) {
    return absl::NotFoundError(absl::StrCat("open network namespace ", inv.netns, ": ", strerror(errno)));
  }
  absl::Status created = (*host_nl)->CreateVeth(host_name, inv.ifname, mtu, netns_fd);
  close(netns_fd);
  if (!created.ok()) return created;

  auto pod_nl = netlink::Netlink::OpenInNamespace(inv.netns);
  if (!pod_nl.ok()) return pod_nl.status();
  auto pod_link = (*pod_nl)->GetLink(inv.ifname);
  auto host_link = (*host_nl)->GetLink(host_name);
  if (!pod_link.ok()) return pod_link.status();
  if (!host_link.ok()) return host_link.status();
  for (const auto& a : addrs) {
    if (auto s = (*pod_nl)->AddAddress(pod_link->index, a, a.bits()); !s.ok()) return s;
  }
  if (auto s = (*pod_nl)->SetLinkUp(pod_link->index); !s.ok()) return s;
  // The pod reaches everything through a link-local gateway that is the host
  // side of its veth: a pinned neighbour entry, so no ARP is needed for it.
  netlink::RouteSpec gw_route;
  gw_route.dst = net::IpPrefix::Of(gateway, 32);
  gw_route.oif = pod_link->index;
  gw_route.scope_link = true;
  gw_route.protocol = 4;  // RTPROT_STATIC: ordinary routes inside the pod
  if (auto s = (*pod_nl)->ReplaceRoute(gw_route); !s.ok()) return s;
  netlink::RouteSpec def;
  def.dst = *net::IpPrefix::Parse("0.0.0.0/0");
  def.gateway = gateway;
  def.oif = pod_link->index;
  def.onlink = true;
  def.protocol = 4;
  if (auto s = (*pod_nl)->ReplaceRoute(def); !s.ok()) return s;
  if (auto s = (*pod_nl)->ReplaceNeighbor(pod_link->index, gateway, host_link->mac); !s.ok()) return s;

  if (auto s = (*host_nl)->SetLinkUp(host_link->index); !s.ok()) return s;
  // The node itself reaches the pod through the kernel (node-to-pod traffic).
  for (const auto& a : addrs) {
    netlink::RouteSpec to_pod;
    to_pod.dst = net::IpPrefix::Of(a, a.bits());
    to_pod.oif = host_link->index;
    to_pod.scope_link = true;
    if (auto s = (*host_nl)->ReplaceRoute(to_pod); !s.ok()) return s;
  }
  *host = *host_link;
  *pod = *pod_link;
  return absl::OkStatus();
}

bool Add(const Invocation& inv, const NetConf& conf, AgentClient* agent, std::string* out,
         Error* error) {
  v1::AllocateAddressesRequest alloc;
  *alloc.mutable_id() = IdOf(inv);
  auto ns = inv.args.find("K8S_POD_NAMESPACE");
  auto name = inv.args.find("K8S_POD_NAME");
  alloc.set_pod_namespace(ns == inv.args.end() ? "" : ns->second);
  alloc.set_pod_name(name == inv.args.end() ? "" : name->second);
  auto allocated = agent->Allocate(alloc);
  if (!allocated.ok()) {
    *error = FromStatus(allocated.status(), "address allocation");
    return false;
  }
  std::vector<net::IpAddress> addrs;
  for (const auto& a : allocated->addresses()) {
    net::IpAddress ip;
    if (!ParseHostAddress(a, &ip)) {
      *error = {kInternal, "the agent returned an invalid address", a};
      return false;
    }
    addrs.push_back(ip);
  }
  auto gateway = net::IpAddress::Parse(allocated->gateway_ipv4());
  int mtu = conf.mtu > 0 ? conf.mtu : allocated->mtu();
  std::string host_name = HostVethName(inv.container_id, inv.ifname);

  auto rollback = [&]() {
    if (auto nl = netlink::Netlink::Open(); nl.ok()) (*nl)->DeleteLink(host_name).IgnoreError();
    v1::ReleaseEndpointRequest rel;
    *rel.mutable_id() = IdOf(inv);
    agent->Release(rel).IgnoreError();
  };

  netlink::Link host, pod;
  absl::Status wired = gateway.ok() ? WirePod(inv, host_name, mtu, addrs, *gateway, &host, &pod)
                                    : gateway.status();
  if (!wired.ok()) {
    rollback();
    *error = {absl::IsNotFound(wired) ? kContainerUnknown : kIoFailure,
              "setting up the pod's interface failed", std::string(wired.message())};
    return false;
  }
  v1::RegisterEndpointRequest reg;
  *reg.mutable_id() = IdOf(inv);
  reg.set_host_ifname(host_name);
  reg.set_host_ifindex(host.index);
  reg.set_pod_mac(std::string(reinterpret_cast<const char*>(pod.mac.data()), 6));
  reg.set_host_mac(std::string(reinterpret_cast<const char*>(host.mac.data()), 6));
  reg.set_netns(inv.netns);
  if (auto s = agent->Register(reg); !s.ok()) {
    rollback();
    *error = FromStatus(s, "programming the datapath");
    return false;
  }

  Result r;
  r.interfaces.push_back({host_name, net::MacToString(host.mac), ""});
  r.interfaces.push_back({inv.ifname, net::MacToString(pod.mac), inv.netns});
  for (const auto& a : addrs) {
    IpConfig c;
    c.address = a;
    c.prefix_length = a.bits();
    c.gateway = *gateway;
    c.interface = 1;
    r.ips.push_back(c);
  }
  r.routes.push_back({*net::IpPrefix::Parse("0.0.0.0/0"), *gateway});
  *out = ResultJson(r, conf.cni_version);
  return true;
}

bool Del(const Invocation& inv, AgentClient* agent, Error* error) {
  v1::ReleaseEndpointRequest rel;
  *rel.mutable_id() = IdOf(inv);
  auto released = agent->Release(rel);
  // Removing the veth also removes the pod's side and the host route to it.
  auto nl = netlink::Netlink::Open();
  if (nl.ok()) {
    auto s = (*nl)->DeleteLink(HostVethName(inv.container_id, inv.ifname));
    if (!s.ok() && !absl::IsNotFound(s)) {
      *error = {kIoFailure, "removing the pod's veth failed", std::string(s.message())};
      return false;
    }
  }
  if (!released.ok() && !absl::IsUnavailable(released.status())) {
    *error = FromStatus(released.status(), "releasing the endpoint");
    return false;
  }
  // With the agent down, DEL still succeeds: the address is freed when the
  // agent reconciles its endpoints against the pods on this node.
  return true;
}

bool Check(const Invocation& inv, const NetConf& conf, AgentClient* agent, Error* error) {
  if (conf.prev_result.is_null()) {
    *error = {kInvalidNetworkConfig, "CHECK needs prevResult", ""};
    return false;
  }
  auto prev = ParseResult(conf.prev_result);
  if (!prev.ok()) {
    *error = {kDecodeFailure, "prevResult is malformed", std::string(prev.status().message())};
    return false;
  }
  v1::GetEndpointRequest get;
  *get.mutable_id() = IdOf(inv);
  auto ep = agent->Get(get);
  if (!ep.ok()) {
    *error = absl::IsNotFound(ep.status())
                 ? Error{kInternal, "the agent does not know this endpoint", std::string(ep.status().message())}
                 : FromStatus(ep.status(), "asking the agent");
    return false;
  }
  if (!ep->programmed()) {
    *error = {kInternal, "the endpoint is not programmed in the datapath", ""};
    return false;
  }
  auto host_nl = netlink::Netlink::Open();
  auto host = host_nl.ok() ? (*host_nl)->GetLink(ep->host_ifname()) : host_nl.status();
  if (!host.ok() || !host->up) {
    *error = {kInternal, absl::StrCat("host interface ", ep->host_ifname(), " is missing or down"), ""};
    return false;
  }
  auto pod_nl = netlink::Netlink::OpenInNamespace(inv.netns);
  if (!pod_nl.ok()) {
    *error = {kContainerUnknown, "the pod's network namespace is gone", std::string(pod_nl.status().message())};
    return false;
  }
  auto addrs = (*pod_nl)->ListAddresses();
  for (const auto& want : prev->ips) {
    bool found = false;
    if (addrs.ok()) {
      for (const auto& a : *addrs) found |= a.address == want.address;
    }
    if (!found) {
      *error = {kInternal, absl::StrCat("address ", want.address.ToString(), " is missing in the pod"), ""};
      return false;
    }
  }
  return true;
}

}  // namespace

std::unique_ptr<AgentClient> NewGrpcAgentClient(const std::string& socket_path) {
  return std::make_unique<GrpcAgentClient>(socket_path);
}

std::string HostVethName(const std::string& container_id, const std::string& ifname) {
  // FNV-1a 64: stable across builds and hosts (std::hash is not).
  uint64_t h = 1469598103934665603ull;
  for (char c : container_id + "/" + ifname) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return absl::StrFormat("lxc%011x", h & 0xfffffffffffull);
}

bool RunCommand(const Invocation& inv, const NetConf& conf, AgentClient* agent, std::string* out,
                Error* error) {
  out->clear();
  switch (inv.command) {
    case Command::kVersion:
      *out = VersionJson();
      return true;
    case Command::kAdd:
      return Add(inv, conf, agent, out, error);
    case Command::kDel:
      return Del(inv, agent, error);
    case Command::kCheck:
      return Check(inv, conf, agent, error);
  }
  return false;
}

}  // namespace weft::cni
