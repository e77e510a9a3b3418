// Packet fixtures through the pod datapath programs with bpf_prog_test_run_opts:
// the verifier accepts them, and each input frame gets the expected verdict and
// output bytes. Checksums of translated packets are verified by recomputing
// them from scratch.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/bpf_lxc.skel.h"
#include "bpf/bpf_netdev.skel.h"
#include "bpf/bpf_sock_lb.skel.h"
#include "bpf/maps/lb.h"
#include "bpf/maps/encrypt.h"
#include "bpf/maps/endpoints.h"
#include "bpf/maps/nat.h"
#include "bpf/maps/netdev.h"
#include "bpf/maps/nonmasq.h"
#include "gtest/gtest.h"

namespace {

constexpr uint8_t kPodMac[6] = {0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x05};
constexpr uint8_t kNodeMac[6] = {0xee, 0xee, 0xee, 0xee, 0xee, 0x05};

uint16_t Checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Ethernet + IPv4 (valid checksum) + 8 bytes of UDP-ish payload.
std::vector<uint8_t> Frame(const char* src, const char* dst, uint8_t ttl) {
  std::vector<uint8_t> p(14 + 20 + 8, 0);
  p[12] = 0x08;
  p[14] = 0x45;
  p[17] = 28;
  p[22] = ttl;
  p[23] = 17;
  inet_pton(AF_INET, src, &p[26]);
  inet_pton(AF_INET, dst, &p[30]);
  uint16_t c = Checksum(&p[14], 20);
  p[24] = c >> 8;
  p[25] = c & 0xff;
  return p;
}

struct Out {
  int verdict;
  std::vector<uint8_t> data;
};

Out RunProg(int prog_fd, std::vector<uint8_t> in) {
  Out out;
  out.data.resize(in.size() + 64);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in.data(),
              .data_out = out.data.data(), .data_size_in = static_cast<__u32>(in.size()),
              .data_size_out = static_cast<__u32>(out.data.size()), .repeat = 1);
  EXPECT_EQ(bpf_prog_test_run_opts(prog_fd, &opts), 0) << strerror(errno);
  out.verdict = static_cast<int>(opts.retval);
  out.data.resize(opts.data_size_out);
  return out;
}

// Fixture tests use private maps: nothing is pinned.
void Unpin(bpf_object* obj) {
  bpf_map* map;
  bpf_object__for_each_map(map, obj) { bpf_map__set_pin_path(map, nullptr); }
}

class DatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
    lxc_ = bpf_lxc__open();
    ASSERT_NE(lxc_, nullptr);
    Unpin(lxc_->obj);
    ASSERT_EQ(bpf_lxc__load(lxc_), 0) << strerror(errno);
    netdev_ = bpf_netdev__open();
    ASSERT_NE(netdev_, nullptr);
    Unpin(netdev_->obj);
    // Share lxc's maps (endpoints, NAT and Service state), as pinning does
    // in the agent.
    bpf_map* map;
    bpf_object__for_each_map(map, netdev_->obj) {
      if (bpf_map__is_internal(map)) continue;
      bpf_map* same = bpf_object__find_map_by_name(lxc_->obj, bpf_map__name(map));
      if (same != nullptr) ASSERT_EQ(bpf_map__reuse_fd(map, bpf_map__fd(same)), 0);
    }
    ASSERT_EQ(bpf_netdev__load(netdev_), 0) << strerror(errno);

    endpoint_key key{};
    inet_pton(AF_INET, "10.244.1.5", &key.ip4);
    key.family = WEFT_FAMILY_IPV4;
    endpoint_info info{};
    info.ifindex = 1;  // lo: exists in every namespace
    memcpy(info.mac, kPodMac, 6);
    memcpy(info.node_mac, kNodeMac, 6);
    ASSERT_EQ(bpf_map__update_elem(lxc_->maps.weft_endpoints_v1, &key, sizeof(key), &info,
                                   sizeof(info), BPF_ANY),
              0);
  }
  void TearDown() override {
    if (netdev_) bpf_netdev__destroy(netdev_);
    if (lxc_) bpf_lxc__destroy(lxc_);
  }

  bpf_lxc* lxc_ = nullptr;
  bpf_netdev* netdev_ = nullptr;
};

TEST_F(DatapathTest, FromContainerToLocalPodRedirectsWithRewrittenHeaders) {
  Out o = RunProg(bpf_program__fd(lxc_->progs.weft_from_container),
                  Frame("10.244.1.9", "10.244.1.5", 64));
  EXPECT_EQ(o.verdict, TC_ACT_REDIRECT);
  ASSERT_GE(o.data.size(), 34u);
  EXPECT_EQ(memcmp(&o.data[0], kPodMac, 6), 0);
  EXPECT_EQ(memcmp(&o.data[6], kNodeMac, 6), 0);
  EXPECT_EQ(o.data[22], 63);                       // TTL decremented
  EXPECT_EQ(Checksum(&o.data[14], 20), 0);         // header checksum still valid
}

TEST_F(DatapathTest, ExpiringTtlGoesToTheStackUnchanged) {
  auto in = Frame("10.244.1.9", "10.244.1.5", 1);
  Out o = RunProg(bpf_program__fd(lxc_->progs.weft_from_container), in);
  EXPECT_EQ(o.verdict, TC_ACT_OK);
  EXPECT_EQ(o.data, in);
}

TEST_F(DatapathTest, NonIpv4GoesToTheStack) {
  auto in = Frame("10.244.1.9", "10.244.1.5", 64);
  in[12] = 0x08;
  in[13] = 0x06;  // ARP
  EXPECT_EQ(RunProg(bpf_program__fd(lxc_->progs.weft_from_container), in).verdict, TC_ACT_OK);
}

TEST_F(DatapathTest, FromNetdevDeliversOnlyToLocalPods) {
  int fd = bpf_program__fd(netdev_->progs.weft_from_netdev);
  Out local = RunProg(fd, Frame("10.244.2.7", "10.244.1.5", 64));
  EXPECT_EQ(local.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(memcmp(&local.data[0], kPodMac, 6), 0);
  auto other = Frame("10.244.2.7", "192.168.50.10", 64);
  Out host = RunProg(fd, other);
  EXPECT_EQ(host.verdict, TC_ACT_OK);
  EXPECT_EQ(host.data, other);
}

// --- Masquerade (source NAT) on the native device ---------------------------

constexpr char kPod[] = "10.244.1.5";       // the endpoint from DatapathTest
constexpr char kNode[] = "192.168.50.1";    // the device's masquerade address
constexpr char kRemote[] = "203.0.113.10";  // outside every cluster CIDR
constexpr uint8_t kIcmp = 1, kTcp = 6, kUdp = 17;
constexpr uint8_t kSyn = 0x02, kAck = 0x10;
constexpr uint8_t kEchoReply = 0, kEchoRequest = 8;
constexpr size_t kL3 = 14, kL4 = 34;  // offsets in a frame (IPv4 without options)

// Ones' complement sum of big-endian 16-bit words (an odd last byte is padded).
uint32_t Sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i < n; i += 2) sum += (p[i] << 8) | (i + 1 < n ? p[i + 1] : 0);
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint16_t Get16(const std::vector<uint8_t>& f, size_t off) { return (f[off] << 8) | f[off + 1]; }
void Put16(std::vector<uint8_t>& f, size_t off, uint16_t v) {
  f[off] = v >> 8;
  f[off + 1] = v & 0xff;
}
std::string Addr(const std::vector<uint8_t>& f, size_t off) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &f[off], buf, sizeof(buf));
  return buf;
}
std::string Src(const std::vector<uint8_t>& f) { return Addr(f, 26); }
std::string Dst(const std::vector<uint8_t>& f) { return Addr(f, 30); }
uint16_t Sport(const std::vector<uint8_t>& f) { return Get16(f, kL4); }
uint16_t Dport(const std::vector<uint8_t>& f) { return Get16(f, kL4 + 2); }
uint16_t EchoId(const std::vector<uint8_t>& f) { return Get16(f, kL4 + 4); }

size_t L4ChecksumOffset(uint8_t proto) {
  return kL4 + (proto == kTcp ? 16 : proto == kUdp ? 6 : 2);
}

// Sum of the L4 segment of `f`, with the pseudo-header for TCP and UDP.
uint32_t L4Sum(const std::vector<uint8_t>& f) {
  uint8_t proto = f[23];
  size_t len = Get16(f, 16) - 20;
  uint32_t sum = 0;
  if (proto != kIcmp) {
    sum = Sum16(&f[26], 8) + proto + static_cast<uint32_t>(len);
  }
  return Sum16(&f[kL4], len, sum);
}

bool Ipv4ChecksumOk(const std::vector<uint8_t>& f) { return Fold(Sum16(&f[kL3], 20)) == 0; }
bool L4ChecksumOk(const std::vector<uint8_t>& f) {
  if (f[23] == kUdp && Get16(f, L4ChecksumOffset(kUdp)) == 0) return true;  // none
  return Fold(L4Sum(f)) == 0;
}

// Ethernet + IPv4 + `l4` + a 4-byte payload, every checksum valid (a UDP
// checksum only with `l4_csum`).
std::vector<uint8_t> Ipv4Packet(uint8_t proto, const char* src, const char* dst,
                                std::vector<uint8_t> l4, bool l4_csum = true) {
  for (char c : std::string("weft")) l4.push_back(static_cast<uint8_t>(c));
  std::vector<uint8_t> f(kL4 + l4.size(), 0);
  std::copy(l4.begin(), l4.end(), f.begin() + kL4);
  f[12] = 0x08;
  f[14] = 0x45;
  Put16(f, 16, static_cast<uint16_t>(20 + l4.size()));
  f[22] = 64;
  f[23] = proto;
  inet_pton(AF_INET, src, &f[26]);
  inet_pton(AF_INET, dst, &f[30]);
  Put16(f, 24, Fold(Sum16(&f[kL3], 20)));
  if (proto == kUdp) Put16(f, kL4 + 4, static_cast<uint16_t>(l4.size()));
  if (l4_csum) {
    uint16_t c = Fold(L4Sum(f));
    Put16(f, L4ChecksumOffset(proto), proto == kUdp && c == 0 ? 0xffff : c);
  }
  return f;
}

std::vector<uint8_t> Tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport,
                         uint8_t flags) {
  std::vector<uint8_t> h(20, 0);
  Put16(h, 0, sport);
  Put16(h, 2, dport);
  h[12] = 5 << 4;  // data offset
  h[13] = flags;
  Put16(h, 14, 64240);
  return Ipv4Packet(kTcp, src, dst, h);
}

std::vector<uint8_t> Udp(const char* src, uint16_t sport, const char* dst, uint16_t dport,
                         bool checksum = true) {
  std::vector<uint8_t> h(8, 0);
  Put16(h, 0, sport);
  Put16(h, 2, dport);
  return Ipv4Packet(kUdp, src, dst, h, checksum);
}

std::vector<uint8_t> Echo(uint8_t type, const char* src, const char* dst, uint16_t id) {
  std::vector<uint8_t> h(8, 0);
  h[0] = type;
  Put16(h, 4, id);
  Put16(h, 6, 1);  // sequence
  return Ipv4Packet(kIcmp, src, dst, h);
}

class MasqueradeTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    SetNetdev(WEFT_NETDEV_F_MASQUERADE);
    lpm4_key key{};
    key.prefixlen = 16;
    inet_pton(AF_INET, "10.244.0.0", &key.addr);
    __u32 value = 0;
    ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_nonmasq4_v1, &key, sizeof(key), &value,
                                   sizeof(value), BPF_ANY),
              0);
  }

  // Test runs see lo (ifindex 1) as the device.
  void SetNetdev(uint32_t flags) {
    __u32 ifindex = 1;
    netdev_info info{};
    inet_pton(AF_INET, kNode, &info.masq_addr4);
    info.flags = flags;
    ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_netdev_v1, &ifindex, sizeof(ifindex), &info,
                                   sizeof(info), BPF_ANY),
              0);
  }

  // The reverse map key of a TCP reply from kRemote:remote_port to kNode:nat_port.
  static nat4_tuple TcpReplyKey(uint16_t remote_port, uint16_t nat_port) {
    nat4_tuple t{};
    inet_pton(AF_INET, kRemote, &t.saddr);
    inet_pton(AF_INET, kNode, &t.daddr);
    t.sport = htons(remote_port);
    t.dport = htons(nat_port);
    t.proto = kTcp;
    return t;
  }

  Out Egress(std::vector<uint8_t> in) {
    return RunProg(bpf_program__fd(netdev_->progs.weft_to_netdev), std::move(in));
  }
  Out Ingress(std::vector<uint8_t> in) {
    return RunProg(bpf_program__fd(netdev_->progs.weft_from_netdev), std::move(in));
  }
};

bool InNatRange(uint32_t port) { return port >= WEFT_NAT_PORT_MIN && port <= WEFT_NAT_PORT_MAX; }

TEST_F(MasqueradeTest, TcpSynToOutsideLeavesWithNodeAddressAndNatPort) {
  Out o = Egress(Tcp(kPod, 40000, kRemote, 443, kSyn));
  EXPECT_EQ(o.verdict, TC_ACT_OK);
  EXPECT_EQ(Src(o.data), kNode);
  EXPECT_TRUE(InNatRange(Sport(o.data))) << Sport(o.data);
  EXPECT_EQ(Dst(o.data), kRemote);
  EXPECT_EQ(Dport(o.data), 443);
  EXPECT_TRUE(Ipv4ChecksumOk(o.data));
  EXPECT_TRUE(L4ChecksumOk(o.data));
}

TEST_F(MasqueradeTest, TcpReplyIsTranslatedBackAndDeliveredToThePod) {
  uint16_t port = Sport(Egress(Tcp(kPod, 40000, kRemote, 443, kSyn)).data);
  Out o = Ingress(Tcp(kRemote, 443, kNode, port, kSyn | kAck));
  EXPECT_EQ(o.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(memcmp(&o.data[0], kPodMac, 6), 0);
  EXPECT_EQ(Src(o.data), kRemote);
  EXPECT_EQ(Sport(o.data), 443);
  EXPECT_EQ(Dst(o.data), kPod);
  EXPECT_EQ(Dport(o.data), 40000);
  EXPECT_EQ(o.data[22], 63);  // forwarded: TTL decremented
  EXPECT_TRUE(Ipv4ChecksumOk(o.data));
  EXPECT_TRUE(L4ChecksumOk(o.data));
}

TEST_F(MasqueradeTest, LaterPacketsOfAFlowReuseItsMapping) {
  uint16_t port = Sport(Egress(Tcp(kPod, 40000, kRemote, 443, kSyn)).data);
  Out ack = Egress(Tcp(kPod, 40000, kRemote, 443, kAck));
  Out again = Egress(Tcp(kPod, 40000, kRemote, 443, kSyn));  // a retransmitted SYN
  EXPECT_EQ(Src(ack.data), kNode);
  EXPECT_EQ(Sport(ack.data), port);
  EXPECT_TRUE(L4ChecksumOk(ack.data));
  EXPECT_EQ(Sport(again.data), port);
}

TEST_F(MasqueradeTest, FlowsToOneRemoteGetDistinctPorts) {
  std::vector<uint16_t> ports;
  for (uint16_t pod_port = 40000; pod_port < 40032; ++pod_port) {
    Out o = Egress(Tcp(kPod, pod_port, kRemote, 443, kSyn));
    ASSERT_EQ(o.verdict, TC_ACT_OK);
    ASSERT_TRUE(InNatRange(Sport(o.data)));
    ports.push_back(Sport(o.data));
  }
  std::sort(ports.begin(), ports.end());
  EXPECT_EQ(std::unique(ports.begin(), ports.end()), ports.end());
}

TEST_F(MasqueradeTest, UdpIsTranslatedBothWays) {
  Out out = Egress(Udp(kPod, 40001, kRemote, 53));
  EXPECT_EQ(out.verdict, TC_ACT_OK);
  EXPECT_EQ(Src(out.data), kNode);
  EXPECT_TRUE(InNatRange(Sport(out.data)));
  EXPECT_TRUE(Ipv4ChecksumOk(out.data));
  EXPECT_NE(Get16(out.data, L4ChecksumOffset(kUdp)), 0);
  EXPECT_TRUE(L4ChecksumOk(out.data));

  Out back = Ingress(Udp(kRemote, 53, kNode, Sport(out.data)));
  EXPECT_EQ(back.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(Dst(back.data), kPod);
  EXPECT_EQ(Dport(back.data), 40001);
  EXPECT_TRUE(Ipv4ChecksumOk(back.data));
  EXPECT_TRUE(L4ChecksumOk(back.data));
}

TEST_F(MasqueradeTest, UdpWithoutChecksumKeepsNone) {
  Out out = Egress(Udp(kPod, 40002, kRemote, 53, /*checksum=*/false));
  EXPECT_EQ(Src(out.data), kNode);
  EXPECT_EQ(Get16(out.data, L4ChecksumOffset(kUdp)), 0);
  EXPECT_TRUE(Ipv4ChecksumOk(out.data));
  Out back = Ingress(Udp(kRemote, 53, kNode, Sport(out.data), /*checksum=*/false));
  EXPECT_EQ(Dst(back.data), kPod);
  EXPECT_EQ(Get16(back.data, L4ChecksumOffset(kUdp)), 0);
}

TEST_F(MasqueradeTest, IcmpEchoIsTranslatedBothWays) {
  Out out = Egress(Echo(kEchoRequest, kPod, kRemote, 77));
  EXPECT_EQ(out.verdict, TC_ACT_OK);
  EXPECT_EQ(Src(out.data), kNode);
  EXPECT_TRUE(InNatRange(EchoId(out.data)));
  EXPECT_TRUE(Ipv4ChecksumOk(out.data));
  EXPECT_TRUE(L4ChecksumOk(out.data));

  Out back = Ingress(Echo(kEchoReply, kRemote, kNode, EchoId(out.data)));
  EXPECT_EQ(back.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(Dst(back.data), kPod);
  EXPECT_EQ(EchoId(back.data), 77);
  EXPECT_TRUE(Ipv4ChecksumOk(back.data));
  EXPECT_TRUE(L4ChecksumOk(back.data));
}

// "Fragmentation needed" (path MTU discovery) from a router, quoting the
// translated SYN: the pod gets it with its own address and port everywhere.
TEST_F(MasqueradeTest, IcmpErrorsAboutTranslatedPacketsReachThePod) {
  Out syn = Egress(Tcp(kPod, 40000, kRemote, 443, kSyn));
  std::vector<uint8_t> error(8, 0);
  error[0] = 3;  // destination unreachable
  error[1] = 4;  // fragmentation needed
  Put16(error, 6, 1400);
  error.insert(error.end(), syn.data.begin() + kL3, syn.data.begin() + kL4 + 8);
  Out o = Ingress(Ipv4Packet(kIcmp, "203.0.113.1", kNode, error));
  EXPECT_EQ(o.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(Dst(o.data), kPod);
  constexpr size_t kQuote = kL4 + 8;
  EXPECT_EQ(Addr(o.data, kQuote + 12), kPod);     // quoted source
  EXPECT_EQ(Addr(o.data, kQuote + 16), kRemote);  // quoted destination
  EXPECT_EQ(Get16(o.data, kQuote + 20), 40000);   // quoted source port
  EXPECT_EQ(Fold(Sum16(&o.data[kQuote], 20)), 0);  // quoted header checksum
  EXPECT_TRUE(Ipv4ChecksumOk(o.data));
  EXPECT_TRUE(L4ChecksumOk(o.data));  // ICMP checksum

  // About a packet that was never translated: the host's business.
  std::vector<uint8_t> other(error.begin(), error.begin() + 8);
  auto host_syn = Tcp(kNode, 33000, kRemote, 443, kSyn);
  other.insert(other.end(), host_syn.begin() + kL3, host_syn.begin() + kL4 + 8);
  auto in = Ipv4Packet(kIcmp, "203.0.113.1", kNode, other);
  Out host = Ingress(in);
  EXPECT_EQ(host.verdict, TC_ACT_OK);
  EXPECT_EQ(host.data, in);
}

TEST_F(MasqueradeTest, DestinationsInsideNonMasqueradeCidrsKeepThePodAddress) {
  auto in = Tcp(kPod, 40000, "10.244.2.7", 443, kSyn);
  Out o = Egress(in);
  EXPECT_EQ(o.verdict, TC_ACT_OK);
  EXPECT_EQ(o.data, in);
}

TEST_F(MasqueradeTest, DeviceWithoutMasqueradeLeavesPodTrafficUnchanged) {
  SetNetdev(0);
  auto in = Tcp(kPod, 40000, kRemote, 443, kSyn);
  EXPECT_EQ(Egress(in).data, in);
  __u32 ifindex = 1;
  ASSERT_EQ(bpf_map__delete_elem(netdev_->maps.weft_netdev_v1, &ifindex, sizeof(ifindex), 0), 0);
  EXPECT_EQ(Egress(in).data, in);
}

TEST_F(MasqueradeTest, OnlyLocalPodsAreMasqueraded) {
  auto host = Tcp(kNode, 33000, kRemote, 443, kSyn);
  EXPECT_EQ(Egress(host).data, host);
  auto other_pod = Tcp("10.244.3.9", 40000, kRemote, 443, kSyn);  // not on this node
  EXPECT_EQ(Egress(other_pod).data, other_pod);
}

TEST_F(MasqueradeTest, TcpWithoutSynOpensNoMapping) {
  // The pod answers a connection opened towards it (say by another node's
  // host): its SYN-ACK and later segments keep the pod's address.
  auto syn_ack = Tcp(kPod, 8080, kRemote, 51000, kSyn | kAck);
  EXPECT_EQ(Egress(syn_ack).data, syn_ack);
  auto ack = Tcp(kPod, 8080, kRemote, 51000, kAck);
  EXPECT_EQ(Egress(ack).data, ack);
}

TEST_F(MasqueradeTest, RepliesToInboundUdpLeaveWithThePodAddress) {
  Out in = Ingress(Udp(kRemote, 5353, kPod, 53));
  EXPECT_EQ(in.verdict, TC_ACT_REDIRECT);
  auto reply = Udp(kPod, 53, kRemote, 5353);
  EXPECT_EQ(Egress(reply).data, reply);
  // A flow the pod opens itself is still masqueraded.
  EXPECT_EQ(Src(Egress(Udp(kPod, 53, kRemote, 5354)).data), kNode);
}

TEST_F(MasqueradeTest, TrafficForTheNodeWithoutMappingIsUnchanged) {
  auto host = Tcp(kRemote, 443, kNode, 61234, kSyn | kAck);
  Out o = Ingress(host);
  EXPECT_EQ(o.verdict, TC_ACT_OK);
  EXPECT_EQ(o.data, host);
  // A mapping matches its own remote port only.
  uint16_t port = Sport(Egress(Tcp(kPod, 40000, kRemote, 443, kSyn)).data);
  auto other = Tcp(kRemote, 444, kNode, port, kSyn | kAck);
  EXPECT_EQ(Ingress(other).data, other);
}

TEST_F(MasqueradeTest, FullPortRangeDropsNewFlowsToThatRemoteOnly) {
  nat4_entry taken{};
  inet_pton(AF_INET, "10.244.1.99", &taken.addr);
  for (uint32_t p = WEFT_NAT_PORT_MIN; p <= WEFT_NAT_PORT_MAX; ++p) {
    nat4_tuple key = TcpReplyKey(443, static_cast<uint16_t>(p));
    ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_snat4_rev_v1, &key, sizeof(key), &taken,
                                   sizeof(taken), BPF_ANY),
              0);
  }
  EXPECT_EQ(Egress(Tcp(kPod, 40000, kRemote, 443, kSyn)).verdict, TC_ACT_SHOT);
  Out other = Egress(Tcp(kPod, 40000, kRemote, 80, kSyn));
  EXPECT_EQ(other.verdict, TC_ACT_OK);
  EXPECT_EQ(Src(other.data), kNode);
}

TEST_F(MasqueradeTest, EvictedReverseEntryIsRestored) {
  uint16_t port = Sport(Egress(Tcp(kPod, 40000, kRemote, 443, kSyn)).data);
  nat4_tuple key = TcpReplyKey(443, port);
  ASSERT_EQ(bpf_map__delete_elem(netdev_->maps.weft_snat4_rev_v1, &key, sizeof(key), 0), 0);
  EXPECT_EQ(Sport(Egress(Tcp(kPod, 40000, kRemote, 443, kAck)).data), port);
  Out back = Ingress(Tcp(kRemote, 443, kNode, port, kAck));
  EXPECT_EQ(back.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(Dst(back.data), kPod);
}

TEST_F(MasqueradeTest, FragmentsAreNotTranslated) {
  auto frag = Udp(kPod, 40003, kRemote, 53);
  frag[20] = 0x20;  // more fragments
  Put16(frag, 24, 0);
  Put16(frag, 24, Fold(Sum16(&frag[kL3], 20)));
  EXPECT_EQ(Egress(frag).data, frag);
}

// Encryption strict mode on the same egress program: pod traffic to other
// pods never leaves a native device in plain text.
class StrictEncryptionTest : public MasqueradeTest {
 protected:
  void SetUp() override {
    MasqueradeTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    SetNetdev(WEFT_NETDEV_F_MASQUERADE | WEFT_NETDEV_F_ENCRYPT_STRICT);
    lpm4_key key{};
    key.prefixlen = 24;
    inet_pton(AF_INET, "10.244.2.0", &key.addr);  // another node's pod CIDR
    __u32 value = 0;
    ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_strict4_v1, &key, sizeof(key), &value,
                                   sizeof(value), BPF_ANY),
              0);
  }

  uint64_t Drops() {
    int cpus = libbpf_num_possible_cpus();
    std::vector<__u64> v(static_cast<size_t>(cpus));
    __u32 key = 0;
    EXPECT_EQ(bpf_map__lookup_elem(netdev_->maps.weft_strict_drops_v1, &key, sizeof(key), v.data(),
                                   v.size() * sizeof(__u64), 0),
              0);
    uint64_t total = 0;
    for (auto x : v) total += x;
    return total;
  }
};

TEST_F(StrictEncryptionTest, PodToRemotePodInPlainTextIsDroppedAndCounted) {
  Out o = Egress(Tcp(kPod, 40000, "10.244.2.7", 443, kSyn));
  EXPECT_EQ(o.verdict, TC_ACT_SHOT);
  EXPECT_EQ(Drops(), 1u);
  auto udp = Udp(kPod, 5353, "10.244.2.7", 53);
  EXPECT_EQ(Egress(udp).verdict, TC_ACT_SHOT);
  EXPECT_EQ(Drops(), 2u);
}

TEST_F(StrictEncryptionTest, OtherTrafficIsUntouched) {
  // Outside the encrypted CIDRs: masqueraded as usual.
  Out out = Egress(Tcp(kPod, 40000, kRemote, 443, kSyn));
  EXPECT_EQ(out.verdict, TC_ACT_OK);
  EXPECT_EQ(Src(out.data), kNode);
  // WireGuard's UDP and the node's other traffic go to node addresses.
  auto wireguard = Udp(kNode, 51871, kRemote, 51871);
  EXPECT_EQ(Egress(wireguard).data, wireguard);
  auto host = Tcp(kNode, 33000, "192.168.1.12", 22, kSyn);
  EXPECT_EQ(Egress(host).data, host);
  // A pod CIDR outside the encrypted set (none of the cluster's).
  auto other = Tcp(kPod, 40000, "10.244.3.9", 443, kSyn);
  EXPECT_EQ(Egress(other).verdict, TC_ACT_OK);
  EXPECT_EQ(Drops(), 0u);
}

TEST_F(StrictEncryptionTest, TheNodesOwnTrafficToRemotePodsIsDroppedToo) {
  Out o = Egress(Tcp(kNode, 33000, "10.244.2.7", 443, kSyn));
  EXPECT_EQ(o.verdict, TC_ACT_SHOT);
  EXPECT_EQ(Drops(), 1u);
}

TEST_F(StrictEncryptionTest, OnlyStrictDevicesDrop) {
  SetNetdev(WEFT_NETDEV_F_MASQUERADE);
  auto in = Tcp(kPod, 40000, "10.244.2.7", 443, kSyn);
  Out o = Egress(in);
  EXPECT_EQ(o.verdict, TC_ACT_OK);
  EXPECT_EQ(o.data, in);
  EXPECT_EQ(Drops(), 0u);
}

// --- Service translation of traffic from outside (lb_external.h) -----------

constexpr char kClient[] = "203.0.113.10";   // outside the cluster
constexpr char kFrontend[] = "192.168.50.1";  // a node address: NodePort frontends
constexpr char kRemoteBackend[] = "10.244.2.7";  // a pod on another node
constexpr uint16_t kNodePort = 30080;
constexpr uint16_t kTargetPort = 8080;

class LbTest : public DatapathTest {
 protected:
  struct Be {
    const char* ip;
    uint16_t port;
  };

  // Writes backend `id` (its own id space: tests pick them).
  void SetBackend(uint32_t id, const Be& b, uint8_t proto) {
    lb4_backend v{};
    inet_pton(AF_INET, b.ip, &v.addr);
    v.port = htons(b.port);
    v.proto = proto;
    ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_lb4_backend_v1, &id, sizeof(id), &v,
                                   sizeof(v), BPF_ANY),
              0);
  }

  // Writes frontend kFrontend:port/proto (external scope) as service `id` of
  // generation `gen` with the backends `ids` (already written), the way the
  // agent does: slots first, then the frontend entry; the previous
  // generation's slots (`old_count` of them) are deleted afterwards.
  void SetService(uint16_t port, uint8_t proto, uint32_t id, uint16_t gen,
                  const std::vector<uint32_t>& ids, uint32_t flags = 0,
                  uint32_t affinity_timeout_s = 0, size_t old_count = 0) {
    for (size_t i = 0; i < ids.size(); ++i) {
      lb4_slot_key k{};
      k.id = id;
      k.gen = gen;
      k.index = static_cast<__u16>(i);
      __u32 v = ids[i];
      ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_lb4_slot_v1, &k, sizeof(k), &v, sizeof(v),
                                     BPF_ANY),
                0);
    }
    lb4_key key = Key(port, proto);
    lb4_service svc{};
    svc.id = id;
    svc.gen = gen;
    svc.count = static_cast<__u16>(ids.size());
    svc.flags = flags;
    svc.affinity_timeout_s = affinity_timeout_s;
    ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_lb4_svc_v1, &key, sizeof(key), &svc,
                                   sizeof(svc), BPF_ANY),
              0);
    for (size_t i = 0; i < old_count; ++i) {
      lb4_slot_key k{};
      k.id = id;
      k.gen = static_cast<__u16>(gen - 1);
      k.index = static_cast<__u16>(i);
      ASSERT_EQ(bpf_map__delete_elem(netdev_->maps.weft_lb4_slot_v1, &k, sizeof(k), 0), 0);
    }
  }

  static lb4_key Key(uint16_t port, uint8_t proto) {
    lb4_key key{};
    inet_pton(AF_INET, kFrontend, &key.addr);
    key.port = htons(port);
    key.proto = proto;
    key.scope = LB4_SCOPE_EXTERNAL;
    return key;
  }

  void SetSnatAddress(const char* ip) {
    __u32 zero = 0;
    lb4_config cfg{};
    inet_pton(AF_INET, ip, &cfg.snat_addr4);
    ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_lb4_config_v1, &zero, sizeof(zero), &cfg,
                                   sizeof(cfg), BPF_ANY),
              0);
  }

  Out FromNetdev(std::vector<uint8_t> in) {
    return RunProg(bpf_program__fd(netdev_->progs.weft_from_netdev), std::move(in));
  }
  Out FromContainer(std::vector<uint8_t> in) {
    return RunProg(bpf_program__fd(lxc_->progs.weft_from_container), std::move(in));
  }
};

// Forwarded by FIB lookup: what the test run's namespace routes decide
// (redirected, or to the stack when there is no route). Either way the IP
// and L4 headers are the ones checked.
bool Forwarded(int verdict) { return verdict == TC_ACT_OK || verdict == TC_ACT_REDIRECT; }

bool ValidChecksums(const std::vector<uint8_t>& f) { return Ipv4ChecksumOk(f) && L4ChecksumOk(f); }

// A reply as the client must get it: forwarded, from the frontend's address and
// `frontend_port`, to the client's `client_port`, with valid checksums.
void ExpectFromFrontend(const Out& back, uint16_t frontend_port, uint16_t client_port) {
  EXPECT_TRUE(Forwarded(back.verdict)) << back.verdict;
  EXPECT_EQ(Src(back.data), kFrontend);
  EXPECT_EQ(Sport(back.data), frontend_port);
  EXPECT_EQ(Dst(back.data), kClient);
  EXPECT_EQ(Dport(back.data), client_port);
  EXPECT_TRUE(ValidChecksums(back.data));
}


TEST_F(LbTest, NodePortSynGoesToTheLocalBackendWithValidChecksums) {
  SetBackend(1, {kPod, kTargetPort}, kTcp);
  SetService(kNodePort, kTcp, 7, 1, {1});
  Out o = FromNetdev(Tcp(kClient, 40000, kFrontend, kNodePort, kSyn));
  EXPECT_EQ(o.verdict, TC_ACT_REDIRECT);  // into the backend pod
  EXPECT_EQ(memcmp(&o.data[0], kPodMac, 6), 0);
  EXPECT_EQ(Src(o.data), kClient);  // Local: the client's address is kept
  EXPECT_EQ(Sport(o.data), 40000);
  EXPECT_EQ(Dst(o.data), kPod);
  EXPECT_EQ(Dport(o.data), kTargetPort);
  EXPECT_EQ(o.data[22], 63);
  EXPECT_TRUE(Ipv4ChecksumOk(o.data));
  EXPECT_TRUE(L4ChecksumOk(o.data));

  // The pod's answer leaves through its veth as the frontend.
  Out back = FromContainer(Tcp(kPod, kTargetPort, kClient, 40000, kSyn | kAck));
  ExpectFromFrontend(back, kNodePort, 40000);

  // Another pod talking to that client is none of the Service's business.
  auto other = Tcp(kPod, 9999, kClient, 40000, kAck);
  EXPECT_EQ(Src(FromContainer(other).data), kPod);
}

TEST_F(LbTest, RemoteBackendIsForwardedWithValidChecksums) {
  SetBackend(1, {kRemoteBackend, kTargetPort}, kTcp);
  SetService(kNodePort, kTcp, 7, 1, {1});
  Out o = FromNetdev(Tcp(kClient, 40000, kFrontend, kNodePort, kSyn));
  EXPECT_TRUE(Forwarded(o.verdict)) << o.verdict;
  EXPECT_EQ(Src(o.data), kClient);
  EXPECT_EQ(Dst(o.data), kRemoteBackend);
  EXPECT_EQ(Dport(o.data), kTargetPort);
  EXPECT_TRUE(ValidChecksums(o.data));
}

TEST_F(LbTest, SnatFlowsLeaveWithTheNodeAddressAndRepliesReturnAsTheFrontend) {
  SetBackend(1, {kRemoteBackend, kTargetPort}, kTcp);
  SetService(kNodePort, kTcp, 7, 1, {1}, LB4_F_SNAT);

  // No source address configured yet: dropped, not sent with the client's.
  EXPECT_EQ(FromNetdev(Tcp(kClient, 39999, kFrontend, kNodePort, kSyn)).verdict, TC_ACT_SHOT);

  SetSnatAddress(kNode);
  Out o = FromNetdev(Tcp(kClient, 40000, kFrontend, kNodePort, kSyn));
  EXPECT_TRUE(Forwarded(o.verdict)) << o.verdict;
  EXPECT_EQ(Src(o.data), kNode);
  const uint16_t nat_port = Sport(o.data);
  EXPECT_TRUE(InNatRange(nat_port)) << nat_port;
  EXPECT_EQ(Dst(o.data), kRemoteBackend);
  EXPECT_EQ(Dport(o.data), kTargetPort);
  EXPECT_TRUE(ValidChecksums(o.data));

  // The backend answers the node; the client gets it from the frontend.
  Out back = FromNetdev(Tcp(kRemoteBackend, kTargetPort, kNode, nat_port, kSyn | kAck));
  ExpectFromFrontend(back, kNodePort, 40000);

  // Later packets of the flow keep the NAT port.
  Out ack = FromNetdev(Tcp(kClient, 40000, kFrontend, kNodePort, kAck));
  EXPECT_EQ(Src(ack.data), kNode);
  EXPECT_EQ(Sport(ack.data), nat_port);
  EXPECT_EQ(Dst(ack.data), kRemoteBackend);
  EXPECT_TRUE(ValidChecksums(ack.data));
}

TEST_F(LbTest, SnatFlowToALocalBackendIsAnsweredThroughThePodVeth) {
  SetBackend(1, {kPod, kTargetPort}, kTcp);
  SetService(kNodePort, kTcp, 7, 1, {1}, LB4_F_SNAT);
  SetSnatAddress(kNode);
  Out o = FromNetdev(Tcp(kClient, 40000, kFrontend, kNodePort, kSyn));
  EXPECT_EQ(o.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(Src(o.data), kNode);
  const uint16_t nat_port = Sport(o.data);
  EXPECT_TRUE(InNatRange(nat_port));
  EXPECT_EQ(Dst(o.data), kPod);
  EXPECT_TRUE(ValidChecksums(o.data));

  Out back = FromContainer(Tcp(kPod, kTargetPort, kNode, nat_port, kSyn | kAck));
  ExpectFromFrontend(back, kNodePort, 40000);
}

TEST_F(LbTest, AFlowKeepsItsBackendWhenTheServiceChanges) {
  SetBackend(1, {kPod, kTargetPort}, kTcp);
  SetBackend(2, {kRemoteBackend, kTargetPort}, kTcp);
  SetService(kNodePort, kTcp, 7, 1, {1});
  EXPECT_EQ(Dst(FromNetdev(Tcp(kClient, 40000, kFrontend, kNodePort, kSyn)).data), kPod);

  SetService(kNodePort, kTcp, 7, 2, {2}, 0, 0, /*old_count=*/1);
  Out ack = FromNetdev(Tcp(kClient, 40000, kFrontend, kNodePort, kAck));
  EXPECT_EQ(Dst(ack.data), kPod) << "conntrack keeps the flow on its backend";
  EXPECT_EQ(ack.verdict, TC_ACT_REDIRECT);
  EXPECT_TRUE(ValidChecksums(ack.data));
  // A new flow gets the new set.
  Out fresh = FromNetdev(Tcp(kClient, 40001, kFrontend, kNodePort, kSyn));
  EXPECT_EQ(Dst(fresh.data), kRemoteBackend);
  EXPECT_TRUE(ValidChecksums(fresh.data));
}

TEST_F(LbTest, FrontendWithoutBackendsAndOtherTrafficPassUnchanged) {
  SetService(kNodePort, kTcp, 7, 1, {});
  auto in = Tcp(kClient, 40000, kFrontend, kNodePort, kSyn);
  Out o = FromNetdev(in);
  EXPECT_EQ(o.verdict, TC_ACT_OK);  // the stack refuses it (RST)
  EXPECT_EQ(o.data, in);
  // Another port, another protocol, the socket scope: not translated here.
  SetBackend(1, {kPod, kTargetPort}, kTcp);
  SetService(kNodePort, kTcp, 7, 2, {1}, 0, 0, 0);
  auto udp = Udp(kClient, 40000, kFrontend, kNodePort);
  EXPECT_EQ(FromNetdev(udp).data, udp);
  auto port = Tcp(kClient, 40000, kFrontend, kNodePort + 1, kSyn);
  EXPECT_EQ(FromNetdev(port).data, port);
  lb4_key socket_scope = Key(8443, kTcp);
  socket_scope.scope = LB4_SCOPE_SOCKET;
  lb4_service svc{};
  svc.id = 8;
  svc.gen = 1;
  svc.count = 1;
  ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_lb4_svc_v1, &socket_scope,
                                 sizeof(socket_scope), &svc, sizeof(svc), BPF_ANY),
            0);
  auto socket_only = Tcp(kClient, 40000, kFrontend, 8443, kSyn);
  EXPECT_EQ(FromNetdev(socket_only).data, socket_only);
}

TEST_F(LbTest, UdpIsTranslatedBothWays) {
  SetBackend(1, {kRemoteBackend, 53}, kUdp);
  SetService(30053, kUdp, 9, 1, {1}, LB4_F_SNAT);
  SetSnatAddress(kNode);
  Out o = FromNetdev(Udp(kClient, 5353, kFrontend, 30053));
  EXPECT_TRUE(Forwarded(o.verdict)) << o.verdict;
  EXPECT_EQ(Src(o.data), kNode);
  EXPECT_TRUE(InNatRange(Sport(o.data)));
  EXPECT_EQ(Dst(o.data), kRemoteBackend);
  EXPECT_EQ(Dport(o.data), 53);
  EXPECT_NE(Get16(o.data, L4ChecksumOffset(kUdp)), 0);
  EXPECT_TRUE(ValidChecksums(o.data));

  Out back = FromNetdev(Udp(kRemoteBackend, 53, kNode, Sport(o.data)));
  ExpectFromFrontend(back, 30053, 5353);

  // Local (no SNAT) to a local pod, answered through its veth.
  SetBackend(2, {kPod, 53}, kUdp);
  SetService(30054, kUdp, 10, 1, {2});
  Out local = FromNetdev(Udp(kClient, 5354, kFrontend, 30054));
  EXPECT_EQ(local.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(Src(local.data), kClient);
  EXPECT_EQ(Dst(local.data), kPod);
  EXPECT_TRUE(ValidChecksums(local.data));
  Out answer = FromContainer(Udp(kPod, 53, kClient, 5354));
  EXPECT_EQ(Src(answer.data), kFrontend);
  EXPECT_EQ(Sport(answer.data), 30054);
  EXPECT_TRUE(ValidChecksums(answer.data));

  // Without a UDP checksum: none stays none.
  Out none = FromNetdev(Udp(kClient, 5355, kFrontend, 30054, /*checksum=*/false));
  EXPECT_EQ(Dst(none.data), kPod);
  EXPECT_EQ(Get16(none.data, L4ChecksumOffset(kUdp)), 0);
  EXPECT_TRUE(Ipv4ChecksumOk(none.data));
}

TEST_F(LbTest, AffinityKeepsAClientOnOneBackend) {
  std::vector<uint32_t> ids;
  const char* pods[] = {"10.244.2.7", "10.244.2.8", "10.244.2.9", "10.244.2.10"};
  for (uint32_t i = 0; i < 4; ++i) {
    SetBackend(i + 1, {pods[i], kTargetPort}, kTcp);
    ids.push_back(i + 1);
  }
  SetService(kNodePort, kTcp, 7, 1, ids, LB4_F_AFFINITY, 300);
  std::set<std::string> seen;
  for (uint16_t port = 40000; port < 40020; ++port) {
    seen.insert(Dst(FromNetdev(Tcp(kClient, port, kFrontend, kNodePort, kSyn)).data));
  }
  EXPECT_EQ(seen.size(), 1u);
  // Another client is placed on its own (any backend).
  EXPECT_EQ(Dport(FromNetdev(Tcp("203.0.113.11", 40000, kFrontend, kNodePort, kSyn)).data),
            kTargetPort);
}

TEST_F(LbTest, MaglevPicksFromTheTable) {
  SetBackend(1, {"10.244.2.7", kTargetPort}, kTcp);
  SetBackend(2, {"10.244.2.8", kTargetPort}, kTcp);
  auto table = std::make_unique<lb4_maglev>();
  for (auto& id : table->backend_ids) id = 2;
  lb4_maglev_key mk{};
  mk.id = 7;
  mk.gen = 1;
  ASSERT_EQ(bpf_map__update_elem(netdev_->maps.weft_lb4_maglev_v1, &mk, sizeof(mk), table.get(),
                                 sizeof(*table), BPF_ANY),
            0);
  SetService(kNodePort, kTcp, 7, 1, {1, 2}, LB4_F_MAGLEV);
  for (uint16_t port = 40000; port < 40020; ++port) {
    Out o = FromNetdev(Tcp(kClient, port, kFrontend, kNodePort, kSyn));
    EXPECT_EQ(Dst(o.data), "10.244.2.8");
    EXPECT_TRUE(ValidChecksums(o.data));
  }
}

// cgroup sock_addr programs: the verifier accepts them. Their behaviour is
// tested with traffic (agent/datapath/services_test.cc): this kernel has no
// BPF_PROG_TEST_RUN for sock_addr programs (ENOTSUPP).
TEST(SockLbTest, ProgramsPassTheVerifier) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
  bpf_sock_lb* sock = bpf_sock_lb__open();
  ASSERT_NE(sock, nullptr);
  Unpin(sock->obj);
  EXPECT_EQ(bpf_sock_lb__load(sock), 0) << strerror(errno);
  bpf_sock_lb__destroy(sock);
}

}  // namespace
