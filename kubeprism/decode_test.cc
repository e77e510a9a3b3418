#include "kubeprism/decode.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::kubeprism {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

json Parse(const char* text) { return json::parse(text); }

TEST(DecodeServiceTest, ReadsUsedFieldsAndIgnoresUnknownOnes) {
  auto s = DecodeService(Parse(R"({
    "kind": "Service", "apiVersion": "v1",
    "metadata": {"namespace": "default", "name": "frontend", "uid": "u1",
                 "resourceVersion": "42", "labels": {"b": "2", "a": "1"},
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}",
                                 "keep": "me"},
                 "managedFields": [{"manager": "kubectl"}], "futureField": {"x": 1}},
    "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00::10"],
             "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "web", "nodePort": 30080},
                       {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353},
                       {"port": 443}],
             "selector": {"app": "frontend"},
             "sessionAffinity": "ClientIP",
             "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 300}},
             "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Cluster",
             "externalIPs": ["192.0.2.1"], "ipFamilies": ["IPv4"], "someNewField": true},
    "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}, {"hostname": "lb.example"}]}}
  })"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->meta.Key(), "default/frontend");
  EXPECT_EQ(s->meta.resource_version, "42");
  EXPECT_THAT(s->meta.labels, ElementsAre(std::pair<std::string, std::string>("a", "1"),
                                          std::pair<std::string, std::string>("b", "2")));
  EXPECT_THAT(s->meta.annotations,
              ElementsAre(std::pair<std::string, std::string>("keep", "me")));
  EXPECT_EQ(s->type, ServiceType::kNodePort);
  EXPECT_THAT(s->cluster_ips, ElementsAre("10.96.0.10", "fd00::10"));
  ASSERT_EQ(s->ports.size(), 3u);
  EXPECT_TRUE(s->ports[0].target_port.is_string);
  EXPECT_EQ(s->ports[0].target_port.string_value, "web");
  EXPECT_EQ(s->ports[0].node_port, 30080);
  EXPECT_EQ(s->ports[1].protocol, Protocol::kUDP);
  EXPECT_EQ(s->ports[1].target_port.int_value, 5353);
  EXPECT_EQ(s->ports[2].target_port.int_value, 443);  // defaults to port
  EXPECT_EQ(*FindKey(s->selector, "app"), "frontend");
  EXPECT_TRUE(s->session_affinity_client_ip);
  EXPECT_EQ(s->session_affinity_timeout_seconds, 300);
  EXPECT_EQ(s->external_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_THAT(s->external_ips, ElementsAre("192.0.2.1"));
  EXPECT_THAT(s->load_balancer_ips, ElementsAre("198.51.100.7"));
}

TEST(DecodeServiceTest, MalformedFieldIsNamed) {
  auto s = DecodeService(Parse(R"({"metadata": {"namespace": "default", "name": "web"},
    "spec": {"ports": [{"port": 80}, {"port": "eighty"}]}})"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(),
              HasSubstr("Service default/web: spec.ports[1].port: expected integer, got string"));
}

TEST(DecodeServiceTest, ClusterIPFallbackAndHeadless) {
  auto s = DecodeService(Parse(
      R"({"metadata": {"namespace": "a", "name": "h"}, "spec": {"clusterIP": "None"}})"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->cluster_ips, ElementsAre("None"));
  EXPECT_FALSE(s->session_affinity_client_ip);
}

TEST(DecodeServiceTest, RejectsUnknownProtocolAndType) {
  auto bad_proto = DecodeService(Parse(
      R"({"metadata": {"namespace": "a", "name": "x"}, "spec": {"ports": [{"port": 1, "protocol": "ICMP"}]}})"));
  EXPECT_THAT(bad_proto.status().message(), HasSubstr("spec.ports[0].protocol"));
  auto bad_type = DecodeService(
      Parse(R"({"metadata": {"namespace": "a", "name": "x"}, "spec": {"type": "Weird"}})"));
  EXPECT_THAT(bad_type.status().message(), HasSubstr("spec.type"));
}

TEST(DecodeMetaTest, MissingNameNamespaceOrWrongKind) {
  EXPECT_THAT(DecodeService(Parse(R"({"metadata": {"namespace": "a"}})")).status().message(),
              HasSubstr("Service <unnamed>: metadata.name: missing"));
  EXPECT_THAT(DecodeService(Parse(R"({"metadata": {"name": "a"}})")).status().message(),
              HasSubstr("metadata.namespace: missing"));
  EXPECT_THAT(DecodeService(Parse(R"({"kind": "Pod", "metadata": {"namespace": "a", "name": "b"}})"))
                  .status()
                  .message(),
              HasSubstr("kind: expected Service, got Pod"));
  EXPECT_THAT(DecodeService(Parse(R"([1, 2])")).status().message(),
              HasSubstr("expected a JSON object, got array"));
  EXPECT_THAT(DecodeService(Parse(R"({"metadata": {"namespace": "a", "name": "b", "labels": {"x": 1}}})"))
                  .status()
                  .message(),
              HasSubstr("metadata.labels[\"x\"]: expected string, got number"));
}

TEST(DecodeEndpointSliceTest, ConditionsDefaultsAndPorts) {
  auto e = DecodeEndpointSlice(Parse(R"({
    "metadata": {"namespace": "default", "name": "web-abc",
                 "labels": {"kubernetes.io/service-name": "web"}},
    "addressType": "IPv4",
    "endpoints": [
      {"addresses": ["10.0.0.1"], "conditions": {"ready": true}, "nodeName": "n1", "zone": "z"},
      {"addresses": ["10.0.0.2"], "conditions": {"ready": false, "serving": true, "terminating": true}},
      {"addresses": ["10.0.0.3", "10.0.0.4"]},
      {"addresses": []}],
    "ports": [{"name": "http", "protocol": "TCP", "port": 8080}, {"name": "all"}]
  })"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->service_name, "web");
  ASSERT_EQ(e->endpoints.size(), 4u);
  EXPECT_EQ(e->endpoints[0].address, "10.0.0.1");
  EXPECT_EQ(e->endpoints[2].address, "10.0.0.3") << "the first of fungible addresses";
  EXPECT_EQ(e->endpoints[3].address, "") << "none given";
  EXPECT_TRUE(e->endpoints[0].ready);
  EXPECT_TRUE(e->endpoints[0].serving);
  EXPECT_EQ(e->endpoints[0].node_name, "n1");
  EXPECT_FALSE(e->endpoints[1].ready);
  EXPECT_TRUE(e->endpoints[1].serving);
  EXPECT_TRUE(e->endpoints[1].terminating);
  EXPECT_TRUE(e->endpoints[2].ready);
  ASSERT_EQ(e->ports.size(), 2u);
  EXPECT_EQ(e->ports[0].port, 8080);
  EXPECT_FALSE(e->ports[1].port.has_value());
}

TEST(DecodeEndpointSliceTest, MalformedEndpointIsNamed) {
  auto e = DecodeEndpointSlice(Parse(R"({"metadata": {"namespace": "d", "name": "s"},
    "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1", 7]}]})"));
  EXPECT_THAT(e.status().message(),
              HasSubstr("EndpointSlice d/s: endpoints[0].addresses[1]: expected string, got number"));
  auto missing = DecodeEndpointSlice(Parse(R"({"metadata": {"namespace": "d", "name": "s"}})"));
  EXPECT_THAT(missing.status().message(), HasSubstr("addressType: missing"));
}

TEST(DecodeNodeTest, PodCIDRsAndAddresses) {
  auto n = DecodeNode(Parse(R"({"metadata": {"name": "n1", "namespace": "ignored"},
    "spec": {"podCIDR": "10.244.1.0/24"},
    "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.10"},
                             {"type": "Hostname", "address": "n1"}]}})"));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->meta.Key(), "n1");
  EXPECT_THAT(n->pod_cidrs, ElementsAre("10.244.1.0/24"));
  ASSERT_EQ(n->addresses.size(), 2u);
  EXPECT_EQ(n->addresses[0].type, "InternalIP");
}

TEST(DecodePodTest, Fields) {
  auto p = DecodePod(Parse(R"({"metadata": {"namespace": "a", "name": "p",
      "deletionTimestamp": "2024-01-01T00:00:00Z"},
    "spec": {"nodeName": "n1", "hostNetwork": true, "serviceAccountName": "sa"},
    "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]}})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->meta.deleting);
  EXPECT_EQ(p->node_name, "n1");
  EXPECT_TRUE(p->host_network);
  EXPECT_THAT(p->pod_ips, ElementsAre("10.0.0.5", "fd00::5"));
  EXPECT_EQ(p->phase, "Running");
  EXPECT_EQ(p->service_account_name, "sa");
  auto bad = DecodePod(Parse(R"({"metadata": {"namespace": "a", "name": "p"}, "spec": {"hostNetwork": "yes"}})"));
  EXPECT_THAT(bad.status().message(), HasSubstr("Pod a/p: spec.hostNetwork: expected boolean"));
}

TEST(DecodePolicyTest, EnvelopeValidated) {
  auto np = DecodeNetworkPolicy(
      Parse(R"({"metadata": {"namespace": "a", "name": "deny"}, "spec": {"podSelector": {}}})"));
  ASSERT_TRUE(np.ok()) << np.status();
  EXPECT_TRUE(np->spec.contains("podSelector"));
  EXPECT_THAT(DecodeNetworkPolicy(Parse(R"({"metadata": {"namespace": "a", "name": "x"}})"))
                  .status()
                  .message(),
              HasSubstr("NetworkPolicy a/x: spec: missing"));
  auto cnp = DecodeCiliumNetworkPolicy(
      Parse(R"({"metadata": {"namespace": "a", "name": "c"}, "specs": [{"endpointSelector": {}}]})"));
  ASSERT_TRUE(cnp.ok()) << cnp.status();
  EXPECT_TRUE(cnp->spec.is_null());
  EXPECT_EQ(cnp->specs.size(), 1u);
  auto ccnp = DecodeCiliumClusterwideNetworkPolicy(Parse(R"({"metadata": {"name": "c"}})"));
  EXPECT_THAT(ccnp.status().message(),
              HasSubstr("CiliumClusterwideNetworkPolicy c: spec: missing"));
}

TEST(DecodeLeaseTest, RoundTrip) {
  Lease lease;
  lease.meta.namespace_ = "kube-system";
  lease.meta.name = "weft";
  lease.meta.resource_version = "7";
  lease.holder_identity = "node-1";
  lease.lease_duration_seconds = 15;
  lease.renew_time = "2024-01-01T00:00:00.000000Z";
  lease.lease_transitions = 2;
  auto back = DecodeLease(EncodeLease(lease));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->meta.resource_version, "7");
  EXPECT_EQ(back->holder_identity, "node-1");
  EXPECT_EQ(back->lease_duration_seconds, 15);
  EXPECT_EQ(back->renew_time, "2024-01-01T00:00:00.000000Z");
  EXPECT_EQ(back->lease_transitions, 2);
}

TEST(DecodeGenericTest, KeepsKind) {
  auto g = DecodeGeneric(Parse(R"({"metadata": {"name": "n"}})"), kNamespaces);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->kind, "Namespace");
}

}  // namespace
}  // namespace weft::kubeprism
