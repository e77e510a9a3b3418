#include "agent/lab/state.h"

#include <cstdlib>
#include <filesystem>

#include "gtest/gtest.h"

namespace weft::lab {
namespace {

LabState Example() {
  LabState state;
  state.plan = *MakePlan("3f9a", 2, "/var/run/weft-lab");
  state.plan.routing = "tunnel";
  state.phase = Phase::kReady;
  state.api_mode = "embedded";
  state.api_server = "https://127.0.0.1:40035";
  state.admin_kubeconfig = "/var/run/weft-lab/admin.kubeconfig";
  state.agent_binary = "/usr/bin/weft-agent";
  state.cni_plugin = "/usr/bin/weft-cni";
  state.controller = {1234, {"/usr/bin/weft", "lab", "serve", "--state-dir", "/var/run/weft-lab"}};
  state.agents = {{"wl3f9a-node1", {1240, {"/usr/bin/weft-agent", "--config", "/x/agent.yaml"}}}};
  state.netns = {"wl3f9a-lab", "wl3f9a-node1"};
  state.pin_dirs = {"/sys/fs/bpf/wl3f9a-node1"};
  state.cgroups = {"/sys/fs/cgroup/wl3f9a-node1"};
  state.api_objects = {{"namespaces", "", "wl3f9a"}, {"pods", "wl3f9a", "frontend"}};
  state.pods = {
      {"wl3f9a/frontend", "10.200.1.1",
       nlohmann::json{{"cniVersion", "1.0.0"}, {"ips", {{{"address", "10.200.1.1/32"}}}}}}};
  state.services = {{"wl3f9a/frontend", "10.96.44.7", 31234}, {"wl3f9a/backend", "10.96.8.1", 0}};
  return state;
}

TEST(LabStateTest, RoundTripsThroughJson) {
  const LabState state = Example();
  auto back = StateFromJson(StateToJson(state), "lab.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(StateToJson(*back), StateToJson(state));
  EXPECT_EQ(back->phase, Phase::kReady);
  EXPECT_EQ(back->plan.routing, "tunnel");
  EXPECT_EQ(back->plan.nodes[1].internal_ip.ToString(), "198.18.63.12");
  EXPECT_EQ(back->plan.pods[2].container_id, "wl3f9a-redis");
  EXPECT_EQ(back->controller.cmdline, state.controller.cmdline);
  EXPECT_EQ(back->api_objects, state.api_objects);
  EXPECT_EQ(back->FindPod("wl3f9a/frontend")->cni_result["ips"][0]["address"], "10.200.1.1/32");
  EXPECT_EQ(back->FindPod("wl3f9a/redis"), nullptr);
  EXPECT_EQ(back->cgroups, state.cgroups);
  EXPECT_EQ(back->plan.nodes[1].cgroup, "/sys/fs/cgroup/wl3f9a-node2");
  EXPECT_EQ(back->plan.pods[1].port_name, "http");
  EXPECT_EQ(back->plan.service_cidr.ToString(), "198.19.63.0/24");
  ASSERT_EQ(back->plan.services.size(), 2u);
  EXPECT_EQ(back->plan.services[1].target_port, "http");
  EXPECT_EQ(back->plan.services[0].node_port, 30080);
  EXPECT_EQ(back->FindService("wl3f9a/frontend")->node_port, 31234);
  EXPECT_EQ(back->FindService("wl3f9a/backend")->cluster_ip, "10.96.8.1");
  EXPECT_EQ(back->FindService("wl3f9a/redis"), nullptr);
}

TEST(LabStateTest, ALabFromBeforeServicesStillReads) {
  nlohmann::json j = nlohmann::json::parse(StateToJson(Example()));
  j["plan"].erase("services");
  j["plan"].erase("serviceCIDR");
  for (auto& n : j["plan"]["nodes"]) n.erase("cgroup");
  j.erase("cgroups");
  j.erase("services");
  auto back = StateFromJson(j.dump(), "lab.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->plan.services.empty());
  EXPECT_TRUE(back->services.empty());
  EXPECT_TRUE(back->cgroups.empty());
  EXPECT_EQ(back->plan.nodes[0].cgroup, "");
}

TEST(LabStateTest, TalosModeRoundTrips) {
  LabState state = Example();
  EXPECT_FALSE(StateFromJson(StateToJson(state), "lab.json")->talos.has_value());
  state.agent_timeout_seconds = 20;
  TalosState talos;
  talos.secrets = "/var/run/weft-lab/talos/secrets.yaml";
  talos.secrets_generated = true;
  talos.rbac = "/tmp/rbac.yaml";
  talos.extension_image = "/x/weft-extension.oci";
  talos.containers = {"wl3f9a-node1-ext-weft", "wl3f9a-node2-ext-weft"};
  state.talos = talos;
  auto back = StateFromJson(StateToJson(state), "lab.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(StateToJson(*back), StateToJson(state));
  ASSERT_TRUE(back->talos.has_value());
  EXPECT_EQ(back->agent_timeout_seconds, 20);
  EXPECT_TRUE(back->talos->secrets_generated);
  EXPECT_EQ(back->talos->runc, "runc");
  EXPECT_EQ(back->talos->service, "weft");
  EXPECT_EQ(back->talos->containers, talos.containers);
}

TEST(LabStateTest, BrokenFilesAreErrorsNamingTheFile) {
  EXPECT_EQ(StateFromJson("[]", "/x/lab.json").status().message(),
            "/x/lab.json: not a JSON object");
  EXPECT_EQ(StateFromJson("{\"version\": 9}", "/x/lab.json").status().message(),
            "/x/lab.json: state version 9 (this weft reads 1)");
  nlohmann::json j = nlohmann::json::parse(StateToJson(Example()));
  j["plan"]["gateway"] = "198.18.63.300";
  auto bad = StateFromJson(j.dump(), "/x/lab.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("/x/lab.json: gateway: "), std::string::npos)
      << bad.status();
  j = nlohmann::json::parse(StateToJson(Example()));
  j["plan"].erase("nodes");
  EXPECT_FALSE(StateFromJson(j.dump(), "/x/lab.json").ok());
}

TEST(LabStateTest, WritesAndReadsTheStateFolder) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/state";
  std::filesystem::create_directories(dir);
  LabState state = Example();
  state.plan.state_dir = dir;  // (too long for the plan's socket paths; not used here)
  ASSERT_TRUE(WriteState(state).ok());
  EXPECT_EQ(std::filesystem::status(dir + "/lab.json").permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto back = ReadState(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->plan.prefix, "wl3f9a");
  auto none = ReadState(dir + "/missing");
  EXPECT_TRUE(absl::IsNotFound(none.status()));
  EXPECT_EQ(none.status().message(), "no lab in " + dir + "/missing (no lab.json)");
}

}  // namespace
}  // namespace weft::lab
