#include "agent/config/config.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace weft::agent {
namespace {

TEST(AgentConfigTest, FullExampleParses) {
  std::string dir = std::string(getenv("TEST_SRCDIR")) + "/weft/testdata/agent/";
  auto c = LoadAgentConfig(dir + "config-full.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_name, "worker-1");
  EXPECT_EQ(c->routing, RoutingMode::kNative);
  EXPECT_EQ(c->devices, std::vector<std::string>{"eth0"});
  EXPECT_EQ(c->native_routing_cidr->ToString(), "10.244.0.0/16");
  EXPECT_EQ(c->socket_path(), "/var/run/weft/weft.sock");
  EXPECT_EQ(c->cni_plugin, "/usr/local/lib/weft/weft-cni");
  EXPECT_TRUE(c->encryption.enabled());
  EXPECT_EQ(c->encryption.backend, WireGuardBackend::kAuto);
  EXPECT_EQ(c->encryption.interface, "weft_wg0");
  EXPECT_EQ(c->encryption.port, 51871);
  EXPECT_TRUE(c->encryption.strict_mode);
  EXPECT_EQ(c->encryption.rotation_period_seconds, 30 * 86400);
  EXPECT_EQ(c->encryption.wireguard_go, "/usr/local/lib/weft/wireguard-go");
  EXPECT_TRUE(c->kube_proxy_replacement.enabled);
  EXPECT_EQ(c->kube_proxy_replacement.algorithm, datapath::LbAlgorithm::kMaglev);
  EXPECT_EQ(c->kube_proxy_replacement.cgroup_path, "/sys/fs/cgroup");
  ASSERT_EQ(c->kube_proxy_replacement.service_cidrs.size(), 1u);
  EXPECT_EQ(c->kube_proxy_replacement.service_cidrs[0].ToString(), "10.96.0.0/12");
}

TEST(AgentConfigTest, MinimalConfigGetsDefaults) {
  auto c = ParseAgentConfig("nodeName: n1\n", "agent.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->bpffs_dir, "/sys/fs/bpf/weft");
  EXPECT_TRUE(c->masquerade);
  EXPECT_FALSE(c->native_routing_cidr.has_value());
  EXPECT_FALSE(c->encryption.enabled());
  EXPECT_EQ(c->encryption.rotation_period_seconds, 0);
  EXPECT_TRUE(c->kube_proxy_replacement.enabled);
  EXPECT_EQ(c->kube_proxy_replacement.algorithm, datapath::LbAlgorithm::kRandom);
  EXPECT_EQ(c->kube_proxy_replacement.cgroup_path, "/sys/fs/cgroup");
  EXPECT_TRUE(c->kube_proxy_replacement.service_cidrs.empty());
}

struct BadCase {
  const char* yaml;
  const char* error;
};

class AgentConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(AgentConfigErrorTest, OneLineNamingFileLineAndField) {
  auto c = ParseAgentConfig(GetParam().yaml, "agent.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, AgentConfigErrorTest,
    ::testing::Values(
        BadCase{"nodeName: n1\nroutnig: native\n", "agent.yaml:2: routnig: unknown field"},
        BadCase{"nodeName: n1\nrouting: overlay\n",
                "agent.yaml:2: routing: \"overlay\" is not native or tunnel"},
        BadCase{"nodeName: n1\nnativeRoutingCIDR: 10.244.0.0/33\n",
                "agent.yaml:2: nativeRoutingCIDR: invalid CIDR \"10.244.0.0/33\": prefix length "
                "must be 0..32"},
        BadCase{"nodeName: n1\nmasquerade: maybe\n", "agent.yaml:2: masquerade: must be true or false"},
        BadCase{"nodeName: n1\nstateDir: relative/dir\n",
                "agent.yaml:2: stateDir: must be an absolute path"},
        BadCase{"nodeName: n1\ndevices: eth0\n",
                "agent.yaml:2: devices: must be a list of interface names"},
        BadCase{"nodeName: n1\ntunnelPort: 70000\n",
                "agent.yaml:2: tunnelPort: must be an integer 1..65535"},
        BadCase{"routing: native\n", "agent.yaml: nodeName: required"},
        BadCase{"nodeName: [unclosed\n", "agent.yaml:2: not valid YAML: end of sequence flow not found"},
        BadCase{"- a\n- b\n", "agent.yaml:1: the config must be a YAML map"},
        BadCase{"nodeName: n1\nencryption: wireguard\n", "agent.yaml:2: encryption: must be a map"},
        BadCase{"nodeName: n1\nencryption:\n  type: ipsec\n",
                "agent.yaml:3: encryption.type: \"ipsec\" is not one of none, wireguard"},
        BadCase{"nodeName: n1\nencryption:\n  type: wireguard\n  backend: module\n",
                "agent.yaml:4: encryption.backend: \"module\" is not one of auto, kernel, userspace"},
        BadCase{"nodeName: n1\nencryption:\n  type: wireguard\n  interface: a-very-long-interface\n",
                "agent.yaml:4: encryption.interface: is not an interface name (1-15 characters, no / "
                "or space)"},
        BadCase{"nodeName: n1\nencryption:\n  port: 0\n",
                "agent.yaml:3: encryption.port: must be an integer 1..65535"},
        BadCase{"nodeName: n1\nencryption:\n  strictMode: true\n",
                "agent.yaml:3: encryption.strictMode: needs type: wireguard"},
        BadCase{"nodeName: n1\nencryption:\n  rotationPeriod: 1w\n",
                "agent.yaml:3: encryption.rotationPeriod: \"1w\" is not a period like 0, 90s, 30m, 12h "
                "or 7d"},
        BadCase{"nodeName: n1\nencryption:\n  rotationPeriod: 10s\n",
                "agent.yaml:3: encryption.rotationPeriod: must be 0 (off) or at least a minute"},
        BadCase{"nodeName: n1\nencryption:\n  nodeEncryption: true\n",
                "agent.yaml:3: encryption.nodeEncryption: unknown field"},
        BadCase{"nodeName: n1\nkubeProxyReplacement: true\n",
                "agent.yaml:2: kubeProxyReplacement: must be a map"},
        BadCase{"nodeName: n1\nkubeProxyReplacement:\n  algorithm: roundrobin\n",
                "agent.yaml:3: kubeProxyReplacement.algorithm: \"roundrobin\" is not one of maglev, "
                "random"},
        BadCase{"nodeName: n1\nkubeProxyReplacement:\n  cgroupPath: sys/fs/cgroup\n",
                "agent.yaml:3: kubeProxyReplacement.cgroupPath: must be an absolute path"},
        BadCase{"nodeName: n1\nkubeProxyReplacement:\n  serviceCIDRs: 10.96.0.0/12\n",
                "agent.yaml:3: kubeProxyReplacement.serviceCIDRs: must be a list of IPv4 CIDRs"},
        BadCase{"nodeName: n1\nkubeProxyReplacement:\n  serviceCIDRs: [10.96.0.1/12]\n",
                "agent.yaml:3: kubeProxyReplacement.serviceCIDRs[0]: invalid CIDR \"10.96.0.1/12\": "
                "host bits set (did you mean 10.96.0.0/12?)"},
        BadCase{"nodeName: n1\nkubeProxyReplacement:\n  serviceCIDRs: [\"fd00:96::/108\"]\n",
                "agent.yaml:3: kubeProxyReplacement.serviceCIDRs[0]: only IPv4 ranges (the Service "
                "datapath is IPv4)"},
        BadCase{"nodeName: n1\nkubeProxyReplacement:\n  enabled: maybe\n",
                "agent.yaml:3: kubeProxyReplacement.enabled: must be true or false"},
        BadCase{"nodeName: n1\nkubeProxyReplacement:\n  hostServices: true\n",
                "agent.yaml:3: kubeProxyReplacement.hostServices: unknown field"}));

}  // namespace
}  // namespace weft::agent
