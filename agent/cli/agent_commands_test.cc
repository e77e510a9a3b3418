#include "agent/cli/agent_commands.h"

#include <sstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace weft::cli {
namespace {

namespace v1 = weft::agent::v1;

TEST(AgentCommandsTest, StatusTextNamesEveryFieldAndTheProblems) {
  v1::AgentStatus s;
  s.set_node("node-1");
  s.set_healthy(false);
  s.add_problems("node n3: podCIDRs[0] \"x\": not a prefix");
  s.set_api_server("https://127.0.0.1:7445");
  s.set_api_connected(true);
  s.set_datapath_mode("ebpf");
  s.set_routing_mode("native");
  s.set_kube_proxy_replacement("False");
  s.add_pod_cidrs("10.244.1.0/24");
  s.set_node_count(3);
  s.set_endpoint_count(7);
  s.set_version("v0.1.0");
  s.set_uptime_seconds(3725);
  EXPECT_EQ(RenderStatus(s),
            "Node:                 node-1\n"
            "Health:               Degraded (1 problems)\n"
            "API server:           https://127.0.0.1:7445 (connected)\n"
            "Datapath:             ebpf\n"
            "Routing:              native\n"
            "KubeProxyReplacement: False\n"
            "Pod CIDRs:            10.244.1.0/24\n"
            "Nodes:                3\n"
            "Endpoints:            7\n"
            "Version:              v0.1.0 (up 1h2m)\n"
            "  problem: node n3: podCIDRs[0] \"x\": not a prefix\n");
}

TEST(AgentCommandsTest, StatusJsonHasEveryFieldEvenWhenZero) {
  v1::AgentStatus s;
  s.set_node("node-1");
  auto j = nlohmann::json::parse(ToJson(s));
  EXPECT_EQ(j["node"], "node-1");
  EXPECT_EQ(j["endpointCount"], 0);
  EXPECT_EQ(j["healthy"], false);
  EXPECT_TRUE(j.contains("kubeProxyReplacement"));
}

TEST(AgentCommandsTest, EndpointTableIsSortedAndAligned) {
  v1::ListEndpointsResponse list;
  auto add = [&](const char* ns, const char* pod, const char* ip, const char* ifname, bool prog) {
    v1::Endpoint* e = list.add_endpoints();
    e->set_pod_namespace(ns);
    e->set_pod_name(pod);
    e->add_addresses(ip);
    e->set_host_ifname(ifname);
    e->set_node("n1");
    e->set_programmed(prog);
  };
  add("shop", "redis-0", "10.244.1.9/32", "lxc0000000000b", true);
  add("default", "web", "10.244.1.2/32", "lxc0000000000a", false);
  EXPECT_EQ(RenderEndpoints(list),
            "NAMESPACE  POD      IP             INTERFACE       NODE\n"
            "default    web      10.244.1.2/32  lxc0000000000a  n1 (not programmed)\n"
            "shop       redis-0  10.244.1.9/32  lxc0000000000b  n1\n");
}

TEST(AgentCommandsTest, AgentNotRunningIsOneActionableLine) {
  std::ostringstream out, err;
  int rc = StatusCommand({"--socket", "/nonexistent/weft.sock"}, out, err);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(err.str(),
            "weft status: the agent is not answering on /nonexistent/weft.sock (is weft-agent "
            "running? are you root?)\n");
  EXPECT_EQ(out.str(), "");
}

TEST(AgentCommandsTest, BadOutputFormatIsAUsageError) {
  std::ostringstream out, err;
  EXPECT_EQ(EndpointListCommand({"-o", "yaml"}, out, err), 2);
  EXPECT_EQ(err.str(), "weft endpoint list: -o must be text or json, not \"yaml\"\n");
}

}  // namespace
}  // namespace weft::cli
