// Root tests on the real kernel: the VXLAN overlay between two namespace
// "nodes" on DIFFERENT subnets, joined only through a third "router" namespace
// that knows the node subnets and nothing about pod CIDRs. Direct routing is
// impossible there, so pod traffic that arrives went through the tunnel. The
// Weft BPF datapath runs in both nodes; the nodes have no routes to their own
// pods, so delivery into a pod is the BPF programs' work as well.
#include "agent/routing/tunnel.h"

#include <linux/rtnetlink.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/datapath/datapath.h"
#include "agent/routing/planner.h"
#include "agent/routing/reconciler.h"
#include "common/testing/netns.h"
#include "gtest/gtest.h"

namespace weft::routing {
namespace {

using weft::testing::NetnsGuard;
using weft::testing::ScopedNetns;

net::IpAddress Ip(const char* s) { return *net::IpAddress::Parse(s); }
net::IpPrefix Cidr(const char* s) { return *net::IpPrefix::Parse(s); }

struct Node {
  NodeInfo info;
  std::unique_ptr<ScopedNetns> ns;
  std::unique_ptr<netlink::Netlink> nl;
  std::string pins;  // bpffs folder of this node's datapath
  std::unique_ptr<datapath::Datapath> dp;
  int under = 0;  // ifindex of the underlay device
};

struct Pod {
  std::unique_ptr<ScopedNetns> ns;
  std::string ip;
};

class TunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!weft::testing::HaveRoot()) GTEST_SKIP() << "needs root for namespaces and BPF";
    weft::testing::RemoveStaleNamespaces();
    router_ = std::make_unique<ScopedNetns>("router");
    ASSERT_TRUE(router_->ok());
    auto rnl = netlink::Netlink::OpenInNamespace(router_->path());
    ASSERT_TRUE(rnl.ok()) << rnl.status();
    router_nl_ = std::move(*rnl);
    EnableForwarding(*router_);
    // node-a: 192.168.10.2/24 behind router 192.168.10.1; node-b: 192.168.20.0/24.
    ASSERT_NO_FATAL_FAILURE(AddNode(a_, "node-a", "a", "10"));
    ASSERT_NO_FATAL_FAILURE(AddNode(b_, "node-b", "b", "20"));
    a_.info.pod_cidrs = {Cidr("10.244.1.0/24")};
    b_.info.pod_cidrs = {Cidr("10.244.2.0/24")};
  }

  void TearDown() override {
    pods_.clear();
    for (Node* n : {&a_, &b_}) {
      n->dp.reset();
      n->nl.reset();
      n->ns.reset();  // deleting a namespace removes its links and their filters
      if (!n->pins.empty()) {
        EXPECT_TRUE(datapath::RemovePins(n->pins).ok());
      }
    }
    router_nl_.reset();
    router_.reset();
  }

  void EnableForwarding(const ScopedNetns& ns) {
    NetnsGuard g(ns.path());
    ASSERT_TRUE(g.ok());
    ASSERT_TRUE(netlink::WriteSysctl("net.ipv4.ip_forward", "1").ok());
    ASSERT_TRUE(netlink::WriteSysctl("net.ipv4.conf.all.rp_filter", "0").ok());
  }

  // A node namespace with its underlay "under" at 192.168.<net>.2/24, a veth to
  // the router's 192.168.<net>.1, and a default route through the router.
  void AddNode(Node& n, const std::string& name, const std::string& suffix,
               const std::string& net) {
    n.info.name = name;
    n.info.internal_ips = {Ip(absl::StrCat("192.168.", net, ".2").c_str())};
    n.ns = std::make_unique<ScopedNetns>(suffix);
    ASSERT_TRUE(n.ns->ok());
    auto nl = netlink::Netlink::OpenInNamespace(n.ns->path());
    ASSERT_TRUE(nl.ok()) << nl.status();
    n.nl = std::move(*nl);
    const std::string router_side = "r" + suffix;
    int fd = n.ns->OpenFd();
    ASSERT_GE(fd, 0);
    absl::Status made = router_nl_->CreateVeth(router_side, "under", 1500, fd);
    close(fd);
    ASSERT_TRUE(made.ok()) << made;
    auto r = router_nl_->GetLink(router_side);
    auto u = n.nl->GetLink("under");
    ASSERT_TRUE(r.ok() && u.ok());
    n.under = u->index;
    ASSERT_TRUE(
        router_nl_->AddAddress(r->index, Ip(absl::StrCat("192.168.", net, ".1").c_str()), 24).ok());
    ASSERT_TRUE(n.nl->AddAddress(u->index, n.info.internal_ips[0], 24).ok());
    ASSERT_TRUE(router_nl_->SetLinkUp(r->index).ok());
    ASSERT_TRUE(n.nl->SetLinkUp(u->index).ok());
    netlink::RouteSpec def;
    def.dst = Cidr("0.0.0.0/0");
    def.gateway = Ip(absl::StrCat("192.168.", net, ".1").c_str());
    def.protocol = RTPROT_BOOT;  // the node's own route, not Weft's
    ASSERT_TRUE(n.nl->ReplaceRoute(def).ok());
    EnableForwarding(*n.ns);
  }

  std::vector<NodeInfo> Nodes() const { return {a_.info, b_.info}; }

  // PlanTunnel → EnsureTunnelDevice → ApplyTunnel on one node; returns the device.
  netlink::Link SetUpTunnel(Node& n, const std::vector<NodeInfo>& nodes) {
    TunnelPlan plan = PlanTunnel(n.info.name, nodes);
    EXPECT_TRUE(plan.problems.empty()) << plan.problems[0];
    EXPECT_TRUE(plan.local.has_value());
    if (!plan.local) return {};
    auto dev = EnsureTunnelDevice(*n.nl, {*plan.local, "under", 8472, 0});
    EXPECT_TRUE(dev.ok()) << dev.status();
    if (!dev.ok()) return {};
    ApplyResult r = ApplyTunnel(*n.nl, plan);
    EXPECT_TRUE(r.problems.empty()) << r.problems[0];
    return *dev;
  }

  // The Weft datapath in the node: a pin folder of its own, the netdev program on
  // the underlay and on weft_vxlan (decapsulated packets go straight to the pod).
  void LoadDatapath(Node& n, int tunnel_index) {
    n.pins = absl::StrCat("/sys/fs/bpf/", weft::testing::UniqueName("weft-t"));
    NetnsGuard g(n.ns->path());
    ASSERT_TRUE(g.ok());
    auto dp = datapath::Datapath::Load(n.pins);
    ASSERT_TRUE(dp.ok()) << dp.status();
    n.dp = std::move(*dp);
    ASSERT_TRUE(n.dp->AttachFromNetdev(n.under).ok());
    ASSERT_TRUE(n.dp->AttachFromNetdev(tunnel_index).ok());
  }

  // A pod the way the CNI plugin wires it: /32 on eth0, default route via a
  // link-local gateway whose neighbour entry is the host veth's MAC, MTU of the
  // tunnel, an endpoint in the datapath and the container program on its veth.
  void AddPod(Node& node, const std::string& ip, int mtu) {
    Pod p;
    p.ns = std::make_unique<ScopedNetns>("pod");
    p.ip = ip;
    ASSERT_TRUE(p.ns->ok());
    const std::string host_veth = weft::testing::UniqueName("lxc");
    int fd = p.ns->OpenFd();
    ASSERT_GE(fd, 0);
    absl::Status made = node.nl->CreateVeth(host_veth, "eth0", mtu, fd);
    close(fd);
    ASSERT_TRUE(made.ok()) << made;
    auto host = node.nl->GetLink(host_veth);
    ASSERT_TRUE(host.ok());
    ASSERT_TRUE(node.nl->SetLinkUp(host->index).ok());

    auto pod_nl = netlink::Netlink::OpenInNamespace(p.ns->path());
    ASSERT_TRUE(pod_nl.ok());
    auto eth0 = (*pod_nl)->GetLink("eth0");
    ASSERT_TRUE(eth0.ok());
    ASSERT_TRUE((*pod_nl)->AddAddress(eth0->index, Ip(ip.c_str()), 32).ok());
    ASSERT_TRUE((*pod_nl)->SetLinkUp(eth0->index).ok());
    netlink::RouteSpec gw;
    gw.dst = Cidr("169.254.1.1/32");
    gw.oif = eth0->index;
    gw.scope_link = true;
    ASSERT_TRUE((*pod_nl)->ReplaceRoute(gw).ok());
    netlink::RouteSpec def;
    def.dst = Cidr("0.0.0.0/0");
    def.gateway = Ip("169.254.1.1");
    def.oif = eth0->index;
    def.onlink = true;
    ASSERT_TRUE((*pod_nl)->ReplaceRoute(def).ok());
    ASSERT_TRUE((*pod_nl)->ReplaceNeighbor(eth0->index, Ip("169.254.1.1"), host->mac).ok());

    datapath::Endpoint ep;
    ep.ip = Ip(ip.c_str());
    ep.ifindex = host->index;
    ep.mac = eth0->mac;
    ep.node_mac = host->mac;
    ASSERT_TRUE(node.dp->endpoints().Upsert(ep).ok());
    NetnsGuard g(node.ns->path());
    ASSERT_TRUE(g.ok());
    ASSERT_TRUE(node.dp->AttachFromContainer(host->index).ok());
    pods_.push_back(std::move(p));
  }

  // One TCP exchange: a server in `to` answers "pong" to "ping". The client tries
  // up to `attempts` times while the listener may not be up yet (no fixed sleeps).
  bool Tcp(const Pod& from, const Pod& to, int attempts) {
    int in[2];
    if (pipe(in) != 0) return false;
    // The server's stdin: what it answers, then EOF.
    if (write(in[1], "pong\n", 5) != 5) return false;
    close(in[1]);
    pid_t server = fork();
    if (server == 0) {
      dup2(in[0], 0);
      // `ip netns exec` execs nc in place, so `server` is nc's pid.
      execlp("ip", "ip", "netns", "exec", to.ns->name().c_str(), "nc", "-l", "-p", "7000", "-q",
             "1", nullptr);
      _exit(127);
    }
    close(in[0]);
    bool ok = false;
    for (int attempt = 0; attempt < attempts && !ok; ++attempt) {
      std::string out;
      int rc = from.ns->Exec("sh -c 'echo ping | timeout 5 nc -w 2 -q 1 " + to.ip + " 7000'", &out);
      ok = rc == 0 && out.find("pong") != std::string::npos;
      if (!ok && attempt + 1 < attempts) usleep(100000);
    }
    kill(server, SIGTERM);
    waitpid(server, nullptr, 0);
    return ok;
  }

  bool Ping(const ScopedNetns& from, const std::string& to) {
    return from.Exec("ping -c 1 -W 1 " + to) == 0;
  }

  // Packets seen by the router's named nftables counter (see CountAtRouter).
  int64_t RouterCounter(const std::string& name) {
    std::string out;
    router_->Exec("nft list counter ip weft_test " + name, &out);
    auto at = out.find("packets ");
    int64_t n = -1;
    if (at != std::string::npos) {
      std::string digits = out.substr(at + 8, out.find(' ', at + 8) - at - 8);
      if (!absl::SimpleAtoi(digits, &n)) n = -1;
    }
    return n;
  }

  // Counters at the router's prerouting hook: VXLAN packets, and packets that
  // carry a pod address in the clear.
  void CountAtRouter() {
    for (const char* cmd : {
             "nft add table ip weft_test",
             "nft add chain ip weft_test pre '{ type filter hook prerouting priority 0; }'",
             "nft add counter ip weft_test vxlan",
             "nft add counter ip weft_test plain",
             "nft add rule ip weft_test pre udp dport 8472 counter name vxlan",
             "nft add rule ip weft_test pre ip daddr 10.244.0.0/16 counter name plain",
             "nft add rule ip weft_test pre ip saddr 10.244.0.0/16 counter name plain",
         }) {
      std::string out;
      ASSERT_EQ(router_->Exec(cmd, &out), 0) << cmd << ": " << out;
    }
  }

  std::unique_ptr<ScopedNetns> router_;
  std::unique_ptr<netlink::Netlink> router_nl_;
  Node a_, b_;
  std::vector<Pod> pods_;
};

TEST_F(TunnelTest, PodToPodAcrossSubnetsThroughTheTunnel) {
  // The native planner cannot route here: the other node is behind a router.
  auto subnets = LocalSubnets(*a_.nl, {});
  ASSERT_TRUE(subnets.ok());
  RoutePlan direct = PlanDirectRoutes("node-a", Nodes(), *subnets);
  EXPECT_TRUE(direct.routes.empty());
  ASSERT_EQ(direct.problems.size(), 1u);
  EXPECT_NE(direct.problems[0].find("node node-b"), std::string::npos) << direct.problems[0];
  EXPECT_NE(direct.problems[0].find("routing: tunnel"), std::string::npos) << direct.problems[0];
  // And the router knows no pod CIDR: whatever reaches a pod was encapsulated.
  EXPECT_NE(router_->Exec("ip route get 10.244.2.5"), 0);

  netlink::Link tun_a = SetUpTunnel(a_, Nodes());
  netlink::Link tun_b = SetUpTunnel(b_, Nodes());
  ASSERT_GT(tun_a.index, 0);
  ASSERT_GT(tun_b.index, 0);
  EXPECT_EQ(tun_a.mtu, 1450);
  ASSERT_NO_FATAL_FAILURE(LoadDatapath(a_, tun_a.index));
  ASSERT_NO_FATAL_FAILURE(LoadDatapath(b_, tun_b.index));
  pods_.reserve(2);
  ASSERT_NO_FATAL_FAILURE(AddPod(a_, "10.244.1.5", tun_a.mtu));
  ASSERT_NO_FATAL_FAILURE(AddPod(b_, "10.244.2.5", tun_b.mtu));
  const Pod& pod_a = pods_[0];
  const Pod& pod_b = pods_[1];
  ASSERT_NO_FATAL_FAILURE(CountAtRouter());

  EXPECT_TRUE(Tcp(pod_a, pod_b, 50));
  EXPECT_TRUE(Tcp(pod_b, pod_a, 50));
  // The host reaches remote pods from its tunnel address (inside its pod CIDR),
  // so the replies come back through the tunnel too.
  std::string out;
  a_.ns->Exec("ip route get 10.244.2.5", &out);
  EXPECT_NE(out.find("dev weft_vxlan src 10.244.1.0"), std::string::npos) << out;
  EXPECT_TRUE(Ping(*a_.ns, pod_b.ip));

  EXPECT_GT(RouterCounter("vxlan"), 0);
  EXPECT_EQ(RouterCounter("plain"), 0);

  // Nothing to do a second time.
  TunnelPlan plan_a = PlanTunnel("node-a", Nodes());
  ApplyResult again = ApplyTunnel(*a_.nl, plan_a);
  EXPECT_EQ(again.added + again.removed, 0);
  EXPECT_TRUE(again.problems.empty());
  auto same = EnsureTunnelDevice(*a_.nl, {*plan_a.local, "under", 8472, 0});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->index, tun_a.index);  // not recreated: filters and entries stay
  EXPECT_TRUE(Tcp(pod_a, pod_b, 50));

  // node-b leaves: node-a drops its route, neighbour and FDB entry.
  ApplyResult gone = ApplyTunnel(*a_.nl, PlanTunnel("node-a", {a_.info}));
  EXPECT_TRUE(gone.problems.empty());
  EXPECT_EQ(gone.added, 0);
  EXPECT_EQ(gone.removed, 3);
  auto routes = a_.nl->ListRoutes(netlink::kWeftRouteProtocol);
  ASSERT_TRUE(routes.ok());
  EXPECT_TRUE(routes->empty());
  auto neighbors = a_.nl->ListNeighbors(tun_a.index);
  ASSERT_TRUE(neighbors.ok());
  EXPECT_TRUE(std::none_of(neighbors->begin(), neighbors->end(),
                           [](const netlink::Neighbor& n) { return n.permanent(); }));
  auto fdb = a_.nl->ListFdb(tun_a.index);
  ASSERT_TRUE(fdb.ok());
  EXPECT_TRUE(fdb->empty());
  EXPECT_FALSE(Ping(*pod_a.ns, pod_b.ip));
  EXPECT_FALSE(Tcp(pod_a, pod_b, 1));
}

TEST_F(TunnelTest, DeviceIsCreatedThenFixedInPlaceOrRecreated) {
  TunnelPlan plan = PlanTunnel("node-a", Nodes());
  ASSERT_TRUE(plan.local.has_value());
  // No underlay named: the device holding the InternalIP.
  auto dev = EnsureTunnelDevice(*a_.nl, {*plan.local, "", 8472, 0});
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ(dev->name, kTunnelDevice);
  EXPECT_EQ(dev->kind, "vxlan");
  ASSERT_TRUE(dev->vxlan.has_value());
  EXPECT_EQ(dev->vxlan->vni, kTunnelVni);
  EXPECT_EQ(dev->vxlan->port, 8472);
  EXPECT_EQ(dev->vxlan->local->ToString(), "192.168.10.2");
  EXPECT_EQ(dev->vxlan->underlay_index, a_.under);
  EXPECT_FALSE(dev->vxlan->learning);
  EXPECT_EQ(net::MacToString(dev->mac), "0a:58:c0:a8:0a:02");
  EXPECT_EQ(dev->mtu, 1500 - kVxlanOverhead);
  EXPECT_TRUE(dev->up);
  auto addrs = a_.nl->ListAddresses(dev->index);
  ASSERT_TRUE(addrs.ok());
  std::vector<std::string> v4;
  for (const auto& a : *addrs) {
    if (a.address.is_v4()) v4.push_back(a.subnet().ToString() + " " + a.address.ToString());
  }
  EXPECT_EQ(v4, std::vector<std::string>{"10.244.1.0/32 10.244.1.0"});

  // Drift is repaired without recreating the device.
  ASSERT_TRUE(a_.nl->SetMtu(dev->index, 1300).ok());
  ASSERT_TRUE(a_.nl->SetMac(dev->index, {0x0a, 0x58, 1, 2, 3, 4}).ok());
  ASSERT_TRUE(a_.nl->AddAddress(dev->index, Ip("10.244.9.0"), 32).ok());  // an old pod CIDR's
  auto fixed = EnsureTunnelDevice(*a_.nl, {*plan.local, "under", 8472, 0});
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->index, dev->index);
  EXPECT_EQ(fixed->mtu, 1450);
  EXPECT_EQ(fixed->mac, plan.local->mac);
  addrs = a_.nl->ListAddresses(dev->index);
  ASSERT_TRUE(addrs.ok());
  int v4_count = 0;
  for (const auto& a : *addrs) {
    if (!a.address.is_v4()) continue;
    ++v4_count;
    EXPECT_EQ(a.address.ToString(), "10.244.1.0");
  }
  EXPECT_EQ(v4_count, 1);

  // A new port cannot be set in place: the device is made again.
  auto moved = EnsureTunnelDevice(*a_.nl, {*plan.local, "under", 4789, 1400});
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_NE(moved->index, dev->index);
  EXPECT_EQ(moved->vxlan->port, 4789);
  EXPECT_EQ(moved->mtu, 1400);
  EXPECT_TRUE(moved->up);

  auto no_underlay = EnsureTunnelDevice(*a_.nl, {*plan.local, "nosuchdev0", 8472, 0});
  EXPECT_EQ(no_underlay.status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(RemoveTunnelDevice(*a_.nl).ok());
  ASSERT_TRUE(RemoveTunnelDevice(*a_.nl).ok());  // idempotent
  EXPECT_EQ(a_.nl->GetLink(kTunnelDevice).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TunnelTest, EntriesFollowNodesAndOthersAreLeftAlone) {
  std::vector<NodeInfo> nodes = Nodes();
  nodes.push_back({"node-c", {Ip("192.168.30.2")}, {Cidr("10.244.3.0/24")}});
  ApplyResult missing = ApplyTunnel(*a_.nl, PlanTunnel("node-a", nodes));
  ASSERT_EQ(missing.problems.size(), 1u);
  EXPECT_NE(missing.problems[0].find("EnsureTunnelDevice first"), std::string::npos);

  TunnelPlan plan = PlanTunnel("node-a", nodes);
  auto dev = EnsureTunnelDevice(*a_.nl, {*plan.local, "under", 8472, 0});
  ASSERT_TRUE(dev.ok()) << dev.status();
  // Somebody else's route through the device: not Weft's protocol.
  netlink::RouteSpec foreign;
  foreign.dst = Cidr("10.250.0.0/24");
  foreign.gateway = Ip("10.250.0.1");
  foreign.oif = dev->index;
  foreign.onlink = true;
  foreign.protocol = RTPROT_BOOT;
  ASSERT_TRUE(a_.nl->ReplaceRoute(foreign).ok());

  ApplyResult r = ApplyTunnel(*a_.nl, plan);
  EXPECT_TRUE(r.problems.empty()) << r.problems[0];
  EXPECT_EQ(r.added, 6);  // route, neighbour and FDB entry for node-b and node-c
  EXPECT_EQ(ApplyTunnel(*a_.nl, plan).added, 0);

  std::string out;
  a_.ns->Exec("ip route show proto 215", &out);
  EXPECT_NE(out.find("10.244.2.0/24 via 10.244.2.0 dev weft_vxlan onlink"), std::string::npos)
      << out;
  EXPECT_NE(out.find("10.244.3.0/24 via 10.244.3.0 dev weft_vxlan onlink"), std::string::npos)
      << out;
  auto fdb = a_.nl->ListFdb(dev->index);
  ASSERT_TRUE(fdb.ok());
  ASSERT_EQ(fdb->size(), 2u);

  // node-c moves to another InternalIP (new MAC), node-b leaves.
  nodes.erase(nodes.begin() + 1);
  nodes[1].internal_ips = {Ip("192.168.31.2")};
  r = ApplyTunnel(*a_.nl, PlanTunnel("node-a", nodes));
  EXPECT_TRUE(r.problems.empty()) << r.problems[0];
  EXPECT_EQ(r.added, 2);    // node-c's neighbour (replaced) and FDB entry (new MAC)
  EXPECT_EQ(r.removed, 4);  // node-b's three, node-c's old FDB entry
  fdb = a_.nl->ListFdb(dev->index);
  ASSERT_TRUE(fdb.ok());
  ASSERT_EQ(fdb->size(), 1u);
  EXPECT_EQ(net::MacToString((*fdb)[0].mac), "0a:58:c0:a8:1f:02");
  EXPECT_EQ((*fdb)[0].dst->ToString(), "192.168.31.2");
  auto neighbors = a_.nl->ListNeighbors(dev->index);
  ASSERT_TRUE(neighbors.ok());
  std::vector<netlink::Neighbor> pinned;  // the kernel's own (IPv6 multicast...) are not ours
  std::copy_if(neighbors->begin(), neighbors->end(), std::back_inserter(pinned),
               [](const netlink::Neighbor& n) { return n.permanent(); });
  ASSERT_EQ(pinned.size(), 1u);
  EXPECT_EQ(pinned[0].address.ToString(), "10.244.3.0");
  EXPECT_EQ(*pinned[0].mac, (*fdb)[0].mac);

  // A failing item is reported; the rest is still applied.
  TunnelPlan bad = PlanTunnel("node-a", nodes);
  bad.entries.routes.push_back(
      {Cidr("fd00:10:244:9::/64"), Ip("10.244.9.0"), kTunnelDevice, "node-x"});
  r = ApplyTunnel(*a_.nl, bad);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("node node-x: replace route fd00:10:244:9::/64"), std::string::npos)
      << r.problems[0];

  // Every node gone: Weft's entries go, the other route stays.
  r = ApplyTunnel(*a_.nl, PlanTunnel("node-a", {a_.info}));
  EXPECT_TRUE(r.problems.empty()) << r.problems[0];
  EXPECT_EQ(r.removed, 3);
  a_.ns->Exec("ip route show dev weft_vxlan", &out);
  EXPECT_EQ(out.find("10.244."), std::string::npos) << out;
  EXPECT_NE(out.find("10.250.0.0/24 via 10.250.0.1"), std::string::npos) << out;
}

}  // namespace
}  // namespace weft::routing
