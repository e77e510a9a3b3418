#include "agent/routing/planner.h"

#include "gtest/gtest.h"

namespace weft::routing {
namespace {

net::IpAddress Ip(const char* s) { return *net::IpAddress::Parse(s); }
net::IpPrefix Cidr(const char* s) { return *net::IpPrefix::Parse(s); }

std::vector<NodeInfo> ThreeNodes() {
  return {
      {"cp-1", {Ip("192.168.50.10")}, {Cidr("10.244.0.0/24")}},
      {"worker-1", {Ip("192.168.50.11")}, {Cidr("10.244.1.0/24")}},
      {"worker-2", {Ip("192.168.50.12")}, {Cidr("10.244.2.0/24")}},
  };
}

const std::vector<LocalSubnet> kEth0 = {{"eth0", Cidr("192.168.50.0/24")}};

TEST(PlanDirectRoutesTest, RoutesEveryOtherNodesPodCidrViaItsInternalIp) {
  auto plan = PlanDirectRoutes("worker-1", ThreeNodes(), kEth0);
  EXPECT_TRUE(plan.problems.empty());
  ASSERT_EQ(plan.routes.size(), 2u);
  EXPECT_EQ(plan.routes[0].dst.ToString(), "10.244.0.0/24");
  EXPECT_EQ(plan.routes[0].via.ToString(), "192.168.50.10");
  EXPECT_EQ(plan.routes[0].device, "eth0");
  EXPECT_EQ(plan.routes[1].dst.ToString(), "10.244.2.0/24");
  EXPECT_EQ(plan.routes[1].via.ToString(), "192.168.50.12");
}

TEST(PlanDirectRoutesTest, NodeOnAnotherSegmentIsReportedNotRouted) {
  auto nodes = ThreeNodes();
  nodes[2].internal_ips = {Ip("172.16.0.5")};
  auto plan = PlanDirectRoutes("worker-1", nodes, kEth0);
  ASSERT_EQ(plan.routes.size(), 1u);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_NE(plan.problems[0].find("worker-2"), std::string::npos);
  EXPECT_NE(plan.problems[0].find("routing: tunnel"), std::string::npos);
}

TEST(PlanDirectRoutesTest, NodeWithoutPodCidrYetGetsNoRoute) {
  auto nodes = ThreeNodes();
  nodes[0].pod_cidrs.clear();
  auto plan = PlanDirectRoutes("worker-1", nodes, kEth0);
  EXPECT_EQ(plan.routes.size(), 1u);
  EXPECT_TRUE(plan.problems.empty());
}

TEST(PlanDirectRoutesTest, OverlappingPodCidrIsRefused) {
  auto nodes = ThreeNodes();
  nodes[2].pod_cidrs = {Cidr("10.244.1.0/25")};
  auto plan = PlanDirectRoutes("worker-1", nodes, kEth0);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_NE(plan.problems[0].find("overlaps"), std::string::npos);
}

TEST(PlanDirectRoutesTest, DualStackUsesTheMatchingFamily) {
  std::vector<NodeInfo> nodes = {
      {"a", {Ip("192.168.50.10"), Ip("fd00:50::10")}, {Cidr("10.244.0.0/24"), Cidr("fd00:244::/64")}},
      {"b", {Ip("192.168.50.11"), Ip("fd00:50::11")}, {Cidr("10.244.1.0/24"), Cidr("fd00:244:0:1::/64")}},
  };
  auto plan = PlanDirectRoutes("a", nodes,
                               {{"eth0", Cidr("192.168.50.0/24")}, {"eth0", Cidr("fd00:50::/64")}});
  ASSERT_EQ(plan.routes.size(), 2u);
  EXPECT_EQ(plan.routes[0].via.ToString(), "192.168.50.11");
  EXPECT_EQ(plan.routes[1].via.ToString(), "fd00:50::11");
}

TEST(DiffTest, AddsMissingRemovesStaleReplacesChangedNextHop) {
  Route keep{Cidr("10.244.0.0/24"), Ip("192.168.50.10"), "eth0", "cp-1"};
  Route stale{Cidr("10.244.9.0/24"), Ip("192.168.50.19"), "eth0", "gone"};
  Route moved_old{Cidr("10.244.2.0/24"), Ip("192.168.50.12"), "eth0", "worker-2"};
  Route moved_new{Cidr("10.244.2.0/24"), Ip("192.168.50.22"), "eth0", "worker-2"};
  Route fresh{Cidr("10.244.3.0/24"), Ip("192.168.50.13"), "eth0", "worker-3"};
  auto d = Diff({keep, stale, moved_old}, {keep, moved_new, fresh});
  ASSERT_EQ(d.add.size(), 2u);
  EXPECT_EQ(d.add[0], moved_new);
  EXPECT_EQ(d.add[1], fresh);
  ASSERT_EQ(d.remove.size(), 1u);
  EXPECT_EQ(d.remove[0], stale);
}

}  // namespace
}  // namespace weft::routing
