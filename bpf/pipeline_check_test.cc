// Loads the pipeline check program and runs packet fixtures through it with
// bpf_prog_test_run_opts: the kernel's verifier and JIT see the real object.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "bpf/pipeline_check.h"
#include "bpf/pipeline_check.skel.h"
#include "gtest/gtest.h"

namespace {

struct SkelDeleter {
  void operator()(pipeline_check* s) const { pipeline_check__destroy(s); }
};
using Skel = std::unique_ptr<pipeline_check, SkelDeleter>;

class PipelineCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
    skel_.reset(pipeline_check__open_and_load());
    ASSERT_NE(skel_, nullptr) << "open/load failed: " << strerror(errno);
  }

  int Run(std::vector<uint8_t> pkt) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(),
                .data_size_in = static_cast<__u32>(pkt.size()), .repeat = 1);
    int fd = bpf_program__fd(skel_->progs.weft_pipeline_check);
    EXPECT_EQ(bpf_prog_test_run_opts(fd, &opts), 0) << strerror(errno);
    return static_cast<int>(opts.retval);
  }

  pipeline_count Count(__u32 kind) {
    pipeline_count c{};
    EXPECT_EQ(bpf_map__lookup_elem(skel_->maps.pipeline_counts, &kind,
                                   sizeof(kind), &c, sizeof(c), 0),
              0);
    return c;
  }

  Skel skel_;
};

// Ethernet + IPv4 header (20 bytes) + 8 bytes of payload.
std::vector<uint8_t> Ipv4Frame() {
  std::vector<uint8_t> p(14 + 20 + 8, 0);
  p[12] = 0x08;  // ETH_P_IP
  p[13] = 0x00;
  p[14] = 0x45;  // version 4, ihl 5
  p[16] = 0;     // total length 28
  p[17] = 28;
  p[22] = 64;  // ttl
  p[23] = 6;   // TCP
  return p;
}

TEST_F(PipelineCheckTest, Ipv4FramePassesAndIsCounted) {
  EXPECT_EQ(Run(Ipv4Frame()), TC_ACT_OK);
  EXPECT_EQ(Count(PIPELINE_COUNT_IPV4).packets, 1u);
  EXPECT_EQ(Count(PIPELINE_COUNT_MALFORMED).packets, 0u);
}

// The kernel's test runner itself rejects frames shorter than an IPv4 header, so
// the malformed case is a header whose IHL claims fewer than 20 bytes.
TEST_F(PipelineCheckTest, MalformedIpv4HeaderIsDropped) {
  auto p = Ipv4Frame();
  p[14] = 0x44;  // version 4, ihl 4 (16 bytes): invalid
  EXPECT_EQ(Run(p), TC_ACT_SHOT);
  EXPECT_EQ(Count(PIPELINE_COUNT_MALFORMED).packets, 1u);
  EXPECT_EQ(Count(PIPELINE_COUNT_IPV4).packets, 0u);
}

TEST_F(PipelineCheckTest, NonIpv4FramePasses) {
  auto p = Ipv4Frame();
  p[12] = 0x08;  // ETH_P_ARP
  p[13] = 0x06;
  EXPECT_EQ(Run(p), TC_ACT_OK);
  EXPECT_EQ(Count(PIPELINE_COUNT_OTHER).packets, 1u);
}

}  // namespace
