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

}  // namespace
}  // namespace weft::lab
