// The pod datapath on the real kernel, with traffic. Two "nodes" (namespaces
// joined by a veth as their L2 segment) and three "pods". The nodes have NO
// routes to their own pods, so a pod is reachable only if the BPF programs
// deliver to it: every successful connection below went through them.
#include "agent/datapath/datapath.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "agent/netlink/netlink.h"
#include "common/net/mac.h"
#include "common/testing/netns.h"
#include "gtest/gtest.h"

namespace weft::datapath {
namespace {

using weft::testing::NetnsGuard;
using weft::testing::ScopedNetns;

struct Pod {
  std::unique_ptr<ScopedNetns> ns;
  std::string ip;
  std::string host_veth;
};

class DatapathTrafficTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!weft::testing::HaveRoot()) GTEST_SKIP() << "needs root for namespaces and BPF";
    weft::testing::RemoveStaleNamespaces();
    n1_ = std::make_unique<ScopedNetns>("node1");
    n2_ = std::make_unique<ScopedNetns>("node2");
    ASSERT_TRUE(n1_->ok() && n2_->ok());
    pins1_ = absl::StrCat("/sys/fs/bpf/", weft::testing::UniqueName("weft-t"));
    pins2_ = absl::StrCat("/sys/fs/bpf/", weft::testing::UniqueName("weft-t"));

    // Underlay: node1 192.168.77.1 <-> node2 192.168.77.2.
    Sh(absl::StrCat("ip -n ", n1_->name(), " link add under type veth peer name under netns ",
                    n2_->name()));
    Sh(absl::StrCat("ip -n ", n1_->name(), " addr add 192.168.77.1/24 dev under"));
    Sh(absl::StrCat("ip -n ", n2_->name(), " addr add 192.168.77.2/24 dev under"));
    Sh(absl::StrCat("ip -n ", n1_->name(), " link set under up"));
    Sh(absl::StrCat("ip -n ", n2_->name(), " link set under up"));
    // Native routing between the nodes' pod CIDRs (what the route planner installs).
    Sh(absl::StrCat("ip -n ", n1_->name(), " route add 10.244.2.0/24 via 192.168.77.2"));
    Sh(absl::StrCat("ip -n ", n2_->name(), " route add 10.244.1.0/24 via 192.168.77.1"));
    for (auto* n : {n1_.get(), n2_.get()}) {
      n->Exec("sysctl -qw net.ipv4.ip_forward=1");
      n->Exec("sysctl -qw net.ipv4.conf.all.rp_filter=0");
    }
    dp1_ = LoadIn(*n1_, pins1_);
    dp2_ = LoadIn(*n2_, pins2_);
    ASSERT_TRUE(dp1_ && dp2_);
    AttachNetdev(*n1_, *dp1_);
    AttachNetdev(*n2_, *dp2_);
  }

  void TearDown() override {
    dp1_.reset();
    dp2_.reset();
    pods_.clear();
    n1_.reset();  // deleting the namespaces removes links and their filters
    n2_.reset();
    for (const auto& pins : {pins1_, pins2_}) {
      if (!pins.empty()) {
        EXPECT_TRUE(RemovePins(pins).ok());
      }
    }
  }

  void Sh(const std::string& cmd) {
    std::string out;
    ASSERT_EQ(weft::testing::Run(cmd, &out), 0) << cmd << ": " << out;
  }

  std::unique_ptr<Datapath> LoadIn(const ScopedNetns& ns, const std::string& pins) {
    NetnsGuard g(ns.path());
    EXPECT_TRUE(g.ok());
    auto dp = Datapath::Load(pins);
    EXPECT_TRUE(dp.ok()) << dp.status();
    return dp.ok() ? std::move(*dp) : nullptr;
  }

  void AttachNetdev(const ScopedNetns& ns, Datapath& dp) {
    NetnsGuard g(ns.path());
    auto nl = netlink::Netlink::Open();
    ASSERT_TRUE(nl.ok());
    auto under = (*nl)->GetLink("under");
    ASSERT_TRUE(under.ok());
    ASSERT_TRUE(dp.AttachFromNetdev(under->index).ok());
  }

  // A pod the way the CNI plugin wires it: /32 on eth0, default route via a
  // link-local gateway whose neighbour entry is the host veth's MAC.
  Pod& AddPod(const ScopedNetns& node, Datapath& dp, const std::string& ip) {
    Pod p;
    p.ns = std::make_unique<ScopedNetns>("pod");
    p.ip = ip;
    p.host_veth = weft::testing::UniqueName("lxc");
    EXPECT_TRUE(p.ns->ok());
    Sh(absl::StrCat("ip -n ", node.name(), " link add ", p.host_veth, " type veth peer name eth0 netns ",
                    p.ns->name()));
    Sh(absl::StrCat("ip -n ", node.name(), " link set ", p.host_veth, " up"));
    Sh(absl::StrCat("ip -n ", p.ns->name(), " addr add ", ip, "/32 dev eth0"));
    Sh(absl::StrCat("ip -n ", p.ns->name(), " link set eth0 up"));
    Sh(absl::StrCat("ip -n ", p.ns->name(), " route add 169.254.1.1 dev eth0 scope link"));
    Sh(absl::StrCat("ip -n ", p.ns->name(), " route add default via 169.254.1.1 dev eth0 onlink"));
    {
      NetnsGuard g(node.path());
      auto nl = netlink::Netlink::Open();
      auto host = (*nl)->GetLink(p.host_veth);
      EXPECT_TRUE(host.ok());
      Sh(absl::StrCat("ip -n ", p.ns->name(), " neigh replace 169.254.1.1 lladdr ",
                      net::MacToString(host->mac), " dev eth0 nud permanent"));
      auto pod_nl = netlink::Netlink::OpenInNamespace(p.ns->path());
      auto eth0 = (*pod_nl)->GetLink("eth0");
      Endpoint ep;
      ep.ip = *net::IpAddress::Parse(ip);
      ep.ifindex = host->index;
      ep.mac = eth0->mac;
      ep.node_mac = host->mac;
      EXPECT_TRUE(dp.endpoints().Upsert(ep).ok());
      EXPECT_TRUE(dp.AttachFromContainer(host->index).ok());
    }
    pods_.push_back(std::move(p));
    return pods_.back();
  }

  bool Ping(const ScopedNetns& from, const std::string& to) {
    std::string out;
    return from.Exec("ping -c 2 -i 0.2 -W 2 " + to, &out) == 0;
  }

  // One TCP exchange: a server in `to` answers "pong" to "ping". The client
  // retries while the listener may not be up yet (no fixed sleeps).
  bool Tcp(const Pod& from, const Pod& to) {
    pid_t server = fork();
    if (server == 0) {
      execlp("ip", "ip", "netns", "exec", to.ns->name().c_str(), "sh", "-c",
             "echo pong | timeout 10 nc -l -p 7000 -q 1", nullptr);
      _exit(127);
    }
    bool ok = false;
    for (int attempt = 0; attempt < 50 && !ok; ++attempt) {
      std::string out;
      int rc = from.ns->Exec("sh -c 'echo ping | timeout 5 nc -q 1 " + to.ip + " 7000'", &out);
      ok = rc == 0 && out.find("pong") != std::string::npos;
      if (!ok) usleep(100000);
    }
    kill(server, SIGTERM);
    waitpid(server, nullptr, 0);
    return ok;
  }

  std::unique_ptr<ScopedNetns> n1_, n2_;
  std::string pins1_, pins2_;
  std::unique_ptr<Datapath> dp1_, dp2_;
  std::vector<Pod> pods_;
};

TEST_F(DatapathTrafficTest, PodToPodOnOneNodeGoesThroughBpf) {
  pods_.reserve(4);
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  Pod& b = AddPod(*n1_, *dp1_, "10.244.1.6");
  EXPECT_TRUE(Ping(*a.ns, b.ip));
  EXPECT_TRUE(Tcp(a, b));
}

TEST_F(DatapathTrafficTest, PodToPodAcrossNodesGoesThroughBpf) {
  pods_.reserve(4);
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  Pod& c = AddPod(*n2_, *dp2_, "10.244.2.5");
  EXPECT_TRUE(Ping(*a.ns, c.ip));
  EXPECT_TRUE(Tcp(c, a));
}

TEST_F(DatapathTrafficTest, RemovedEndpointIsNoLongerReachable) {
  pods_.reserve(4);
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  Pod& b = AddPod(*n1_, *dp1_, "10.244.1.6");
  ASSERT_TRUE(Ping(*a.ns, b.ip));
  ASSERT_TRUE(dp1_->endpoints().Delete(*net::IpAddress::Parse(b.ip)).ok());
  EXPECT_FALSE(Ping(*a.ns, b.ip));  // no host route either: nothing delivers it
  auto listed = dp1_->endpoints().List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].ip.ToString(), a.ip);
}

TEST_F(DatapathTrafficTest, ReloadReusesPinnedStateWithoutDisruption) {
  pods_.reserve(4);
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  Pod& b = AddPod(*n1_, *dp1_, "10.244.1.6");
  ASSERT_TRUE(Ping(*a.ns, b.ip));
  dp1_.reset();  // the agent exits: filters and pinned maps stay
  EXPECT_TRUE(Ping(*a.ns, b.ip));
  dp1_ = LoadIn(*n1_, pins1_);  // the agent starts again
  ASSERT_TRUE(dp1_);
  auto listed = dp1_->endpoints().List();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);  // state survived
  EXPECT_TRUE(Ping(*a.ns, b.ip));
}

}  // namespace
}  // namespace weft::datapath
