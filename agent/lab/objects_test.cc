#include "agent/lab/objects.h"

#include <yaml-cpp/yaml.h>

#include "agent/config/config.h"
#include "gtest/gtest.h"
#include "kubeprism/decode.h"
#include "kubeprism/kubeconfig.h"

namespace weft::lab {
namespace {

using nlohmann::json;

LabPlan Plan() { return *MakePlan("3f9a", 2, "/var/run/weft-lab"); }

// What the API server stores after a create and a status merge patch.
json Merged(json object, const json& status_patch) {
  object.merge_patch(status_patch);
  return object;
}

TEST(LabObjectsTest, NodeCarriesWhatTheAgentReads) {
  const LabPlan plan = Plan();
  json object = Merged(NodeObject(plan, plan.nodes[0]), NodeStatusPatch(plan.nodes[0]));
  auto node = kubeprism::DecodeNode(object);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->meta.name, "wl3f9a-node1");
  EXPECT_EQ(node->pod_cidrs, std::vector<std::string>{"10.200.1.0/24"});
  ASSERT_EQ(node->addresses.size(), 2u);
  EXPECT_EQ(node->addresses[0].type, "InternalIP");
  EXPECT_EQ(node->addresses[0].address, "198.18.63.11");
  EXPECT_EQ(object["metadata"]["labels"]["weft.dev/lab"], "wl3f9a");
  // Kept away from the scheduler of an existing cluster.
  EXPECT_EQ(object["spec"]["unschedulable"], true);
  EXPECT_EQ(object["spec"]["taints"][0]["effect"], "NoSchedule");
}

TEST(LabObjectsTest, PodIsBoundToItsNodeAndGetsItsAddress) {
  const LabPlan plan = Plan();
  const PodPlan& backend = plan.pods[1];
  json object = Merged(PodObject(plan, backend), PodStatusPatch("10.200.2.1", "198.18.63.12"));
  auto pod = kubeprism::DecodePod(object);
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->meta.Key(), "wl3f9a/backend");
  EXPECT_EQ(pod->node_name, "wl3f9a-node2");
  EXPECT_EQ(pod->pod_ips, std::vector<std::string>{"10.200.2.1"});
  EXPECT_EQ(pod->phase, "Running");
  EXPECT_FALSE(pod->host_network);
  EXPECT_EQ(object["spec"]["containers"][0]["ports"][0]["containerPort"], 8080);
  EXPECT_EQ(object["spec"]["containers"][0]["ports"][0]["name"], "http");
  EXPECT_EQ(object["metadata"]["labels"]["app"], "backend");
  // Ready, as kubelet reports it: what an EndpointSlice controller reads.
  bool ready = false;
  for (const json& c : object["status"]["conditions"]) {
    ready = ready || (c["type"] == "Ready" && c["status"] == "True");
  }
  EXPECT_TRUE(ready);
  EXPECT_EQ(object["spec"]["tolerations"][0]["operator"], "Exists");
  EXPECT_EQ(NamespaceObject(plan)["metadata"]["name"], "wl3f9a");
}

TEST(LabObjectsTest, AgentConfigIsValidForTheAgent) {
  const LabPlan plan = Plan();
  const NodePlan& node = plan.nodes[1];
  auto config =
      agent::ParseAgentConfig(AgentConfigYaml(plan, node, "/opt/weft/weft-cni"), "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->node_name, "wl3f9a-node2");
  EXPECT_EQ(config->kubeconfig, node.kubeconfig_path());
  EXPECT_EQ(config->routing, agent::RoutingMode::kNative);
  EXPECT_TRUE(config->direct_routes);
  EXPECT_EQ(config->devices, std::vector<std::string>{"eth0"});
  EXPECT_EQ(config->native_routing_cidr->ToString(), "10.200.0.0/16");
  EXPECT_EQ(config->socket_path(), node.socket_path());
  EXPECT_EQ(config->bpffs_dir, "/sys/fs/bpf/wl3f9a-node2");
  EXPECT_EQ(config->state_dir, node.agent_state_dir());
  EXPECT_EQ(config->cni_bin_dir, node.cni_bin_dir());
  EXPECT_EQ(config->cni_conf_dir, node.cni_conf_dir());
  EXPECT_EQ(config->cni_plugin, "/opt/weft/weft-cni");

  LabPlan tunnel = plan;
  tunnel.routing = "tunnel";
  config = agent::ParseAgentConfig(AgentConfigYaml(tunnel, node, "/x"), "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->routing, agent::RoutingMode::kTunnel);
  EXPECT_FALSE(config->encryption.enabled());

  LabPlan encrypted = tunnel;
  encrypted.encryption = "wireguard";
  encrypted.encryption_strict = true;
  config = agent::ParseAgentConfig(AgentConfigYaml(encrypted, node, "/x"), "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->encryption.enabled());
  EXPECT_EQ(config->encryption.backend, agent::WireGuardBackend::kUserspace);
  EXPECT_EQ(config->encryption.interface, "wl3f9a-wg2");
  EXPECT_TRUE(config->encryption.strict_mode);
}

TEST(LabObjectsTest, AgentConfigPutsTheSocketProgramsOnTheNodesCgroup) {
  LabPlan plan = Plan();
  SetCgroupRoot("/sys/fs/cgroup/unified", &plan);
  YAML::Node yaml = YAML::Load(AgentConfigYaml(plan, plan.nodes[0], "/x"));
  EXPECT_TRUE(yaml["kubeProxyReplacement"]["enabled"].as<bool>());
  EXPECT_EQ(yaml["kubeProxyReplacement"]["cgroupPath"].as<std::string>(),
            "/sys/fs/cgroup/unified/wl3f9a-node1");
  auto config = agent::ParseAgentConfig(AgentConfigYaml(plan, plan.nodes[0], "/x"), "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->kube_proxy_replacement.enabled);
  EXPECT_EQ(config->kube_proxy_replacement.cgroup_path, "/sys/fs/cgroup/unified/wl3f9a-node1");
  ASSERT_EQ(config->kube_proxy_replacement.service_cidrs.size(), 1u);
  EXPECT_EQ(config->kube_proxy_replacement.service_cidrs[0], plan.service_cidr);
  // An existing cluster (--kubeconfig) has a range of its own: none is given.
  config = agent::ParseAgentConfig(AgentConfigYaml(plan, plan.nodes[0], "/x", false), "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->kube_proxy_replacement.service_cidrs.empty());
}

TEST(LabObjectsTest, ServicesReadAsTheAgentReadsThem) {
  const LabPlan plan = Plan();
  ASSERT_EQ(plan.services.size(), 2u);
  // backend: ClusterIP, targetPort by name.
  json object = ServiceObject(plan, plan.services[1], /*ask_addresses=*/true);
  auto backend = kubeprism::DecodeService(object);
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ(backend->meta.Key(), "wl3f9a/backend");
  EXPECT_EQ(backend->type, kubeprism::ServiceType::kClusterIP);
  EXPECT_EQ(backend->cluster_ips, std::vector<std::string>{"198.19.63.11"});
  ASSERT_EQ(backend->ports.size(), 1u);
  EXPECT_EQ(backend->ports[0].name, "http");
  EXPECT_EQ(backend->ports[0].port, 80);
  EXPECT_TRUE(backend->ports[0].target_port.is_string);
  EXPECT_EQ(backend->ports[0].target_port.string_value, "http");
  EXPECT_EQ(backend->ports[0].node_port, 0);
  EXPECT_EQ(backend->selector, kubeprism::StringMap({{"app", "backend"}}));
  EXPECT_EQ(object["metadata"]["labels"]["weft.dev/lab"], "wl3f9a");

  // frontend: NodePort, targetPort by number.
  object = ServiceObject(plan, plan.services[0], true);
  auto frontend = kubeprism::DecodeService(object);
  ASSERT_TRUE(frontend.ok()) << frontend.status();
  EXPECT_EQ(frontend->type, kubeprism::ServiceType::kNodePort);
  EXPECT_FALSE(frontend->ports[0].target_port.is_string);
  EXPECT_EQ(frontend->ports[0].target_port.int_value, 80);
  EXPECT_EQ(frontend->ports[0].node_port, 30080);
  auto addresses = ServiceAddresses(object);
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_EQ(addresses->first, "198.19.63.10");
  EXPECT_EQ(addresses->second, 30080);

  // An existing cluster allocates both; the lab reads back what it chose.
  object = ServiceObject(plan, plan.services[0], /*ask_addresses=*/false);
  EXPECT_FALSE(object["spec"].contains("clusterIP"));
  EXPECT_FALSE(object["spec"]["ports"][0].contains("nodePort"));
  EXPECT_EQ(ServiceAddresses(object).status().message(),
            "Service frontend: the API server gave it no cluster IP");
  object["spec"]["clusterIP"] = "10.96.7.7";
  object["spec"]["ports"][0]["nodePort"] = 31999;
  EXPECT_EQ(*ServiceAddresses(object), std::make_pair(std::string("10.96.7.7"), 31999));
}

TEST(LabObjectsTest, KubeconfigReadsBackWithEveryField) {
  KubeconfigSpec spec;
  spec.server = "https://127.0.0.1:7445";
  spec.ca_pem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
  spec.tls_server_name = "api.example.com";
  spec.user = "weft-agent:n1";
  spec.client_cert_pem = "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n";
  spec.client_key_pem = "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n";
  auto config = kubeprism::ParseKubeconfig(KubeconfigYaml(spec), "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, spec.server);
  EXPECT_EQ(config->ca_pem, spec.ca_pem);
  EXPECT_EQ(config->tls_server_name, "api.example.com");
  EXPECT_EQ(config->client_cert_pem, spec.client_cert_pem);
  EXPECT_EQ(config->client_key_pem, spec.client_key_pem);

  KubeconfigSpec token = spec;
  token.client_cert_pem.clear();
  token.client_key_pem.clear();
  token.token = "abc.def";
  token.tls_server_name.clear();
  config = kubeprism::ParseKubeconfig(KubeconfigYaml(token), "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->token, "abc.def");
  EXPECT_EQ(config->tls_server_name, "");
}

TEST(LabObjectsTest, ParseServerUrl) {
  auto hp = ParseServerUrl("https://10.5.0.2:6443");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "10.5.0.2");
  EXPECT_EQ(hp->port, 6443);
  hp = ParseServerUrl("https://api.example.com/prefix");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "api.example.com");
  EXPECT_EQ(hp->port, 443);
  hp = ParseServerUrl("https://[fd00::1]:7445");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "fd00::1");
  EXPECT_EQ(hp->port, 7445);
  EXPECT_EQ(ParseServerUrl("http://x:80").status().message(),
            "server \"http://x:80\" is not an https:// URL");
  EXPECT_EQ(ParseServerUrl("https://x:99999").status().message(),
            "server \"https://x:99999\": bad port \"99999\"");
  EXPECT_FALSE(ParseServerUrl("https://:6443").ok());
}

}  // namespace
}  // namespace weft::lab
