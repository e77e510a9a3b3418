// Root test on the real kernel with real wireguard-go: two network namespaces
// ("nodes") joined by a veth pair, a userspace WireGuard device in each, pod
// prefixes routed through the tunnel. Every namespace, interface and process
// has a per-run name and is removed on every exit path (TearDown stops
// wireguard-go by PID; the processes also get SIGTERM if the test dies).
#include "agent/wireguard/uapi.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/netlink/netlink.h"
#include "common/netns/netns.h"
#include "common/netns/process.h"
#include "common/testing/netns.h"
#include "gtest/gtest.h"

namespace weft::wireguard {
namespace {

using weft::testing::ScopedNetns;

net::IpAddress Ip(const char* text) { return *net::IpAddress::Parse(text); }
net::IpPrefix P(const char* text) { return *net::IpPrefix::Parse(text); }

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// Processes whose command line is exactly `... -f <ifname>` of wireguard-go.
std::vector<pid_t> WireguardGoProcesses(const std::string& ifname) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    int pid = atoi(e->d_name);
    if (pid <= 0 || !netns::IsRunning(pid)) continue;
    auto cmd = netns::ReadCmdline(pid);
    if (cmd.ok() && cmd->size() == 3 && absl::EndsWith((*cmd)[0], "wireguard-go") &&
        (*cmd)[1] == "-f" && (*cmd)[2] == ifname) {
      out.push_back(pid);
    }
  }
  closedir(d);
  return out;
}

// One "node": a namespace, its underlay address, its WireGuard interface.
struct Node {
  std::unique_ptr<ScopedNetns> ns;
  std::unique_ptr<netlink::Netlink> nl;
  std::string ifname;
  std::string pid_file, log_file;
  net::IpAddress underlay;  // on the veth
  net::IpAddress tunnel;    // on the WireGuard interface (/32)
  net::IpPrefix pods;       // routed to this node through the tunnel
  net::IpAddress pod;       // an address of `pods`, on lo, that answers
  Key private_key;

  UserspaceOptions Options() const {
    UserspaceOptions o;
    o.ifname = ifname;
    o.pid_file = pid_file;
    o.log_file = log_file;
    o.mtu = 1380;
    o.netns_path = ns->path();
    o.terminate_with_parent = true;
    return o;
  }
};

class UapiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!weft::testing::HaveRoot()) GTEST_SKIP() << "needs root for namespaces and wireguard-go";
    if (!netns::FindProgram("wireguard-go").ok()) GTEST_SKIP() << "wireguard-go is not installed";
    weft::testing::RemoveStaleNamespaces();
    const char* tmp = std::getenv("TEST_TMPDIR");
    tmp_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/uapi-", getpid());
    InitNode(a_, "wga", "10.77.0.1", "10.78.0.1", "10.79.1.0/24", "10.79.1.10");
    InitNode(b_, "wgb", "10.77.0.2", "10.78.0.2", "10.79.2.0/24", "10.79.2.10");
  }

  void TearDown() override {
    // Whatever happened: stop every wireguard-go this test started, by PID.
    for (Node* n : {&a_, &b_}) {
      if (!n->ifname.empty()) {
        EXPECT_TRUE(StopUserspaceDevice(n->pid_file, n->ifname).ok());
      }
    }
    for (pid_t pid : started_) {  // in case a pid file was lost
      netns::Stop(
          pid,
          [](const std::vector<std::string>& c) {
            return !c.empty() && absl::EndsWith(c[0], "wireguard-go");
          },
          absl::Seconds(5))
          .IgnoreError();
    }
    std::vector<std::string> namespaces;
    for (Node* n : {&a_, &b_}) {
      if (n->ns) namespaces.push_back(n->ns->path());
      n->nl.reset();
      n->ns.reset();
    }
    // Nothing is left: no process, no socket, no namespace.
    for (Node* n : {&a_, &b_}) {
      if (n->ifname.empty()) continue;
      EXPECT_TRUE(WireguardGoProcesses(n->ifname).empty()) << n->ifname;
      EXPECT_FALSE(Exists(UapiSocketPath(n->ifname))) << UapiSocketPath(n->ifname);
    }
    for (const std::string& path : namespaces) EXPECT_FALSE(Exists(path)) << path;
  }

  void InitNode(Node& n, const std::string& suffix, const char* underlay, const char* tunnel,
                const char* pods, const char* pod) {
    n.ns = std::make_unique<ScopedNetns>(suffix);
    ASSERT_TRUE(n.ns->ok());
    auto nl = netlink::Netlink::OpenInNamespace(n.ns->path());
    ASSERT_TRUE(nl.ok()) << nl.status();
    n.nl = std::move(*nl);
    n.ifname = weft::testing::UniqueName("wg");
    ASSERT_LE(n.ifname.size(), 15u);
    n.pid_file = absl::StrCat(tmp_, "/run/", n.ifname, ".pid");
    n.log_file = absl::StrCat(tmp_, "/log/", n.ifname, ".log");
    n.underlay = Ip(underlay);
    n.tunnel = Ip(tunnel);
    n.pods = P(pods);
    n.pod = Ip(pod);
    n.private_key = GeneratePrivateKey();
  }

  // va (in a) <-> vb (in b) carrying the underlay addresses.
  void Wire() {
    const std::string va = weft::testing::UniqueName("va"), vb = weft::testing::UniqueName("vb");
    int fd_b = b_.ns->OpenFd();
    ASSERT_GE(fd_b, 0);
    absl::Status s = a_.nl->CreateVeth(va, vb, 1500, fd_b);
    close(fd_b);
    ASSERT_TRUE(s.ok()) << s;
    for (auto [n, name] : {std::pair<Node*, std::string>{&a_, va}, {&b_, vb}}) {
      auto link = n->nl->GetLink(name);
      ASSERT_TRUE(link.ok()) << link.status();
      ASSERT_TRUE(n->nl->AddAddress(link->index, n->underlay, 24).ok());
      ASSERT_TRUE(n->nl->SetLinkUp(link->index).ok());
      auto lo = n->nl->GetLink("lo");
      ASSERT_TRUE(lo.ok()) << lo.status();
      ASSERT_TRUE(n->nl->AddAddress(lo->index, n->pod, 32).ok());
    }
    std::string out;
    ASSERT_EQ(a_.ns->Exec("ping -c 1 -W 2 " + b_.underlay.ToString(), &out), 0) << out;
  }

  // Starts wireguard-go for `n` and routes the other node's tunnel address
  // and pods through it.
  std::unique_ptr<UapiDevice> Start(Node& n, const Node& other) {
    auto dev = EnsureUserspaceDevice(n.Options());
    EXPECT_TRUE(dev.ok()) << dev.status();
    if (!dev.ok()) return nullptr;
    started_.push_back((*dev)->pid());
    auto link = n.nl->GetLink(n.ifname);
    EXPECT_TRUE(link.ok()) << link.status();
    if (!link.ok()) return nullptr;
    EXPECT_TRUE(n.nl->AddAddress(link->index, n.tunnel, 32).ok());
    for (const net::IpPrefix& dst : {net::IpPrefix::Of(other.tunnel, 32), other.pods}) {
      netlink::RouteSpec r;
      r.dst = dst;
      r.oif = link->index;
      r.scope_link = true;
      r.prefsrc = n.tunnel;
      absl::Status s = n.nl->ReplaceRoute(r);
      EXPECT_TRUE(s.ok()) << s;
    }
    return std::move(*dev);
  }

  // `n`'s config with `peers` as its peers (endpoints on the underlay).
  DeviceConfig ConfigFor(const Node& n,
                         const std::vector<std::pair<const Node*, uint16_t>>& peers) {
    DeviceConfig c;
    c.private_key = n.private_key;
    for (const auto& [peer, port] : peers) {
      PeerConfig p;
      p.public_key = PublicKey(peer->private_key);
      p.endpoint = Endpoint{peer->underlay, port};
      p.allowed_ips = {peer->pods, net::IpPrefix::Of(peer->tunnel, 32)};
      c.peers.push_back(p);
    }
    return c;
  }

  // One echo request answered within a second, up to `tries` times.
  bool Ping(const Node& from, const net::IpAddress& to, int tries = 1) {
    for (int i = 0; i < tries; ++i) {
      if (from.ns->Exec("ping -c 1 -W 1 " + to.ToString()) == 0) return true;
    }
    return false;
  }

  // A TCP connection from `from` to `to`:<ephemeral port> in `to_node`; what
  // the server received.
  std::string TcpRoundTrip(const Node& from, const Node& to_node, const net::IpAddress& to) {
    int listener = -1;
    uint16_t port = 0;
    absl::Status s = netns::RunIn(to_node.ns->path(), [&]() -> absl::Status {
      listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(to.v4());
      socklen_t len = sizeof(sa);
      if (bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
          listen(listener, 1) != 0 ||
          getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
        return absl::InternalError(absl::StrCat("listen: ", strerror(errno)));
      }
      port = ntohs(sa.sin_port);
      return absl::OkStatus();
    });
    if (!s.ok()) {
      if (listener >= 0) close(listener);
      return "listen failed: " + std::string(s.message());
    }
    int client = -1;
    s = netns::RunIn(from.ns->path(), [&]() -> absl::Status {
      client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      timeval tv{5, 0};
      setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(to.v4());
      sa.sin_port = htons(port);
      if (connect(client, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        return absl::InternalError(absl::StrCat("connect: ", strerror(errno)));
      }
      const char msg[] = "hello through the tunnel";
      if (send(client, msg, sizeof(msg) - 1, MSG_NOSIGNAL) != sizeof(msg) - 1) {
        return absl::InternalError("send");
      }
      return absl::OkStatus();
    });
    std::string got = s.ok() ? "" : "client failed: " + std::string(s.message());
    pollfd p{listener, POLLIN, 0};
    if (s.ok() && poll(&p, 1, 5000) == 1) {
      int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      char buf[64];
      pollfd q{conn, POLLIN, 0};
      if (conn >= 0 && poll(&q, 1, 5000) == 1) {
        ssize_t n = recv(conn, buf, sizeof(buf), 0);
        if (n > 0) got.assign(buf, static_cast<size_t>(n));
      }
      if (conn >= 0) close(conn);
    }
    if (client >= 0) close(client);
    close(listener);
    return got;
  }

  const PeerState* PeerOf(const DeviceState& s, const Node& peer) {
    for (const auto& p : s.peers) {
      if (p.public_key == PublicKey(peer.private_key)) return &p;
    }
    return nullptr;
  }

  std::string tmp_;
  Node a_, b_;
  std::vector<pid_t> started_;
};

TEST_F(UapiTest, TunnelCarriesTrafficAndSurvivesUpdatesRotationRemovalAndAdoption) {
  ASSERT_NO_FATAL_FAILURE(Wire());
  auto dev_a = Start(a_, b_);
  auto dev_b = Start(b_, a_);
  ASSERT_TRUE(dev_a && dev_b);
  EXPECT_FALSE(dev_a->adopted());
  ASSERT_GT(dev_a->pid(), 0);
  auto cmdline = netns::ReadCmdline(dev_a->pid());
  ASSERT_TRUE(cmdline.ok());
  EXPECT_EQ(cmdline->back(), a_.ifname);
  EXPECT_TRUE(Exists(UapiSocketPath(a_.ifname)));
  auto link_a = a_.nl->GetLink(a_.ifname);
  ASSERT_TRUE(link_a.ok());
  EXPECT_EQ(link_a->mtu, 1380);
  EXPECT_TRUE(link_a->up);

  // Random listen ports (no fixed ports in tests): read them back.
  auto fresh_a = dev_a->Get();
  auto fresh_b = dev_b->Get();
  ASSERT_TRUE(fresh_a.ok() && fresh_b.ok());
  EXPECT_TRUE(fresh_a->public_key.IsZero());  // no key yet
  const uint16_t port_a = fresh_a->listen_port, port_b = fresh_b->listen_port;
  ASSERT_NE(port_a, 0);
  ASSERT_NE(port_b, 0);

  DeviceConfig config_a = ConfigFor(a_, {{&b_, port_b}});
  DeviceConfig config_b = ConfigFor(b_, {{&a_, port_a}});
  ASSERT_TRUE(dev_a->Apply(config_a).ok());
  ASSERT_TRUE(dev_b->Apply(config_b).ok());
  auto st = dev_a->Get();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->public_key, PublicKey(a_.private_key));
  EXPECT_EQ(st->listen_port, port_a);  // listen_port 0 in the config: kept
  ASSERT_EQ(st->peers.size(), 1u);
  EXPECT_EQ(st->peers[0].last_handshake, absl::InfinitePast());

  // Traffic: ping to the tunnel address and to a pod address, and TCP.
  EXPECT_TRUE(Ping(a_, b_.tunnel, 3));
  EXPECT_TRUE(Ping(a_, b_.pod));
  EXPECT_EQ(TcpRoundTrip(a_, b_, b_.pod), "hello through the tunnel");

  st = dev_a->Get();
  ASSERT_TRUE(st.ok()) << st.status();
  const PeerState* pb = PeerOf(*st, b_);
  ASSERT_NE(pb, nullptr);
  EXPECT_GT(pb->last_handshake, absl::Now() - absl::Minutes(1));
  EXPECT_LE(pb->last_handshake, absl::Now());
  EXPECT_GT(pb->rx_bytes, 0u);
  EXPECT_GT(pb->tx_bytes, 0u);
  EXPECT_EQ(pb->endpoint, (Endpoint{b_.underlay, port_b}));
  EXPECT_EQ(CanonicalPrefixes(pb->allowed_ips), CanonicalPrefixes(config_a.peers[0].allowed_ips));
  auto st_b = dev_b->Get();
  ASSERT_TRUE(st_b.ok());
  ASSERT_NE(PeerOf(*st_b, a_), nullptr);
  EXPECT_EQ(PeerOf(*st_b, a_)->endpoint, (Endpoint{a_.underlay, port_a}));
  const absl::Time handshake = pb->last_handshake;
  const absl::Time handshake_b = PeerOf(*st_b, a_)->last_handshake;
  const uint64_t rx_before = pb->rx_bytes;

  // Allowed IPs updated in place: the session survives, no new handshake.
  config_a.peers[0].allowed_ips.push_back(P("10.79.3.0/24"));
  ASSERT_TRUE(dev_a->Apply(config_a).ok());
  EXPECT_TRUE(Ping(a_, b_.pod));
  EXPECT_EQ(TcpRoundTrip(a_, b_, b_.pod), "hello through the tunnel");
  st = dev_a->Get();
  ASSERT_TRUE(st.ok());
  pb = PeerOf(*st, b_);
  ASSERT_NE(pb, nullptr);
  EXPECT_EQ(CanonicalPrefixes(pb->allowed_ips), CanonicalPrefixes(config_a.peers[0].allowed_ips));
  EXPECT_EQ(pb->last_handshake, handshake);
  EXPECT_GT(pb->rx_bytes, rx_before);
  st_b = dev_b->Get();
  ASSERT_TRUE(st_b.ok());
  EXPECT_EQ(PeerOf(*st_b, a_)->last_handshake, handshake_b);

  // Rotation: a's new key; until b knows it, nothing gets through.
  const Key old_public_a = PublicKey(a_.private_key);
  a_.private_key = GeneratePrivateKey();
  config_a.private_key = a_.private_key;
  ASSERT_TRUE(dev_a->Apply(config_a).ok());
  st = dev_a->Get();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->public_key, PublicKey(a_.private_key));
  ASSERT_EQ(st->peers.size(), 1u);  // the peer itself is kept
  EXPECT_FALSE(Ping(a_, b_.tunnel));
  config_b = ConfigFor(b_, {{&a_, port_a}});
  ASSERT_TRUE(dev_b->Apply(config_b).ok());
  st_b = dev_b->Get();
  ASSERT_TRUE(st_b.ok());
  ASSERT_EQ(st_b->peers.size(), 1u);
  EXPECT_EQ(st_b->peers[0].public_key, PublicKey(a_.private_key));
  EXPECT_NE(st_b->peers[0].public_key, old_public_a);
  // b initiates right away (a may be waiting out its handshake retry timer).
  EXPECT_TRUE(Ping(b_, a_.tunnel, 5));
  EXPECT_TRUE(Ping(a_, b_.pod));
  st = dev_a->Get();
  ASSERT_TRUE(st.ok());
  ASSERT_NE(PeerOf(*st, b_), nullptr);
  EXPECT_GT(PeerOf(*st, b_)->last_handshake, handshake);

  // Removal: a forgets b; traffic stops both ways.
  config_a.peers.clear();
  ASSERT_TRUE(dev_a->Apply(config_a).ok());
  st = dev_a->Get();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->peers.empty());
  EXPECT_FALSE(Ping(a_, b_.tunnel));
  EXPECT_FALSE(Ping(b_, a_.tunnel));

  // Adoption (an agent restart): same process, same state, nothing spawned.
  auto again = EnsureUserspaceDevice(a_.Options());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->adopted());
  EXPECT_EQ((*again)->pid(), dev_a->pid());
  EXPECT_EQ(WireguardGoProcesses(a_.ifname), std::vector<pid_t>{dev_a->pid()});
  auto adopted_state = (*again)->Get();
  ASSERT_TRUE(adopted_state.ok());
  EXPECT_EQ(adopted_state->public_key, PublicKey(a_.private_key));
  EXPECT_EQ(adopted_state->listen_port, port_a);

  // Stop by PID: the process, its socket, its interface and the pid file go.
  const pid_t pid_a = dev_a->pid();
  ASSERT_TRUE(StopUserspaceDevice(a_.pid_file, a_.ifname).ok());
  EXPECT_FALSE(netns::IsRunning(pid_a));
  EXPECT_FALSE(Exists(UapiSocketPath(a_.ifname)));
  EXPECT_FALSE(Exists(a_.pid_file));
  EXPECT_TRUE(absl::IsNotFound(a_.nl->GetLink(a_.ifname).status()));
  EXPECT_TRUE(StopUserspaceDevice(a_.pid_file, a_.ifname).ok());  // idempotent
  EXPECT_FALSE(dev_a->Get().ok());
}

// Found by trying (documented in uapi.h): wireguard-go exits by itself when its
// interface is deleted, and removes its socket.
TEST_F(UapiTest, WireguardGoExitsAndRemovesItsSocketWhenItsInterfaceIsDeleted) {
  auto dev = EnsureUserspaceDevice(a_.Options());
  ASSERT_TRUE(dev.ok()) << dev.status();
  const pid_t pid = (*dev)->pid();
  started_.push_back(pid);
  ASSERT_TRUE(netns::IsRunning(pid));
  ASSERT_TRUE(Exists(UapiSocketPath(a_.ifname)));
  ASSERT_TRUE(a_.nl->DeleteLink(a_.ifname).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (netns::IsRunning(pid) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(netns::IsRunning(pid));
  EXPECT_FALSE(Exists(UapiSocketPath(a_.ifname)));

  // The next Ensure starts a new one.
  auto next = EnsureUserspaceDevice(a_.Options());
  ASSERT_TRUE(next.ok()) << next.status();
  started_.push_back((*next)->pid());
  EXPECT_FALSE((*next)->adopted());
  EXPECT_NE((*next)->pid(), pid);
  EXPECT_TRUE(a_.nl->GetLink(a_.ifname).ok());
}

// SIGKILL leaves the socket file behind (the interface goes); Stop removes it
// and a new wireguard-go starts fine over it.
TEST_F(UapiTest, StaleSocketAfterSigkillIsHandled) {
  auto dev = EnsureUserspaceDevice(a_.Options());
  ASSERT_TRUE(dev.ok()) << dev.status();
  const pid_t pid = (*dev)->pid();
  started_.push_back(pid);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(waitpid(pid, nullptr, 0), pid);  // our child: reap it
  EXPECT_FALSE(netns::IsRunning(pid));
  EXPECT_TRUE(Exists(UapiSocketPath(a_.ifname)));  // stale
  EXPECT_TRUE(absl::IsNotFound(a_.nl->GetLink(a_.ifname).status()));

  auto next = EnsureUserspaceDevice(a_.Options());
  ASSERT_TRUE(next.ok()) << next.status();
  started_.push_back((*next)->pid());
  EXPECT_FALSE((*next)->adopted());
  EXPECT_TRUE((*next)->Get().ok());

  ASSERT_EQ(kill((*next)->pid(), SIGKILL), 0);
  ASSERT_EQ(waitpid((*next)->pid(), nullptr, 0), (*next)->pid());
  EXPECT_TRUE(Exists(UapiSocketPath(a_.ifname)));
  ASSERT_TRUE(StopUserspaceDevice(a_.pid_file, a_.ifname).ok());
  EXPECT_FALSE(Exists(UapiSocketPath(a_.ifname)));
  EXPECT_FALSE(Exists(a_.pid_file));
}

TEST_F(UapiTest, AnInterfaceThatIsNotWireguardGoIsLeftAlone) {
  ASSERT_TRUE(a_.nl->CreateVeth(a_.ifname, weft::testing::UniqueName("vp"), 1500, -1).ok());
  auto dev = EnsureUserspaceDevice(a_.Options());
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(dev.status().message(), a_.ifname)) << dev.status();
  EXPECT_TRUE(absl::StrContains(dev.status().message(), "veth")) << dev.status();
  EXPECT_TRUE(a_.nl->GetLink(a_.ifname).ok());
  EXPECT_FALSE(Exists(a_.pid_file));
  EXPECT_TRUE(WireguardGoProcesses(a_.ifname).empty());
}

TEST_F(UapiTest, StopNeverSignalsAProcessThatIsNotOurWireguardGo) {
  netns::SpawnOptions o;
  o.argv = {"sleep", "30"};
  o.terminate_with_parent = true;
  auto pid = netns::Spawn(o);
  ASSERT_TRUE(pid.ok()) << pid.status();
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", tmp_, "/run").c_str()), 0);
  std::ofstream(a_.pid_file) << *pid << "\n";
  EXPECT_TRUE(StopUserspaceDevice(a_.pid_file, a_.ifname).ok());
  EXPECT_TRUE(netns::IsRunning(*pid));  // not signalled
  EXPECT_FALSE(Exists(a_.pid_file));    // the stale pid file is gone
  EXPECT_TRUE(netns::Stop(*pid, netns::ExactCmdline({"sleep", "30"}), absl::Seconds(2)).ok());
}

}  // namespace
}  // namespace weft::wireguard
