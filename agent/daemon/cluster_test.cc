#include "agent/daemon/cluster.h"

#include "gtest/gtest.h"

namespace weft::daemon {
namespace {

kubeprism::Node MakeNode(const std::string& name, std::vector<std::string> cidrs,
                         std::vector<std::string> internal_ips) {
  kubeprism::Node n;
  n.meta.name = name;
  n.pod_cidrs = std::move(cidrs);
  for (auto& ip : internal_ips) n.addresses.push_back({"InternalIP", ip});
  n.addresses.push_back({"Hostname", name});
  return n;
}

TEST(ClusterViewTest, NodesSortedWithParsedAddresses) {
  auto b = MakeNode("b", {"10.244.1.0/24"}, {"192.168.1.11"});
  auto a = MakeNode("a", {"10.244.0.0/24", "fd00:10:244::/64"}, {"192.168.1.10"});
  ClusterView v = BuildClusterView({&b, &a});
  ASSERT_EQ(v.nodes.size(), 2u);
  EXPECT_EQ(v.nodes[0].name, "a");
  ASSERT_EQ(v.nodes[0].pod_cidrs.size(), 2u);
  EXPECT_EQ(v.nodes[0].pod_cidrs[1].ToString(), "fd00:10:244::/64");
  EXPECT_EQ(v.nodes[1].internal_ips[0].ToString(), "192.168.1.11");
  EXPECT_TRUE(v.problems.empty());
}

TEST(ClusterViewTest, BadFieldsAreReportedAndTheRestKept) {
  auto n = MakeNode("n1", {"10.244.300.0/24", "10.244.3.0/24"}, {"not-an-ip", "192.168.1.12"});
  ClusterView v = BuildClusterView({&n});
  ASSERT_EQ(v.problems.size(), 2u);
  EXPECT_EQ(v.problems[0].rfind("node n1: podCIDRs[0] \"10.244.300.0/24\": ", 0), 0u) << v.problems[0];
  EXPECT_EQ(v.problems[1].rfind("node n1: InternalIP \"not-an-ip\": ", 0), 0u) << v.problems[1];
  ASSERT_EQ(v.nodes[0].pod_cidrs.size(), 1u);
  EXPECT_EQ(v.nodes[0].pod_cidrs[0].ToString(), "10.244.3.0/24");
  EXPECT_EQ(v.nodes[0].internal_ips.size(), 1u);
}

TEST(ClusterViewTest, NonMasqueradeCidrsAreTheClusterWithoutDuplicates) {
  auto a = MakeNode("a", {"10.244.0.0/24"}, {"192.168.1.10"});
  auto b = MakeNode("b", {"10.244.1.0/24"}, {});
  ClusterView v = BuildClusterView({&a, &b});
  auto native = net::IpPrefix::Parse("10.244.0.0/16");
  auto cidrs = NonMasqueradeCidrs(v, *native);
  ASSERT_EQ(cidrs.size(), 4u);
  EXPECT_EQ(cidrs[0].ToString(), "10.244.0.0/16");
  EXPECT_EQ(cidrs[2].ToString(), "10.244.1.0/24");
  EXPECT_EQ(cidrs[3].ToString(), "192.168.1.10/32");
  EXPECT_EQ(NonMasqueradeCidrs(v, std::nullopt).size(), 3u);
  ClusterView twice = BuildClusterView({&a, &a});
  EXPECT_EQ(NonMasqueradeCidrs(twice, std::nullopt).size(), 2u);
}

TEST(ClusterViewTest, OnlyCidrAndAddressChangesAreViewChanges) {
  auto a = MakeNode("a", {"10.244.0.0/24"}, {"192.168.1.10"});
  auto heartbeat = a;
  heartbeat.meta.resource_version = "2";
  EXPECT_FALSE(ViewInputsChanged(a, heartbeat));
  auto moved = a;
  moved.addresses[0].address = "192.168.1.99";
  EXPECT_TRUE(ViewInputsChanged(a, moved));
  auto more = a;
  more.addresses.push_back({"ExternalIP", "203.0.113.5"});
  EXPECT_TRUE(ViewInputsChanged(a, more));
  auto recidr = a;
  recidr.pod_cidrs = {"10.244.9.0/24"};
  EXPECT_TRUE(ViewInputsChanged(a, recidr));
  auto keyed = a;
  keyed.meta.annotations.push_back({encryption::kWireGuardKeyAnnotation, "k1"});
  EXPECT_TRUE(ViewInputsChanged(a, keyed));
  auto rekeyed = keyed;
  rekeyed.meta.annotations[0].second = "k2";
  EXPECT_TRUE(ViewInputsChanged(keyed, rekeyed));
  auto other = keyed;
  other.meta.annotations.insert(other.meta.annotations.begin(), {"example.com/unrelated", "x"});  // sorted
  EXPECT_FALSE(ViewInputsChanged(keyed, other));
}

TEST(ClusterViewTest, WireGuardKeysComeFromTheAnnotation) {
  auto a = MakeNode("a", {"10.244.0.0/24"}, {"192.168.1.10"});
  a.meta.annotations.push_back({encryption::kWireGuardKeyAnnotation, "not checked here"});
  auto b = MakeNode("b", {"10.244.1.0/24"}, {"192.168.1.11"});
  ClusterView v = BuildClusterView({&a, &b});
  ASSERT_EQ(v.wireguard_keys.size(), 1u);
  EXPECT_EQ(v.wireguard_keys.at("a"), "not checked here");
}

}  // namespace
}  // namespace weft::daemon
