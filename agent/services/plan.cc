#include "agent/services/plan.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace weft::services {
namespace {

using datapath::LbBackend;
using datapath::LbFrontendKey;
using datapath::LbScope;
using kubeprism::Endpoint;
using kubeprism::EndpointSlice;
using kubeprism::Protocol;
using kubeprism::Service;
using kubeprism::ServicePort;
using kubeprism::ServiceType;
using kubeprism::TrafficPolicy;

// WEFT_LB4_BACKENDS_PER_SVC (bpf/maps/lb.h): the slot index is 16 bits.
constexpr size_t kMaxBackendsPerFrontend = 65535;
// spec.sessionAffinityConfig.clientIP.timeoutSeconds: API default and range.
constexpr int32_t kDefaultAffinityTimeout = 10800;
constexpr int32_t kMaxAffinityTimeout = 86400;

bool ValidPort(int64_t port) { return port >= 1 && port <= 65535; }

std::string OutOfRange(int64_t value, int64_t max) {
  return absl::StrCat(value, " is out of range (1-", max, ")");
}

// A slice's endpoints and ports as the planner uses them, checked once (the
// first time a Service looks at the slice) so its problems are reported once.
struct CheckedSlice {
  bool checked = false;
  // Per endpoint: its address; none when unusable.
  std::vector<std::optional<net::Ipv4Address>> addresses;
  // Per slice port: its number; none when unusable.
  std::vector<std::optional<uint16_t>> ports;
};

void CheckSlice(const EndpointSlice& slice, CheckedSlice* out, std::vector<std::string>* problems) {
  out->checked = true;
  auto report = [&](const std::string& what) {
    problems->push_back(absl::StrCat("EndpointSlice ", slice.meta.Key(), ": ", what));
  };
  out->addresses.reserve(slice.endpoints.size());
  for (size_t i = 0; i < slice.endpoints.size(); ++i) {
    const Endpoint& ep = slice.endpoints[i];
    std::optional<net::Ipv4Address> address;
    if (ep.address.empty()) {
      report(absl::StrCat("endpoints[", i, "].addresses: empty"));
    } else if (auto ip = net::Ipv4Address::Parse(ep.address); ip.ok()) {
      address = *ip;
    } else {
      report(absl::StrCat("endpoints[", i, "].addresses[0]: \"", ep.address,
                          "\" is not an IPv4 address"));
    }
    out->addresses.push_back(address);
  }
  out->ports.reserve(slice.ports.size());
  for (size_t i = 0; i < slice.ports.size(); ++i) {
    const auto& port = slice.ports[i].port;
    std::optional<uint16_t> number;
    if (!port.has_value()) {
      report(absl::StrCat("ports[", i, "].port: missing (a Service port needs a number)"));
    } else if (!ValidPort(*port)) {
      report(absl::StrCat("ports[", i, "].port: ", OutOfRange(*port, 65535)));
    } else {
      number = static_cast<uint16_t>(*port);
    }
    out->ports.push_back(number);
  }
}

// A backend offered by a slice for one Service port.
struct Candidate {
  LbBackend backend;
  int rank = 0;  // 0: ready; 1: serving and terminating (the fallback)
  bool local = false;
  const std::string* node = nullptr;
};

struct BackendSet {
  std::vector<LbBackend> backends;  // sorted
  std::vector<std::string> nodes;   // parallel to backends
};

// Ready candidates (passing `keep`); when there are none, serving terminating
// ones. kube-proxy falls back independently for the cluster-wide and the local
// set (KEP-1669): a node whose own endpoints all terminate keeps serving its
// Local traffic with them while ready endpoints exist elsewhere.
template <typename Keep>
BackendSet Usable(const std::vector<Candidate>& candidates, Keep keep) {
  BackendSet set;
  for (int rank : {0, 1}) {
    for (const Candidate& c : candidates) {
      if (c.rank != rank || !keep(c)) continue;
      set.backends.push_back(c.backend);
      set.nodes.push_back(*c.node);
    }
    if (!set.backends.empty()) break;
  }
  return set;
}

class Planner {
 public:
  Planner(const std::vector<const EndpointSlice*>& slices, const NodeContext& node)
      : slices_(slices), checked_(slices.size()), node_(node) {
    for (const auto& a : node.node_addresses) {
      auto v4 = net::Ipv4Address::From(a);
      if (v4.ok() && std::find(node_ips_.begin(), node_ips_.end(), *v4) == node_ips_.end()) {
        node_ips_.push_back(*v4);
      }
    }
    for (size_t i = 0; i < slices.size(); ++i) {
      const EndpointSlice& s = *slices[i];
      if (s.address_type != kubeprism::AddressType::kIPv4 || s.service_name.empty()) continue;
      slices_by_service_[{s.meta.namespace_, s.service_name}].push_back(static_cast<uint32_t>(i));
    }
    // Slices in name order: the same plan (and problem order) for any input order.
    for (auto& [service, indexes] : slices_by_service_) {
      std::sort(indexes.begin(), indexes.end(), [&](uint32_t a, uint32_t b) {
        return slices_[a]->meta.name != slices_[b]->meta.name
                   ? slices_[a]->meta.name < slices_[b]->meta.name
                   : a < b;
      });
    }
  }

  void Plan(const Service& service);
  ServicePlan Finish();

 private:
  struct Frontend {
    const std::string* service_key;
    const ServicePort* port;
    FrontendKind kind;
    uint32_t affinity_timeout_s;
  };

  std::vector<Candidate> Candidates(const Service& service, const ServicePort& port,
                                    uint8_t proto);
  BackendSet Limit(BackendSet set, const std::string& service_key, size_t port_index);
  void Add(const Frontend& f, const LbFrontendKey& key, const BackendSet& set, bool snat,
           bool pass = false);

  const std::vector<const EndpointSlice*>& slices_;
  std::vector<CheckedSlice> checked_;
  const NodeContext& node_;
  std::vector<net::Ipv4Address> node_ips_;  // unique, in the given order
  absl::flat_hash_map<std::pair<std::string_view, std::string_view>, std::vector<uint32_t>>
      slices_by_service_;
  std::vector<PlannedFrontend> frontends_;
  absl::flat_hash_map<LbFrontendKey, size_t> by_key_;  // index into frontends_
  std::vector<std::string> problems_;
};

std::vector<Candidate> Planner::Candidates(const Service& service, const ServicePort& port,
                                           uint8_t proto) {
  std::vector<Candidate> out;
  auto it = slices_by_service_.find(
      std::pair<std::string_view, std::string_view>(service.meta.namespace_, service.meta.name));
  if (it == slices_by_service_.end()) return out;
  for (uint32_t index : it->second) {
    const EndpointSlice& slice = *slices_[index];
    CheckedSlice& checked = checked_[index];
    if (!checked.checked) CheckSlice(slice, &checked, &problems_);
    // The slice port of the same name and protocol carries the number (a
    // named targetPort resolved per Pod by the EndpointSlice controller).
    std::optional<uint16_t> number;
    for (size_t p = 0; p < slice.ports.size(); ++p) {
      if (slice.ports[p].name == port.name && slice.ports[p].protocol == port.protocol) {
        number = checked.ports[p];
        break;
      }
    }
    if (!number.has_value()) continue;
    for (size_t e = 0; e < slice.endpoints.size(); ++e) {
      const Endpoint& ep = slice.endpoints[e];
      if (!checked.addresses[e].has_value()) continue;
      int rank;
      if (ep.ready) {
        rank = 0;
      } else if (ep.serving && ep.terminating) {
        rank = 1;
      } else {
        continue;
      }
      Candidate c;
      c.backend.ip = *checked.addresses[e];
      c.backend.port = *number;
      c.backend.proto = proto;
      c.rank = rank;
      c.local = !node_.node_name.empty() && ep.node_name == node_.node_name;
      c.node = &ep.node_name;
      out.push_back(c);
    }
  }
  // One candidate per backend (slices may overlap while they are rewritten):
  // the best condition wins, then the node name, for a stable choice.
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    if (a.backend != b.backend) return a.backend < b.backend;
    if (a.rank != b.rank) return a.rank < b.rank;
    return *a.node < *b.node;
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Candidate& a, const Candidate& b) {
                          return a.backend == b.backend;
                        }),
            out.end());
  return out;
}

BackendSet Planner::Limit(BackendSet set, const std::string& service_key, size_t port_index) {
  if (set.backends.size() > kMaxBackendsPerFrontend) {
    problems_.push_back(absl::StrCat("Service ", service_key, ": spec.ports[", port_index, "]: ",
                                     set.backends.size(), " backends, the datapath holds at most ",
                                     kMaxBackendsPerFrontend, " per frontend; the rest are left out"));
    set.backends.resize(kMaxBackendsPerFrontend);
    set.nodes.resize(kMaxBackendsPerFrontend);
  }
  return set;
}

void Planner::Add(const Frontend& f, const LbFrontendKey& key, const BackendSet& set, bool snat,
                  bool pass) {
  PlannedFrontend planned;
  planned.lb.key = key;
  planned.lb.backends = set.backends;
  planned.lb.affinity_timeout_s = f.affinity_timeout_s;
  planned.lb.snat = snat;
  planned.lb.algorithm = pass ? datapath::LbAlgorithm::kRandom : node_.algorithm;
  planned.lb.pass = pass;
  auto [it, inserted] = by_key_.try_emplace(key, frontends_.size());
  if (!inserted) {
    const PlannedFrontend& first = frontends_[it->second];
    if (first.service != *f.service_key) {
      problems_.push_back(absl::StrCat("Service ", *f.service_key, ": ", key.ToString(),
                                       " is already served by Service ", first.service));
    } else if (first.lb != planned.lb) {
      // The same address twice in one Service (an externalIP that is also
      // its load balancer's address) with a different translation.
      problems_.push_back(absl::StrCat("Service ", *f.service_key, ": ", key.ToString(),
                                       " is served twice (", FrontendKindName(first.kind),
                                       " and ", FrontendKindName(f.kind),
                                       "); the first is kept"));
    }
    return;
  }
  planned.service = *f.service_key;
  planned.port_name = f.port->name;
  planned.kind = f.kind;
  planned.backend_nodes = set.nodes;
  frontends_.push_back(std::move(planned));
}

void Planner::Plan(const Service& service) {
  if (service.type == ServiceType::kExternalName) return;
  // Headless: DNS only (Kubernetes allows no nodePort on them either).
  if (service.cluster_ips.empty() || service.cluster_ips[0] == "None" ||
      service.cluster_ips[0].empty()) {
    return;
  }
  const std::string key = service.meta.Key();
  auto report = [&](const std::string& what) {
    problems_.push_back(absl::StrCat("Service ", key, ": ", what));
  };

  std::optional<net::Ipv4Address> cluster_ip;
  for (size_t i = 0; i < service.cluster_ips.size(); ++i) {
    auto ip = net::IpAddress::Parse(service.cluster_ips[i]);
    if (!ip.ok()) {
      report(absl::StrCat("spec.clusterIPs[", i, "]: \"", service.cluster_ips[i],
                          "\" is not an IP address; Service skipped"));
      return;
    }
    if (ip->is_v4() && !cluster_ip.has_value()) cluster_ip = net::Ipv4Address(ip->v4());
  }
  // An IPv6 single-stack Service: nothing for an IPv4 datapath, not even its
  // NodePorts (kube-proxy handles a Service per IP family of its cluster IPs).
  if (!cluster_ip.has_value()) return;

  // Another proxy's: its cluster IP's ports pass; nothing else of it is ours
  // to check or serve.
  if (kubeprism::FindKey(service.meta.labels, kServiceProxyNameLabel) != nullptr) {
    for (const ServicePort& port : service.ports) {
      if (!ValidPort(port.port) || port.protocol == Protocol::kSCTP) continue;
      const uint8_t proto =
          port.protocol == Protocol::kUDP ? datapath::kProtoUdp : datapath::kProtoTcp;
      Add(Frontend{&key, &port, FrontendKind::kOtherProxy, 0},
          {*cluster_ip, static_cast<uint16_t>(port.port), proto, LbScope::kSocket}, {}, false,
          true);
    }
    return;
  }

  uint32_t affinity_timeout_s = 0;
  if (service.session_affinity_client_ip) {
    int32_t t = service.session_affinity_timeout_seconds;
    if (t == 0) t = kDefaultAffinityTimeout;
    if (t < 1 || t > kMaxAffinityTimeout) {
      report(absl::StrCat("spec.sessionAffinityConfig.clientIP.timeoutSeconds: ",
                          OutOfRange(t, kMaxAffinityTimeout), "; Service skipped"));
      return;
    }
    affinity_timeout_s = static_cast<uint32_t>(t);
  }

  // Addresses served on the Service port (both scopes), with their kind.
  std::vector<std::pair<net::Ipv4Address, FrontendKind>> external;
  auto add_external = [&](const std::string& text, const std::string& field, FrontendKind kind) {
    auto ip = net::IpAddress::Parse(text);
    if (!ip.ok()) {
      report(absl::StrCat(field, ": \"", text, "\" is not an IP address"));
    } else if (ip->is_v4()) {
      external.emplace_back(net::Ipv4Address(ip->v4()), kind);
    }
  };
  for (size_t i = 0; i < service.external_ips.size(); ++i) {
    add_external(service.external_ips[i], absl::StrCat("spec.externalIPs[", i, "]"),
                 FrontendKind::kExternalIP);
  }
  if (service.type == ServiceType::kLoadBalancer) {
    for (size_t i = 0; i < service.load_balancer_ips.size(); ++i) {
      add_external(service.load_balancer_ips[i],
                   absl::StrCat("status.loadBalancer.ingress[", i, "].ip"),
                   FrontendKind::kLoadBalancer);
    }
  }
  const bool node_ports =
      service.type == ServiceType::kNodePort || service.type == ServiceType::kLoadBalancer;
  const bool internal_local = service.internal_traffic_policy == TrafficPolicy::kLocal;
  const bool external_local = service.external_traffic_policy == TrafficPolicy::kLocal;

  for (size_t i = 0; i < service.ports.size(); ++i) {
    const ServicePort& port = service.ports[i];
    const std::string field = absl::StrCat("spec.ports[", i, "]");
    uint8_t proto;
    switch (port.protocol) {
      case Protocol::kTCP:
        proto = datapath::kProtoTcp;
        break;
      case Protocol::kUDP:
        proto = datapath::kProtoUdp;
        break;
      default:
        report(absl::StrCat(field, ": protocol ", kubeprism::ProtocolName(port.protocol),
                            " is not supported by Weft's Service translation"));
        continue;
    }
    if (!ValidPort(port.port)) {
      report(absl::StrCat(field, ".port: ", OutOfRange(port.port, 65535)));
      continue;
    }
    if (port.node_port != 0 && !ValidPort(port.node_port)) {
      report(absl::StrCat(field, ".nodePort: ", OutOfRange(port.node_port, 65535)));
      continue;
    }

    const std::vector<Candidate> candidates = Candidates(service, port, proto);
    const BackendSet all = Limit(Usable(candidates, [](const Candidate&) { return true; }), key, i);
    BackendSet local;
    if (internal_local || external_local) {
      local = Limit(Usable(candidates, [](const Candidate& c) { return c.local; }), key, i);
    }
    const BackendSet& external_set = external_local ? local : all;
    const bool snat = !external_local;
    const uint16_t number = static_cast<uint16_t>(port.port);

    Frontend f{&key, &port, FrontendKind::kClusterIP, affinity_timeout_s};
    Add(f, {*cluster_ip, number, proto, LbScope::kSocket}, internal_local ? local : all, false);
    if (node_ports && port.node_port != 0) {
      f.kind = FrontendKind::kNodePort;
      const uint16_t node_port = static_cast<uint16_t>(port.node_port);
      for (const net::Ipv4Address ip : node_ips_) {
        Add(f, {ip, node_port, proto, LbScope::kSocket}, all, false);
        Add(f, {ip, node_port, proto, LbScope::kExternal}, external_set, snat);
      }
    }
    for (const auto& [ip, kind] : external) {
      f.kind = kind;
      Add(f, {ip, number, proto, LbScope::kSocket}, all, false);
      Add(f, {ip, number, proto, LbScope::kExternal}, external_set, snat);
    }
  }
}

ServicePlan Planner::Finish() {
  ServicePlan plan;
  plan.frontends = std::move(frontends_);
  std::sort(plan.frontends.begin(), plan.frontends.end(),
            [](const PlannedFrontend& a, const PlannedFrontend& b) { return a.lb.key < b.lb.key; });
  plan.problems = std::move(problems_);
  return plan;
}

}  // namespace

const char* FrontendKindName(FrontendKind kind) {
  switch (kind) {
    case FrontendKind::kClusterIP:
      return "ClusterIP";
    case FrontendKind::kNodePort:
      return "NodePort";
    case FrontendKind::kExternalIP:
      return "ExternalIP";
    case FrontendKind::kLoadBalancer:
      return "LoadBalancer";
    case FrontendKind::kOtherProxy:
      return "OtherProxy";
  }
  return "?";
}

ServicePlan PlanServices(const std::vector<const kubeprism::Service*>& services,
                         const std::vector<const kubeprism::EndpointSlice*>& slices,
                         const NodeContext& node) {
  // Services in (namespace, name) order: a clash keeps the first, and
  // problems come out in the same order for any input order.
  std::vector<const Service*> ordered = services;
  std::stable_sort(ordered.begin(), ordered.end(), [](const Service* a, const Service* b) {
    return std::tie(a->meta.namespace_, a->meta.name) < std::tie(b->meta.namespace_, b->meta.name);
  });
  Planner planner(slices, node);
  for (const Service* service : ordered) planner.Plan(*service);
  return planner.Finish();
}

ServicePlan PlanServices(const std::vector<kubeprism::Service>& services,
                         const std::vector<kubeprism::EndpointSlice>& slices,
                         const NodeContext& node) {
  std::vector<const Service*> service_ptrs;
  for (const Service& s : services) service_ptrs.push_back(&s);
  std::vector<const EndpointSlice*> slice_ptrs;
  for (const EndpointSlice& s : slices) slice_ptrs.push_back(&s);
  return PlanServices(service_ptrs, slice_ptrs, node);
}

}  // namespace weft::services
