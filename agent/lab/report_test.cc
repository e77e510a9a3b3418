#include "agent/lab/report.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace weft::lab {
namespace {

LabReport Example() {
  LabReport r;
  r.prefix = "wl3f9a";
  r.state_dir = "/var/run/weft-lab";
  r.phase = "ready";
  r.api_mode = "embedded";
  r.api_server = "https://127.0.0.1:40035";
  r.routing = "native";
  r.segment = "198.18.63.0/24";
  r.outside = "192.0.2.1";
  r.controller_pid = 100;
  r.controller_running = true;
  NodeRow n1{"wl3f9a-node1", "198.18.63.11", "10.200.1.0/24", 101, true, true, "", {}, 1, ""};
  NodeRow n2{"wl3f9a-node2", "198.18.63.12", "10.200.2.0/24", 102, true, true, "", {}, 2, ""};
  r.nodes = {n1, n2};
  r.pods = {{"wl3f9a", "frontend", "wl3f9a-node1", "10.200.1.1", 80, "Running"},
            {"wl3f9a", "backend", "wl3f9a-node2", "10.200.2.1", 8080, "Running"}};
  r.sources = {"pod frontend", "pod backend", "node wl3f9a-node1"};
  r.targets = {"frontend", "backend"};
  for (const auto& from : r.sources) {
    for (const auto& to : r.targets) r.cells.push_back({from, to, true, ""});
  }
  return r;
}

TEST(LabReportTest, AllPassingRendersTablesAndOk) {
  const LabReport r = Example();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.passed(), 6);
  EXPECT_EQ(
      RenderReport(r),
      "lab wl3f9a (ready): API server https://127.0.0.1:40035 (embedded), controller pid 100\n"
      "node segment 198.18.63.0/24, native routing, outside 192.0.2.1, state /var/run/weft-lab\n"
      "\n"
      "NODE          INTERNAL-IP   POD-CIDR       AGENT\n"
      "wl3f9a-node1  198.18.63.11  10.200.1.0/24  pid 101, healthy, 1 endpoint\n"
      "wl3f9a-node2  198.18.63.12  10.200.2.0/24  pid 102, healthy, 2 endpoints\n"
      "\n"
      "POD              NODE          IP          PORT  PHASE\n"
      "wl3f9a/frontend  wl3f9a-node1  10.200.1.1  80    Running\n"
      "wl3f9a/backend   wl3f9a-node2  10.200.2.1  8080  Running\n"
      "\n"
      "CONNECTIVITY (TCP connect + greeting, row -> column)\n"
      "FROM               frontend  backend\n"
      "pod frontend       ok        ok\n"
      "pod backend        ok        ok\n"
      "node wl3f9a-node1  ok        ok\n"
      "\n"
      "result: ok (6/6 connections)\n");
}

TEST(LabReportTest, TalosModeNamesTheContainers) {
  LabReport r = Example();
  r.talos_extension = "/x/weft-extension.oci";
  r.nodes[0].container = "wl3f9a-node1-ext-weft";
  r.nodes[1].container = "wl3f9a-node2-ext-weft";
  r.nodes[1].agent_running = false;
  const std::string text = RenderReport(r);
  EXPECT_NE(text.find("Talos mode: each agent in a runc container of the extension "
                      "/x/weft-extension.oci\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("container wl3f9a-node1-ext-weft (runc pid 101), healthy, 1 endpoint"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("NOT RUNNING (container wl3f9a-node2-ext-weft (runc pid 102))"),
            std::string::npos)
      << text;
  const nlohmann::json j = nlohmann::json::parse(ReportJson(r));
  EXPECT_EQ(j["talosExtension"], "/x/weft-extension.oci");
  EXPECT_EQ(j["nodes"][0]["agent"]["container"], "wl3f9a-node1-ext-weft");
}

TEST(LabReportTest, FailuresAndProblemsAreListedAndNotOk) {
  LabReport r = Example();
  r.cells[1].ok = false;
  r.cells[1].error = "connect 10.200.2.1:8080: Connection timed out";
  r.nodes[1].agent_healthy = false;
  r.nodes[1].agent_problems = {"routes: no route to wl3f9a-node1"};
  const std::string text = RenderReport(r);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(text.find("pod frontend       ok        FAIL\n"), std::string::npos) << text;
  EXPECT_NE(
      text.find("wl3f9a-node2  198.18.63.12  10.200.2.0/24  pid 102, UNHEALTHY (1 problem)\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("failed connections:\n"
                      "  pod frontend -> backend: connect 10.200.2.1:8080: Connection timed out\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("problems:\n  agent on wl3f9a-node2: routes: no route to wl3f9a-node1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("result: FAILING (5/6 connections)\n"), std::string::npos) << text;
}

TEST(LabReportTest, ControllerGoneIsNotOkEvenIfCellsPass) {
  LabReport r = Example();
  r.controller_running = false;
  EXPECT_FALSE(r.ok());
  EXPECT_NE(RenderReport(r).find("controller pid 100 NOT RUNNING"), std::string::npos);
  r = Example();
  r.cells.clear();
  EXPECT_FALSE(r.ok()) << "no cells is no evidence";
  r = Example();
  r.nodes[0].agent_running = false;
  EXPECT_FALSE(r.ok());
  EXPECT_NE(RenderReport(r).find("NOT RUNNING (pid 101)"), std::string::npos);
}

TEST(LabReportTest, JsonHasTheSameFacts) {
  LabReport r = Example();
  r.cells[5].ok = false;
  r.cells[5].error = "refused";
  nlohmann::json j = nlohmann::json::parse(ReportJson(r));
  EXPECT_EQ(j["prefix"], "wl3f9a");
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["controller"]["running"], true);
  EXPECT_EQ(j["nodes"][1]["agent"]["endpoints"], 2);
  EXPECT_EQ(j["pods"][1]["ip"], "10.200.2.1");
  EXPECT_EQ(j["connectivity"]["passed"], 5);
  EXPECT_EQ(j["connectivity"]["total"], 6);
  EXPECT_EQ(j["connectivity"]["cells"][5]["from"], "node wl3f9a-node1");
  EXPECT_EQ(j["connectivity"]["cells"][5]["error"], "refused");
}

TEST(LabReportTest, EncryptionAddsAColumnWithPeers) {
  LabReport r = Example();
  r.encryption = "wireguard";
  r.nodes[0].encryption = "WireGuard (userspace)";
  r.nodes[0].peers = 1;
  r.nodes[0].peers_with_handshake = 1;
  r.nodes[1].encryption = "WireGuard (userspace)";
  r.nodes[1].peers = 1;
  r.nodes[1].encryption_skipped = {"node x: bad key"};
  std::string text = RenderReport(r);
  EXPECT_NE(text.find("native routing, wireguard encryption, outside"), std::string::npos) << text;
  EXPECT_NE(text.find("ENCRYPTION"), std::string::npos) << text;
  EXPECT_NE(text.find("WireGuard (userspace), 1 peer (1 with handshake)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("WireGuard (userspace), 1 peer (0 with handshake), 1 skipped"), std::string::npos)
      << text;
  auto j = nlohmann::json::parse(ReportJson(r));
  EXPECT_EQ(j["encryption"], "wireguard");
  EXPECT_EQ(j["nodes"][0]["encryption"]["peersWithHandshake"], 1);
}

// Example() with the lab's Services, every cell passing.
LabReport WithServices() {
  LabReport r = Example();
  for (NodeRow& n : r.nodes) {
    n.kube_proxy_replacement = "True";
    n.kube_proxy_replacement_features = {"ClusterIP", "NodePort", "SocketLB (cgroup /x)", "Random"};
    n.service_frontends = 4;
  }
  r.services = {
      {"wl3f9a", "frontend", "NodePort", "198.19.63.10", 80, 30080, "80", {"10.200.1.1:80"}, true},
      {"wl3f9a", "backend", "ClusterIP", "198.19.63.11", 80, 0, "http", {"10.200.2.1:8080"}, true}};
  r.service_sources = {"node wl3f9a-node1", "node wl3f9a-node2", "pod frontend", "pod backend"};
  r.service_targets = {"frontend", "backend"};
  for (const auto& from : r.service_sources) {
    for (const auto& to : r.service_targets) r.service_cells.push_back({from, to, true, ""});
  }
  r.nodeport_nodes = {"wl3f9a-node1", "wl3f9a-node2"};
  r.nodeport_targets = {"frontend:30080"};
  for (const auto& node : r.nodeport_nodes) {
    r.nodeport_cells.push_back({"lab namespace", "frontend nodePort on " + node, true, ""});
  }
  return r;
}

TEST(LabReportTest, ServicesSectionShowsAddressesEndpointsAndBothMatrices) {
  const LabReport r = WithServices();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.services_passed(), 10);
  EXPECT_EQ(r.services_total(), 10);
  const std::string text = RenderReport(r);
  EXPECT_NE(text.find("NODE          INTERNAL-IP   POD-CIDR       AGENT                          "
                      "KUBE-PROXY-REPLACEMENT\n"
                      "wl3f9a-node1  198.18.63.11  10.200.1.0/24  pid 101, healthy, 1 endpoint   "
                      "True, 4 frontends\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("SERVICE          TYPE       CLUSTER-IP    PORT                ENDPOINTS\n"
                      "wl3f9a/frontend  NodePort   198.19.63.10  80:30080/TCP -> 80  "
                      "10.200.1.1:80\n"
                      "wl3f9a/backend   ClusterIP  198.19.63.11  80/TCP -> http      "
                      "10.200.2.1:8080\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("SERVICES BY CLUSTER-IP (TCP connect + greeting, socket in the node's "
                      "cgroup, row -> column)\n"
                      "FROM               frontend  backend\n"
                      "node wl3f9a-node1  ok        ok\n"
                      "node wl3f9a-node2  ok        ok\n"
                      "pod frontend       ok        ok\n"
                      "pod backend        ok        ok\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("SERVICES BY NODEPORT (TCP connect + greeting from the lab namespace to "
                      "each node's InternalIP)\n"
                      "TO            frontend:30080\n"
                      "wl3f9a-node1  ok\n"
                      "wl3f9a-node2  ok\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nresult: ok (6/6 connections, 10/10 through Services)\n"),
            std::string::npos)
      << text;
}

TEST(LabReportTest, AServiceThatFailsSaysWhyAndIsNotOk) {
  LabReport r = WithServices();
  r.nodes[1].kube_proxy_replacement = "False";
  r.nodes[1].service_frontends = 0;
  r.services[1].endpoints.clear();
  r.services[0].endpoints_known = false;
  r.service_cells[1].ok = false;
  r.service_cells[1].error = "connect 198.19.63.11:80: Connection refused";
  r.nodeport_cells[1].ok = false;
  r.nodeport_cells[1].error = "connect 198.18.63.12:30080: Connection timed out";
  EXPECT_FALSE(r.ok());
  const std::string text = RenderReport(r);
  EXPECT_NE(text.find("pid 102, healthy, 2 endpoints  False\n"), std::string::npos) << text;
  EXPECT_NE(text.find("80:30080/TCP -> 80  ?\n"), std::string::npos) << text;
  EXPECT_NE(text.find("80/TCP -> http      (none ready)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("node wl3f9a-node1  ok        FAIL\n"), std::string::npos) << text;
  EXPECT_NE(text.find("wl3f9a-node2  FAIL\n"), std::string::npos) << text;
  EXPECT_NE(text.find("failed Service connections:\n"
                      "  node wl3f9a-node1 -> backend: connect 198.19.63.11:80: Connection "
                      "refused\n"
                      "  lab namespace -> frontend nodePort on wl3f9a-node2: connect "
                      "198.18.63.12:30080: Connection timed out\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("result: FAILING (6/6 connections, 8/10 through Services)\n"),
            std::string::npos)
      << text;

  // An agent that does not answer: no state to show.
  r.nodes[1].kube_proxy_replacement = "";
  EXPECT_NE(RenderReport(r).find("pid 102, healthy, 2 endpoints  -\n"), std::string::npos);
}

TEST(LabReportTest, ServicesJson) {
  LabReport r = WithServices();
  r.nodeport_cells[0].ok = false;
  r.nodeport_cells[0].error = "refused";
  r.services[1].endpoints_known = false;
  const nlohmann::json j = nlohmann::json::parse(ReportJson(r));
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["nodes"][0]["kubeProxyReplacement"]["state"], "True");
  EXPECT_EQ(j["nodes"][0]["kubeProxyReplacement"]["features"][1], "NodePort");
  EXPECT_EQ(j["nodes"][0]["kubeProxyReplacement"]["serviceFrontends"], 4);
  EXPECT_EQ(j["services"]["services"][0]["clusterIP"], "198.19.63.10");
  EXPECT_EQ(j["services"]["services"][0]["nodePort"], 30080);
  EXPECT_EQ(j["services"]["services"][0]["endpoints"][0], "10.200.1.1:80");
  EXPECT_TRUE(j["services"]["services"][1]["endpoints"].is_null()) << "unknown, not empty";
  EXPECT_EQ(j["services"]["clusterIP"]["sources"].size(), 4u);
  EXPECT_EQ(j["services"]["clusterIP"]["cells"].size(), 8u);
  EXPECT_EQ(j["services"]["nodePort"]["cells"][0]["error"], "refused");
  EXPECT_EQ(j["services"]["passed"], 9);
  EXPECT_EQ(j["services"]["total"], 10);
  // A lab without Services (made before them) has none in the JSON either.
  const nlohmann::json plain = nlohmann::json::parse(ReportJson(Example()));
  EXPECT_EQ(plain["services"]["total"], 0);
  EXPECT_EQ(plain["ok"], true);
}

}  // namespace
}  // namespace weft::lab
