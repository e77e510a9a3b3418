#include "agent/services/plan.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace weft::services {
namespace {

using datapath::LbAlgorithm;
using kubeprism::AddressType;
using kubeprism::Endpoint;
using kubeprism::EndpointPort;
using kubeprism::EndpointSlice;
using kubeprism::Protocol;
using kubeprism::Service;
using kubeprism::ServicePort;
using kubeprism::ServiceType;
using kubeprism::TrafficPolicy;

net::IpAddress Ip(const std::string& s) { return *net::IpAddress::Parse(s); }

ServicePort Port(const std::string& name, int32_t port, Protocol protocol = Protocol::kTCP,
                 int32_t node_port = 0) {
  ServicePort p;
  p.name = name;
  p.protocol = protocol;
  p.port = port;
  p.target_port.int_value = port;
  p.node_port = node_port;
  return p;
}

Service Svc(const std::string& ns, const std::string& name, const std::string& cluster_ip,
            std::vector<ServicePort> ports, ServiceType type = ServiceType::kClusterIP) {
  Service s;
  s.meta.namespace_ = ns;
  s.meta.name = name;
  s.type = type;
  if (!cluster_ip.empty()) s.cluster_ips = {cluster_ip};
  s.ports = std::move(ports);
  s.selector = {{"app", name}};
  return s;
}

EndpointPort SlicePort(const std::string& name, std::optional<int32_t> port,
                       Protocol protocol = Protocol::kTCP) {
  EndpointPort p;
  p.name = name;
  p.protocol = protocol;
  p.port = port;
  return p;
}

Endpoint Ep(const std::string& address, const std::string& node, bool ready = true,
            bool serving = true, bool terminating = false) {
  Endpoint e;
  e.address = address;
  e.node_name = node;
  e.ready = ready;
  e.serving = serving;
  e.terminating = terminating;
  return e;
}

EndpointSlice Slice(const std::string& ns, const std::string& name, const std::string& service,
                    std::vector<EndpointPort> ports, std::vector<Endpoint> endpoints) {
  EndpointSlice s;
  s.meta.namespace_ = ns;
  s.meta.name = name;
  s.meta.labels = {{"kubernetes.io/service-name", service}};
  s.service_name = service;
  s.address_type = AddressType::kIPv4;
  s.ports = std::move(ports);
  s.endpoints = std::move(endpoints);
  return s;
}

NodeContext Node() {
  NodeContext n;
  n.node_name = "node-a";
  n.node_addresses = {Ip("192.168.50.10")};
  return n;
}

std::vector<std::string> Keys(const ServicePlan& plan) {
  std::vector<std::string> out;
  for (const auto& f : plan.frontends) out.push_back(f.lb.key.ToString());
  return out;
}

const PlannedFrontend* Find(const ServicePlan& plan, const std::string& key) {
  for (const auto& f : plan.frontends) {
    if (f.lb.key.ToString() == key) return &f;
  }
  return nullptr;
}

std::vector<std::string> Backends(const PlannedFrontend* f) {
  std::vector<std::string> out;
  if (f == nullptr) return {"<no frontend>"};
  for (const auto& b : f->lb.backends) out.push_back(b.ToString());
  return out;
}

using Strings = std::vector<std::string>;

TEST(PlanServicesTest, ClusterIpGetsOneSocketFrontendPerPort) {
  Service web = Svc("default", "web", "10.96.0.20",
                    {Port("http", 80), Port("dns", 53, Protocol::kUDP)});
  EndpointSlice slice = Slice("default", "web-abc", "web",
                              {SlicePort("http", 8080), SlicePort("dns", 5353, Protocol::kUDP)},
                              {Ep("10.244.1.5", "node-a"), Ep("10.244.2.7", "node-b")});
  NodeContext node = Node();
  node.algorithm = LbAlgorithm::kMaglev;
  auto plan = PlanServices({web}, {slice}, node);

  EXPECT_TRUE(plan.problems.empty());
  EXPECT_EQ(Keys(plan), (Strings{"10.96.0.20:53/UDP (socket)", "10.96.0.20:80/TCP (socket)"}));
  const PlannedFrontend* dns = Find(plan, "10.96.0.20:53/UDP (socket)");
  ASSERT_NE(dns, nullptr);
  EXPECT_EQ(Backends(dns), (Strings{"10.244.1.5:5353", "10.244.2.7:5353"}));
  EXPECT_EQ(dns->lb.backends[0].proto, datapath::kProtoUdp);
  EXPECT_EQ(dns->backend_nodes, (Strings{"node-a", "node-b"}));
  EXPECT_EQ(dns->service, "default/web");
  EXPECT_EQ(dns->port_name, "dns");
  EXPECT_EQ(dns->kind, FrontendKind::kClusterIP);
  EXPECT_FALSE(dns->lb.snat);
  EXPECT_EQ(dns->lb.affinity_timeout_s, 0u);
  EXPECT_EQ(dns->lb.algorithm, LbAlgorithm::kMaglev);
  const PlannedFrontend* http = Find(plan, "10.96.0.20:80/TCP (socket)");
  EXPECT_EQ(Backends(http), (Strings{"10.244.1.5:8080", "10.244.2.7:8080"}));
  EXPECT_EQ(http->lb.backends[0].proto, datapath::kProtoTcp);
  EXPECT_EQ(http->lb.algorithm, LbAlgorithm::kMaglev);
}

TEST(PlanServicesTest, NamedTargetPortIsResolvedPerSlice) {
  Service web = Svc("default", "web", "10.96.0.20", {Port("http", 80)});
  web.ports[0].target_port = {true, 0, "web"};
  // Two Deployments behind one Service name the container port "web" with
  // different numbers; the controller writes one slice per number.
  auto plan = PlanServices(
      {web},
      {Slice("default", "web-1", "web", {SlicePort("http", 8080)}, {Ep("10.244.1.5", "node-a")}),
       Slice("default", "web-2", "web", {SlicePort("http", 9090)}, {Ep("10.244.2.7", "node-b")}),
       // Another port name, another protocol: not this Service port.
       Slice("default", "web-3", "web", {SlicePort("metrics", 9100)}, {Ep("10.244.3.1", "")}),
       Slice("default", "web-4", "web", {SlicePort("http", 7070, Protocol::kUDP)},
             {Ep("10.244.3.2", "")})},
      Node());
  EXPECT_TRUE(plan.problems.empty());
  EXPECT_EQ(Backends(Find(plan, "10.96.0.20:80/TCP (socket)")),
            (Strings{"10.244.1.5:8080", "10.244.2.7:9090"}));
}

TEST(PlanServicesTest, NodePortOnEveryNodeAddressInBothScopes) {
  Service web = Svc("default", "web", "10.96.0.20", {Port("", 80, Protocol::kTCP, 30080)},
                    ServiceType::kNodePort);
  NodeContext node = Node();
  node.node_addresses = {Ip("192.168.50.10"), Ip("fd00::10"), Ip("10.0.0.10"),
                         Ip("192.168.50.10")};
  auto plan = PlanServices(
      {web},
      {Slice("default", "web-1", "web", {SlicePort("", 8080)},
             {Ep("10.244.1.5", "node-a"), Ep("10.244.2.7", "node-b")})},
      node);
  EXPECT_TRUE(plan.problems.empty());
  EXPECT_EQ(Keys(plan), (Strings{"10.0.0.10:30080/TCP (socket)", "10.0.0.10:30080/TCP (external)",
                                 "10.96.0.20:80/TCP (socket)", "192.168.50.10:30080/TCP (socket)",
                                 "192.168.50.10:30080/TCP (external)"}));
  for (const auto& f : plan.frontends) {
    EXPECT_EQ(Backends(&f), (Strings{"10.244.1.5:8080", "10.244.2.7:8080"})) << f.lb.key.ToString();
    if (f.lb.key.ip.ToString() == "10.96.0.20") continue;
    EXPECT_EQ(f.kind, FrontendKind::kNodePort);
    // externalTrafficPolicy Cluster: clients from outside are source-NATed.
    EXPECT_EQ(f.lb.snat, f.lb.key.scope == datapath::LbScope::kExternal) << f.lb.key.ToString();
  }
}

TEST(PlanServicesTest, LoadBalancerIngressAndExternalIpsOnTheServicePort) {
  Service lb = Svc("default", "lb", "10.96.0.30", {Port("https", 443, Protocol::kTCP, 31443)},
                   ServiceType::kLoadBalancer);
  lb.load_balancer_ips = {"203.0.113.10"};
  lb.external_ips = {"198.51.100.7"};
  // allocateLoadBalancerNodePorts: false -> no nodePort, no NodePort frontend.
  Service no_node_port = Svc("default", "lb2", "10.96.0.31", {Port("", 80)},
                             ServiceType::kLoadBalancer);
  no_node_port.load_balancer_ips = {"203.0.113.11"};
  // externalIPs apply to every type; ingress addresses only to LoadBalancer.
  Service plain = Svc("default", "plain", "10.96.0.32", {Port("", 80)});
  plain.external_ips = {"198.51.100.8"};
  plain.load_balancer_ips = {"203.0.113.12"};
  auto plan = PlanServices({lb, no_node_port, plain}, {}, Node());
  EXPECT_TRUE(plan.problems.empty());
  EXPECT_EQ(Keys(plan),
            (Strings{"10.96.0.30:443/TCP (socket)", "10.96.0.31:80/TCP (socket)",
                     "10.96.0.32:80/TCP (socket)", "192.168.50.10:31443/TCP (socket)",
                     "192.168.50.10:31443/TCP (external)", "198.51.100.7:443/TCP (socket)",
                     "198.51.100.7:443/TCP (external)", "198.51.100.8:80/TCP (socket)",
                     "198.51.100.8:80/TCP (external)", "203.0.113.10:443/TCP (socket)",
                     "203.0.113.10:443/TCP (external)", "203.0.113.11:80/TCP (socket)",
                     "203.0.113.11:80/TCP (external)"}));
  EXPECT_EQ(Find(plan, "203.0.113.10:443/TCP (external)")->kind, FrontendKind::kLoadBalancer);
  EXPECT_TRUE(Find(plan, "203.0.113.10:443/TCP (external)")->lb.snat);
  EXPECT_EQ(Find(plan, "198.51.100.7:443/TCP (socket)")->kind, FrontendKind::kExternalIP);
  EXPECT_FALSE(Find(plan, "198.51.100.7:443/TCP (socket)")->lb.snat);
  EXPECT_EQ(Find(plan, "198.51.100.7:443/TCP (socket)")->port_name, "https");
  // No endpoints yet: the frontends exist and refuse.
  EXPECT_TRUE(Find(plan, "203.0.113.10:443/TCP (external)")->lb.backends.empty());
}

TEST(PlanServicesTest, AnotherProxysServicePassesThroughOnItsClusterIpOnly) {
  Service theirs = Svc("default", "theirs", "10.96.0.40",
                       {Port("http", 80, Protocol::kTCP, 30090), Port("dns", 53, Protocol::kUDP)},
                       ServiceType::kLoadBalancer);
  theirs.meta.labels = {{std::string(kServiceProxyNameLabel), "another-proxy"}};
  theirs.load_balancer_ips = {"203.0.113.40"};
  std::vector<EndpointSlice> slices = {
      Slice("default", "theirs-1", "theirs", {SlicePort("http", 8080)}, {Ep("10.244.1.5", "node-a")})};
  auto plan = PlanServices({theirs}, slices, Node());
  EXPECT_TRUE(plan.problems.empty());
  // No NodePort, no load-balancer address, no backends: the cluster IP's
  // ports pass (neither translated nor refused by the Service ranges).
  EXPECT_EQ(Keys(plan), (Strings{"10.96.0.40:53/UDP (socket)", "10.96.0.40:80/TCP (socket)"}));
  for (const auto& f : plan.frontends) {
    EXPECT_TRUE(f.lb.pass) << f.lb.key.ToString();
    EXPECT_TRUE(f.lb.backends.empty()) << f.lb.key.ToString();
    EXPECT_EQ(f.kind, FrontendKind::kOtherProxy);
    EXPECT_EQ(f.service, "default/theirs");
  }
  EXPECT_STREQ(FrontendKindName(FrontendKind::kOtherProxy), "OtherProxy");
}

TEST(PlanServicesTest, HeadlessAndExternalNameGetNothing) {
  Service headless = Svc("default", "db", "None", {Port("", 5432)});
  Service no_ip = Svc("default", "db2", "", {Port("", 5432)});
  Service external_name = Svc("default", "ext", "", {Port("", 443)}, ServiceType::kExternalName);
  external_name.external_ips = {"198.51.100.7"};
  auto plan = PlanServices(
      {headless, no_ip, external_name},
      {Slice("default", "db-1", "db", {SlicePort("", 5432)}, {Ep("not-an-ip", "node-a")})}, Node());
  EXPECT_TRUE(plan.frontends.empty());
  EXPECT_TRUE(plan.problems.empty()) << plan.problems[0];
}

TEST(PlanServicesTest, SelectorlessServiceUsesItsHandMadeSlice) {
  Service ext = Svc("infra", "vault", "10.96.5.5", {Port("api", 8200)});
  ext.selector.clear();
  auto plan = PlanServices(
      {ext},
      {Slice("infra", "vault-manual", "vault", {SlicePort("api", 8200)},
             {Ep("192.168.60.4", ""), Ep("192.168.60.5", "")}),
       // Same Service name in another namespace: not this Service's.
       Slice("other", "vault-manual", "vault", {SlicePort("api", 8200)}, {Ep("192.168.60.9", "")})},
      Node());
  EXPECT_TRUE(plan.problems.empty());
  const PlannedFrontend* f = Find(plan, "10.96.5.5:8200/TCP (socket)");
  EXPECT_EQ(Backends(f), (Strings{"192.168.60.4:8200", "192.168.60.5:8200"}));
  EXPECT_EQ(f->backend_nodes, (Strings{"", ""}));
}

TEST(PlanServicesTest, ReadyServeTerminatingServingOnlyWhenNoneIsReady) {
  Service web = Svc("default", "web", "10.96.0.20", {Port("", 80)});
  auto plan_with = [&](std::vector<Endpoint> endpoints) {
    return PlanServices(
        {web}, {Slice("default", "web-1", "web", {SlicePort("", 8080)}, std::move(endpoints))},
        Node());
  };
  const Endpoint ready = Ep("10.244.1.1", "node-b");
  const Endpoint draining = Ep("10.244.1.2", "node-b", false, true, true);
  const Endpoint failing = Ep("10.244.1.3", "node-b", false, false, true);
  const Endpoint not_ready = Ep("10.244.1.4", "node-b", false, false, false);

  EXPECT_EQ(Backends(plan_with({ready, draining, failing, not_ready}).frontends.data()),
            (Strings{"10.244.1.1:8080"}));
  EXPECT_EQ(Backends(plan_with({draining, failing, not_ready}).frontends.data()),
            (Strings{"10.244.1.2:8080"}));
  auto none = plan_with({failing, not_ready});
  ASSERT_EQ(none.frontends.size(), 1u);
  EXPECT_TRUE(none.frontends[0].lb.backends.empty());
}

TEST(PlanServicesTest, InternalTrafficPolicyLocalKeepsClusterIpOnThisNode) {
  Service web = Svc("default", "web", "10.96.0.20", {Port("", 80, Protocol::kTCP, 30080)},
                    ServiceType::kNodePort);
  web.internal_traffic_policy = TrafficPolicy::kLocal;
  std::vector<EndpointSlice> slices = {
      Slice("default", "web-1", "web", {SlicePort("", 8080)},
            {Ep("10.244.1.5", "node-a"), Ep("10.244.2.7", "node-b")})};
  auto plan = PlanServices({web}, slices, Node());
  EXPECT_EQ(Backends(Find(plan, "10.96.0.20:80/TCP (socket)")), (Strings{"10.244.1.5:8080"}));
  EXPECT_EQ(Find(plan, "10.96.0.20:80/TCP (socket)")->backend_nodes, (Strings{"node-a"}));
  // internalTrafficPolicy is about the cluster IP only.
  EXPECT_EQ(Backends(Find(plan, "192.168.50.10:30080/TCP (socket)")).size(), 2u);
  EXPECT_EQ(Backends(Find(plan, "192.168.50.10:30080/TCP (external)")).size(), 2u);

  // No endpoint on this node: the frontend stays, with nothing to pick.
  NodeContext other = Node();
  other.node_name = "node-c";
  auto empty = PlanServices({web}, slices, other);
  ASSERT_NE(Find(empty, "10.96.0.20:80/TCP (socket)"), nullptr);
  EXPECT_TRUE(Find(empty, "10.96.0.20:80/TCP (socket)")->lb.backends.empty());
  EXPECT_TRUE(empty.problems.empty());
}

TEST(PlanServicesTest, ExternalTrafficPolicyLocalKeepsSourceAndLocalEndpoints) {
  Service lb = Svc("default", "lb", "10.96.0.30", {Port("", 80, Protocol::kTCP, 30080)},
                   ServiceType::kLoadBalancer);
  lb.external_traffic_policy = TrafficPolicy::kLocal;
  lb.load_balancer_ips = {"203.0.113.10"};
  auto plan = PlanServices(
      {lb},
      {Slice("default", "lb-1", "lb", {SlicePort("", 8080)},
             {Ep("10.244.1.5", "node-a"), Ep("10.244.2.7", "node-b")})},
      Node());
  for (const char* key : {"192.168.50.10:30080/TCP (external)", "203.0.113.10:80/TCP (external)"}) {
    const PlannedFrontend* f = Find(plan, key);
    EXPECT_EQ(Backends(f), (Strings{"10.244.1.5:8080"})) << key;
    EXPECT_FALSE(f->lb.snat) << key;
  }
  // From inside the node, every endpoint (kube-proxy's short-circuit).
  for (const char* key : {"10.96.0.30:80/TCP (socket)", "192.168.50.10:30080/TCP (socket)",
                          "203.0.113.10:80/TCP (socket)"}) {
    const PlannedFrontend* f = Find(plan, key);
    EXPECT_EQ(Backends(f).size(), 2u) << key;
    EXPECT_FALSE(f->lb.snat) << key;
  }
}

// KEP-1669: the fallback to terminating endpoints is decided per traffic
// policy scope, so a node whose own endpoints all terminate keeps serving its
// Local traffic with them while ready endpoints exist on other nodes.
TEST(PlanServicesTest, LocalSetFallsBackToLocalTerminatingEndpointsOnItsOwn) {
  Service lb = Svc("default", "lb", "10.96.0.30", {Port("", 80, Protocol::kTCP, 30080)},
                   ServiceType::kNodePort);
  lb.external_traffic_policy = TrafficPolicy::kLocal;
  auto plan = PlanServices(
      {lb},
      {Slice("default", "lb-1", "lb", {SlicePort("", 8080)},
             {Ep("10.244.1.5", "node-a", false, true, true), Ep("10.244.2.7", "node-b")})},
      Node());
  EXPECT_EQ(Backends(Find(plan, "192.168.50.10:30080/TCP (external)")),
            (Strings{"10.244.1.5:8080"}));
  EXPECT_EQ(Backends(Find(plan, "10.96.0.30:80/TCP (socket)")), (Strings{"10.244.2.7:8080"}));
}

TEST(PlanServicesTest, SessionAffinityTimeoutDefaultExplicitAndInvalid) {
  Service by_default = Svc("default", "a", "10.96.0.1", {Port("", 80)});
  by_default.session_affinity_client_ip = true;
  Service explicit_timeout = Svc("default", "b", "10.96.0.2", {Port("", 80)});
  explicit_timeout.session_affinity_client_ip = true;
  explicit_timeout.session_affinity_timeout_seconds = 60;
  Service too_long = Svc("default", "c", "10.96.0.3", {Port("", 80)});
  too_long.session_affinity_client_ip = true;
  too_long.session_affinity_timeout_seconds = 90000;
  Service negative = Svc("default", "d", "10.96.0.4", {Port("", 80)});
  negative.session_affinity_client_ip = true;
  negative.session_affinity_timeout_seconds = -5;
  Service none = Svc("default", "e", "10.96.0.5", {Port("", 80)});
  none.session_affinity_timeout_seconds = 60;  // ignored without ClientIP

  auto plan = PlanServices({by_default, explicit_timeout, too_long, negative, none}, {}, Node());
  EXPECT_EQ(Keys(plan), (Strings{"10.96.0.1:80/TCP (socket)", "10.96.0.2:80/TCP (socket)",
                                 "10.96.0.5:80/TCP (socket)"}));
  EXPECT_EQ(plan.frontends[0].lb.affinity_timeout_s, 10800u);
  EXPECT_EQ(plan.frontends[1].lb.affinity_timeout_s, 60u);
  EXPECT_EQ(plan.frontends[2].lb.affinity_timeout_s, 0u);
  EXPECT_EQ(plan.problems,
            (Strings{"Service default/c: spec.sessionAffinityConfig.clientIP.timeoutSeconds: 90000 "
                     "is out of range (1-86400); Service skipped",
                     "Service default/d: spec.sessionAffinityConfig.clientIP.timeoutSeconds: -5 "
                     "is out of range (1-86400); Service skipped"}));
}

TEST(PlanServicesTest, SctpPortIsReportedAndTheOthersKept) {
  Service sig = Svc("telco", "sig", "10.96.7.7",
                    {Port("sctp", 3868, Protocol::kSCTP), Port("tcp", 3868)});
  auto plan = PlanServices(
      {sig},
      {Slice("telco", "sig-1", "sig",
             {SlicePort("sctp", 3868, Protocol::kSCTP), SlicePort("tcp", 3868)},
             {Ep("10.244.1.5", "node-a")})},
      Node());
  EXPECT_EQ(Keys(plan), (Strings{"10.96.7.7:3868/TCP (socket)"}));
  EXPECT_EQ(plan.problems, (Strings{"Service telco/sig: spec.ports[0]: protocol SCTP is not "
                                    "supported by Weft's Service translation"}));
}

TEST(PlanServicesTest, BadFieldsSkipTheSmallestPartAndTheRestIsKept) {
  Service web = Svc("default", "web", "10.96.0.20",
                    {Port("http", 80, Protocol::kTCP, 30080), Port("big", 70000),
                     Port("np", 81, Protocol::kTCP, 70001), Port("zero", 0)},
                    ServiceType::kLoadBalancer);
  web.external_ips = {"198.51.100.7", "bogus"};
  web.load_balancer_ips = {"203.0.113.300", "203.0.113.10"};
  Service broken = Svc("default", "broken", "10.96.0.999", {Port("", 80)});
  Service fine = Svc("other", "fine", "10.96.1.1", {Port("", 80)});
  std::vector<EndpointSlice> slices = {
      Slice("default", "web-abc", "web", {SlicePort("http", 8080)},
            {Ep("10.244.1.5", "node-a"), Ep("10.244.1.6", "node-a"), Ep("10.244.1.x", "node-a"),
             Ep("fd00::5", "node-a")}),
      Slice("default", "web-nil", "web", {SlicePort("http", std::nullopt)},
            {Ep("10.244.2.5", "node-b")}),
      Slice("default", "web-big", "web", {SlicePort("http", 65536)}, {Ep("10.244.2.6", "node-b")}),
      Slice("other", "fine-1", "fine", {SlicePort("", 8080)}, {Ep("10.244.3.5", "node-b")}),
  };
  slices[0].endpoints.push_back(Endpoint{});  // no address at all
  auto plan = PlanServices({fine, broken, web}, slices, Node());

  EXPECT_EQ(Keys(plan),
            (Strings{"10.96.0.20:80/TCP (socket)", "10.96.1.1:80/TCP (socket)",
                     "192.168.50.10:30080/TCP (socket)", "192.168.50.10:30080/TCP (external)",
                     "198.51.100.7:80/TCP (socket)", "198.51.100.7:80/TCP (external)",
                     "203.0.113.10:80/TCP (socket)", "203.0.113.10:80/TCP (external)"}));
  EXPECT_EQ(Backends(Find(plan, "10.96.0.20:80/TCP (socket)")),
            (Strings{"10.244.1.5:8080", "10.244.1.6:8080"}));
  EXPECT_EQ(Backends(Find(plan, "10.96.1.1:80/TCP (socket)")), (Strings{"10.244.3.5:8080"}));
  EXPECT_EQ(
      plan.problems,
      (Strings{
          "Service default/broken: spec.clusterIPs[0]: \"10.96.0.999\" is not an IP address; "
          "Service skipped",
          "Service default/web: spec.externalIPs[1]: \"bogus\" is not an IP address",
          "Service default/web: status.loadBalancer.ingress[0].ip: \"203.0.113.300\" is not an IP "
          "address",
          "EndpointSlice default/web-abc: endpoints[2].addresses[0]: \"10.244.1.x\" is not an IPv4 "
          "address",
          "EndpointSlice default/web-abc: endpoints[3].addresses[0]: \"fd00::5\" is not an IPv4 "
          "address",
          "EndpointSlice default/web-abc: endpoints[4].addresses: empty",
          "EndpointSlice default/web-big: ports[0].port: 65536 is out of range (1-65535)",
          "EndpointSlice default/web-nil: ports[0].port: missing (a Service port needs a number)",
          "Service default/web: spec.ports[1].port: 70000 is out of range (1-65535)",
          "Service default/web: spec.ports[2].nodePort: 70001 is out of range (1-65535)",
          "Service default/web: spec.ports[3].port: 0 is out of range (1-65535)",
      }));
}

TEST(PlanServicesTest, ClashKeepsTheFirstServiceByNamespaceAndName) {
  Service y = Svc("a", "y", "10.96.0.1", {Port("", 80)});
  y.external_ips = {"203.0.113.5"};
  Service x = Svc("b", "x", "10.96.0.2", {Port("", 80), Port("alt", 8080)});
  x.external_ips = {"203.0.113.5"};
  auto plan = PlanServices({x, y}, {}, Node());
  EXPECT_EQ(Find(plan, "203.0.113.5:80/TCP (socket)")->service, "a/y");
  EXPECT_EQ(Find(plan, "203.0.113.5:80/TCP (external)")->service, "a/y");
  EXPECT_EQ(Find(plan, "203.0.113.5:8080/TCP (external)")->service, "b/x");
  EXPECT_EQ(Find(plan, "10.96.0.2:80/TCP (socket)")->service, "b/x");
  EXPECT_EQ(plan.problems,
            (Strings{"Service b/x: 203.0.113.5:80/TCP (socket) is already served by Service a/y",
                     "Service b/x: 203.0.113.5:80/TCP (external) is already served by Service a/y"}));
  // Keys are unique.
  auto keys = Keys(plan);
  EXPECT_EQ(std::unique(keys.begin(), keys.end()), keys.end());
}

TEST(PlanServicesTest, SameAddressTwiceInOneServiceIsOneFrontend) {
  Service lb = Svc("default", "lb", "10.96.0.30", {Port("", 80)}, ServiceType::kLoadBalancer);
  lb.external_ips = {"203.0.113.10"};
  lb.load_balancer_ips = {"203.0.113.10"};
  auto plan = PlanServices({lb}, {}, Node());
  EXPECT_TRUE(plan.problems.empty());
  EXPECT_EQ(Keys(plan), (Strings{"10.96.0.30:80/TCP (socket)", "203.0.113.10:80/TCP (socket)",
                                 "203.0.113.10:80/TCP (external)"}));
  EXPECT_EQ(Find(plan, "203.0.113.10:80/TCP (socket)")->kind, FrontendKind::kExternalIP);
}

TEST(PlanServicesTest, Ipv6IsIgnoredSilently) {
  Service dual = Svc("default", "dual", "10.96.0.40", {Port("", 80)}, ServiceType::kLoadBalancer);
  dual.cluster_ips = {"10.96.0.40", "fd00:96::40"};
  dual.external_ips = {"2001:db8::7"};
  dual.load_balancer_ips = {"2001:db8::10", "203.0.113.10"};
  Service v6_only = Svc("default", "six", "fd00:96::41", {Port("", 80, Protocol::kTCP, 30081)},
                        ServiceType::kNodePort);
  v6_only.external_ips = {"198.51.100.7"};
  EndpointSlice v6_slice =
      Slice("default", "dual-v6", "dual", {SlicePort("", 8080)}, {Ep("fd00:244::5", "node-a")});
  v6_slice.address_type = AddressType::kIPv6;
  auto plan = PlanServices(
      {dual, v6_only},
      {v6_slice,
       Slice("default", "dual-v4", "dual", {SlicePort("", 8080)}, {Ep("10.244.1.5", "node-a")})},
      Node());
  EXPECT_TRUE(plan.problems.empty()) << plan.problems[0];
  EXPECT_EQ(Keys(plan), (Strings{"10.96.0.40:80/TCP (socket)", "203.0.113.10:80/TCP (socket)",
                                 "203.0.113.10:80/TCP (external)"}));
  for (const auto& f : plan.frontends) {
    EXPECT_EQ(Backends(&f), (Strings{"10.244.1.5:8080"}));
  }
}

TEST(PlanServicesTest, BackendsAreDeduplicatedAcrossSlicesAndSorted) {
  Service web = Svc("default", "web", "10.96.0.20", {Port("", 80)});
  auto plan = PlanServices(
      {web},
      {Slice("default", "web-2", "web", {SlicePort("", 8080)},
             {Ep("10.244.9.1", "node-b"), Ep("10.244.1.5", "node-a", false, true, true)}),
       Slice("default", "web-1", "web", {SlicePort("", 8080)},
             {Ep("10.244.1.5", "node-a"), Ep("10.244.1.10", "node-a"), Ep("10.244.1.5", "node-a")})},
      Node());
  const PlannedFrontend* f = Find(plan, "10.96.0.20:80/TCP (socket)");
  // Sorted by address value (10.244.1.10 after 10.244.1.5), each once; the
  // copy that is ready wins over the terminating one.
  EXPECT_EQ(Backends(f), (Strings{"10.244.1.5:8080", "10.244.1.10:8080", "10.244.9.1:8080"}));
  EXPECT_EQ(f->backend_nodes, (Strings{"node-a", "node-a", "node-b"}));
}

TEST(PlanServicesTest, BackendsBeyondTheDatapathLimitAreLeftOutAndReported) {
  Service big = Svc("default", "big", "10.96.0.50", {Port("", 80)});
  EndpointSlice slice = Slice("default", "big-1", "big", {SlicePort("", 8080)}, {});
  for (uint32_t i = 0; i < 70000; ++i) {
    slice.endpoints.push_back(Ep(net::IpAddress::V4(0x0af40000u + i).ToString(), "node-b"));
  }
  auto plan = PlanServices({big}, {slice}, Node());
  ASSERT_EQ(plan.frontends.size(), 1u);
  EXPECT_EQ(plan.frontends[0].lb.backends.size(), 65535u);
  EXPECT_EQ(plan.frontends[0].backend_nodes.size(), 65535u);
  EXPECT_EQ(plan.problems,
            (Strings{"Service default/big: spec.ports[0]: 70000 backends, the datapath holds at "
                     "most 65535 per frontend; the rest are left out"}));
}

bool SamePlan(const ServicePlan& a, const ServicePlan& b) {
  if (a.problems != b.problems || a.frontends.size() != b.frontends.size()) return false;
  for (size_t i = 0; i < a.frontends.size(); ++i) {
    const auto& x = a.frontends[i];
    const auto& y = b.frontends[i];
    if (x.lb != y.lb || x.service != y.service || x.port_name != y.port_name ||
        x.kind != y.kind || x.backend_nodes != y.backend_nodes) {
      return false;
    }
  }
  return true;
}

TEST(PlanServicesTest, SameInputInAnyOrderGivesTheSamePlan) {
  std::vector<Service> services;
  std::vector<EndpointSlice> slices;
  for (int i = 0; i < 40; ++i) {
    const std::string name = absl::StrCat("svc-", i);
    Service s = Svc(i % 2 ? "a" : "b", name, absl::StrCat("10.96.0.", i),
                    {Port("", 80, Protocol::kTCP, 30000 + i)}, ServiceType::kNodePort);
    s.external_ips = {absl::StrCat("203.0.113.", i % 5)};  // clashes
    services.push_back(s);
    for (int k = 0; k < 2; ++k) {
      slices.push_back(Slice(s.meta.namespace_, absl::StrCat(name, "-", k), name,
                             {SlicePort("", 8000 + k)},
                             {Ep(absl::StrCat("10.244.", k, ".", i), k ? "node-a" : "node-b"),
                              Ep("10.244.9.9", absl::StrCat("node-", k)), Ep("bad", "")}));
    }
  }
  const ServicePlan expected = PlanServices(services, slices, Node());
  EXPECT_FALSE(expected.problems.empty());
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(services.begin(), services.end(), rng);
    std::shuffle(slices.begin(), slices.end(), rng);
    EXPECT_TRUE(SamePlan(PlanServices(services, slices, Node()), expected)) << round;
  }
}

// The size of a large cluster: 10,000 Services, 50,000 endpoints (timing is
// measured by benchmarks, not asserted here).
TEST(PlanServicesTest, TenThousandServicesFiftyThousandEndpoints) {
  std::vector<Service> services;
  std::vector<EndpointSlice> slices;
  NodeContext node = Node();
  node.node_addresses = {Ip("192.168.50.10"), Ip("10.0.0.10")};
  for (uint32_t i = 0; i < 10000; ++i) {
    const std::string ns = absl::StrCat("ns-", i % 50);
    const std::string name = absl::StrCat("svc-", i);
    const bool node_port = i % 10 == 0;
    Service s = Svc(ns, name, net::IpAddress::V4(0x0a600000u + i).ToString(),
                    {Port("http", 80, Protocol::kTCP, node_port ? 30000 + i / 10 : 0)},
                    node_port ? ServiceType::kNodePort : ServiceType::kClusterIP);
    services.push_back(std::move(s));
    EndpointSlice slice = Slice(ns, name + "-x1", name, {SlicePort("http", 8080)}, {});
    for (uint32_t k = 0; k < 5; ++k) {
      slice.endpoints.push_back(Ep(net::IpAddress::V4(0x0af40000u + i * 5 + k).ToString(),
                                   absl::StrCat("node-", k)));
    }
    slices.push_back(std::move(slice));
  }
  auto plan = PlanServices(services, slices, node);
  EXPECT_TRUE(plan.problems.empty());
  // 10,000 cluster IPs + 1,000 NodePorts x 2 addresses x 2 scopes.
  EXPECT_EQ(plan.frontends.size(), 14000u);
  size_t backends = 0;
  for (const auto& f : plan.frontends) {
    if (f.kind == FrontendKind::kClusterIP) backends += f.lb.backends.size();
  }
  EXPECT_EQ(backends, 50000u);
}

}  // namespace
}  // namespace weft::services
