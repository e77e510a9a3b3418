#include "agent/cli/agent_commands.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "agent/api/agent.grpc.pb.h"
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
  s.set_service_frontend_count(0);
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

TEST(AgentCommandsTest, StatusNamesTheKubeProxyReplacementFeatures) {
  v1::AgentStatus s;
  s.set_node("node-1");
  s.set_healthy(true);
  s.set_kube_proxy_replacement("True");
  for (const char* f : {"ClusterIP", "NodePort", "SocketLB (cgroup /sys/fs/cgroup)", "Random"}) {
    s.add_kube_proxy_replacement_features(f);
  }
  s.set_service_frontend_count(6);
  const std::string text = RenderStatus(s);
  EXPECT_NE(text.find("KubeProxyReplacement: True (ClusterIP, NodePort, SocketLB (cgroup "
                      "/sys/fs/cgroup), Random)\n"
                      "Services:             6 frontends\n"),
            std::string::npos)
      << text;
  s.set_service_frontend_count(1);
  EXPECT_NE(RenderStatus(s).find("Services:             1 frontend\n"), std::string::npos);
  // An agent that says nothing is not handling Services.
  s.Clear();
  EXPECT_NE(RenderStatus(s).find("KubeProxyReplacement: False\n"), std::string::npos);
  EXPECT_EQ(RenderStatus(s).find("Services:"), std::string::npos);
}

TEST(AgentCommandsTest, StatusJsonHasEveryFieldEvenWhenZero) {
  v1::AgentStatus s;
  s.set_node("node-1");
  auto j = nlohmann::json::parse(ToJson(s));
  EXPECT_EQ(j["node"], "node-1");
  EXPECT_EQ(j["endpointCount"], 0);
  EXPECT_EQ(j["healthy"], false);
  EXPECT_TRUE(j.contains("kubeProxyReplacement"));
  EXPECT_EQ(j["kubeProxyReplacementFeatures"], nlohmann::json::array());
  EXPECT_EQ(j["serviceFrontendCount"], 0);
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

v1::ServiceFrontend* AddFrontend(v1::ListServicesResponse* list, const char* service,
                                 const char* port_name, const char* kind, const char* address,
                                 int port, const char* scope) {
  v1::ServiceFrontend* f = list->add_frontends();
  f->set_service(service);
  f->set_port_name(port_name);
  f->set_kind(kind);
  f->set_address(address);
  f->set_port(port);
  f->set_protocol("TCP");
  f->set_scope(scope);
  f->set_algorithm("random");
  return f;
}

void AddBackend(v1::ServiceFrontend* f, const char* address, int port, const char* node) {
  v1::ServiceBackend* b = f->add_backends();
  b->set_address(address);
  b->set_port(port);
  b->set_node(node);
}

TEST(AgentCommandsTest, ServiceTableIsSortedWithBackendsAndMarks) {
  v1::ListServicesResponse list;
  v1::ServiceFrontend* np =
      AddFrontend(&list, "shop/web", "http", "NodePort", "198.18.0.11", 30080, "external");
  np->set_source_nat(true);
  np->set_algorithm("maglev");
  AddBackend(np, "10.244.1.5", 8080, "n1");
  AddBackend(np, "10.244.2.7", 8080, "n2");
  AddFrontend(&list, "default/empty", "", "ClusterIP", "10.96.0.20", 80, "socket");
  v1::ServiceFrontend* web =
      AddFrontend(&list, "shop/web", "http", "ClusterIP", "10.96.0.10", 80, "socket");
  web->set_affinity_timeout_seconds(10800);
  AddBackend(web, "10.244.1.5", 8080, "n1");
  AddBackend(web, "10.244.2.7", 8080, "n2");
  list.add_skipped("Service shop/db: spec.ports[0].protocol: SCTP is not translated");
  EXPECT_EQ(RenderServices(list),
            "SERVICE        KIND       FRONTEND               SCOPE     ALGORITHM  BACKENDS       "
            "                  NOTES\n"
            "default/empty  ClusterIP  10.96.0.20:80/TCP      socket    random     (none: "
            "refused)                  -\n"
            "shop/web:http  ClusterIP  10.96.0.10:80/TCP      socket    random     "
            "10.244.1.5:8080,10.244.2.7:8080  affinity 3h0m\n"
            "shop/web:http  NodePort   198.18.0.11:30080/TCP  external  maglev     "
            "10.244.1.5:8080,10.244.2.7:8080  SNAT\n"
            "  skipped: Service shop/db: spec.ports[0].protocol: SCTP is not translated\n");
  auto j = nlohmann::json::parse(ToJson(list));
  EXPECT_EQ(j["frontends"][0]["kind"], "NodePort");
  EXPECT_EQ(j["frontends"][0]["backends"][1]["node"], "n2");
  EXPECT_EQ(j["frontends"][1]["backends"], nlohmann::json::array());
  EXPECT_EQ(j["skipped"].size(), 1u);
}

TEST(AgentCommandsTest, AnotherProxysFrontendIsShownAsPassedNotRefused) {
  v1::ListServicesResponse list;
  AddFrontend(&list, "default/theirs", "", "OtherProxy", "10.96.0.40", 80, "socket")
      ->set_pass(true);
  EXPECT_NE(RenderServices(list).find("(none: passed to another proxy)"), std::string::npos)
      << RenderServices(list);
  EXPECT_EQ(RenderServices(list).find("refused"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(ToJson(list))["frontends"][0]["pass"], true);
}

// An agent on a socket of the test's own, answering ListServices as an agent
// whose kube-proxy replacement is off does.
class KubeProxyReplacementOff final : public v1::Agent::Service {
  grpc::Status ListServices(grpc::ServerContext*, const v1::ListServicesRequest*,
                            v1::ListServicesResponse*) override {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "kube-proxy replacement is disabled");
  }
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                         v1::AgentStatus* status) override {
    status->set_node("n1");
    status->set_healthy(true);
    status->set_kube_proxy_replacement("False");
    return grpc::Status::OK;
  }
};

TEST(AgentCommandsTest, ServiceListWhenTheReplacementIsOffSaysSo) {
  // A short path: a UNIX socket address holds 107 characters, the test folder may be longer.
  const std::string socket = absl::StrCat("/tmp/weft-cli-test-", getpid(), ".sock");
  unlink(socket.c_str());
  KubeProxyReplacementOff agent;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials());
  builder.RegisterService(&agent);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  std::ostringstream out, err;
  EXPECT_EQ(ServiceListCommand({"--socket", socket}, out, err), 1);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(),
            "weft service list: this agent does not handle Services (kube-proxy replacement is "
            "off: kubeProxyReplacement.enabled in its config): kube-proxy replacement is "
            "disabled\n");

  std::ostringstream status_out, status_err;
  EXPECT_EQ(StatusCommand({"--socket", socket}, status_out, status_err), 0);
  EXPECT_NE(status_out.str().find("KubeProxyReplacement: False\n"), std::string::npos);
  server->Shutdown();
  unlink(socket.c_str());
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
  std::ostringstream out2, err2;
  EXPECT_EQ(ServiceListCommand({"-o", "yaml"}, out2, err2), 2);
  EXPECT_EQ(err2.str(), "weft service list: -o must be text or json, not \"yaml\"\n");
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
