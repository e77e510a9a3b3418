// The Service planner: Services and EndpointSlices (as the API server has
// them) -> the frontends this node's datapath must hold. Pure: no kernel, no
// API calls; the agent feeds it its informers' caches and writes the result
// with datapath::ServiceMap::Replace.
//
// Semantics follow kube-proxy:
//   - ClusterIP: one socket-scope frontend per cluster IP and port; backends
//     per internalTrafficPolicy (Local: only endpoints on this node).
//   - NodePort (type NodePort and LoadBalancer with a nodePort): a frontend on
//     every node address, in both scopes.
//   - externalIPs and status.loadBalancer.ingress[].ip: like NodePort but on
//     those addresses and the Service port.
//   - External scope frontends follow externalTrafficPolicy: Cluster -> all
//     endpoints and source NAT; Local -> only this node's endpoints, source
//     kept. Socket scope frontends of those kinds use all endpoints (traffic
//     from inside the cluster, as kube-proxy treats it).
//   - Endpoints: ready ones serve; serving+terminating ones only when a port
//     has no ready endpoint within the traffic policy's scope (all nodes for
//     Cluster, this node for Local, as kube-proxy decides it); others never. targetPort by name is what
//     the EndpointSlice port of the same name says.
//   - Headless (clusterIP None) and ExternalName Services get no frontend.
//   - A Service labelled kServiceProxyNameLabel is another proxy's: its
//     cluster IP and ports get pass-through frontends (socket scope, no
//     backends: neither translated nor refused), nothing else.
//   - IPv6 addresses are ignored (the datapath is IPv4), SCTP ports are
//     skipped and reported (the socket programs do not translate SCTP).
// Bad input (an unparsable or out-of-range field) skips the smallest part that
// contains it, reported with the object and field; everything else is kept.
#ifndef WEFT_AGENT_SERVICES_PLAN_H_
#define WEFT_AGENT_SERVICES_PLAN_H_

#include <string>
#include <vector>

#include "agent/datapath/lb_types.h"
#include "common/net/ip.h"
#include "kubeprism/objects.h"

namespace weft::services {

enum class FrontendKind { kClusterIP, kNodePort, kExternalIP, kLoadBalancer, kOtherProxy };
const char* FrontendKindName(FrontendKind kind);  // "ClusterIP", "NodePort", ..., "OtherProxy"

// The label by which a Service names the proxy that serves it (kube-proxy
// leaves such Services alone).
inline constexpr char kServiceProxyNameLabel[] = "service.kubernetes.io/service-proxy-name";

struct PlannedFrontend {
  datapath::LbService lb;
  std::string service;    // "namespace/name"
  std::string port_name;  // the Service port's name ("" when unnamed)
  FrontendKind kind = FrontendKind::kClusterIP;
  // Node of each backend, in the order of lb.backends ("" when unknown).
  std::vector<std::string> backend_nodes;
};

struct NodeContext {
  std::string node_name;
  // Where NodePorts are served: the node's addresses (InternalIP first).
  std::vector<net::IpAddress> node_addresses;
  datapath::LbAlgorithm algorithm = datapath::LbAlgorithm::kRandom;
};

struct ServicePlan {
  // Sorted by key; keys are unique (a clash keeps the first Service by
  // (namespace, name), namespace first, and reports the other).
  std::vector<PlannedFrontend> frontends;
  // One line per skipped object or field:
  // "Service default/web: spec.ports[1].port: 70000 is out of range (1-65535)".
  std::vector<std::string> problems;
};

// Plans from the objects as the informers cache them (nothing is copied).
ServicePlan PlanServices(const std::vector<const kubeprism::Service*>& services,
                         const std::vector<const kubeprism::EndpointSlice*>& slices,
                         const NodeContext& node);
// The same for objects held by value.
ServicePlan PlanServices(const std::vector<kubeprism::Service>& services,
                         const std::vector<kubeprism::EndpointSlice>& slices,
                         const NodeContext& node);

}  // namespace weft::services

#endif  // WEFT_AGENT_SERVICES_PLAN_H_
