// Root test: routes follow nodes as they come and go, in a namespace "node"
// whose underlay is a veth to a second namespace.
#include "agent/routing/reconciler.h"

#include "common/testing/netns.h"
#include "gtest/gtest.h"

namespace weft::routing {
namespace {

using weft::testing::NetnsGuard;
using weft::testing::ScopedNetns;

net::IpAddress Ip(const char* s) { return *net::IpAddress::Parse(s); }
net::IpPrefix Cidr(const char* s) { return *net::IpPrefix::Parse(s); }

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!weft::testing::HaveRoot()) GTEST_SKIP() << "needs root for network namespaces";
    weft::testing::RemoveStaleNamespaces();
    node_ = std::make_unique<ScopedNetns>("rt");
    peer_ = std::make_unique<ScopedNetns>("rtpeer");
    ASSERT_TRUE(node_->ok() && peer_->ok());
    ASSERT_EQ(weft::testing::Run("ip -n " + node_->name() + " link add under type veth peer name under netns " +
                                 peer_->name()),
              0);
    ASSERT_EQ(node_->Exec("ip addr add 192.168.77.1/24 dev under"), 0);
    ASSERT_EQ(node_->Exec("ip link set under up"), 0);
    auto nl = netlink::Netlink::OpenInNamespace(node_->path());
    ASSERT_TRUE(nl.ok());
    nl_ = std::move(*nl);
  }

  std::string Routes() {
    std::string out;
    node_->Exec("ip route show proto 215", &out);
    return out;
  }

  std::vector<NodeInfo> nodes_ = {
      {"me", {Ip("192.168.77.1")}, {Cidr("10.244.1.0/24")}},
      {"w2", {Ip("192.168.77.2")}, {Cidr("10.244.2.0/24")}},
      {"w3", {Ip("192.168.77.3")}, {Cidr("10.244.3.0/24")}},
  };
  std::unique_ptr<ScopedNetns> node_, peer_;
  std::unique_ptr<netlink::Netlink> nl_;
};

TEST_F(ReconcilerTest, RoutesFollowNodesJoiningLeavingAndMoving) {
  auto subnets = LocalSubnets(*nl_, {});
  ASSERT_TRUE(subnets.ok());
  ASSERT_EQ(subnets->size(), 1u);
  EXPECT_EQ((*subnets)[0].device, "under");
  EXPECT_EQ((*subnets)[0].subnet.ToString(), "192.168.77.0/24");

  auto r = ApplyRoutes(*nl_, PlanDirectRoutes("me", nodes_, *subnets).routes);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(r.added, 2);
  EXPECT_NE(Routes().find("10.244.2.0/24 via 192.168.77.2 dev under"), std::string::npos) << Routes();
  EXPECT_NE(Routes().find("10.244.3.0/24 via 192.168.77.3 dev under"), std::string::npos);

  // Idempotent: nothing to do the second time.
  r = ApplyRoutes(*nl_, PlanDirectRoutes("me", nodes_, *subnets).routes);
  EXPECT_EQ(r.added + r.removed, 0);

  // w3 leaves, w2 gets a new address, w4 joins.
  nodes_.pop_back();
  nodes_[1].internal_ips = {Ip("192.168.77.22")};
  nodes_.push_back({"w4", {Ip("192.168.77.4")}, {Cidr("10.244.4.0/24")}});
  r = ApplyRoutes(*nl_, PlanDirectRoutes("me", nodes_, *subnets).routes);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(r.added, 2);
  EXPECT_EQ(r.removed, 1);
  std::string routes = Routes();
  EXPECT_EQ(routes.find("10.244.3.0/24"), std::string::npos) << routes;
  EXPECT_NE(routes.find("10.244.2.0/24 via 192.168.77.22 dev under"), std::string::npos) << routes;
  EXPECT_NE(routes.find("10.244.4.0/24 via 192.168.77.4 dev under"), std::string::npos) << routes;
}

TEST_F(ReconcilerTest, LeavesOtherRoutesAlone) {
  ASSERT_EQ(node_->Exec("ip route add 10.99.0.0/16 via 192.168.77.9"), 0);  // not ours
  auto subnets = LocalSubnets(*nl_, {"under"});
  ASSERT_TRUE(subnets.ok());
  ApplyRoutes(*nl_, PlanDirectRoutes("me", nodes_, *subnets).routes);
  ApplyRoutes(*nl_, {});  // every node gone
  EXPECT_TRUE(Routes().empty()) << Routes();
  std::string out;
  node_->Exec("ip route show 10.99.0.0/16", &out);
  EXPECT_NE(out.find("via 192.168.77.9"), std::string::npos) << out;
}

TEST_F(ReconcilerTest, AFailingRouteIsReportedOthersApplied) {
  std::vector<Route> desired = {
      {Cidr("10.244.2.0/24"), Ip("192.168.77.2"), "under", "w2"},
      {Cidr("10.244.5.0/24"), Ip("192.168.77.5"), "nosuchdev", "w5"},
  };
  auto r = ApplyRoutes(*nl_, desired);
  EXPECT_EQ(r.added, 1);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("nosuchdev does not exist"), std::string::npos);
}

TEST_F(ReconcilerTest, OnlinkRoutesAndADeviceScopedPass) {
  // A second device standing in for the WireGuard one: its gateway lies in no
  // local subnet, so only an onlink route is accepted.
  ASSERT_EQ(node_->Exec("ip link add wgx type veth peer name wgy"), 0);
  ASSERT_EQ(node_->Exec("ip link set wgx up"), 0);
  std::vector<Route> both = {
      {Cidr("10.244.2.0/24"), Ip("192.168.77.2"), "under", "w2"},
      {Cidr("10.244.3.0/24"), Ip("198.51.100.3"), "wgx", "w3", /*onlink=*/true},
  };
  auto r = ApplyRoutes(*nl_, both);
  EXPECT_EQ(r.added, 2) << (r.problems.empty() ? "" : r.problems[0]);
  EXPECT_NE(Routes().find("10.244.3.0/24 via 198.51.100.3 dev wgx onlink"),
            std::string::npos)
      << Routes();
  // A pass that owns only wgx leaves the route out of `under` alone.
  r = ApplyRoutes(*nl_, {}, {"wgx"});
  EXPECT_EQ(r.removed, 1);
  EXPECT_NE(Routes().find("10.244.2.0/24 via 192.168.77.2 dev under"), std::string::npos) << Routes();
  EXPECT_EQ(Routes().find("wgx"), std::string::npos) << Routes();
}

}  // namespace
}  // namespace weft::routing
