#include "agent/lab/plan.h"

#include <string>

#include "gtest/gtest.h"

namespace weft::lab {
namespace {

TEST(LabPlanTest, TwoNodesGetPrefixedNamesAddressesAndPaths) {
  auto plan = MakePlan("3f9a", 2, "/var/run/weft-lab/");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->prefix, "wl3f9a");
  EXPECT_EQ(plan->state_dir, "/var/run/weft-lab");
  EXPECT_EQ(plan->lab_netns, "wl3f9a-lab");
  EXPECT_EQ(plan->bridge, "wl3f9a-br");
  // 0x3f = 63: the id picks the segment.
  EXPECT_EQ(plan->segment.ToString(), "198.18.63.0/24");
  EXPECT_EQ(plan->gateway.ToString(), "198.18.63.1");
  EXPECT_EQ(plan->cluster_cidr.ToString(), "10.200.0.0/16");
  EXPECT_EQ(plan->pod_namespace, "wl3f9a");

  ASSERT_EQ(plan->nodes.size(), 2u);
  const NodePlan& n2 = plan->nodes[1];
  EXPECT_EQ(n2.name, "wl3f9a-node2");
  EXPECT_EQ(n2.wg_interface(), "wl3f9a-wg2");
  EXPECT_EQ(n2.lab_veth, "wl3f9a-n2");
  EXPECT_EQ(n2.device, "eth0");
  EXPECT_EQ(n2.internal_ip.ToString(), "198.18.63.12");
  EXPECT_EQ(n2.pod_cidr.ToString(), "10.200.2.0/24");
  EXPECT_EQ(n2.pin_dir, "/sys/fs/bpf/wl3f9a-node2");
  EXPECT_EQ(n2.cgroup, "/sys/fs/cgroup/wl3f9a-node2");
  EXPECT_EQ(n2.socket_path(), "/var/run/weft-lab/nodes/wl3f9a-node2/run/weft.sock");
  EXPECT_EQ(n2.cni_conf_dir(), "/var/run/weft-lab/nodes/wl3f9a-node2/cni/net.d");
  EXPECT_EQ(plan->state_path(), "/var/run/weft-lab/lab.json");
  for (const NodePlan& n : plan->nodes) {
    EXPECT_TRUE(plan->segment.Contains(n.internal_ip));
    EXPECT_TRUE(plan->cluster_cidr.Contains(n.pod_cidr));
    EXPECT_LE(n.lab_veth.size(), 15u) << "interface names have at most 15 characters";
  }
  EXPECT_FALSE(plan->segment.Contains(plan->outside));
  EXPECT_FALSE(plan->cluster_cidr.Contains(plan->outside));
  EXPECT_EQ(plan->service_cidr.ToString(), "198.19.63.0/24");
  EXPECT_FALSE(plan->service_cidr.Overlaps(plan->segment));
  EXPECT_FALSE(plan->service_cidr.Overlaps(plan->cluster_cidr));
  EXPECT_FALSE(plan->service_cidr.Contains(plan->outside));

  // This machine's cgroup v2 mount may be elsewhere (hybrid hosts).
  LabPlan hybrid = *plan;
  SetCgroupRoot("/sys/fs/cgroup/unified", &hybrid);
  EXPECT_EQ(hybrid.nodes[0].cgroup, "/sys/fs/cgroup/unified/wl3f9a-node1");
}

TEST(LabPlanTest, DefaultWorkloadHasAClusterIPAndANodePortService) {
  auto plan = MakePlan("3f9a", 2, "/lab");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->pods[0].port_name, "http");
  EXPECT_EQ(plan->pods[1].port_name, "http");
  EXPECT_EQ(plan->pods[2].port_name, "redis");
  ASSERT_EQ(plan->services.size(), 2u);
  const ServicePlan& frontend = plan->services[0];
  EXPECT_EQ(frontend.key(), "wl3f9a/frontend");
  EXPECT_EQ(frontend.type, "NodePort");
  EXPECT_EQ(frontend.port, 80);
  EXPECT_EQ(frontend.port_name, "http");
  EXPECT_EQ(frontend.target_port, "80");
  EXPECT_EQ(frontend.app, "frontend");
  EXPECT_EQ(frontend.node_port, 30080);
  EXPECT_EQ(frontend.cluster_ip, "198.19.63.10");
  const ServicePlan& backend = plan->services[1];
  EXPECT_EQ(backend.key(), "wl3f9a/backend");
  EXPECT_EQ(backend.type, "ClusterIP");
  EXPECT_EQ(backend.target_port, "http") << "by name: the pod's port 8080";
  EXPECT_EQ(backend.node_port, 0);
  EXPECT_EQ(backend.cluster_ip, "198.19.63.11");
  EXPECT_EQ(plan->FindApp("backend")->port, 8080);
  EXPECT_EQ(plan->FindApp("nothing"), nullptr);
}

TEST(LabPlanTest, DefaultWorkloadHasASameNodeAndACrossNodePair) {
  auto plan = MakePlan("0001", 2, "/lab");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->pods.size(), 3u);
  EXPECT_EQ(plan->pods[0].key(), "wl0001/frontend");
  EXPECT_EQ(plan->pods[0].node, "wl0001-node1");
  EXPECT_EQ(plan->pods[0].port, 80);
  EXPECT_EQ(plan->pods[0].netns, "wl0001-pod-frontend");
  EXPECT_EQ(plan->pods[0].container_id, "wl0001-frontend");
  EXPECT_EQ(plan->pods[0].greeting(), "frontend\n");
  EXPECT_EQ(plan->pods[1].node, "wl0001-node2");
  EXPECT_EQ(plan->pods[2].node, "wl0001-node2");
  EXPECT_EQ(plan->FindPod("wl0001/redis")->port, 6379);
  EXPECT_EQ(plan->FindNode("wl0001-node2")->pod_cidr.ToString(), "10.200.2.0/24");
  EXPECT_EQ(plan->FindPod("default/redis"), nullptr);
}

TEST(LabPlanTest, OneNodeTakesEveryPod) {
  auto plan = MakePlan("00ff", 1, "/lab");
  ASSERT_TRUE(plan.ok());
  for (const PodPlan& p : plan->pods) EXPECT_EQ(p.node, "wl00ff-node1");
}

TEST(LabPlanTest, BadInputIsRefusedWithTheReason) {
  EXPECT_EQ(MakePlan("3F9A", 2, "/lab").status().message(), "lab id \"3F9A\" is not 4 hex digits");
  EXPECT_EQ(MakePlan("3f9a", 0, "/lab").status().message(), "--nodes: 0 is not between 1 and 16");
  EXPECT_EQ(MakePlan("3f9a", 17, "/lab").status().message(), "--nodes: 17 is not between 1 and 16");
  EXPECT_EQ(MakePlan("3f9a", 2, "lab").status().message(),
            "--state-dir: \"lab\" is not an absolute path");
  const std::string long_dir = "/" + std::string(80, 'x');
  auto too_long = MakePlan("3f9a", 2, long_dir);
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("exceeds the 107 characters"), std::string::npos)
      << too_long.status();
}

TEST(LabPlanTest, ValidLabId) {
  EXPECT_TRUE(ValidLabId("0a9f"));
  EXPECT_FALSE(ValidLabId("0a9"));
  EXPECT_FALSE(ValidLabId("0a9g"));
  EXPECT_FALSE(ValidLabId("0a9f0"));
}

}  // namespace
}  // namespace weft::lab
