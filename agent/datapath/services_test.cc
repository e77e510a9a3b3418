// Socket-level Service translation on the real kernel (bpf_sock_lb.c through
// Datapath::services() and AttachSocketLb), with traffic.
//
// One network namespace with only lo up: backends listen on 127.0.0.2-7
// (TCP and UDP, port 8080) and answer with their name ("b2" ... "b7"). The
// namespace has no route to the Service addresses (10.96.0.0/12), so a
// connection to one succeeds only when the socket program translated it.
// Every client socket is created inside a unique child cgroup the programs
// are attached to (cgroup::SocketIn); the test process itself is not in it.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/datapath/datapath.h"
#include "agent/datapath/lb_types.h"
#include "common/netns/cgroup.h"
#include "common/testing/fd.h"
#include "common/testing/sockaddr.h"
#include "common/testing/netns.h"
#include "gtest/gtest.h"

namespace weft::datapath {

// Readable failures.
void PrintTo(const LbService& s, std::ostream* os) {
  *os << s.key.ToString() << " id " << s.id << " ->";
  for (const LbBackend& b : s.backends) *os << " " << b.ToString() << "/" << LbProtoName(b.proto);
  *os << " affinity " << s.affinity_timeout_s << "s snat " << s.snat << " "
      << LbAlgorithmName(s.algorithm);
}

namespace {

using weft::testing::NetnsGuard;
using weft::testing::ScopedFd;
using weft::testing::ScopedNetns;

constexpr char kSvcIp[] = "10.96.0.10";
constexpr uint16_t kSvcPort = 80;
constexpr uint16_t kDnsPort = 53;
constexpr uint16_t kBackendPort = 8080;
constexpr int kWait = 5000;  // ms for what must succeed
constexpr int kFail = 1000;  // ms for what must not


using weft::testing::SockAddr;
using weft::testing::SockAddrString;

std::string BackendIp(int host) { return absl::StrCat("127.0.0.", host); }
std::string BackendName(int host) { return absl::StrCat("b", host); }

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

// TCP and UDP servers on 127.0.0.<host>:8080 in one namespace. A TCP server
// sends its name on accept, then echoes what it reads; a UDP server answers
// every datagram with its name. One thread serves all of them.
class Backends {
 public:
  ~Backends() { Stop(); }

  bool Start(const ScopedNetns& ns, const std::vector<int>& hosts) {
    {
      NetnsGuard g(ns.path());
      if (!g.ok()) return false;
      for (int host : hosts) {
        for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
          ScopedFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
          int one = 1;
          setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
          sockaddr_in a = SockAddr(BackendIp(host), kBackendPort);
          if (!fd.ok() || bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
              (type == SOCK_STREAM && listen(fd.get(), 256) != 0)) {
            return false;
          }
          listeners_.push_back({std::move(fd), BackendName(host), type == SOCK_STREAM});
        }
      }
    }
    if (pipe2(stop_, O_CLOEXEC) != 0) return false;
    thread_ = std::thread([this] { Loop(); });
    return true;
  }

  void Stop() {
    if (thread_.joinable()) {
      (void)!write(stop_[1], "x", 1);
      thread_.join();
    }
    for (int& fd : stop_) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
    listeners_.clear();
  }

  // TCP connections each backend accepted so far.
  int Accepted(int host) {
    std::lock_guard<std::mutex> l(mu_);
    return accepted_[BackendName(host)];
  }
  int AcceptedTotal() {
    std::lock_guard<std::mutex> l(mu_);
    int n = 0;
    for (const auto& [name, count] : accepted_) n += count;
    return n;
  }

 private:
  struct Listener {
    ScopedFd fd;
    std::string name;
    bool tcp;
  };

  void Loop() {
    std::map<int, std::string> conns;  // accepted fd -> server name
    for (;;) {
      std::vector<pollfd> fds;
      fds.push_back({stop_[0], POLLIN, 0});
      for (const Listener& l : listeners_) fds.push_back({l.fd.get(), POLLIN, 0});
      for (const auto& [fd, name] : conns) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) break;
      for (size_t i = 0; i < listeners_.size(); ++i) {
        if (!fds[1 + i].revents) continue;
        const Listener& l = listeners_[i];
        if (l.tcp) {
          int c = accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (c < 0) continue;
          {
            std::lock_guard<std::mutex> g(mu_);
            ++accepted_[l.name];
          }
          (void)!send(c, l.name.data(), l.name.size(), MSG_NOSIGNAL);
          conns[c] = l.name;
        } else {
          char buf[512];
          sockaddr_in from{};
          socklen_t len = sizeof(from);
          while (recvfrom(l.fd.get(), buf, sizeof(buf), MSG_DONTWAIT,
                          reinterpret_cast<sockaddr*>(&from), &len) >= 0) {
            sendto(l.fd.get(), l.name.data(), l.name.size(), MSG_DONTWAIT,
                   reinterpret_cast<sockaddr*>(&from), len);
            len = sizeof(from);
          }
        }
      }
      for (size_t i = 1 + listeners_.size(); i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        char buf[512];
        ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);
        if (n > 0) {
          (void)!send(fds[i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          close(fds[i].fd);
          conns.erase(fds[i].fd);
        }
      }
    }
    for (const auto& [fd, name] : conns) close(fd);
  }

  std::vector<Listener> listeners_;
  int stop_[2] = {-1, -1};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, int> accepted_;
};

// Reads exactly `n` bytes within timeout_ms.
std::string ReadN(int fd, size_t n, int timeout_ms) {
  std::string got;
  char buf[256];
  while (got.size() < n && Readable(fd, timeout_ms)) {
    ssize_t r = recv(fd, buf, std::min(sizeof(buf), n - got.size()), 0);
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

// The outcome of one TCP connection: errno of connect (0: connected) and the
// name the backend sent.
struct Conn {
  int err = -1;
  std::string name;
  ScopedFd fd;
};

// Connects `fd` (non-blocking) to ip:port within timeout_ms and reads the
// backend's name ("bN", 2 bytes).
Conn ConnectFd(ScopedFd fd, const std::string& ip, uint16_t port, int timeout_ms) {
  Conn c;
  if (!fd.ok()) return c;
  int flags = fcntl(fd.get(), F_GETFL);
  fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
  sockaddr_in a = SockAddr(ip, port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    if (errno != EINPROGRESS) {
      c.err = errno;
      return c;
    }
    pollfd p{fd.get(), POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) != 1) {
      c.err = ETIMEDOUT;
      return c;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      c.err = err;
      return c;
    }
  }
  fcntl(fd.get(), F_SETFL, flags);
  c.err = 0;
  c.name = ReadN(fd.get(), 2, timeout_ms);
  c.fd = std::move(fd);
  return c;
}

std::string PeerOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "";
  return SockAddrString(a);
}

LbBackend Backend(int host, uint8_t proto = kProtoTcp) {
  LbBackend b;
  b.ip = *net::Ipv4Address::Parse(BackendIp(host));
  b.port = kBackendPort;
  b.proto = proto;
  return b;
}

LbService Service(const std::string& ip, uint16_t port, uint8_t proto, const std::vector<int>& hosts,
                  LbScope scope = LbScope::kSocket) {
  LbService s;
  s.key.ip = *net::Ipv4Address::Parse(ip);
  s.key.port = port;
  s.key.proto = proto;
  s.key.scope = scope;
  for (int h : hosts) s.backends.push_back(Backend(h, proto));
  return s;
}

std::set<std::string> Names(const std::vector<int>& hosts) {
  std::set<std::string> out;
  for (int h : hosts) out.insert(BackendName(h));
  return out;
}

class ServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!weft::testing::HaveRoot()) GTEST_SKIP() << "needs root for namespaces, cgroups and BPF";
    auto root = cgroup::V2Root();
    if (!root.ok()) GTEST_SKIP() << root.status();
    weft::testing::RemoveStaleNamespaces();
    ns_ = std::make_unique<ScopedNetns>("svc");
    ASSERT_TRUE(ns_->ok());
    cg_ = absl::StrCat(*root, "/", weft::testing::UniqueName("weft-t"));
    ASSERT_TRUE(cgroup::Create(cg_).ok());
    pins_ = absl::StrCat("/sys/fs/bpf/", weft::testing::UniqueName("weft-t"));
    auto dp = Datapath::Load(pins_);
    ASSERT_TRUE(dp.ok()) << dp.status();
    dp_ = *std::move(dp);
    auto s = dp_->AttachSocketLb(cg_);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_TRUE(backends_.Start(*ns_, {2, 3, 4, 5, 6, 7}));
  }

  void TearDown() override {
    backends_.Stop();
    if (dp_) EXPECT_TRUE(dp_->DetachSocketLb().ok());
    dp_.reset();
    if (!pins_.empty()) EXPECT_TRUE(RemovePins(pins_).ok());
    if (!cg_.empty()) EXPECT_TRUE(cgroup::Remove(cg_).ok());
    ns_.reset();
  }

  ServiceMap& services() { return dp_->services(); }

  // The pinned links of the socket programs: pin name -> {link id, program id}.
  std::map<std::string, std::pair<uint32_t, uint32_t>> PinnedLinks() {
    std::map<std::string, std::pair<uint32_t, uint32_t>> out;
    for (const char* name : {"link_sock4_connect", "link_sock4_sendmsg", "link_sock4_recvmsg",
                             "link_sock4_getpeername", "link_sock6_connect", "link_sock6_recvmsg",
                             "link_sock6_getpeername"}) {
      ScopedFd fd(bpf_obj_get(absl::StrCat(pins_, "/", name).c_str()));
      if (!fd.ok()) continue;
      bpf_link_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0) out[name] = {info.id, info.prog_id};
    }
    return out;
  }

  // A socket of the test cgroup and namespace.
  ScopedFd Socket(int type) {
    auto fd = cgroup::SocketIn(cg_, ns_->path(), AF_INET, type, 0);
    EXPECT_TRUE(fd.ok()) << fd.status();
    return ScopedFd(fd.ok() ? *fd : -1);
  }

  ScopedFd Socket6(int type) {
    auto fd = cgroup::SocketIn(cg_, ns_->path(), AF_INET6, type, 0);
    EXPECT_TRUE(fd.ok()) << fd.status();
    return ScopedFd(fd.ok() ? *fd : -1);
  }

  Conn Connect(const std::string& ip, uint16_t port, int timeout_ms = kWait) {
    return ConnectFd(Socket(SOCK_STREAM), ip, port, timeout_ms);
  }

  // `n` connections to the TCP Service: the names that answered (every one
  // must connect and answer).
  std::multiset<std::string> ConnectMany(int n) {
    std::multiset<std::string> names;
    for (int i = 0; i < n; ++i) {
      Conn c = Connect(kSvcIp, kSvcPort);
      EXPECT_EQ(c.err, 0) << strerror(c.err);
      names.insert(c.name);
    }
    return names;
  }

  void Upsert(const LbService& s) {
    auto st = services().Upsert(s);
    ASSERT_TRUE(st.ok()) << st;
  }

  std::unique_ptr<ScopedNetns> ns_;
  std::string cg_, pins_;
  std::unique_ptr<Datapath> dp_;
  Backends backends_;
};

TEST_F(ServicesTest, ClusterIpTcpReachesEveryBackendAndShowsTheServiceAsPeer) {
  Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, {2, 3, 4}));
  Conn c = Connect(kSvcIp, kSvcPort);
  ASSERT_EQ(c.err, 0) << strerror(c.err);
  EXPECT_EQ(Names({2, 3, 4}).count(c.name), 1u) << c.name;
  EXPECT_EQ(PeerOf(c.fd.get()), absl::StrCat(kSvcIp, ":", kSvcPort));
  // The connection is a real one to the backend: it echoes.
  ASSERT_EQ(send(c.fd.get(), "hello", 5, MSG_NOSIGNAL), 5);
  EXPECT_EQ(ReadN(c.fd.get(), 5, kWait), "hello");

  // Random choice: 60 connections reach all three (a backend missed by
  // chance has probability 3 * (2/3)^60, about 1e-10).
  std::multiset<std::string> names = ConnectMany(60);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), Names({2, 3, 4}));
  EXPECT_EQ(backends_.Accepted(5) + backends_.Accepted(6) + backends_.Accepted(7), 0);
}

TEST_F(ServicesTest, UdpRepliesComeFromTheServiceAddress) {
  Upsert(Service(kSvcIp, kDnsPort, kProtoUdp, {2, 3}));
  const std::string svc = absl::StrCat(kSvcIp, ":", kDnsPort);

  // Unconnected (a DNS client): sendto the Service, recvfrom shows it.
  ScopedFd udp = Socket(SOCK_DGRAM);
  std::set<std::string> seen;
  for (int i = 0; i < 40; ++i) {
    sockaddr_in to = SockAddr(kSvcIp, kDnsPort);
    ASSERT_EQ(sendto(udp.get(), "q", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 1)
        << strerror(errno);
    ASSERT_TRUE(Readable(udp.get(), kWait));
    char buf[16];
    sockaddr_in from{};
    socklen_t len = sizeof(from);
    ssize_t n = recvfrom(udp.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
    ASSERT_EQ(n, 2);
    EXPECT_EQ(SockAddrString(from), svc);
    seen.insert(std::string(buf, 2));
  }
  EXPECT_EQ(seen, Names({2, 3}));

  // Connected: the backend is chosen at connect; the peer is the Service.
  ScopedFd connected = Socket(SOCK_DGRAM);
  sockaddr_in to = SockAddr(kSvcIp, kDnsPort);
  ASSERT_EQ(connect(connected.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0)
      << strerror(errno);
  EXPECT_EQ(PeerOf(connected.get()), svc);
  std::set<std::string> connected_seen;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(send(connected.get(), "q", 1, 0), 1) << strerror(errno);
    ASSERT_TRUE(Readable(connected.get(), kWait));
    char buf[16];
    sockaddr_in from{};
    socklen_t len = sizeof(from);
    ASSERT_EQ(recvfrom(connected.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from),
                       &len),
              2);
    EXPECT_EQ(SockAddrString(from), svc);
    connected_seen.insert(std::string(buf, 2));
  }
  EXPECT_EQ(connected_seen.size(), 1u) << "a connected socket keeps its backend";
}

TEST_F(ServicesTest, NoBackendsRefusesAtOnce) {
  Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, {}));
  Upsert(Service(kSvcIp, kDnsPort, kProtoUdp, {}));
  auto start = std::chrono::steady_clock::now();
  Conn c = Connect(kSvcIp, kSvcPort, kWait);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(c.err, ECONNREFUSED) << strerror(c.err);
  // Sanity, not a performance bound: a refusal, not a timeout (includes
  // forking the child that creates the socket).
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), 100);

  ScopedFd udp = Socket(SOCK_DGRAM);
  sockaddr_in to = SockAddr(kSvcIp, kDnsPort);
  EXPECT_EQ(sendto(udp.get(), "q", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  EXPECT_EQ(connect(udp.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)), -1);
  EXPECT_EQ(errno, ECONNREFUSED);

  // Backends arrive: the same frontend works.
  Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, {2}));
  Conn ok = Connect(kSvcIp, kSvcPort);
  EXPECT_EQ(ok.err, 0) << strerror(ok.err);
  EXPECT_EQ(ok.name, "b2");
}

TEST_F(ServicesTest, DeletedFrontendIsNotTranslated) {
  LbService svc = Service(kSvcIp, kSvcPort, kProtoTcp, {2, 3});
  Upsert(svc);
  ASSERT_EQ(Connect(kSvcIp, kSvcPort).err, 0);
  const int before = backends_.AcceptedTotal();
  ASSERT_TRUE(services().Delete(svc.key).ok());
  EXPECT_TRUE(services().Delete(svc.key).ok()) << "deleting an absent frontend is fine";
  Conn c = Connect(kSvcIp, kSvcPort, kFail);
  // No route to the Service CIDR in the namespace: ENETUNREACH at once.
  EXPECT_NE(c.err, 0);
  EXPECT_EQ(c.err, ENETUNREACH) << strerror(c.err);
  usleep(100 * 1000);
  EXPECT_EQ(backends_.AcceptedTotal(), before);
  auto listed = services().List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_F(ServicesTest, ServiceRangeAddressesThatAreNoFrontendAreRefused) {
  Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, {2}));
  LbService theirs = Service("10.96.0.30", 80, kProtoTcp, {});
  theirs.pass = true;  // another proxy's Service
  Upsert(theirs);
  ASSERT_TRUE(services().SetServiceRanges({*net::IpPrefix::Parse("10.96.0.0/12")}).ok());

  // A deleted Service's address, and a port the Service does not have:
  // refused at once, TCP and UDP.
  EXPECT_EQ(Connect("10.96.0.99", 80, kFail).err, ECONNREFUSED);
  EXPECT_EQ(Connect(kSvcIp, kSvcPort + 1, kFail).err, ECONNREFUSED);
  ScopedFd udp = Socket(SOCK_DGRAM);
  sockaddr_in to = SockAddr("10.96.0.99", kDnsPort);
  EXPECT_EQ(sendto(udp.get(), "q", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  // A frontend still translates; another proxy's passes untranslated (this
  // namespace has no route to the range: ENETUNREACH); outside the range
  // nothing is refused.
  Conn c = Connect(kSvcIp, kSvcPort);
  EXPECT_EQ(c.err, 0) << strerror(c.err);
  EXPECT_EQ(c.name, "b2");
  EXPECT_EQ(Connect("10.96.0.30", 80, kFail).err, ENETUNREACH);
  EXPECT_EQ(Connect("10.112.0.1", 80, kFail).err, ENETUNREACH);
  auto listed = services().List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_TRUE((*listed)[1].pass) << (*listed)[1].key.ToString();

  // The set is replaced: the old range is no longer refused.
  ASSERT_TRUE(services().SetServiceRanges({*net::IpPrefix::Parse("10.100.0.0/16")}).ok());
  EXPECT_EQ(Connect("10.96.0.99", 80, kFail).err, ENETUNREACH);
  EXPECT_EQ(Connect("10.100.3.4", 80, kFail).err, ECONNREFUSED);
  EXPECT_FALSE(services().SetServiceRanges({*net::IpPrefix::Parse("fd00::/108")}).ok());
  ASSERT_TRUE(services().SetServiceRanges({}).ok());
  EXPECT_EQ(Connect("10.100.3.4", 80, kFail).err, ENETUNREACH);

  // A pass-through frontend has socket scope and no backends.
  LbService bad = theirs;
  bad.backends = Service(kSvcIp, kSvcPort, kProtoTcp, {2}).backends;
  EXPECT_EQ(services().Upsert(bad).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServicesTest, SessionAffinityKeepsTheBackendUntilItIsRemoved) {
  LbService svc = Service(kSvcIp, kSvcPort, kProtoTcp, {2, 3, 4});
  svc.affinity_timeout_s = 300;
  Upsert(svc);
  // Another Service uses the same backends, so their entries stay when this
  // one drops one: only the affinity cleanup can move its clients.
  Upsert(Service("10.96.0.11", kSvcPort, kProtoTcp, {2, 3, 4}));

  std::multiset<std::string> names = ConnectMany(20);
  ASSERT_EQ(std::set<std::string>(names.begin(), names.end()).size(), 1u)
      << "20 connections from one namespace went to several backends";
  const std::string first = *names.begin();
  const int removed = first[1] - '0';

  std::vector<int> rest;
  for (int h : {2, 3, 4}) {
    if (h != removed) rest.push_back(h);
  }
  LbService smaller = Service(kSvcIp, kSvcPort, kProtoTcp, rest);
  smaller.affinity_timeout_s = 300;
  Upsert(smaller);
  std::multiset<std::string> after = ConnectMany(20);
  std::set<std::string> distinct(after.begin(), after.end());
  EXPECT_EQ(distinct.count(first), 0u) << "still sent to the removed backend " << first;
  EXPECT_EQ(distinct.size(), 1u) << "the new affinity holds too";
  EXPECT_EQ(Names(rest).count(*distinct.begin()), 1u);

  // Without affinity, the same client spreads again.
  Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, {2, 3, 4}));
  std::multiset<std::string> spread = ConnectMany(40);
  EXPECT_GT(std::set<std::string>(spread.begin(), spread.end()).size(), 1u);
}

TEST_F(ServicesTest, MaglevServiceConnectsAndIsListedAsMaglev) {
  LbService svc = Service(kSvcIp, kSvcPort, kProtoTcp, {2, 3, 4});
  svc.algorithm = LbAlgorithm::kMaglev;
  Upsert(svc);
  // Socket level hashes each connection afresh: all backends get some.
  std::multiset<std::string> names = ConnectMany(60);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), Names({2, 3, 4}));
  auto listed = services().List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].algorithm, LbAlgorithm::kMaglev);
  EXPECT_EQ((*listed)[0], svc);

  // Changing the set rewrites the table under a new generation.
  svc.backends = {Backend(5), Backend(6)};
  Upsert(svc);
  names = ConnectMany(30);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), Names({5, 6}));

  // Too many backends for the table to spread evenly: picked at random.
  LbService large = svc;
  large.key.port = kSvcPort + 1;
  large.backends.clear();
  for (int i = 0; i < 103; ++i) {
    LbBackend b = Backend(2);
    b.ip = net::Ipv4Address(b.ip.value() + 0x100 * static_cast<uint32_t>(i + 1));
    large.backends.push_back(b);
  }
  std::sort(large.backends.begin(), large.backends.end());
  Upsert(large);
  listed = services().List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].key, large.key);
  EXPECT_EQ((*listed)[1].backends.size(), 103u);
  EXPECT_EQ((*listed)[1].algorithm, LbAlgorithm::kRandom);
}

TEST_F(ServicesTest, UpsertMovesNewConnectionsAndKeepsEstablishedOnes) {
  Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, {2, 3}));
  Conn old = Connect(kSvcIp, kSvcPort);
  ASSERT_EQ(old.err, 0);
  ASSERT_EQ(Names({2, 3}).count(old.name), 1u);

  Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, {5, 6}));
  std::multiset<std::string> names = ConnectMany(30);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), Names({5, 6}));

  // The established connection still talks to its backend, as the Service.
  ASSERT_EQ(send(old.fd.get(), "still", 5, MSG_NOSIGNAL), 5);
  EXPECT_EQ(ReadN(old.fd.get(), 5, kWait), "still");
  EXPECT_EQ(PeerOf(old.fd.get()), absl::StrCat(kSvcIp, ":", kSvcPort));
}

sockaddr_in6 Mapped(const std::string& ip, uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, absl::StrCat("::ffff:", ip).c_str(), &a.sin6_addr);
  return a;
}

std::string Addr6String(const sockaddr_in6& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof(buf));
  return absl::StrCat("[", buf, "]:", ntohs(a.sin6_port));
}

// Dual-stack applications (the JVM, for one) use IPv6 sockets for IPv4
// destinations too, by their v4-mapped address.
TEST_F(ServicesTest, Ipv6SocketsReachServicesByTheirV4MappedAddress) {
  Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, {2, 3}));
  Upsert(Service(kSvcIp, kDnsPort, kProtoUdp, {4}));
  Upsert(Service("10.96.0.13", kSvcPort, kProtoTcp, {}));
  const std::string svc_tcp = absl::StrCat("[::ffff:", kSvcIp, "]:", kSvcPort);
  const std::string svc_udp = absl::StrCat("[::ffff:", kSvcIp, "]:", kDnsPort);

  ScopedFd tcp = Socket6(SOCK_STREAM);
  sockaddr_in6 to = Mapped(kSvcIp, kSvcPort);
  ASSERT_EQ(connect(tcp.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0)
      << strerror(errno);
  std::string name = ReadN(tcp.get(), 2, kWait);
  EXPECT_EQ(Names({2, 3}).count(name), 1u) << name;
  sockaddr_in6 peer{};
  socklen_t len = sizeof(peer);
  ASSERT_EQ(getpeername(tcp.get(), reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(Addr6String(peer), svc_tcp);

  // Unconnected UDP: the send goes through sendmsg4, the reply through recvmsg6.
  ScopedFd udp = Socket6(SOCK_DGRAM);
  sockaddr_in6 dns = Mapped(kSvcIp, kDnsPort);
  ASSERT_EQ(sendto(udp.get(), "q", 1, 0, reinterpret_cast<sockaddr*>(&dns), sizeof(dns)), 1)
      << strerror(errno);
  ASSERT_TRUE(Readable(udp.get(), kWait));
  char buf[16];
  sockaddr_in6 from{};
  len = sizeof(from);
  ASSERT_EQ(recvfrom(udp.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len), 2);
  EXPECT_EQ(std::string(buf, 2), "b4");
  EXPECT_EQ(Addr6String(from), svc_udp);

  // Connected UDP.
  ScopedFd connected = Socket6(SOCK_DGRAM);
  ASSERT_EQ(connect(connected.get(), reinterpret_cast<sockaddr*>(&dns), sizeof(dns)), 0)
      << strerror(errno);
  ASSERT_EQ(send(connected.get(), "q", 1, 0), 1) << strerror(errno);
  ASSERT_TRUE(Readable(connected.get(), kWait));
  from = {};
  len = sizeof(from);
  ASSERT_EQ(
      recvfrom(connected.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len), 2);
  EXPECT_EQ(Addr6String(from), svc_udp);
  len = sizeof(peer);
  ASSERT_EQ(getpeername(connected.get(), reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(Addr6String(peer), svc_udp);

  // No backends: refused, as for IPv4 sockets.
  ScopedFd refused = Socket6(SOCK_STREAM);
  sockaddr_in6 empty = Mapped("10.96.0.13", kSvcPort);
  EXPECT_EQ(connect(refused.get(), reinterpret_cast<sockaddr*>(&empty), sizeof(empty)), -1);
  EXPECT_EQ(errno, ECONNREFUSED);

  // A real IPv6 destination is left alone (no route in the namespace).
  ScopedFd v6 = Socket6(SOCK_STREAM);
  sockaddr_in6 other{};
  other.sin6_family = AF_INET6;
  other.sin6_port = htons(kSvcPort);
  inet_pton(AF_INET6, "fd00::10", &other.sin6_addr);
  EXPECT_EQ(connect(v6.get(), reinterpret_cast<sockaddr*>(&other), sizeof(other)), -1);
  EXPECT_EQ(errno, ENETUNREACH);
}

// A TCP connector (pre-made sockets: no fork per connection) and a UDP sender
// against the Services while something else changes them. Every connection
// must reach a backend in `allowed`, every datagram must be translated.
class Traffic {
 public:
  Traffic(std::vector<ScopedFd> tcp, ScopedFd udp, std::set<std::string> allowed)
      : tcp_(std::move(tcp)), udp_(std::move(udp)), allowed_(std::move(allowed)) {}

  void Start() {
    tcp_thread_ = std::thread([this] {
      for (size_t i = 0; i < tcp_.size() && !stop_; ++i) {
        Conn c = ConnectFd(std::move(tcp_[i]), kSvcIp, kSvcPort, kWait);
        ++connects_;
        if (c.err != 0 || !allowed_.count(c.name)) {
          std::lock_guard<std::mutex> l(mu_);
          failures_.push_back(absl::StrCat("connect #", i, ": ",
                                           c.err ? strerror(c.err) : "answered by '" + c.name + "'"));
        }
      }
    });
    udp_thread_ = std::thread([this] {
      sockaddr_in to = SockAddr(kSvcIp, kDnsPort);
      char buf[64];
      while (!stop_) {
        if (sendto(udp_.get(), "q", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 1) {
          int err = errno;
          if (err != EAGAIN && err != ENOBUFS) {
            std::lock_guard<std::mutex> l(mu_);
            failures_.push_back(absl::StrCat("sendto #", sends_.load(), ": ", strerror(err)));
          }
        }
        ++sends_;
        while (recv(udp_.get(), buf, sizeof(buf), MSG_DONTWAIT) > 0) {
        }
      }
    });
  }

  void Stop() {
    stop_ = true;
    if (tcp_thread_.joinable()) tcp_thread_.join();
    if (udp_thread_.joinable()) udp_thread_.join();
  }
  ~Traffic() { Stop(); }

  int connects() const { return connects_; }
  int sends() const { return sends_; }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> l(mu_);
    return failures_;
  }

 private:
  std::vector<ScopedFd> tcp_;
  ScopedFd udp_;
  const std::set<std::string> allowed_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connects_{0}, sends_{0};
  std::thread tcp_thread_, udp_thread_;
  std::mutex mu_;
  std::vector<std::string> failures_;
};

std::string Head(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < 5; ++i) absl::StrAppend(&out, v[i], "; ");
  return out;
}

TEST_F(ServicesTest, ConnectsNeverFailWhileBackendsChange) {
  const std::vector<int> a = {2, 3}, b = {4, 5, 6};
  Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, a));
  Upsert(Service(kSvcIp, kDnsPort, kProtoUdp, a));
  std::vector<ScopedFd> socks;
  for (int i = 0; i < 400; ++i) socks.push_back(Socket(SOCK_STREAM));
  std::set<std::string> allowed = Names({2, 3, 4, 5, 6});
  Traffic traffic(std::move(socks), Socket(SOCK_DGRAM), allowed);
  traffic.Start();
  // At least 200 changes, back to back, and more while the connector has
  // not seen enough of them (two cores shared by four busy threads).
  int changes = 0;
  for (; changes < 200 || (traffic.connects() < 200 && changes < 100000); ++changes) {
    const std::vector<int>& set = changes % 2 ? a : b;
    ASSERT_TRUE(services().Upsert(Service(kSvcIp, kSvcPort, kProtoTcp, set)).ok());
    ASSERT_TRUE(services().Upsert(Service(kSvcIp, kDnsPort, kProtoUdp, set)).ok());
  }
  traffic.Stop();
  RecordProperty("changes", changes);
  RecordProperty("connects", traffic.connects());
  RecordProperty("sends", traffic.sends());
  EXPECT_GT(traffic.connects(), 50);
  EXPECT_GT(traffic.sends(), 200);
  EXPECT_TRUE(traffic.failures().empty())
      << traffic.failures().size() << " failures of " << traffic.connects() << " connects and "
      << traffic.sends() << " sends: " << Head(traffic.failures());

  // Nothing of the earlier generations shows: the listing is the last set.
  const std::vector<int>& last = (changes - 1) % 2 ? a : b;
  auto listed = services().List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0], Service(kSvcIp, kDnsPort, kProtoUdp, last));
  EXPECT_EQ((*listed)[1], Service(kSvcIp, kSvcPort, kProtoTcp, last));
}

TEST_F(ServicesTest, RestartKeepsIdsAndTranslationWithoutAGap) {
  std::vector<LbService> all = {Service(kSvcIp, kSvcPort, kProtoTcp, {2, 3}),
                                Service(kSvcIp, kDnsPort, kProtoUdp, {2, 3})};
  LbService affinity = Service("10.96.0.12", kSvcPort, kProtoTcp, {4, 5});
  affinity.affinity_timeout_s = 60;
  all.push_back(affinity);
  ASSERT_TRUE(services().Replace(all).ok());
  auto before = services().List();
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 3u);

  const auto links = PinnedLinks();
  ASSERT_EQ(links.size(), 7u);

  std::vector<ScopedFd> socks;
  for (int i = 0; i < 300; ++i) socks.push_back(Socket(SOCK_STREAM));
  Traffic traffic(std::move(socks), Socket(SOCK_DGRAM), Names({2, 3}));
  traffic.Start();
  usleep(20 * 1000);
  {
    // The agent starts again while the old one still runs, then the old one goes.
    auto dp2 = Datapath::Load(pins_);
    ASSERT_TRUE(dp2.ok()) << dp2.status();
    auto s = (*dp2)->AttachSocketLb(cg_);
    ASSERT_TRUE(s.ok()) << s;
    s = (*dp2)->services().Replace(all);
    ASSERT_TRUE(s.ok()) << s;
    dp_ = *std::move(dp2);
  }
  usleep(20 * 1000);
  traffic.Stop();
  EXPECT_GT(traffic.connects(), 10);
  EXPECT_TRUE(traffic.failures().empty())
      << traffic.failures().size() << " failures of " << traffic.connects() << " connects and "
      << traffic.sends() << " sends: " << Head(traffic.failures());

  auto after = services().List();
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), before->size());
  for (size_t i = 0; i < after->size(); ++i) {
    EXPECT_EQ((*after)[i], (*before)[i]);
    EXPECT_EQ((*after)[i].id, (*before)[i].id) << (*after)[i].key.ToString();
  }
  // The same links now run the new programs (swapped in place, never detached).
  const auto relinked = PinnedLinks();
  ASSERT_EQ(relinked.size(), 7u);
  for (const auto& [name, ids] : links) {
    EXPECT_EQ(relinked.at(name).first, ids.first) << name;
    EXPECT_NE(relinked.at(name).second, ids.second) << name;
  }
  // AttachSocketLb again on the same cgroup is idempotent.
  ASSERT_TRUE(dp_->AttachSocketLb(cg_).ok());
  EXPECT_EQ(Connect(kSvcIp, kSvcPort).err, 0);

  // Detached: no translation at all (no route to the Service address).
  ASSERT_TRUE(dp_->DetachSocketLb().ok());
  EXPECT_TRUE(dp_->DetachSocketLb().ok()) << "idempotent";
  EXPECT_TRUE(PinnedLinks().empty());
  const int accepted = backends_.AcceptedTotal();
  EXPECT_EQ(Connect(kSvcIp, kSvcPort, kFail).err, ENETUNREACH);
  EXPECT_EQ(backends_.AcceptedTotal(), accepted);
}

TEST_F(ServicesTest, ReplaceRemovesOthersAndListReadsBackWhatWasWritten) {
  LbService tcp = Service(kSvcIp, kSvcPort, kProtoTcp, {2, 3, 4});
  LbService udp = Service(kSvcIp, kDnsPort, kProtoUdp, {3});
  udp.affinity_timeout_s = 10800;
  LbService maglev = Service("10.96.0.11", 443, kProtoTcp, {4, 5});
  maglev.algorithm = LbAlgorithm::kMaglev;
  LbService nodeport = Service("192.168.77.1", 30080, kProtoTcp, {2, 6}, LbScope::kExternal);
  nodeport.snat = true;
  LbService empty = Service("10.96.0.13", 8443, kProtoTcp, {});
  std::vector<LbService> all = {tcp, udp, maglev, nodeport, empty};
  ASSERT_TRUE(services().Replace(all).ok());

  auto listed = services().List();
  ASSERT_TRUE(listed.ok());
  std::vector<LbService> want = all;
  std::sort(want.begin(), want.end(),
            [](const LbService& x, const LbService& y) { return x.key < y.key; });
  ASSERT_EQ(listed->size(), want.size());
  std::set<uint32_t> ids;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*listed)[i], want[i]) << want[i].key.ToString();
    EXPECT_GT((*listed)[i].id, 0u);
    ids.insert((*listed)[i].id);
  }
  EXPECT_EQ(ids.size(), want.size()) << "frontend ids are unique";

  // An external frontend is not translated for local sockets.
  EXPECT_EQ(Connect("192.168.77.1", 30080, kFail).err, ENETUNREACH);

  // The same set again changes nothing (ids included).
  ASSERT_TRUE(services().Replace(all).ok());
  auto again = services().List();
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < again->size(); ++i) EXPECT_EQ((*again)[i].id, (*listed)[i].id);

  // Replace with fewer: the others go, the kept one keeps its id.
  ASSERT_TRUE(services().Replace({tcp}).ok());
  auto fewer = services().List();
  ASSERT_TRUE(fewer.ok());
  ASSERT_EQ(fewer->size(), 1u);
  EXPECT_EQ((*fewer)[0], tcp);
  for (const LbService& s : *listed) {
    if (s.key == tcp.key) EXPECT_EQ((*fewer)[0].id, s.id);
  }
  EXPECT_EQ(Connect(kSvcIp, kSvcPort).err, 0);
  EXPECT_EQ(Connect("10.96.0.11", 443, kFail).err, ENETUNREACH);
  EXPECT_EQ(Connect("10.96.0.13", 8443, kFail).err, ENETUNREACH) << "no longer refused either";

  // A duplicate key is reported, the rest applied.
  auto dup = services().Replace({tcp, tcp, udp});
  EXPECT_FALSE(dup.ok());
  auto two = services().List();
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);

  ASSERT_TRUE(services().Replace({}).ok());
  auto none = services().List();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(ServicesTest, InvalidServicesAreRefusedAndNothingIsWritten) {
  LbService good = Service(kSvcIp, kSvcPort, kProtoTcp, {2});
  Upsert(good);

  LbService no_port = Service("10.96.0.20", 0, kProtoTcp, {2});
  LbService sctp = Service("10.96.0.21", 80, kProtoTcp, {});
  sctp.key.proto = 132;
  LbService mixed = Service("10.96.0.22", 80, kProtoTcp, {2});
  mixed.backends.push_back(Backend(3, kProtoUdp));
  LbService backend_no_port = Service("10.96.0.24", 80, kProtoTcp, {2});
  backend_no_port.backends[0].port = 0;
  // The changed frontend itself, made invalid: the old translation stays.
  LbService bad_change = good;
  bad_change.backends.push_back(Backend(4, kProtoUdp));

  for (const LbService* s : {&no_port, &sctp, &mixed, &backend_no_port, &bad_change}) {
    auto st = services().Upsert(*s);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << s->key.ToString() << ": " << st;
  }
  auto listed = services().List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0], good);
  Conn c = Connect(kSvcIp, kSvcPort);
  EXPECT_EQ(c.err, 0);
  EXPECT_EQ(c.name, "b2");

  // Replace reports the bad one and applies the good ones.
  LbService other = Service("10.96.0.30", 80, kProtoTcp, {3});
  auto st = services().Replace({good, mixed, other});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("10.96.0.22"), std::string::npos) << st;
  listed = services().List();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);

  // SetSnatAddress wants IPv4.
  EXPECT_EQ(services().SetSnatAddress(*net::IpAddress::Parse("fd00::1")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(services().SetSnatAddress(*net::IpAddress::Parse("192.168.77.1")).ok());
}

}  // namespace
}  // namespace weft::datapath
