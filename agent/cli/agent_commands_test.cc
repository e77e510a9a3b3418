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
  s.set_encryption("WireGuard (userspace, strict)");
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
            "Encryption:           WireGuard (userspace, strict)\n"
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

TEST(AgentCommandsTest, EncryptionStatusShowsPeersPendingAndSkipped) {
  v1::EncryptionStatus e;
  e.set_mode("WireGuard");
  e.set_backend("userspace");
  e.set_interface("weft_wg0");
  e.set_mtu(1420);
  e.set_listen_port(51871);
  e.set_public_key("pub1=");
  e.set_strict_mode(true);
  e.set_strict_mode_drops(4);
  e.set_key_created_unix(1000);
  e.set_rotation_period_seconds(86400);
  e.set_rejected_keys_total(1);
  auto* p = e.add_peers();
  p->set_node("n2");
  p->set_endpoint("198.18.0.12:51871");
  p->add_allowed_ips("10.200.2.0/24");
  p->set_last_handshake_unix(1990);
  p->set_rx_bytes(2048);
  p->set_tx_bytes(3 << 20);
  auto* q = e.add_peers();
  q->set_node("n3");
  e.add_pending_nodes("n4");
  e.add_skipped("node n5: annotation weft.dev/wireguard-public-key \"x\" is not a WireGuard public key");
  EXPECT_EQ(RenderEncryption(e, 2000),
            "Encryption:     WireGuard (userspace, strict)\n"
            "Interface:      weft_wg0 (MTU 1420, port 51871)\n"
            "Public key:     pub1=\n"
            "Key age:        16m40s (rotated every 1d0h)\n"
            "Strict drops:   4\n"
            "Rejected keys:  1\n"
            "Peers:          2\n"
            "  NODE  ENDPOINT           ALLOWED IPS    LAST HANDSHAKE  RX       TX\n"
            "  n2    198.18.0.12:51871  10.200.2.0/24  10s ago         2.0 KiB  3.0 MiB\n"
            "  n3    -                  -              never           0 B      0 B\n"
            "  pending: n4 (has not published a key yet)\n"
            "  skipped: node n5: annotation weft.dev/wireguard-public-key \"x\" is not a WireGuard "
            "public key\n");
  auto j = nlohmann::json::parse(ToJson(e));
  EXPECT_EQ(j["peers"][0]["endpoint"], "198.18.0.12:51871");
  EXPECT_EQ(j["strictModeDrops"], "4");  // proto JSON writes 64-bit integers as strings
}

}  // namespace
}  // namespace weft::cli
