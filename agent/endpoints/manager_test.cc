#include "agent/endpoints/manager.h"

#include <stdlib.h>

#include "agent/datapath/fake_datapath.h"
#include "common/file_util.h"
#include "gtest/gtest.h"

namespace weft::endpoints {
namespace {

std::string TempDir() {
  std::string t = std::string(getenv("TEST_TMPDIR")) + "/ep-XXXXXX";
  return mkdtemp(t.data());
}

ipam::Owner Pod(const std::string& id) { return {id, "eth0", "default", "web-" + id}; }
const std::array<uint8_t, 6> kPodMac = {0x0a, 0x58, 0, 0, 0, 1};
const std::array<uint8_t, 6> kHostMac = {0xee, 0xee, 0, 0, 0, 1};

class EndpointManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    m_ = New();
  }
  std::unique_ptr<EndpointManager> New(const char* cidr = "10.244.1.0/24") {
    problems_.clear();
    auto m = EndpointManager::Create(dir_, {*net::IpPrefix::Parse(cidr)}, &dp_, &problems_);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }
  std::string dir_;
  datapath::FakeDatapath dp_;
  std::vector<std::string> problems_;
  std::unique_ptr<EndpointManager> m_;
};

TEST_F(EndpointManagerTest, AddFlowProgramsTheDatapath) {
  auto addrs = m_->Allocate(Pod("c1"));
  ASSERT_TRUE(addrs.ok());
  ASSERT_EQ(addrs->size(), 1u);
  EXPECT_EQ((*addrs)[0].ToString(), "10.244.1.1");
  EXPECT_EQ(*m_->Allocate(Pod("c1")), *addrs);  // idempotent
  ASSERT_TRUE(m_->Register("c1", "eth0", "lxc1", 42, kPodMac, kHostMac, "/var/run/netns/p").ok());
  ASSERT_EQ(dp_.map.entries.size(), 1u);
  EXPECT_EQ(dp_.map.entries.begin()->second.ifindex, 42);
  EXPECT_TRUE(dp_.from_container.count(42));
  EXPECT_TRUE(m_->Get("c1", "eth0")->programmed);
}

TEST_F(EndpointManagerTest, RegisterWithoutAllocateIsNotFound) {
  EXPECT_EQ(m_->Register("nope", "eth0", "lxc", 1, kPodMac, kHostMac, "").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(EndpointManagerTest, DatapathFailureLeavesNothingProgrammed) {
  ASSERT_TRUE(m_->Allocate(Pod("c1")).ok());
  dp_.map.fail_next = true;
  EXPECT_FALSE(m_->Register("c1", "eth0", "lxc1", 42, kPodMac, kHostMac, "").ok());
  EXPECT_TRUE(dp_.map.entries.empty());
  EXPECT_FALSE(m_->Get("c1", "eth0")->programmed);
}

TEST_F(EndpointManagerTest, ReleaseIsIdempotentAndUnprograms) {
  ASSERT_TRUE(m_->Allocate(Pod("c1")).ok());
  ASSERT_TRUE(m_->Register("c1", "eth0", "lxc1", 42, kPodMac, kHostMac, "").ok());
  auto r = m_->Release("c1", "eth0");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->host_ifname, "lxc1");
  EXPECT_TRUE(dp_.map.entries.empty());
  auto again = m_->Release("c1", "eth0");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  m_.reset();
  EXPECT_TRUE(New()->List().empty());  // persisted
}

TEST_F(EndpointManagerTest, RestartRestoresEndpointsAndNeverDoublesAnAddress) {
  auto a = *m_->Allocate(Pod("c1"));
  ASSERT_TRUE(m_->Register("c1", "eth0", "lxc1", 42, kPodMac, kHostMac, "/run/netns/x").ok());
  auto b = *m_->Allocate(Pod("c2"));  // allocated, ADD crashed before register
  m_.reset();
  auto m2 = New();
  ASSERT_EQ(m2->List().size(), 2u);
  auto rec = m2->Get("c1", "eth0");
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->host_ifname, "lxc1");
  EXPECT_EQ(rec->pod_mac, kPodMac);
  auto c = *m2->Allocate(Pod("c3"));
  EXPECT_NE(c[0], a[0]);
  EXPECT_NE(c[0], b[0]);
  dp_.map.entries.clear();
  EXPECT_TRUE(m2->Reprogram().empty());
  EXPECT_EQ(dp_.map.entries.size(), 1u);  // only the registered one
}

TEST_F(EndpointManagerTest, ChangedPodCidrDropsOldEndpointsWithAReport) {
  ASSERT_TRUE(m_->Allocate(Pod("c1")).ok());
  m_.reset();
  auto m2 = New("10.244.7.0/24");
  EXPECT_TRUE(m2->List().empty());
  ASSERT_EQ(problems_.size(), 1u);
  EXPECT_NE(problems_[0].find("outside this node's pod CIDRs"), std::string::npos);
}

TEST_F(EndpointManagerTest, CorruptStateIsReportedNotGuessed) {
  m_.reset();
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/endpoints.json", "{\"what\":1}").ok());
  auto m = EndpointManager::Create(dir_, {*net::IpPrefix::Parse("10.244.1.0/24")}, &dp_, &problems_);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(EndpointManagerTest, ExhaustionAllocatesNothing) {
  auto small = New("10.244.1.0/30");
  ASSERT_TRUE(small->Allocate(Pod("a")).ok());
  ASSERT_TRUE(small->Allocate(Pod("b")).ok());
  auto c = small->Allocate(Pod("c"));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(small->List().size(), 2u);
}

}  // namespace
}  // namespace weft::endpoints
