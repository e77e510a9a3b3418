// Root tests on the real kernel: everything happens inside namespaces created for
// the test, verified independently with iproute2 and real traffic.
#include "agent/netlink/netlink.h"

#include <unistd.h>

#include "common/net/mac.h"
#include "common/testing/netns.h"
#include "gtest/gtest.h"

namespace weft::netlink {
namespace {

using weft::testing::ScopedNetns;

class NetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!weft::testing::HaveRoot()) GTEST_SKIP() << "needs root for network namespaces";
    weft::testing::RemoveStaleNamespaces();
    a_ = std::make_unique<ScopedNetns>("a");
    b_ = std::make_unique<ScopedNetns>("b");
    ASSERT_TRUE(a_->ok() && b_->ok());
    auto na = Netlink::OpenInNamespace(a_->path());
    ASSERT_TRUE(na.ok()) << na.status();
    nl_a_ = std::move(*na);
    auto nb = Netlink::OpenInNamespace(b_->path());
    ASSERT_TRUE(nb.ok()) << nb.status();
    nl_b_ = std::move(*nb);
  }

  // va (in a) <-> vb (in b), 10.99.0.1/24 and 10.99.0.2/24, both up.
  void Wire() {
    int fd_b = b_->OpenFd();
    ASSERT_GE(fd_b, 0);
    ASSERT_TRUE(nl_a_->CreateVeth("va", "vb", 1400, fd_b).ok());
    close(fd_b);
    auto va = nl_a_->GetLink("va");
    auto vb = nl_b_->GetLink("vb");
    ASSERT_TRUE(va.ok() && vb.ok());
    ASSERT_TRUE(nl_a_->AddAddress(va->index, *net::IpAddress::Parse("10.99.0.1"), 24).ok());
    ASSERT_TRUE(nl_b_->AddAddress(vb->index, *net::IpAddress::Parse("10.99.0.2"), 24).ok());
    ASSERT_TRUE(nl_a_->SetLinkUp(va->index).ok());
    ASSERT_TRUE(nl_b_->SetLinkUp(vb->index).ok());
    va_ = *va;
    vb_ = *vb;
  }

  std::unique_ptr<ScopedNetns> a_, b_;
  std::unique_ptr<Netlink> nl_a_, nl_b_;
  Link va_, vb_;
};

TEST_F(NetlinkTest, VethAcrossNamespacesCarriesTraffic) {
  Wire();
  EXPECT_EQ(va_.kind, "veth");
  EXPECT_EQ(va_.mtu, 1400);
  EXPECT_EQ(vb_.mtu, 1400);
  EXPECT_TRUE(nl_a_->GetLink("va")->up);
  std::string out;
  EXPECT_EQ(a_->Exec("ping -c 1 -W 2 10.99.0.2", &out), 0) << out;
  // The kernel adds an IPv6 link-local address as well; look for ours.
  auto addrs = nl_b_->ListAddresses(vb_.index);
  ASSERT_TRUE(addrs.ok());
  int v4 = 0;
  for (const auto& a : *addrs) {
    if (!a.address.is_v4()) continue;
    ++v4;
    EXPECT_EQ(a.index, vb_.index);
    EXPECT_EQ(a.address.ToString(), "10.99.0.2");
    EXPECT_EQ(a.subnet().ToString(), "10.99.0.0/24");
  }
  EXPECT_EQ(v4, 1);
}

TEST_F(NetlinkTest, RoutesCarryWeftProtocolAndDeleteIsIdempotent) {
  Wire();
  RouteSpec r;
  r.dst = *net::IpPrefix::Parse("10.200.0.0/24");
  r.gateway = *net::IpAddress::Parse("10.99.0.2");
  r.oif = va_.index;
  ASSERT_TRUE(nl_a_->ReplaceRoute(r).ok());
  ASSERT_TRUE(nl_a_->ReplaceRoute(r).ok());  // replace, not duplicate
  std::string out;
  ASSERT_EQ(a_->Exec("ip route show proto 215", &out), 0);
  EXPECT_NE(out.find("10.200.0.0/24 via 10.99.0.2 dev va"), std::string::npos) << out;
  auto listed = nl_a_->ListRoutes(kWeftRouteProtocol);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].dst.ToString(), "10.200.0.0/24");
  EXPECT_EQ((*listed)[0].gateway->ToString(), "10.99.0.2");
  // The kernel route (proto kernel) of the /24 is not ours and not listed.
  ASSERT_TRUE(nl_a_->DeleteRoute(r).ok());
  ASSERT_TRUE(nl_a_->DeleteRoute(r).ok());
  EXPECT_TRUE(nl_a_->ListRoutes(kWeftRouteProtocol)->empty());
}

TEST_F(NetlinkTest, UnreachableGatewayIsAClearError) {
  Wire();
  RouteSpec r;
  r.dst = *net::IpPrefix::Parse("10.201.0.0/24");
  r.gateway = *net::IpAddress::Parse("172.31.255.1");
  auto s = nl_a_->ReplaceRoute(r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("replace route 10.201.0.0/24 via 172.31.255.1"), std::string::npos)
      << s;
}

TEST_F(NetlinkTest, OnlinkLinkLocalGatewayAndPermanentNeighbour) {
  Wire();
  // The pod's view: default via 169.254.1.1 on the veth, neighbour pinned.
  RouteSpec gw;
  gw.dst = *net::IpPrefix::Parse("169.254.1.1/32");
  gw.oif = vb_.index;
  gw.scope_link = true;
  ASSERT_TRUE(nl_b_->ReplaceRoute(gw).ok());
  RouteSpec def;
  def.dst = *net::IpPrefix::Parse("0.0.0.0/0");
  def.gateway = *net::IpAddress::Parse("169.254.1.1");
  def.oif = vb_.index;
  def.onlink = true;
  ASSERT_TRUE(nl_b_->ReplaceRoute(def).ok());
  ASSERT_TRUE(nl_b_->ReplaceNeighbor(vb_.index, *net::IpAddress::Parse("169.254.1.1"), va_.mac).ok());
  std::string out;
  ASSERT_EQ(b_->Exec("ip neigh show 169.254.1.1", &out), 0);
  EXPECT_NE(out.find(net::MacToString(va_.mac)), std::string::npos) << out;
  EXPECT_NE(out.find("PERMANENT"), std::string::npos) << out;
  ASSERT_EQ(b_->Exec("ip route show default", &out), 0);
  EXPECT_NE(out.find("default via 169.254.1.1 dev vb"), std::string::npos) << out;
}

TEST_F(NetlinkTest, ErrorsNameTheObject) {
  auto missing = nl_a_->GetLink("nope0");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("get link nope0"), std::string::npos);
  Wire();
  auto dup = nl_a_->CreateVeth("va", "vc", 0, -1);
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists) << dup;
  ASSERT_TRUE(nl_a_->DeleteLink("va").ok());
  EXPECT_EQ(nl_a_->GetLink("va").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(nl_b_->GetLink("vb").status().code(), absl::StatusCode::kNotFound);  // peer gone too
}

TEST_F(NetlinkTest, VxlanDevice) {
  Wire();
  ASSERT_TRUE(nl_a_->CreateVxlan("wx", 2, 8472, *net::IpAddress::Parse("10.99.0.1"), va_.index, 1350).ok());
  auto l = nl_a_->GetLink("wx");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->kind, "vxlan");
  EXPECT_EQ(l->mtu, 1350);
  std::string out;
  a_->Exec("ip -d link show wx", &out);
  EXPECT_NE(out.find("dstport 8472"), std::string::npos) << out;
  // The settings read back as they were made.
  ASSERT_TRUE(l->vxlan.has_value());
  EXPECT_EQ(l->vxlan->vni, 2u);
  EXPECT_EQ(l->vxlan->port, 8472);
  ASSERT_TRUE(l->vxlan->local.has_value());
  EXPECT_EQ(l->vxlan->local->ToString(), "10.99.0.1");
  EXPECT_EQ(l->vxlan->underlay_index, va_.index);
  EXPECT_FALSE(l->vxlan->learning);
  EXPECT_FALSE(va_.vxlan.has_value());  // a veth has none
}

// The VXLAN device's own FDB: which remote endpoint gets frames for a MAC.
TEST_F(NetlinkTest, VxlanFdbEntriesReplaceListAndDelete) {
  Wire();
  const net::IpAddress local = *net::IpAddress::Parse("10.99.0.1");
  ASSERT_TRUE(nl_a_->CreateVxlan("wx", 1, 8472, local, va_.index, 0).ok());
  auto wx = nl_a_->GetLink("wx");
  ASSERT_TRUE(wx.ok());
  const net::Mac m1 = {0x0a, 0x58, 0xc0, 0xa8, 0x14, 0x02};
  const net::Mac m2 = {0x0a, 0x58, 0xc0, 0xa8, 0x1e, 0x02};
  ASSERT_TRUE(nl_a_->ReplaceFdb(wx->index, m1, *net::IpAddress::Parse("192.168.20.9")).ok());
  // The node moved: the new remote replaces the old one.
  ASSERT_TRUE(nl_a_->ReplaceFdb(wx->index, m1, *net::IpAddress::Parse("192.168.20.2")).ok());
  ASSERT_TRUE(nl_a_->ReplaceFdb(wx->index, m2, *net::IpAddress::Parse("192.168.30.2")).ok());

  std::string out;
  ASSERT_EQ(a_->Exec("bridge fdb show dev wx", &out), 0);
  EXPECT_NE(out.find("0a:58:c0:a8:14:02 dst 192.168.20.2 self permanent"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("192.168.20.9"), std::string::npos) << out;  // replaced, not appended
  auto listed = nl_a_->ListFdb(wx->index);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  for (const auto& e : *listed) {
    EXPECT_TRUE(e.permanent);
    ASSERT_TRUE(e.dst.has_value());
    EXPECT_EQ(e.dst->ToString(), e.mac == m1 ? "192.168.20.2" : "192.168.30.2");
  }
  // Another device's addresses are not in this device's list.
  auto of_va = nl_a_->ListFdb(va_.index);
  ASSERT_TRUE(of_va.ok());
  for (const auto& e : *of_va) EXPECT_FALSE(e.mac == m1 || e.mac == m2);

  ASSERT_TRUE(nl_a_->DeleteFdb(wx->index, m1).ok());
  ASSERT_TRUE(nl_a_->DeleteFdb(wx->index, m1).ok());  // idempotent
  listed = nl_a_->ListFdb(wx->index);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].mac, m2);
}

TEST_F(NetlinkTest, NeighboursListAndDelete) {
  Wire();
  const net::IpAddress pinned = *net::IpAddress::Parse("10.99.0.77");
  const net::Mac mac = {0x0a, 0x58, 0x0a, 0x63, 0x00, 0x4d};
  ASSERT_TRUE(nl_a_->ReplaceNeighbor(va_.index, pinned, mac).ok());
  ASSERT_EQ(a_->Exec("ping -c 1 -W 2 10.99.0.2"), 0);  // the kernel resolves this one itself
  auto listed = nl_a_->ListNeighbors(va_.index);
  ASSERT_TRUE(listed.ok()) << listed.status();
  const Neighbor* ours = nullptr;
  const Neighbor* learned = nullptr;
  for (const auto& n : *listed) {
    EXPECT_EQ(n.index, va_.index);
    if (n.address == pinned) ours = &n;
    if (n.address.ToString() == "10.99.0.2") learned = &n;
  }
  ASSERT_NE(ours, nullptr);
  EXPECT_TRUE(ours->permanent());
  ASSERT_TRUE(ours->mac.has_value());
  EXPECT_EQ(*ours->mac, mac);
  ASSERT_NE(learned, nullptr);
  EXPECT_FALSE(learned->permanent());
  EXPECT_EQ(*learned->mac, vb_.mac);

  ASSERT_TRUE(nl_a_->DeleteNeighbor(va_.index, pinned).ok());
  ASSERT_TRUE(nl_a_->DeleteNeighbor(va_.index, pinned).ok());  // idempotent
  listed = nl_a_->ListNeighbors(va_.index);
  ASSERT_TRUE(listed.ok());
  for (const auto& n : *listed) EXPECT_NE(n.address, pinned);
}

// Flannel's shape: a route to a remote pod CIDR via an address that no local
// subnet contains, made reachable by RTNH_F_ONLINK on the VXLAN device.
TEST_F(NetlinkTest, OnlinkRouteThroughVxlan) {
  Wire();
  const net::IpAddress local = *net::IpAddress::Parse("10.99.0.1");
  ASSERT_TRUE(nl_a_->CreateVxlan("wx", 1, 8472, local, va_.index, 0).ok());
  auto wx = nl_a_->GetLink("wx");
  ASSERT_TRUE(wx.ok());
  ASSERT_TRUE(nl_a_->SetLinkUp(wx->index).ok());
  RouteSpec r;
  r.dst = *net::IpPrefix::Parse("10.244.2.0/24");
  r.gateway = *net::IpAddress::Parse("10.244.2.0");
  r.oif = wx->index;
  EXPECT_FALSE(nl_a_->ReplaceRoute(r).ok());  // without onlink the gateway is unreachable
  r.onlink = true;
  ASSERT_TRUE(nl_a_->ReplaceRoute(r).ok());
  std::string out;
  ASSERT_EQ(a_->Exec("ip route show proto 215", &out), 0);
  EXPECT_NE(out.find("10.244.2.0/24 via 10.244.2.0 dev wx onlink"), std::string::npos) << out;
  auto listed = nl_a_->ListRoutes(kWeftRouteProtocol);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE((*listed)[0].onlink);
  EXPECT_EQ((*listed)[0].oif, wx->index);
  EXPECT_EQ((*listed)[0].gateway->ToString(), "10.244.2.0");
}

TEST_F(NetlinkTest, DeleteAddressIsIdempotent) {
  Wire();
  const net::IpAddress extra = *net::IpAddress::Parse("10.244.1.0");
  ASSERT_TRUE(nl_a_->AddAddress(va_.index, extra, 32).ok());
  ASSERT_TRUE(nl_a_->DeleteAddress(va_.index, extra, 32).ok());
  ASSERT_TRUE(nl_a_->DeleteAddress(va_.index, extra, 32).ok());
  auto addrs = nl_a_->ListAddresses(va_.index);
  ASSERT_TRUE(addrs.ok());
  for (const auto& a : *addrs) EXPECT_NE(a.address, extra);
  // The other address of the link is untouched.
  EXPECT_EQ(a_->Exec("ping -c 1 -W 2 10.99.0.2"), 0);
}

}  // namespace
}  // namespace weft::netlink
