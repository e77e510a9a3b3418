#include "agent/lab/endpointslices.h"

#include <map>

#include "agent/lab/objects.h"
#include "gtest/gtest.h"
#include "kubeprism/decode.h"

namespace weft::lab {
namespace {

using nlohmann::json;

LabPlan Plan() { return *MakePlan("3f9a", 2, "/var/run/weft-lab"); }

// A lab pod as the API server has it after the lab's status patch.
json RunningPod(const LabPlan& plan, const std::string& app, const std::string& ip) {
  json pod = PodObject(plan, *plan.FindApp(app));
  pod.merge_patch(PodStatusPatch(ip, "198.18.63.12"));
  pod["metadata"]["uid"] = "uid-" + app;
  return pod;
}

json Service(const LabPlan& plan, const std::string& name) {
  for (const ServicePlan& s : plan.services) {
    if (s.name == name) {
      json object = ServiceObject(plan, s, true);
      object["metadata"]["uid"] = "svc-uid-" + name;
      return object;
    }
  }
  return json();
}

TEST(EndpointSlicesTest, TargetPortByNameResolvesToThePodsNamedPort) {
  const LabPlan plan = Plan();
  const std::vector<json> pods = {RunningPod(plan, "frontend", "10.200.1.1"),
                                  RunningPod(plan, "backend", "10.200.2.1"),
                                  RunningPod(plan, "redis", "10.200.2.2")};
  std::vector<json> slices = DesiredSlices(Service(plan, "backend"), pods, plan.prefix);
  ASSERT_EQ(slices.size(), 1u);
  const json& slice = slices[0];
  EXPECT_EQ(slice["metadata"]["name"], "backend-lab-1");
  EXPECT_EQ(slice["metadata"]["namespace"], "wl3f9a");
  EXPECT_EQ(slice["metadata"]["labels"][kServiceNameLabel], "backend");
  EXPECT_EQ(slice["metadata"]["labels"][kManagedByLabel], "weft-lab.weft.dev");
  EXPECT_EQ(slice["metadata"]["labels"]["weft.dev/lab"], "wl3f9a");
  EXPECT_EQ(slice["metadata"]["ownerReferences"][0]["uid"], "svc-uid-backend");
  EXPECT_EQ(slice["addressType"], "IPv4");
  EXPECT_EQ(slice["ports"], json::parse(R"([{"name": "http", "port": 8080, "protocol": "TCP"}])"));
  EXPECT_EQ(slice["endpoints"], json::parse(R"([{
      "addresses": ["10.200.2.1"],
      "conditions": {"ready": true, "serving": true, "terminating": false},
      "nodeName": "wl3f9a-node2",
      "targetRef": {"kind": "Pod", "namespace": "wl3f9a", "name": "backend", "uid": "uid-backend"}
  }])"));

  // What the agent reads from it.
  auto decoded = kubeprism::DecodeEndpointSlice(slice);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->service_name, "backend");
  ASSERT_EQ(decoded->endpoints.size(), 1u);
  EXPECT_TRUE(decoded->endpoints[0].ready);
  EXPECT_EQ(decoded->endpoints[0].node_name, "wl3f9a-node2");
  ASSERT_EQ(decoded->ports.size(), 1u);
  EXPECT_EQ(decoded->ports[0].name, "http");
  EXPECT_EQ(*decoded->ports[0].port, 8080);
}

TEST(EndpointSlicesTest, TargetPortByNumberAndAbsentTargetPort) {
  const LabPlan plan = Plan();
  const std::vector<json> pods = {RunningPod(plan, "frontend", "10.200.1.1")};
  std::vector<json> slices = DesiredSlices(Service(plan, "frontend"), pods, plan.prefix);
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(slices[0]["ports"][0]["port"], 80);
  EXPECT_EQ(slices[0]["endpoints"][0]["addresses"][0], "10.200.1.1");

  json service = Service(plan, "frontend");
  service["spec"]["ports"][0].erase("targetPort");
  service["spec"]["ports"][0]["port"] = 8081;
  slices = DesiredSlices(service, pods, plan.prefix);
  EXPECT_EQ(slices[0]["ports"][0]["port"], 8081) << "absent targetPort: the Service port";
}

TEST(EndpointSlicesTest, PodsWithoutAnAddressOrFinishedAreNotEndpoints) {
  const LabPlan plan = Plan();
  json created = PodObject(plan, *plan.FindApp("backend"));  // no status yet
  std::vector<json> slices = DesiredSlices(Service(plan, "backend"), {created}, plan.prefix);
  ASSERT_EQ(slices.size(), 1u) << "one empty slice, as Kubernetes keeps";
  EXPECT_EQ(slices[0]["metadata"]["name"], "backend-lab-1");
  EXPECT_EQ(slices[0]["endpoints"], json::array());
  EXPECT_EQ(slices[0]["ports"], json::array());

  json done = RunningPod(plan, "backend", "10.200.2.1");
  done["status"]["phase"] = "Succeeded";
  EXPECT_EQ(DesiredSlices(Service(plan, "backend"), {done}, plan.prefix)[0]["endpoints"],
            json::array());

  // podIPs only, IPv6 first.
  json dual = RunningPod(plan, "backend", "10.200.2.1");
  dual["status"].erase("podIP");
  dual["status"]["podIPs"] = {{{"ip", "fd00::1"}}, {{"ip", "10.200.2.9"}}};
  EXPECT_EQ(DesiredSlices(Service(plan, "backend"), {dual},
                          plan.prefix)[0]["endpoints"][0]["addresses"][0],
            "10.200.2.9");
}

TEST(EndpointSlicesTest, ConditionsFollowReadinessAndDeletion) {
  const LabPlan plan = Plan();
  json not_ready = RunningPod(plan, "backend", "10.200.2.1");
  not_ready["status"]["conditions"] = {{{"type", "Ready"}, {"status", "False"}}};
  json conditions = DesiredSlices(Service(plan, "backend"), {not_ready},
                                  plan.prefix)[0]["endpoints"][0]["conditions"];
  EXPECT_EQ(conditions, json::parse(R"({"ready": false, "serving": false, "terminating": false})"));

  json terminating = RunningPod(plan, "backend", "10.200.2.1");
  terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  conditions = DesiredSlices(Service(plan, "backend"), {terminating},
                             plan.prefix)[0]["endpoints"][0]["conditions"];
  EXPECT_EQ(conditions, json::parse(R"({"ready": false, "serving": true, "terminating": true})"));

  json service = Service(plan, "backend");
  service["spec"]["publishNotReadyAddresses"] = true;
  conditions = DesiredSlices(service, {not_ready}, plan.prefix)[0]["endpoints"][0]["conditions"];
  EXPECT_EQ(conditions["ready"], true);
}

TEST(EndpointSlicesTest, PodsWhosePortsResolveDifferentlyGetTheirOwnSlice) {
  const LabPlan plan = Plan();
  json a = RunningPod(plan, "backend", "10.200.2.1");
  json b = RunningPod(plan, "backend", "10.200.2.5");
  b["metadata"]["name"] = "backend-b";
  b["spec"]["containers"][0]["ports"][0]["containerPort"] = 9090;
  json c = RunningPod(plan, "backend", "10.200.1.5");
  c["metadata"]["name"] = "backend-c";
  c["spec"]["containers"][0]["ports"][0]["name"] = "metrics";  // no "http": no port
  std::vector<json> slices = DesiredSlices(Service(plan, "backend"), {b, a, c}, plan.prefix);
  ASSERT_EQ(slices.size(), 3u);
  std::map<std::string, std::string> port_of;
  for (const json& s : slices) {
    ASSERT_EQ(s["endpoints"].size(), 1u) << s.dump();
    port_of[s["endpoints"][0]["targetRef"]["name"]] = s["ports"].dump();
  }
  EXPECT_EQ(port_of["backend"], R"([{"name":"http","port":8080,"protocol":"TCP"}])");
  EXPECT_EQ(port_of["backend-b"], R"([{"name":"http","port":9090,"protocol":"TCP"}])");
  EXPECT_EQ(port_of["backend-c"], "[]");
  EXPECT_EQ(slices[0]["metadata"]["name"], "backend-lab-1");
  EXPECT_EQ(slices[2]["metadata"]["name"], "backend-lab-3");
}

TEST(EndpointSlicesTest, NoSelectorNoSlices) {
  const LabPlan plan = Plan();
  json service = Service(plan, "backend");
  service["spec"].erase("selector");
  EXPECT_TRUE(
      DesiredSlices(service, {RunningPod(plan, "backend", "10.200.2.1")}, plan.prefix).empty());
  service = Service(plan, "backend");
  service["spec"]["type"] = "ExternalName";
  EXPECT_TRUE(DesiredSlices(service, {}, plan.prefix).empty());
}

TEST(EndpointSlicesTest, PlanCreatesUpdatesAndRemovesOnlyItsOwnSlices) {
  const LabPlan plan = Plan();
  const std::vector<json> services = {Service(plan, "frontend"), Service(plan, "backend")};
  std::vector<json> pods = {RunningPod(plan, "frontend", "10.200.1.1")};

  // Nothing yet: both created (backend's empty).
  SliceChanges changes = PlanSlices(services, pods, {}, plan.prefix);
  ASSERT_EQ(changes.create.size(), 2u);
  EXPECT_TRUE(changes.update.empty());
  EXPECT_TRUE(changes.remove.empty());

  // As stored: the server adds metadata; nothing to do then.
  std::vector<json> stored;
  for (json s : changes.create) {
    s["metadata"]["resourceVersion"] = "7";
    s["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z";
    stored.push_back(s);
  }
  // Someone else's slices: for a lab Service, and one without labels.
  json hand_made = stored[1];
  hand_made["metadata"]["name"] = "backend-by-hand";
  hand_made["metadata"]["labels"][kManagedByLabel] = "test";
  stored.push_back(hand_made);
  json bare = {{"metadata", {{"name", "bare"}}}, {"addressType", "IPv4"}};
  stored.push_back(bare);
  // Another lab's, in the same namespace.
  json other_lab = stored[0];
  other_lab["metadata"]["name"] = "old-lab-1";
  other_lab["metadata"]["labels"]["weft.dev/lab"] = "wl0000";
  stored.push_back(other_lab);
  EXPECT_TRUE(PlanSlices(services, pods, stored, plan.prefix).empty());

  // The backend pod gets its address: its slice is replaced, conditionally.
  pods.push_back(RunningPod(plan, "backend", "10.200.2.1"));
  changes = PlanSlices(services, pods, stored, plan.prefix);
  EXPECT_TRUE(changes.create.empty());
  EXPECT_TRUE(changes.remove.empty());
  ASSERT_EQ(changes.update.size(), 1u);
  EXPECT_EQ(changes.update[0]["metadata"]["name"], "backend-lab-1");
  EXPECT_EQ(changes.update[0]["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(changes.update[0]["endpoints"][0]["addresses"][0], "10.200.2.1");

  // The frontend Service is gone: its slice goes, nobody else's.
  changes = PlanSlices({services[1]}, pods, stored, plan.prefix);
  EXPECT_EQ(changes.remove, std::vector<std::string>{"frontend-lab-1"});

  // A slice of someone else's under the lab's name is left alone and reported.
  std::vector<json> taken = {hand_made};
  taken[0]["metadata"]["name"] = "backend-lab-1";
  changes = PlanSlices({services[1]}, pods, taken, plan.prefix);
  EXPECT_TRUE(changes.empty());
  ASSERT_EQ(changes.problems.size(), 1u);
  EXPECT_EQ(changes.problems[0],
            "EndpointSlice wl3f9a/backend-lab-1 exists and is not managed by weft-lab.weft.dev "
            "for lab wl3f9a: left alone (Service backend has no slice of the lab's)");
}

TEST(EndpointSlicesTest, OddObjectsDoNotThrow) {
  const LabPlan plan = Plan();
  json service = Service(plan, "backend");
  service["spec"]["ports"] =
      json::parse(R"([{"port": "eighty"}, 5, {"port": 80, "targetPort": null}])");
  json pod = RunningPod(plan, "backend", "10.200.2.1");
  pod["spec"]["containers"] = "nope";
  std::vector<json> slices = DesiredSlices(service, {pod, json(), json::array()}, plan.prefix);
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(slices[0]["ports"][0]["port"], 80);
  PlanSlices({service, json("x")}, {pod}, {json(), json::object()}, plan.prefix);
}

}  // namespace
}  // namespace weft::lab
