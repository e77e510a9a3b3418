#include "agent/routing/tunnel_planner.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace weft::routing {
namespace {

net::IpAddress Ip(const char* s) { return *net::IpAddress::Parse(s); }
net::IpPrefix Cidr(const char* s) { return *net::IpPrefix::Parse(s); }

// Three nodes, each on its own subnet (no common L2 segment).
std::vector<NodeInfo> ThreeNodes() {
  return {
      {"cp-1", {Ip("192.168.10.2")}, {Cidr("10.244.0.0/24")}},
      {"worker-1", {Ip("192.168.20.2")}, {Cidr("10.244.1.0/24")}},
      {"worker-2", {Ip("192.168.30.2")}, {Cidr("10.244.2.0/24")}},
  };
}

bool Mentions(const std::vector<std::string>& problems, const std::string& a,
              const std::string& b) {
  return std::any_of(problems.begin(), problems.end(), [&](const std::string& p) {
    return p.find(a) != std::string::npos && p.find(b) != std::string::npos;
  });
}

TEST(VtepMacTest, IsTheInternalIpBehindALocallyAdministeredPrefix) {
  EXPECT_EQ(net::MacToString(VtepMac(Ip("192.168.20.2"))), "0a:58:c0:a8:14:02");
  EXPECT_EQ(net::MacToString(VtepMac(Ip("10.0.0.1"))), "0a:58:0a:00:00:01");
  net::Mac m = VtepMac(Ip("255.255.255.255"));
  EXPECT_EQ(m[0] & 0x01, 0);  // unicast
  EXPECT_EQ(m[0] & 0x02, 2);  // locally administered: never a vendor's address
  EXPECT_NE(VtepMac(Ip("192.168.20.2")), VtepMac(Ip("192.168.20.3")));
}

TEST(TunnelAddressTest, IsTheFirstAddressOfThePodCidr) {
  EXPECT_EQ(TunnelAddress(Cidr("10.244.7.0/24")).ToString(), "10.244.7.0");
  EXPECT_EQ(TunnelAddress(Cidr("10.244.128.0/17")).ToString(), "10.244.128.0");
}

TEST(PlanTunnelTest, RouteNeighbourAndFdbEntryForEveryOtherNode) {
  TunnelPlan plan = PlanTunnel("worker-1", ThreeNodes());
  EXPECT_TRUE(plan.problems.empty());
  ASSERT_TRUE(plan.local.has_value());
  EXPECT_EQ(plan.local->underlay_ip.ToString(), "192.168.20.2");
  EXPECT_EQ(net::MacToString(plan.local->mac), "0a:58:c0:a8:14:02");
  EXPECT_EQ(plan.local->address.ToString(), "10.244.1.0");

  const TunnelEntries& e = plan.entries;
  ASSERT_EQ(e.routes.size(), 2u);
  EXPECT_EQ(e.routes[0].dst.ToString(), "10.244.0.0/24");
  EXPECT_EQ(e.routes[0].via.ToString(), "10.244.0.0");
  EXPECT_EQ(e.routes[0].device, kTunnelDevice);
  EXPECT_EQ(e.routes[0].node, "cp-1");
  EXPECT_EQ(e.routes[1].dst.ToString(), "10.244.2.0/24");
  EXPECT_EQ(e.routes[1].via.ToString(), "10.244.2.0");

  ASSERT_EQ(e.neighbors.size(), 2u);
  EXPECT_EQ(e.neighbors[0].ip.ToString(), "10.244.0.0");
  EXPECT_EQ(net::MacToString(e.neighbors[0].mac), "0a:58:c0:a8:0a:02");
  EXPECT_EQ(e.neighbors[1].ip.ToString(), "10.244.2.0");
  EXPECT_EQ(net::MacToString(e.neighbors[1].mac), "0a:58:c0:a8:1e:02");

  ASSERT_EQ(e.fdb.size(), 2u);
  EXPECT_EQ(net::MacToString(e.fdb[0].mac), "0a:58:c0:a8:0a:02");
  EXPECT_EQ(e.fdb[0].remote.ToString(), "192.168.10.2");
  EXPECT_EQ(net::MacToString(e.fdb[1].mac), "0a:58:c0:a8:1e:02");
  EXPECT_EQ(e.fdb[1].remote.ToString(), "192.168.30.2");
}

TEST(PlanTunnelTest, TwoNodesComputeEachOthersEntries) {
  // What node A expects of B is what B sets up for itself, and back.
  auto nodes = ThreeNodes();
  TunnelPlan a = PlanTunnel("cp-1", nodes);
  TunnelPlan b = PlanTunnel("worker-2", nodes);
  ASSERT_TRUE(a.local && b.local);
  auto to_b = std::find_if(a.entries.neighbors.begin(), a.entries.neighbors.end(),
                           [](const TunnelNeighbor& n) { return n.node == "worker-2"; });
  ASSERT_NE(to_b, a.entries.neighbors.end());
  EXPECT_EQ(to_b->ip, b.local->address);
  EXPECT_EQ(to_b->mac, b.local->mac);
  auto fdb_b = std::find_if(a.entries.fdb.begin(), a.entries.fdb.end(),
                            [](const TunnelFdbEntry& f) { return f.node == "worker-2"; });
  ASSERT_NE(fdb_b, a.entries.fdb.end());
  EXPECT_EQ(fdb_b->remote, b.local->underlay_ip);
}

TEST(PlanTunnelTest, SameResultWhateverTheNodeOrder) {
  auto nodes = ThreeNodes();
  nodes.push_back({"worker-3", {}, {Cidr("10.244.3.0/24")}});                    // a problem
  nodes.push_back({"worker-4", {Ip("192.168.40.2")}, {Cidr("10.244.1.0/25")}});  // another
  TunnelPlan first = PlanTunnel("cp-1", nodes);
  std::reverse(nodes.begin(), nodes.end());
  TunnelPlan second = PlanTunnel("cp-1", nodes);
  EXPECT_EQ(first.entries.routes, second.entries.routes);
  EXPECT_EQ(first.entries.neighbors, second.entries.neighbors);
  EXPECT_EQ(first.entries.fdb, second.entries.fdb);
  EXPECT_EQ(first.problems, second.problems);
  EXPECT_EQ(first.problems.size(), 3u);  // worker-3; worker-1 and worker-4 overlap each other
}

TEST(PlanTunnelTest, NodeWithoutIpv4InternalIpIsReported) {
  auto nodes = ThreeNodes();
  nodes[2].internal_ips = {Ip("fd00::12")};
  TunnelPlan plan = PlanTunnel("worker-1", nodes);
  ASSERT_EQ(plan.entries.routes.size(), 1u);
  EXPECT_EQ(plan.entries.routes[0].node, "cp-1");
  EXPECT_EQ(plan.entries.neighbors.size(), 1u);
  EXPECT_EQ(plan.entries.fdb.size(), 1u);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0], "node worker-2: no IPv4 InternalIP; pod CIDRs not tunnelled");
}

TEST(PlanTunnelTest, PodCidrOverlappingOursIsReported) {
  auto nodes = ThreeNodes();
  nodes[2].pod_cidrs = {Cidr("10.244.1.128/25")};
  TunnelPlan plan = PlanTunnel("worker-1", nodes);
  ASSERT_EQ(plan.entries.routes.size(), 1u);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0],
            "node worker-2: pod CIDR 10.244.1.128/25 overlaps this node's pod CIDR; not routed");
  EXPECT_EQ(plan.entries.fdb.size(), 1u);  // nothing left to reach there
}

TEST(PlanTunnelTest, OverlapBetweenTwoOtherNodesRoutesNeither) {
  auto nodes = ThreeNodes();
  nodes[2].pod_cidrs = {Cidr("10.244.0.128/25")};  // inside cp-1's
  TunnelPlan plan = PlanTunnel("worker-1", nodes);
  EXPECT_TRUE(plan.entries.routes.empty());
  EXPECT_TRUE(plan.entries.neighbors.empty());
  EXPECT_TRUE(plan.entries.fdb.empty());
  ASSERT_EQ(plan.problems.size(), 2u);
  EXPECT_EQ(
      plan.problems[0],
      "node cp-1: pod CIDR 10.244.0.0/24 overlaps node worker-2's 10.244.0.128/25; neither is "
      "routed");
  EXPECT_EQ(
      plan.problems[1],
      "node worker-2: pod CIDR 10.244.0.128/25 overlaps node cp-1's 10.244.0.0/24; neither is "
      "routed");

  // A CIDR that overlaps ours is out before that check: it takes nobody with it.
  nodes[2].pod_cidrs = {Cidr("10.244.0.0/16")};
  plan = PlanTunnel("worker-1", nodes);
  ASSERT_EQ(plan.entries.routes.size(), 1u);
  EXPECT_EQ(plan.entries.routes[0].node, "cp-1");
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_TRUE(Mentions(plan.problems, "node worker-2", "overlaps this node's"));
}

TEST(PlanTunnelTest, SharedInternalIpIsReportedForBothNodes) {
  auto nodes = ThreeNodes();
  nodes[2].internal_ips = {Ip("192.168.10.2")};  // cp-1's
  TunnelPlan plan = PlanTunnel("worker-1", nodes);
  EXPECT_TRUE(plan.entries.routes.empty());
  EXPECT_TRUE(plan.entries.fdb.empty());
  EXPECT_TRUE(Mentions(plan.problems, "node cp-1: InternalIP 192.168.10.2", "worker-2's as well"));
  EXPECT_TRUE(Mentions(plan.problems, "node worker-2: InternalIP 192.168.10.2", "cp-1's as well"));

  nodes[2].internal_ips = {Ip("192.168.20.2")};  // ours
  plan = PlanTunnel("worker-1", nodes);
  EXPECT_EQ(plan.entries.routes.size(), 1u);
  EXPECT_TRUE(Mentions(plan.problems, "node worker-2", "is this node's as well"));
}

TEST(PlanTunnelTest, DualStackNodeTunnelsItsIpv4CidrAndReportsIpv6) {
  auto nodes = ThreeNodes();
  nodes[2].internal_ips = {Ip("fd00::12"), Ip("192.168.30.2")};  // the first IPv4 one counts
  nodes[2].pod_cidrs = {Cidr("fd00:10:244:2::/64"), Cidr("10.244.2.0/24")};
  TunnelPlan plan = PlanTunnel("worker-1", nodes);
  ASSERT_EQ(plan.entries.routes.size(), 2u);
  EXPECT_EQ(plan.entries.routes[1].dst.ToString(), "10.244.2.0/24");
  EXPECT_EQ(plan.entries.fdb[1].remote.ToString(), "192.168.30.2");
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0],
            "node worker-2: pod CIDR fd00:10:244:2::/64 is IPv6; the tunnel carries IPv4 only");
}

TEST(PlanTunnelTest, NodeWithoutPodCidrYetIsReported) {
  auto nodes = ThreeNodes();
  nodes[0].pod_cidrs.clear();
  TunnelPlan plan = PlanTunnel("worker-1", nodes);
  EXPECT_EQ(plan.entries.routes.size(), 1u);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0], "node cp-1: no pod CIDR yet; not tunnelled");

  nodes[0].pod_cidrs = {Cidr("fd00:10:244::/64")};  // IPv6 only: one line, not two
  plan = PlanTunnel("worker-1", nodes);
  EXPECT_EQ(plan.entries.routes.size(), 1u);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0],
            "node cp-1: pod CIDR fd00:10:244::/64 is IPv6; the tunnel carries IPv4 only");
}

TEST(PlanTunnelTest, LocalNodeWithoutPodCidrHasNoDeviceButPeersArePlanned) {
  auto nodes = ThreeNodes();
  nodes[1].pod_cidrs.clear();
  TunnelPlan plan = PlanTunnel("worker-1", nodes);
  EXPECT_FALSE(plan.local.has_value());
  EXPECT_EQ(plan.entries.routes.size(), 2u);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0], "this node (worker-1): no IPv4 pod CIDR yet; no tunnel device");

  plan = PlanTunnel("stranger", ThreeNodes());
  EXPECT_FALSE(plan.local.has_value());
  EXPECT_EQ(plan.entries.routes.size(), 3u);
  EXPECT_TRUE(Mentions(plan.problems, "stranger", "not among the nodes"));
}

TEST(DiffTunnelTest, AddsReplacesAndRemovesByKey) {
  TunnelEntries installed = PlanTunnel("worker-1", ThreeNodes()).entries;
  // cp-1 leaves, worker-2 moves to a new InternalIP, worker-3 joins.
  auto nodes = ThreeNodes();
  nodes.erase(nodes.begin());
  nodes[1].internal_ips = {Ip("192.168.31.2")};
  nodes.push_back({"worker-3", {Ip("192.168.40.2")}, {Cidr("10.244.3.0/24")}});
  TunnelEntries desired = PlanTunnel("worker-1", nodes).entries;

  TunnelDiff d = DiffTunnel(installed, desired);
  ASSERT_EQ(d.add.routes.size(), 1u);  // worker-2's route is unchanged
  EXPECT_EQ(d.add.routes[0].node, "worker-3");
  ASSERT_EQ(d.remove.routes.size(), 1u);
  EXPECT_EQ(d.remove.routes[0].dst.ToString(), "10.244.0.0/24");

  // worker-2's gateway has a new MAC: replaced, not removed.
  ASSERT_EQ(d.add.neighbors.size(), 2u);
  EXPECT_EQ(net::MacToString(d.add.neighbors[0].mac), "0a:58:c0:a8:1f:02");
  ASSERT_EQ(d.remove.neighbors.size(), 1u);
  EXPECT_EQ(d.remove.neighbors[0].ip.ToString(), "10.244.0.0");

  // A new MAC is a new FDB entry; the old MAC of worker-2 goes with cp-1's.
  ASSERT_EQ(d.add.fdb.size(), 2u);
  ASSERT_EQ(d.remove.fdb.size(), 2u);
  EXPECT_EQ(d.remove.fdb[0].remote.ToString(), "192.168.10.2");
  EXPECT_EQ(d.remove.fdb[1].remote.ToString(), "192.168.30.2");

  TunnelDiff none = DiffTunnel(desired, desired);
  EXPECT_TRUE(none.add.routes.empty() && none.add.neighbors.empty() && none.add.fdb.empty());
  EXPECT_TRUE(none.remove.routes.empty() && none.remove.neighbors.empty() &&
              none.remove.fdb.empty());
}

TEST(DiffTunnelTest, MovedFdbRemoteIsReplacedNotRemoved) {
  TunnelEntries installed;
  installed.fdb = {{VtepMac(Ip("192.168.30.2")), Ip("192.168.30.9"), "worker-2"}};
  TunnelEntries desired;
  desired.fdb = {{VtepMac(Ip("192.168.30.2")), Ip("192.168.30.2"), "worker-2"}};
  TunnelDiff d = DiffTunnel(installed, desired);
  ASSERT_EQ(d.add.fdb.size(), 1u);
  EXPECT_EQ(d.add.fdb[0].remote.ToString(), "192.168.30.2");
  EXPECT_TRUE(d.remove.fdb.empty());
}

}  // namespace
}  // namespace weft::routing
