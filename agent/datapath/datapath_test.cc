// The pod datapath on the real kernel, with traffic. Two "nodes" (namespaces
// joined by a veth as their L2 segment) and three "pods". The nodes have NO
// routes to their own pods, so a pod is reachable only if the BPF programs
// deliver to it: every successful connection below went through them.
//
// Masquerade adds an "outside" host behind a second device of node1, on its
// own subnet, with no route to any pod: only traffic that leaves with node1's
// address can be answered.
#include "agent/datapath/datapath.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/netlink/netlink.h"
#include "bpf/maps/nat.h"
#include "bpf/maps/netdev.h"
#include "bpf/maps/nonmasq.h"
#include "common/net/mac.h"
#include "common/testing/fd.h"
#include "common/testing/sockaddr.h"
#include "common/testing/netns.h"
#include "gtest/gtest.h"

namespace weft::datapath {
namespace {

using weft::testing::NetnsGuard;
using weft::testing::ScopedFd;
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
    ASSERT_TRUE(dp.AttachNetdev(under->index, NetdevOptions{}).ok());
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

  int IfindexIn(const ScopedNetns& ns, const std::string& link) {
    NetnsGuard g(ns.path());
    auto nl = netlink::Netlink::Open();
    if (!g.ok() || !nl.ok()) return 0;
    auto l = (*nl)->GetLink(link);
    return l.ok() ? l->index : 0;
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

// --- Masquerade ------------------------------------------------------------

constexpr char kOutsideNet[] = "198.51.100";  // node1 .1 (device "wan"), outside .2
constexpr int kWait = 5000;                   // ms for what must succeed
constexpr int kFail = 1500;                   // ms for what must not


struct Peer {
  std::string ip;
  uint16_t port = 0;
};

using weft::testing::SockAddr;

Peer PeerOf(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof(buf));
  return {buf, ntohs(a.sin_port)};
}

// A socket of namespace `ns` (a socket stays in the namespace it was made in),
// bound to ip and an ephemeral port when `ip` is given.
ScopedFd SocketIn(const ScopedNetns& ns, int type, const std::string& ip = "") {
  NetnsGuard g(ns.path());
  if (!g.ok()) return ScopedFd();
  ScopedFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  if (fd.ok() && !ip.empty()) {
    sockaddr_in a = SockAddr(ip, 0);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return ScopedFd();
  }
  return fd;
}

uint16_t LocalPort(const ScopedFd& fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

bool Readable(const ScopedFd& fd, int timeout_ms) {
  pollfd p{fd.get(), POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

// Connects `fd` to ip:port within timeout_ms.
bool Connect(const ScopedFd& fd, const std::string& ip, uint16_t port, int timeout_ms) {
  int flags = fcntl(fd.get(), F_GETFL);
  fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
  sockaddr_in a = SockAddr(ip, port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 && errno != EINPROGRESS) {
    return false;
  }
  pollfd p{fd.get(), POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof(err);
  bool ok = poll(&p, 1, timeout_ms) == 1 &&
            getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  fcntl(fd.get(), F_SETFL, flags);
  return ok;
}

ScopedFd Accept(const ScopedFd& listener, Peer* peer) {
  if (!Readable(listener, kWait)) return ScopedFd();
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  ScopedFd fd(accept4(listener.get(), reinterpret_cast<sockaddr*>(&a), &len, SOCK_CLOEXEC));
  *peer = PeerOf(a);
  return fd;
}

// Sends `msg` on `from` and checks that it arrives on `to` within kWait.
bool Carries(const ScopedFd& from, const ScopedFd& to, const std::string& msg) {
  if (send(from.get(), msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) {
    return false;
  }
  std::string got;
  char buf[256];
  while (got.size() < msg.size() && Readable(to, kWait)) {
    ssize_t n = recv(to.get(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got == msg;
}

// One UDP exchange: `client` sends to server's address, `server` answers the
// address the datagram came from, and the answer must come back from the
// address the client sent to (a reply whose source was translated does not
// count). Returns the address the server saw (empty ip: no exchange).
Peer UdpExchange(const ScopedFd& client, const ScopedFd& server, const std::string& to_ip,
                 uint16_t to_port, int timeout_ms) {
  sockaddr_in to = SockAddr(to_ip, to_port);
  if (sendto(client.get(), "ping", 4, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 4 ||
      !Readable(server, timeout_ms)) {
    return {};
  }
  char buf[16];
  sockaddr_in from{};
  socklen_t len = sizeof(from);
  if (recvfrom(server.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len) != 4 ||
      sendto(server.get(), "pong", 4, 0, reinterpret_cast<sockaddr*>(&from), len) != 4 ||
      !Readable(client, timeout_ms)) {
    return {};
  }
  sockaddr_in answered{};
  socklen_t answered_len = sizeof(answered);
  if (recvfrom(client.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&answered),
               &answered_len) != 4 ||
      answered.sin_addr.s_addr != to.sin_addr.s_addr || answered.sin_port != to.sin_port) {
    return {};
  }
  return PeerOf(from);
}

// The same, sent straight to the server's own port.
Peer UdpExchange(const ScopedFd& client, const ScopedFd& server, const std::string& server_ip,
                 int timeout_ms) {
  return UdpExchange(client, server, server_ip, LocalPort(server), timeout_ms);
}

// WEFT_NAT_PORT_MAX is the largest port there is.
bool InNatRange(uint16_t port) { return port >= WEFT_NAT_PORT_MIN; }

// Turns TX checksum offload off on `dev` of `ns`. Veth receivers trust a
// packet whose checksum is still to be completed (CHECKSUM_PARTIAL), so a
// wrong incremental update would go unnoticed; without offload the kernel
// completes the checksum in software at transmit (after tc egress) and the
// receiving stack verifies it.
bool TxChecksumOff(const ScopedNetns& ns, const std::string& dev) {
  NetnsGuard g(ns.path());
  ScopedFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!g.ok() || !fd.ok()) return false;
  ethtool_value value{};
  value.cmd = ETHTOOL_STXCSUM;
  value.data = 0;
  ifreq ifr{};
  strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&value);
  return ioctl(fd.get(), SIOCETHTOOL, &ifr) == 0;
}

class MasqueradeTrafficTest : public DatapathTrafficTest {
 protected:
  void SetUp() override {
    DatapathTrafficTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    outside_ = std::make_unique<ScopedNetns>("outside");
    ASSERT_TRUE(outside_->ok());
    Sh(absl::StrCat("ip -n ", n1_->name(), " link add wan type veth peer name eth0 netns ",
                    outside_->name()));
    Sh(absl::StrCat("ip -n ", n1_->name(), " addr add ", kOutsideNet, ".1/24 dev wan"));
    Sh(absl::StrCat("ip -n ", outside_->name(), " addr add ", kOutsideNet, ".2/24 dev eth0"));
    Sh(absl::StrCat("ip -n ", n1_->name(), " link set wan up"));
    Sh(absl::StrCat("ip -n ", outside_->name(), " link set eth0 up"));
    // The outside host knows only its own subnet: no route to any pod.
    wan_ = IfindexIn(*n1_, "wan");
    under_ = IfindexIn(*n1_, "under");
    ASSERT_GT(wan_, 0);
    ASSERT_GT(under_, 0);
    ASSERT_TRUE(dp1_->SetNonMasqueradeCidrs({*net::IpPrefix::Parse("10.244.0.0/16")}).ok());
    SetMasquerade(true);
    pods_.reserve(4);
  }

  void TearDown() override {
    outside_.reset();
    DatapathTrafficTest::TearDown();
  }

  // Both native devices of node1, masquerading with their own addresses or not.
  // tc attaches in the calling thread's namespace: node1's, not the test's.
  void SetMasquerade(bool on) {
    NetdevOptions wan{on, *net::IpAddress::Parse(absl::StrCat(kOutsideNet, ".1"))};
    NetdevOptions under{on, *net::IpAddress::Parse("192.168.77.1")};
    NetnsGuard g(n1_->path());
    ASSERT_TRUE(g.ok());
    auto s = dp1_->AttachNetdev(wan_, wan);
    ASSERT_TRUE(s.ok()) << s;
    s = dp1_->AttachNetdev(under_, under);
    ASSERT_TRUE(s.ok()) << s;
  }

  // The prefixes in node1's pinned non-masquerade map, as "a.b.c.d/len".
  std::set<std::string> PinnedNonMasquerade() {
    std::set<std::string> out;
    ScopedFd fd(bpf_obj_get((pins1_ + "/weft_nonmasq4_v1").c_str()));
    EXPECT_TRUE(fd.ok()) << strerror(errno);
    lpm4_key cur{}, next{};
    lpm4_key* prev = nullptr;
    while (fd.ok() && bpf_map_get_next_key(fd.get(), prev, &next) == 0) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &next.addr, buf, sizeof(buf));
      out.insert(absl::StrCat(buf, "/", next.prefixlen));
      cur = next;
      prev = &cur;
    }
    return out;
  }

  // Device `ifindex`'s entry in node1's pinned netdev map, if any.
  std::optional<netdev_info> PinnedNetdev(int ifindex) {
    ScopedFd fd(bpf_obj_get((pins1_ + "/weft_netdev_v1").c_str()));
    EXPECT_TRUE(fd.ok()) << strerror(errno);
    __u32 key = static_cast<__u32>(ifindex);
    netdev_info info{};
    if (!fd.ok() || bpf_map_lookup_elem(fd.get(), &key, &info) != 0) return std::nullopt;
    return info;
  }

  // Whether any tc filter on node1's `dev` hook (ingress/egress) runs a Weft program.
  bool HasWeftFilter(const std::string& dev, const std::string& hook) {
    std::string out;
    std::string cmd = absl::StrCat("tc -n ", n1_->name(), " filter show dev ", dev, " ", hook);
    EXPECT_EQ(weft::testing::Run(cmd, &out), 0) << cmd << ": " << out;
    return out.find("weft_") != std::string::npos;
  }

  std::string OutsideIp() const { return absl::StrCat(kOutsideNet, ".2"); }
  std::string NodeIp() const { return absl::StrCat(kOutsideNet, ".1"); }

  std::unique_ptr<ScopedNetns> outside_;
  int wan_ = 0;
  int under_ = 0;
};

TEST_F(MasqueradeTrafficTest, PodReachesTheOutsideWithTheNodeAddress) {
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");

  ScopedFd listener = SocketIn(*outside_, SOCK_STREAM, OutsideIp());
  ASSERT_TRUE(listener.ok());
  ASSERT_EQ(listen(listener.get(), 4), 0);
  ScopedFd client = SocketIn(*a.ns, SOCK_STREAM);
  ASSERT_TRUE(Connect(client, OutsideIp(), LocalPort(listener), kWait));
  Peer peer;
  ScopedFd server = Accept(listener, &peer);
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(peer.ip, NodeIp());
  EXPECT_TRUE(InNatRange(peer.port)) << peer.port;
  EXPECT_TRUE(Carries(client, server, "ping"));
  EXPECT_TRUE(Carries(server, client, "pong"));

  ScopedFd udp_server = SocketIn(*outside_, SOCK_DGRAM, OutsideIp());
  ScopedFd udp_client = SocketIn(*a.ns, SOCK_DGRAM);
  Peer udp_peer = UdpExchange(udp_client, udp_server, OutsideIp(), kWait);
  EXPECT_EQ(udp_peer.ip, NodeIp());
  EXPECT_TRUE(InNatRange(udp_peer.port)) << udp_peer.port;

  EXPECT_TRUE(Ping(*a.ns, OutsideIp()));
}

TEST_F(MasqueradeTrafficTest, ChecksumsHoldWhenCompletedInSoftware) {
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  // Pod packets leave `wan` with offloaded checksums completed after SNAT;
  // the outside's replies arrive fully checksummed and are verified by the pod.
  ASSERT_TRUE(TxChecksumOff(*n1_, "wan"));
  ASSERT_TRUE(TxChecksumOff(*outside_, "eth0"));

  ScopedFd listener = SocketIn(*outside_, SOCK_STREAM, OutsideIp());
  ASSERT_EQ(listen(listener.get(), 4), 0);
  ScopedFd client = SocketIn(*a.ns, SOCK_STREAM);
  ASSERT_TRUE(Connect(client, OutsideIp(), LocalPort(listener), kWait));
  Peer peer;
  ScopedFd server = Accept(listener, &peer);
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(peer.ip, NodeIp());
  EXPECT_TRUE(Carries(client, server, std::string(3000, 'x')));  // several segments
  EXPECT_TRUE(Carries(server, client, std::string(3000, 'y')));

  ScopedFd udp_server = SocketIn(*outside_, SOCK_DGRAM, OutsideIp());
  ScopedFd udp_client = SocketIn(*a.ns, SOCK_DGRAM);
  EXPECT_EQ(UdpExchange(udp_client, udp_server, OutsideIp(), kWait).ip, NodeIp());
}

TEST_F(MasqueradeTrafficTest, WithoutMasqueradeTheOutsideCannotAnswer) {
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  SetMasquerade(false);

  ScopedFd listener = SocketIn(*outside_, SOCK_STREAM, OutsideIp());
  ASSERT_EQ(listen(listener.get(), 4), 0);
  ScopedFd client = SocketIn(*a.ns, SOCK_STREAM);
  EXPECT_FALSE(Connect(client, OutsideIp(), LocalPort(listener), kFail));
  ScopedFd udp_server = SocketIn(*outside_, SOCK_DGRAM, OutsideIp());
  ScopedFd udp_client = SocketIn(*a.ns, SOCK_DGRAM);
  EXPECT_TRUE(UdpExchange(udp_client, udp_server, OutsideIp(), kFail).ip.empty());
  EXPECT_FALSE(Ping(*a.ns, OutsideIp()));

  // Turned on for a live device: new flows work.
  SetMasquerade(true);
  ScopedFd again = SocketIn(*a.ns, SOCK_STREAM);
  EXPECT_TRUE(Connect(again, OutsideIp(), LocalPort(listener), kWait));
}

TEST_F(MasqueradeTrafficTest, MasqueradedConnectionSurvivesAgentRestart) {
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  ScopedFd listener = SocketIn(*outside_, SOCK_STREAM, OutsideIp());
  ASSERT_EQ(listen(listener.get(), 4), 0);
  ScopedFd client = SocketIn(*a.ns, SOCK_STREAM);
  ASSERT_TRUE(Connect(client, OutsideIp(), LocalPort(listener), kWait));
  Peer peer;
  ScopedFd server = Accept(listener, &peer);
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(Carries(client, server, "before"));

  dp1_.reset();  // the agent exits: filters and pinned NAT state stay
  EXPECT_TRUE(Carries(client, server, "while down"));
  EXPECT_TRUE(Carries(server, client, "reply while down"));
  dp1_ = LoadIn(*n1_, pins1_);  // the agent starts again and re-attaches
  ASSERT_TRUE(dp1_);
  SetMasquerade(true);
  EXPECT_TRUE(Carries(client, server, "after"));
  EXPECT_TRUE(Carries(server, client, "reply after"));
}

TEST_F(MasqueradeTrafficTest, NonMasqueradeCidrsAreReplacedNotAppended) {
  auto p = [](const char* text) { return *net::IpPrefix::Parse(text); };
  ASSERT_TRUE(
      dp1_->SetNonMasqueradeCidrs({p("10.244.0.0/16"), p("192.0.2.0/24"), p("fd00::/64")}).ok());
  EXPECT_EQ(PinnedNonMasquerade(), (std::set<std::string>{"10.244.0.0/16", "192.0.2.0/24"}));
  ASSERT_TRUE(dp1_->SetNonMasqueradeCidrs({p("192.0.2.0/24"), p("172.16.0.0/12")}).ok());
  EXPECT_EQ(PinnedNonMasquerade(), (std::set<std::string>{"172.16.0.0/12", "192.0.2.0/24"}));
  ASSERT_TRUE(dp1_->SetNonMasqueradeCidrs({}).ok());
  EXPECT_TRUE(PinnedNonMasquerade().empty());
}

TEST_F(MasqueradeTrafficTest, DetachRemovesBothHooksAndTheSettings) {
  auto info = PinnedNetdev(wan_);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->flags, WEFT_NETDEV_F_MASQUERADE);
  char addr[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &info->masq_addr4, addr, sizeof(addr));
  EXPECT_EQ(addr, NodeIp());
  EXPECT_TRUE(HasWeftFilter("wan", "ingress"));
  EXPECT_TRUE(HasWeftFilter("wan", "egress"));

  {
    NetnsGuard g(n1_->path());
    ASSERT_TRUE(g.ok());
    ASSERT_TRUE(dp1_->Detach(wan_).ok());
    EXPECT_TRUE(dp1_->Detach(wan_).ok());  // idempotent
    // Masquerade needs the device's address.
    NetdevOptions no_address;
    no_address.masquerade = true;
    EXPECT_EQ(dp1_->AttachNetdev(wan_, no_address).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(HasWeftFilter("wan", "ingress"));
  EXPECT_FALSE(HasWeftFilter("wan", "egress"));
  EXPECT_FALSE(PinnedNetdev(wan_).has_value());
}

TEST_F(MasqueradeTrafficTest, ClusterTrafficKeepsPodAddresses) {
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  Pod& c = AddPod(*n2_, *dp2_, "10.244.2.5");

  // Pod to pod across nodes: inside the non-masquerade CIDR.
  ScopedFd listener = SocketIn(*a.ns, SOCK_STREAM, a.ip);
  ASSERT_EQ(listen(listener.get(), 4), 0);
  ScopedFd from_pod = SocketIn(*c.ns, SOCK_STREAM);
  ASSERT_TRUE(Connect(from_pod, a.ip, LocalPort(listener), kWait));
  Peer peer;
  ScopedFd accepted = Accept(listener, &peer);
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(peer.ip, c.ip);

  // node2's host (outside the CIDR) opens connections to the pod: the pod's
  // answers must keep the pod's address although they would be masqueraded
  // if the pod had opened the flow.
  ScopedFd from_node = SocketIn(*n2_, SOCK_STREAM);
  ASSERT_TRUE(Connect(from_node, a.ip, LocalPort(listener), kWait));
  ScopedFd accepted_node = Accept(listener, &peer);
  ASSERT_TRUE(accepted_node.ok());
  EXPECT_EQ(peer.ip, "192.168.77.2");
  EXPECT_TRUE(Carries(accepted_node, from_node, "reply"));
  ScopedFd pod_udp = SocketIn(*a.ns, SOCK_DGRAM, a.ip);
  ScopedFd node_udp = SocketIn(*n2_, SOCK_DGRAM);
  EXPECT_EQ(UdpExchange(node_udp, pod_udp, a.ip, kWait).ip, "192.168.77.2");

  // The pod opening a flow to node2's host is masqueraded (to node1's address there).
  ScopedFd node_listener = SocketIn(*n2_, SOCK_STREAM, "192.168.77.2");
  ASSERT_EQ(listen(node_listener.get(), 4), 0);
  ScopedFd to_node = SocketIn(*a.ns, SOCK_STREAM);
  ASSERT_TRUE(Connect(to_node, "192.168.77.2", LocalPort(node_listener), kWait));
  ScopedFd at_node = Accept(node_listener, &peer);
  ASSERT_TRUE(at_node.ok());
  EXPECT_EQ(peer.ip, "192.168.77.1");
}

// --- Services reached from outside (NodePort, lb_external.h) ----------------

// The outside host connects to node1's address on `wan` at a NodePort. With
// externalTrafficPolicy Local the backend is a pod on node1 and sees the
// client's address; with Cluster (source NAT) the backend may be on node2 and
// sees node1's address. Either way the client's answers come from the
// address it connected to.
class NodePortTrafficTest : public MasqueradeTrafficTest {
 protected:
  static constexpr uint16_t kNodePort = 30080;

  void SetUp() override {
    MasqueradeTrafficTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(dp1_->services().SetSnatAddress(*net::IpAddress::Parse("192.168.77.1")).ok());
  }

  void Expose(uint8_t proto, const std::string& backend_ip, uint16_t backend_port, bool snat) {
    LbService svc;
    svc.key.ip = *net::Ipv4Address::Parse(NodeIp());
    svc.key.port = kNodePort;
    svc.key.proto = proto;
    svc.key.scope = LbScope::kExternal;
    svc.snat = snat;
    LbBackend b;
    b.ip = *net::Ipv4Address::Parse(backend_ip);
    b.port = backend_port;
    b.proto = proto;
    svc.backends.push_back(b);
    auto s = dp1_->services().Upsert(svc);
    ASSERT_TRUE(s.ok()) << s;
  }

  // A TCP connection from the outside to the NodePort, exposed on a listener
  // of `pod`, carrying `request` and `reply`: the client address the pod saw
  // (empty ip: no connection).
  Peer TcpToNodePort(const Pod& pod, bool snat, const std::string& request,
                     const std::string& reply) {
    ScopedFd listener = SocketIn(*pod.ns, SOCK_STREAM, pod.ip);
    if (listen(listener.get(), 4) != 0) {
      ADD_FAILURE() << "listen in " << pod.ip;
      return {};
    }
    Expose(6, pod.ip, LocalPort(listener), snat);
    ScopedFd client = SocketIn(*outside_, SOCK_STREAM);
    if (!Connect(client, NodeIp(), kNodePort, kWait)) {
      ADD_FAILURE() << "connect to the NodePort";
      return {};
    }
    Peer peer;
    ScopedFd server = Accept(listener, &peer);
    if (!server.ok()) {
      ADD_FAILURE() << "accept in " << pod.ip;
      return {};
    }
    EXPECT_TRUE(Carries(client, server, request));
    EXPECT_TRUE(Carries(server, client, reply));
    return peer;
  }

  // One UDP exchange from the outside to the NodePort, answered by `server`:
  // the address the server saw (empty ip: no exchange, or the answer did not
  // come from the NodePort).
  Peer UdpToNodePort(const ScopedFd& server) {
    ScopedFd client = SocketIn(*outside_, SOCK_DGRAM);
    return UdpExchange(client, server, NodeIp(), kNodePort, kWait);
  }
};

TEST_F(NodePortTrafficTest, LocalPolicyReachesALocalPodWithTheClientAddress) {
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  // Checksums completed in software and verified by the receivers.
  ASSERT_TRUE(TxChecksumOff(*n1_, "wan"));
  ASSERT_TRUE(TxChecksumOff(*outside_, "eth0"));
  EXPECT_EQ(TcpToNodePort(a, /*snat=*/false, std::string(3000, 'x'), std::string(3000, 'y')).ip,
            OutsideIp());

  ScopedFd udp_server = SocketIn(*a.ns, SOCK_DGRAM, a.ip);
  Expose(17, a.ip, LocalPort(udp_server), /*snat=*/false);
  EXPECT_EQ(UdpToNodePort(udp_server).ip, OutsideIp());
}

TEST_F(NodePortTrafficTest, ClusterPolicyReachesARemotePodThroughTheNodeAddress) {
  Pod& c = AddPod(*n2_, *dp2_, "10.244.2.5");
  Peer peer = TcpToNodePort(c, /*snat=*/true, "ping", "pong");
  EXPECT_EQ(peer.ip, "192.168.77.1");
  EXPECT_TRUE(InNatRange(peer.port)) << peer.port;

  ScopedFd udp_server = SocketIn(*c.ns, SOCK_DGRAM, c.ip);
  Expose(17, c.ip, LocalPort(udp_server), /*snat=*/true);
  Peer udp_peer = UdpToNodePort(udp_server);
  EXPECT_EQ(udp_peer.ip, "192.168.77.1");
  EXPECT_TRUE(InNatRange(udp_peer.port)) << udp_peer.port;
}

TEST_F(NodePortTrafficTest, ClusterPolicyToALocalPod) {
  Pod& a = AddPod(*n1_, *dp1_, "10.244.1.5");
  EXPECT_EQ(TcpToNodePort(a, /*snat=*/true, "ping", "pong").ip, "192.168.77.1");
}

}  // namespace
}  // namespace weft::datapath
