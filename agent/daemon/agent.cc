#include "agent/daemon/agent.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/daemon/cni_install.h"
#include "agent/encryption/peers.h"
#include "agent/routing/reconciler.h"
#include "agent/routing/tunnel.h"
#include "agent/routing/tunnel_planner.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "kubeprism/client.h"
#include "kubeprism/http_transport.h"
#include "kubeprism/kubeconfig.h"
#include "kubeprism/logging.h"
#include "agent/wireguard/select.h"

namespace weft::daemon {
namespace {

using kubeprism::Log;
using kubeprism::LogLevel;

const char* RoutingName(agent::RoutingMode mode) {
  return mode == agent::RoutingMode::kTunnel ? "tunnel" : "native";
}

std::vector<const kubeprism::Node*> Raw(const std::vector<kubeprism::Informer<kubeprism::Node>::Ptr>& v) {
  std::vector<const kubeprism::Node*> out;
  out.reserve(v.size());
  for (const auto& p : v) out.push_back(p.get());
  return out;
}

// wireguard-go next to weft-agent (an extension may ship it), else from $PATH.
std::string DefaultWireGuardGo() {
  const std::string beside = BesideSelf("wireguard-go");
  return access(beside.c_str(), X_OK) == 0 ? beside : "wireguard-go";
}

}  // namespace

absl::StatusOr<std::vector<NativeDevice>> ResolveDevices(
    netlink::Netlink& nl, const std::vector<std::string>& names,
    const std::vector<net::IpAddress>& internal_ips) {
  ASSIGN_OR_RETURN(std::vector<netlink::Link> links, nl.ListLinks());
  ASSIGN_OR_RETURN(std::vector<netlink::Address> addrs, nl.ListAddresses());
  std::vector<NativeDevice> out;
  auto add = [&](const netlink::Link& l) {
    NativeDevice d{l.name, l.index, l.mtu, std::nullopt};
    for (const auto& a : addrs) {
      if (a.index == l.index && a.address.is_v4()) {
        // Prefer the InternalIP when the device carries several addresses.
        bool internal = std::find(internal_ips.begin(), internal_ips.end(), a.address) !=
                        internal_ips.end();
        if (!d.ipv4 || internal) d.ipv4 = a.address;
        if (internal) break;
      }
    }
    out.push_back(d);
  };
  if (!names.empty()) {
    for (const auto& name : names) {
      auto it = std::find_if(links.begin(), links.end(), [&](const auto& l) { return l.name == name; });
      if (it == links.end()) {
        return absl::NotFoundError(absl::StrCat("devices: no interface named \"", name, "\""));
      }
      add(*it);
    }
    return out;
  }
  for (const auto& a : addrs) {
    if (std::find(internal_ips.begin(), internal_ips.end(), a.address) == internal_ips.end()) continue;
    auto it = std::find_if(links.begin(), links.end(), [&](const auto& l) { return l.index == a.index; });
    if (it != links.end()) add(*it);
  }
  if (out.empty()) {
    std::vector<std::string> ips;
    for (const auto& ip : internal_ips) ips.push_back(ip.ToString());
    return absl::NotFoundError(absl::StrCat("no interface carries this node's InternalIP (",
                                            absl::StrJoin(ips, ", "),
                                            "); name the native devices in `devices`"));
  }
  return out;
}

Agent::Agent(agent::AgentConfig config, AgentOptions options)
    : config_(std::move(config)), options_(std::move(options)), leaks_(options_.leak_grace) {}

Agent::~Agent() {
  if (reconciler_.joinable()) reconciler_.join();
}

void Agent::Wake() {
  absl::MutexLock l(&mu_);
  dirty_ = true;
}

ClusterView Agent::CurrentView() const { return BuildClusterView(Raw(nodes_->List())); }

absl::Status Agent::Run(absl::Notification* stop) {
  ASSIGN_OR_RETURN(kubeprism::ClientConfig client_config,
                   kubeprism::LoadKubeconfig(config_.kubeconfig));
  ASSIGN_OR_RETURN(std::unique_ptr<kubeprism::HttpTransport> transport,
                   kubeprism::HttpTransport::Create(client_config));
  transport_ = std::move(transport);
  Log(LogLevel::kInfo, absl::StrCat("node ", config_.node_name, ", API server ", transport_->server(),
                                    ", routing ", RoutingName(config_.routing)));

  nodes_ = std::make_unique<kubeprism::Informer<kubeprism::Node>>(transport_);
  nodes_->AddHandlers({[this](const kubeprism::Node&) { Wake(); },
                       [this](const kubeprism::Node& before, const kubeprism::Node& after) {
                         if (ViewInputsChanged(before, after)) Wake();
                       },
                       [this](const kubeprism::Node&) { Wake(); }});
  nodes_->Start();

  auto self = WaitForLocalNode(stop);
  if (!self.ok()) {
    nodes_->Stop();
    return stop->HasBeenNotified() ? absl::OkStatus() : self.status();
  }
  if (auto s = StartDatapath(*self); !s.ok()) {
    nodes_->Stop();
    return s;
  }
  // Built before the API serves (its status reads it), started after.
  kubeprism::InformerOptions pod_options;
  pod_options.field_selector = "spec.nodeName=" + config_.node_name;
  pods_ = std::make_unique<kubeprism::Informer<kubeprism::Pod>>(transport_, pod_options);
  pods_->AddHandlers({nullptr, nullptr, [this](const kubeprism::Pod&) { Wake(); }});
  if (auto s = StartApi(); !s.ok()) {
    nodes_->Stop();
    return s;
  }
  pods_->Start();
  if (services_) services_->Start();

  reconciler_ = std::thread([this] { ReconcileLoop(); });
  Log(LogLevel::kInfo, absl::StrCat("ready: ", endpoints_->List().size(), " endpoints, pod CIDRs ",
                                    absl::StrJoin(endpoints_->pod_cidrs(), ", ",
                                                  [](std::string* o, const net::IpPrefix& p) {
                                                    o->append(p.ToString());
                                                  })));
  stop->WaitForNotification();

  Log(LogLevel::kInfo, "stopping; the datapath stays in place");
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  reconciler_.join();
  server_->Shutdown();
  if (services_) services_->Stop();
  pods_->Stop();
  nodes_->Stop();
  unlink(config_.socket_path().c_str());
  return absl::OkStatus();
}

absl::StatusOr<routing::NodeInfo> Agent::WaitForLocalNode(absl::Notification* stop) {
  absl::Time last_report = absl::Now();  // quiet for the first seconds: the usual start
  while (!stop->HasBeenNotified()) {
    std::string waiting;
    if (!nodes_->WaitForSync(absl::ZeroDuration())) {
      kubeprism::InformerStats stats = nodes_->Stats();
      waiting = absl::StrCat("the API server at ", transport_->server(),
                             stats.last_error.empty() ? "" : ": ", stats.last_error);
    } else {
      auto node = nodes_->Get("", config_.node_name);
      if (node == nullptr) {
        waiting = absl::StrCat("Node ", config_.node_name, " to be registered");
      } else {
        ClusterView view = BuildClusterView({node.get()});
        for (const auto& p : view.problems) Log(LogLevel::kWarning, p);
        const routing::NodeInfo& self = view.nodes.front();
        if (!self.pod_cidrs.empty()) return self;
        waiting = absl::StrCat("Node ", config_.node_name,
                               " to get spec.podCIDRs (the controller-manager allocates them)");
      }
    }
    if (absl::Now() - last_report > absl::Seconds(10)) {
      Log(LogLevel::kInfo, "waiting for " + waiting);
      last_report = absl::Now();
    }
    stop->WaitForNotificationWithTimeout(absl::Milliseconds(200));
  }
  return absl::CancelledError("stopped");
}

absl::Status Agent::StartDatapath(const routing::NodeInfo& self) {
  ASSIGN_OR_RETURN(nl_, netlink::Netlink::Open());
  if (auto s = netlink::WriteSysctl("net.ipv4.ip_forward", "1"); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("enable IPv4 forwarding: ", s.message()));
  }
  ASSIGN_OR_RETURN(devices_, ResolveDevices(*nl_, config_.devices, self.internal_ips));
  ASSIGN_OR_RETURN(datapath_, datapath::Datapath::Load(config_.bpffs_dir));
  RETURN_IF_ERROR(MakeDirs(config_.state_dir, 0700));
  std::vector<std::string> problems;
  ASSIGN_OR_RETURN(endpoints_, endpoints::EndpointManager::Create(config_.state_dir, self.pod_cidrs,
                                                                  datapath_.get(), &problems));
  for (const auto& p : endpoints_->Reprogram()) problems.push_back(p);
  const bool strict = config_.encryption.enabled() && config_.encryption.strict_mode;
  // The CIDRs first: a device attached strict drops from its first packet on.
  if (strict) {
    RETURN_IF_ERROR(datapath_->SetStrictEncryptionCidrs(
        encryption::StrictCidrs(CurrentView().nodes, config_.native_routing_cidr)));
  }
  for (const auto& d : devices_) {
    if (config_.masquerade && !d.ipv4) {
      return absl::FailedPreconditionError(absl::StrCat(
          "masquerade: device ", d.name, " has no IPv4 address to masquerade with"));
    }
    datapath::NetdevOptions netdev{config_.masquerade, d.ipv4, strict};
    if (auto s = datapath_->AttachNetdev(d.index, netdev); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("attach to ", d.name, ": ", s.message()));
    }
  }
  // Until the first reconcile pass knows the other nodes: what the view has now.
  RETURN_IF_ERROR(datapath_->SetNonMasqueradeCidrs(
      NonMasqueradeCidrs(CurrentView(), config_.native_routing_cidr)));
  int device_mtu = devices_.front().mtu;
  for (const auto& d : devices_) device_mtu = std::min(device_mtu, d.mtu);
  // Pods never send more than the path to another node carries whole: the
  // WireGuard overhead covers VXLAN's too (tunnel mode falls back to it for
  // nodes without a key unless strict).
  int overhead = 0;
  if (config_.routing == agent::RoutingMode::kTunnel) overhead = routing::kVxlanOverhead;
  if (config_.encryption.enabled()) overhead = encryption::kWireGuardOverhead;
  pod_mtu_ = config_.mtu > 0 ? config_.mtu : device_mtu - overhead;
  if (config_.encryption.enabled()) RETURN_IF_ERROR(StartEncryption(device_mtu));
  RETURN_IF_ERROR(StartServices(self));
  if (config_.routing == agent::RoutingMode::kNative) {
    // Leaving tunnel mode: the overlay device and everything on it go.
    RETURN_IF_ERROR(routing::RemoveTunnelDevice(*nl_));
  }
  for (const auto& p : problems) Log(LogLevel::kWarning, p);
  absl::MutexLock l(&mu_);
  start_problems_ = std::move(problems);
  return absl::OkStatus();
}

absl::Status Agent::StartEncryption(int device_mtu) {
  const agent::EncryptionConfig& e = config_.encryption;
  wireguard::OpenOptions open;
  open.ifname = e.interface;
  open.backend = e.backend == agent::WireGuardBackend::kKernel      ? wireguard::Backend::kKernel
                 : e.backend == agent::WireGuardBackend::kUserspace ? wireguard::Backend::kUserspace
                                                                    : wireguard::Backend::kAuto;
  open.mtu = device_mtu - encryption::kWireGuardOverhead;
  open.wireguard_go = e.wireguard_go.empty() ? DefaultWireGuardGo() : e.wireguard_go;
  open.pid_file = config_.wireguard_go_pid_path();
  open.log_file = config_.run_dir + "/wireguard-go.log";
  auto device = wireguard::OpenDevice(open);
  if (!device.ok()) {
    return absl::Status(device.status().code(),
                        absl::StrCat("encryption: ", device.status().message()));
  }
  auto client = std::make_shared<kubeprism::Client>(transport_);
  std::string node = config_.node_name;
  encryption::ManagerOptions options{e, node, config_.state_dir + "/wireguard.key", open.mtu,
                                     [open] { return wireguard::OpenDevice(open); }};
  ASSIGN_OR_RETURN(encryption_,
                   encryption::Manager::Create(std::move(options), std::move(*device),
                                               [client, node](const std::string& key) {
                                                 return client->AnnotateNode(
                                                     node, encryption::kWireGuardKeyAnnotation, key);
                                               }));
  router_address_ = encryption::RouterAddress(endpoints_->pod_cidrs());
  Log(LogLevel::kInfo, absl::StrCat("encryption: ", encryption_->Summary(), " on ",
                                    encryption_->device_name(), ", MTU ", open.mtu, ", port ",
                                    e.port));
  return absl::OkStatus();
}

absl::Status Agent::StartServices(const routing::NodeInfo& self) {
  const agent::KubeProxyReplacementConfig& k = config_.kube_proxy_replacement;
  if (!k.enabled) {
    // Turned off: nothing of ours translates any more (kube-proxy's job again).
    RETURN_IF_ERROR(datapath_->DetachSocketLb());
    RETURN_IF_ERROR(datapath_->services().SetServiceRanges({}));
    return datapath_->services().Replace({});
  }
  services::NodeContext node;
  node.node_name = config_.node_name;
  node.algorithm = k.algorithm;
  auto add = [&](const net::IpAddress& ip) {
    if (ip.is_v4() && std::find(node.node_addresses.begin(), node.node_addresses.end(), ip) ==
                          node.node_addresses.end()) {
      node.node_addresses.push_back(ip);
    }
  };
  for (const auto& ip : self.internal_ips) add(ip);
  for (const auto& d : devices_) {
    if (d.ipv4) add(*d.ipv4);
  }
  if (node.node_addresses.empty()) {
    return absl::FailedPreconditionError(
        "kubeProxyReplacement: this node has no IPv4 address for NodePorts and source NAT");
  }
  // Replies to source-translated flows must come back here. With encryption,
  // a remote backend's node reaches us only through the tunnel, which accepts
  // our pod CIDR from us but not our InternalIP: the router address on the
  // WireGuard device then (its replies arrive there: weft_from_l3dev).
  RETURN_IF_ERROR(datapath_->services().SetSnatAddress(
      router_address_ ? *router_address_ : node.node_addresses.front()));
  if (auto s = datapath_->AttachSocketLb(k.cgroup_path); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("kubeProxyReplacement: ", s.message()));
  }
  services::ControllerOptions options;
  options.node = std::move(node);
  options.service_ranges = k.service_cidrs;
  services_ = std::make_unique<services::Controller>(transport_, &datapath_->services(),
                                                     std::move(options));
  Log(LogLevel::kInfo, absl::StrCat("kube-proxy replacement: socket programs on ", k.cgroup_path,
                                    ", ", datapath::LbAlgorithmName(k.algorithm)));
  return absl::OkStatus();
}

absl::Status Agent::StartApi() {
  api::ApiOptions options{config_.node_name, pod_mtu_,
                          [this](weft::agent::v1::AgentStatus* s) { FillStatus(s); }};
  if (encryption_) {
    options.encryption_status = [this](weft::agent::v1::EncryptionStatus* s) {
      auto drops = datapath_->StrictEncryptionDrops();
      encryption_->FillStatus(s, drops.ok() ? *drops : 0);
      if (!drops.ok()) s->add_skipped(absl::StrCat("strict-mode drop counter: ", drops.status().message()));
      return grpc::Status::OK;
    };
    options.rotate_key = [this](weft::agent::v1::RotateEncryptionKeyResponse* r) {
      auto key = encryption_->Rotate();
      if (!key.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(key.status().message()));
      r->set_public_key(*key);
      Wake();
      return grpc::Status::OK;
    };
  }
  if (services_) {
    options.list_services = [this](weft::agent::v1::ListServicesResponse* r) {
      if (auto s = services_->List(r); !s.ok()) {
        return grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
      }
      return grpc::Status::OK;
    };
  }
  api_service_ = std::make_unique<api::AgentService>(endpoints_.get(), std::move(options));
  ASSIGN_OR_RETURN(server_, api::StartLocalApi(config_.socket_path(), api_service_.get()));
  CniInstall install{config_.cni_plugin.empty() ? DefaultPluginSource() : config_.cni_plugin,
                     config_.cni_bin_dir, config_.cni_conf_dir, config_.socket_path(), pod_mtu_};
  if (auto s = InstallCni(install); !s.ok()) {
    server_->Shutdown();
    return s;
  }
  Log(LogLevel::kInfo, absl::StrCat("serving ", config_.socket_path(), "; CNI plugin in ",
                                    config_.cni_bin_dir, ", ", kConflistName, " in ",
                                    config_.cni_conf_dir));
  return absl::OkStatus();
}

void Agent::ReconcileLoop() {
  absl::Time last = absl::InfinitePast();
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      // Sleeps until a change (Wake), the stop, or the next periodic pass. A
      // pod gone from the API is checked again every second until its
      // endpoint is released (or the pod is back), not only at the resync.
      const absl::Duration interval = leaks_.pending() ? absl::Seconds(1) : options_.resync;
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return dirty_ || stopping_; };
      mu_.AwaitWithDeadline(absl::Condition(&woken), last + interval);
      if (stopping_) return;
      dirty_ = false;
    }
    ReconcileOnce();
    last = absl::Now();
  }
}

void Agent::ReconcileOnce() {
  ClusterView view = CurrentView();
  std::vector<std::string> problems = view.problems;
  if (auto s = datapath_->SetNonMasqueradeCidrs(
          NonMasqueradeCidrs(view, config_.native_routing_cidr));
      !s.ok()) {
    problems.push_back(absl::StrCat("non-masquerade CIDRs: ", s.message()));
  }
  encryption::PeerPlan peers;
  if (encryption_) {
    for (auto& p : SyncEncryption(view, &peers)) problems.push_back(std::move(p));
  }
  for (auto& p : SyncRoutes(view, encryption_ ? &peers : nullptr)) problems.push_back(std::move(p));
  for (auto& p : ReclaimLeaks()) problems.push_back(std::move(p));
  absl::MutexLock l(&mu_);
  if (problems != problems_) {
    for (const auto& p : problems) Log(LogLevel::kWarning, p);
    if (problems.empty() && !problems_.empty()) Log(LogLevel::kInfo, "all problems resolved");
  }
  problems_ = std::move(problems);
}

std::vector<std::string> Agent::SyncEncryption(const ClusterView& view,
                                               encryption::PeerPlan* peers) {
  encryption::Manager::Pass pass = encryption_->Reconcile(view.nodes, view.wireguard_keys);
  *peers = std::move(pass.plan);
  // The source of this node's own packets to remote pods (PeerRoutes): on the
  // device, repaired every pass (wireguard-go may have been restarted).
  if (router_address_) {
    auto link = nl_->GetLink(encryption_->device_name());
    absl::Status s = link.ok() ? netlink::EnsureSoleIpv4Address(*nl_, link->index, *router_address_)
                               : link.status();
    if (s.ok() && link->index != wireguard_index_) {
      s = datapath_->AttachL3Ingress(link->index);
      if (s.ok()) wireguard_index_ = link->index;
    }
    if (!s.ok()) {
      pass.problems.push_back(absl::StrCat("address ", router_address_->ToString(), " on ",
                                           encryption_->device_name(), ": ", s.message()));
    }
  }
  if (config_.encryption.strict_mode) {
    if (auto s = datapath_->SetStrictEncryptionCidrs(
            encryption::StrictCidrs(view.nodes, config_.native_routing_cidr));
        !s.ok()) {
      pass.problems.push_back(absl::StrCat("strict-mode CIDRs: ", s.message()));
    }
  }
  return std::move(pass.problems);
}

std::vector<std::string> Agent::SyncRoutes(const ClusterView& view,
                                           const encryption::PeerPlan* peers) {
  std::vector<std::string> problems;
  // With encryption, peers are reached through the WireGuard device; the
  // plain planners keep the other nodes (none in strict mode: their traffic
  // has no route of ours, and what leaves a native device is dropped).
  std::vector<routing::NodeInfo> plain = view.nodes;
  std::vector<routing::Route> encrypted;
  if (peers) {
    plain = encryption::WithoutPeers(view.nodes, *peers);
    if (config_.encryption.strict_mode) {
      plain.erase(std::remove_if(plain.begin(), plain.end(),
                                 [&](const auto& n) { return n.name != config_.node_name; }),
                  plain.end());
    }
    encrypted = encryption::PeerRoutes(*peers, encryption_->device_name(), router_address_);
  }
  if (config_.routing == agent::RoutingMode::kNative && (config_.direct_routes || peers)) {
    std::vector<std::string> names;
    for (const auto& d : devices_) names.push_back(d.name);
    auto subnets = routing::LocalSubnets(*nl_, names);
    if (!subnets.ok()) return {absl::StrCat("routes: ", subnets.status().message())};
    routing::RoutePlan plan;
    if (config_.direct_routes) plan = routing::PlanDirectRoutes(config_.node_name, plain, *subnets);
    for (auto& r : encrypted) plan.routes.push_back(std::move(r));
    std::sort(plan.routes.begin(), plan.routes.end(), routing::RouteLess);
    routing::ApplyResult applied = routing::ApplyRoutes(*nl_, plan.routes);
    if (applied.added + applied.removed > 0) {
      Log(LogLevel::kInfo, absl::StrCat("routes: ", applied.added, " added, ", applied.removed,
                                        " removed, ", plan.routes.size(), " in place"));
    }
    problems = std::move(plan.problems);
    for (auto& p : applied.problems) problems.push_back(std::move(p));
  } else if (config_.routing == agent::RoutingMode::kTunnel) {
    routing::TunnelPlan plan = routing::PlanTunnel(config_.node_name, plain);
    problems = std::move(plan.problems);
    if (plan.local) {
      // Created or repaired every pass; a recreated device gets a new index
      // and needs the datapath attached again.
      routing::TunnelDeviceSpec spec{*plan.local, devices_.front().name, config_.tunnel_port, 0};
      auto link = routing::EnsureTunnelDevice(*nl_, spec);
      if (!link.ok()) {
        problems.push_back(absl::StrCat("tunnel device: ", link.status().message()));
        return problems;
      }
      if (link->index != tunnel_index_) {
        // Strict mode guards the overlay too: its tc egress sees the inner packet.
        datapath::NetdevOptions overlay{false, std::nullopt, config_.encryption.strict_mode};
        if (auto s = datapath_->AttachNetdev(link->index, overlay); !s.ok()) {
          problems.push_back(absl::StrCat("attach to ", link->name, ": ", s.message()));
          return problems;
        }
        tunnel_index_ = link->index;
      }
    }
    routing::ApplyResult applied = routing::ApplyTunnel(*nl_, plan);
    if (applied.added + applied.removed > 0) {
      Log(LogLevel::kInfo, absl::StrCat("tunnel: ", applied.added, " entries added, ",
                                        applied.removed, " removed"));
    }
    for (auto& p : applied.problems) problems.push_back(std::move(p));
    if (peers) {
      routing::ApplyResult wg = routing::ApplyRoutes(*nl_, encrypted, {encryption_->device_name()});
      for (auto& p : wg.problems) problems.push_back(std::move(p));
    }
  }
  return problems;
}

std::vector<std::string> Agent::ReclaimLeaks() {
  if (!pods_->WaitForSync(absl::ZeroDuration())) return {};
  absl::flat_hash_set<std::string> live_pods;
  for (const auto& p : pods_->List()) live_pods.insert(p->meta.Key());
  std::vector<EndpointRef> refs;
  for (const auto& r : endpoints_->List()) {
    refs.push_back({r.owner.container_id, r.owner.ifname,
                    r.owner.pod_namespace + "/" + r.owner.pod_name});
  }
  // Released one by one, as CNI DEL would: an endpoint added meanwhile is
  // never among them.
  std::vector<std::string> problems;
  for (const EndpointRef& leaked : leaks_.Pass(refs, live_pods, absl::Now())) {
    auto released = endpoints_->Release(leaked.container_id, leaked.ifname);
    if (!released.ok()) {
      problems.push_back(absl::StrCat("release the addresses of ", leaked.pod, ": ",
                                      released.status().message()));
      continue;
    }
    if (!released->has_value()) continue;  // a CNI DEL came first
    const endpoints::EndpointRecord& r = **released;
    std::vector<std::string> ips;
    for (const auto& ip : r.addresses) ips.push_back(ip.ToString());
    Log(LogLevel::kInfo, absl::StrCat("released ", absl::StrJoin(ips, ","), " of ", leaked.pod,
                                      ": the pod is no longer on this node"));
    if (!r.host_ifname.empty()) (void)nl_->DeleteLink(r.host_ifname);  // gone with the netns, usually
  }
  return problems;
}

void Agent::FillStatus(weft::agent::v1::AgentStatus* status) {
  status->set_version(options_.version);
  status->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - started_));
  status->set_routing_mode(RoutingName(config_.routing));
  status->set_encryption(encryption_ ? encryption_->Summary() : "Disabled");
  std::vector<std::string> service_problems;
  if (services_) {
    status->set_kube_proxy_replacement("True");
    for (const char* f : {"ClusterIP", "NodePort", "LoadBalancer", "ExternalIPs", "SessionAffinity",
                          "TrafficPolicyLocal"}) {
      status->add_kube_proxy_replacement_features(f);
    }
    status->add_kube_proxy_replacement_features(
        absl::StrCat("SocketLB (cgroup ", config_.kube_proxy_replacement.cgroup_path, ")"));
    status->add_kube_proxy_replacement_features(
        config_.kube_proxy_replacement.algorithm == datapath::LbAlgorithm::kMaglev ? "Maglev"
                                                                                   : "Random");
    status->set_service_frontend_count(services_->frontend_count());
    service_problems = services_->Problems();
  }
  status->set_api_server(transport_->server());
  kubeprism::InformerStats stats = nodes_->Stats();
  bool connected = stats.state == kubeprism::SyncState::kSynced;
  status->set_api_connected(connected);
  status->set_node_count(static_cast<int32_t>(stats.objects));
  absl::MutexLock l(&mu_);
  for (const auto& p : start_problems_) status->add_problems(p);
  for (const auto& p : problems_) status->add_problems(p);
  for (const auto& p : service_problems) status->add_problems(p);
  if (!connected) {
    status->add_problems(absl::StrCat("API server ", transport_->server(), ": ",
                                      stats.last_error.empty() ? kubeprism::SyncStateName(stats.state)
                                                               : stats.last_error));
  }
  // Without this node's Pods, leaked addresses are never reclaimed.
  kubeprism::InformerStats pods = pods_->Stats();
  if (pods.state == kubeprism::SyncState::kFailing) {
    status->add_problems(absl::StrCat("pods on this node: ", pods.last_error));
  }
  status->set_healthy(status->problems_size() == 0);
}

}  // namespace weft::daemon
