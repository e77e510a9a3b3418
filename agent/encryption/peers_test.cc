#include "agent/encryption/peers.h"

#include "gtest/gtest.h"

namespace weft::encryption {
namespace {

net::IpAddress Ip(const char* s) { return *net::IpAddress::Parse(s); }
net::IpPrefix Cidr(const char* s) { return *net::IpPrefix::Parse(s); }

class PeersTest : public ::testing::Test {
 protected:
  wireguard::Key NewPublic() { return wireguard::PublicKey(wireguard::GeneratePrivateKey()); }

  wireguard::Key self_ = NewPublic();
  wireguard::Key k2_ = NewPublic();
  wireguard::Key k3_ = NewPublic();
  std::vector<routing::NodeInfo> nodes_ = {
      {"n1", {Ip("192.168.5.1")}, {Cidr("10.244.1.0/24")}},
      {"n2", {Ip("fd00::2"), Ip("192.168.5.2")}, {Cidr("10.244.2.0/24"), Cidr("fd10:2::/64")}},
      {"n3", {Ip("192.168.6.3")}, {Cidr("10.244.3.0/24")}},
  };
  std::map<std::string, std::string> keys_ = {{"n1", wireguard::ToBase64(self_)},
                                              {"n2", wireguard::ToBase64(k2_)},
                                              {"n3", wireguard::ToBase64(k3_)}};
};

TEST_F(PeersTest, OnePeerPerOtherNodeAtItsInternalIpWithItsPodCidrs) {
  PeerPlan plan = PlanPeers("n1", self_, nodes_, keys_, 51871);
  EXPECT_TRUE(plan.problems.empty());
  ASSERT_EQ(plan.peers.size(), 2u);
  const Peer& p2 = plan.peers[0];
  EXPECT_EQ(p2.node, "n2");
  EXPECT_EQ(p2.config.public_key, k2_);
  ASSERT_TRUE(p2.config.endpoint.has_value());
  EXPECT_EQ(p2.config.endpoint->ToString(), "192.168.5.2:51871");  // the IPv4 InternalIP
  ASSERT_EQ(p2.config.allowed_ips.size(), 2u);
  EXPECT_EQ(p2.config.persistent_keepalive, kPersistentKeepaliveSeconds);
  EXPECT_EQ(plan.peers[1].node, "n3");

  auto routes = PeerRoutes(plan, "weft_wg0", RouterAddress(nodes_[0].pod_cidrs));
  ASSERT_EQ(routes.size(), 2u);  // IPv4 pod CIDRs only
  EXPECT_EQ(routes[0].dst, Cidr("10.244.2.0/24"));
  EXPECT_EQ(routes[0].via, Ip("192.168.5.2"));
  EXPECT_EQ(routes[0].device, "weft_wg0");
  EXPECT_TRUE(routes[0].onlink);
  EXPECT_EQ(routes[0].src, Ip("10.244.1.0"));  // ours: what n2 accepts from us
  EXPECT_EQ(routes[1].via, Ip("192.168.6.3"));  // another subnet: fine over WireGuard

  auto rest = WithoutPeers(nodes_, plan);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].name, "n1");
}

TEST_F(PeersTest, NodesWithoutAKeyArePendingNotProblems) {
  keys_.erase("n3");
  PeerPlan plan = PlanPeers("n1", self_, nodes_, keys_, 51871);
  EXPECT_TRUE(plan.problems.empty());
  EXPECT_EQ(plan.pending, std::vector<std::string>{"n3"});
  ASSERT_EQ(plan.peers.size(), 1u);
  EXPECT_EQ(WithoutPeers(nodes_, plan).size(), 2u);
}

TEST_F(PeersTest, AnInvalidKeySkipsThatPeerOnly) {
  keys_["n3"] = "definitely not a key";
  PeerPlan plan = PlanPeers("n1", self_, nodes_, keys_, 51871);
  ASSERT_EQ(plan.peers.size(), 1u);
  EXPECT_EQ(plan.peers[0].node, "n2");
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0].rfind(std::string("node n3: annotation ") +
                                       kWireGuardKeyAnnotation +
                                       " \"definitely not a key\" is not a WireGuard public key",
                                   0),
            0u)
      << plan.problems[0];
  ASSERT_EQ(plan.rejected.size(), 1u);
  EXPECT_EQ(plan.rejected[0].first, "n3");
  EXPECT_EQ(plan.rejected[0].second, "definitely not a key");
}

TEST_F(PeersTest, HugeAnnotationsAreQuotedShort) {
  keys_["n3"] = std::string(100000, 'A');
  PeerPlan plan = PlanPeers("n1", self_, nodes_, keys_, 51871);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_LT(plan.problems[0].size(), 300u);
}

TEST_F(PeersTest, OwnKeyDuplicateKeysAndOverlapsSkipBothSides) {
  keys_["n2"] = keys_["n1"];  // claims our key
  PeerPlan own = PlanPeers("n1", self_, nodes_, keys_, 51871);
  ASSERT_EQ(own.peers.size(), 1u);
  EXPECT_EQ(own.peers[0].node, "n3");
  EXPECT_NE(own.problems[0].find("own WireGuard public key"), std::string::npos);

  keys_["n2"] = keys_["n3"];  // two nodes, one key
  PeerPlan dup = PlanPeers("n1", self_, nodes_, keys_, 51871);
  EXPECT_TRUE(dup.peers.empty());
  ASSERT_EQ(dup.problems.size(), 1u);
  EXPECT_NE(dup.problems[0].find("same WireGuard public key"), std::string::npos);

  keys_["n2"] = wireguard::ToBase64(k2_);
  nodes_[2].pod_cidrs = {Cidr("10.244.2.128/25")};  // inside n2's
  PeerPlan overlap = PlanPeers("n1", self_, nodes_, keys_, 51871);
  EXPECT_TRUE(overlap.peers.empty());
  EXPECT_NE(overlap.problems[0].find("overlapping pod CIDRs"), std::string::npos);

  nodes_[2].pod_cidrs = {Cidr("10.244.1.0/25")};  // inside ours
  PeerPlan ours = PlanPeers("n1", self_, nodes_, keys_, 51871);
  ASSERT_EQ(ours.peers.size(), 1u);
  EXPECT_EQ(ours.peers[0].node, "n2");
}

TEST_F(PeersTest, NoIpv4InternalIpIsReported) {
  nodes_[2].internal_ips = {Ip("fd00::3")};
  PeerPlan plan = PlanPeers("n1", self_, nodes_, keys_, 51871);
  ASSERT_EQ(plan.peers.size(), 1u);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_NE(plan.problems[0].find("no IPv4 InternalIP"), std::string::npos);
}

TEST_F(PeersTest, StrictCidrsAreEveryIpv4PodCidrAndTheClusterCidr) {
  auto cidrs = StrictCidrs(nodes_, Cidr("10.244.0.0/16"));
  ASSERT_EQ(cidrs.size(), 4u);
  EXPECT_EQ(cidrs[0], Cidr("10.244.0.0/16"));
  EXPECT_EQ(cidrs[3], Cidr("10.244.3.0/24"));
  EXPECT_EQ(StrictCidrs(nodes_, std::nullopt).size(), 3u);
}

}  // namespace
}  // namespace weft::encryption
