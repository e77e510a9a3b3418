// Packet fixtures through the pod datapath programs with bpf_prog_test_run_opts:
// the verifier accepts them, and each input frame gets the expected verdict and
// output bytes.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "bpf/bpf_lxc.skel.h"
#include "bpf/bpf_netdev.skel.h"
#include "bpf/maps/endpoints.h"
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

class DatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
    lxc_ = bpf_lxc__open();
    ASSERT_NE(lxc_, nullptr);
    // Fixture tests use a private map: no pinning.
    bpf_map__set_pin_path(lxc_->maps.weft_endpoints_v1, nullptr);
    ASSERT_EQ(bpf_lxc__load(lxc_), 0) << strerror(errno);
    netdev_ = bpf_netdev__open();
    ASSERT_NE(netdev_, nullptr);
    bpf_map__set_pin_path(netdev_->maps.weft_endpoints_v1, nullptr);
    // Share lxc's map, as pinning does in the agent.
    ASSERT_EQ(bpf_map__reuse_fd(netdev_->maps.weft_endpoints_v1,
                                bpf_map__fd(lxc_->maps.weft_endpoints_v1)),
              0);
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

}  // namespace
