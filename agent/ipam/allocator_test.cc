#include "agent/ipam/allocator.h"

#include "gtest/gtest.h"

namespace weft::ipam {
namespace {

using net::Family;

Allocator NewAllocator(const char* cidr) {
  auto a = Allocator::Create({*net::IpPrefix::Parse(cidr)});
  EXPECT_TRUE(a.ok()) << a.status();
  return *std::move(a);
}

Owner Pod(const std::string& id) { return {id, "eth0", "default", "pod-" + id}; }

TEST(AllocatorTest, SkipsNetworkAndBroadcastAndIsIdempotentPerOwner) {
  Allocator a = NewAllocator("10.244.1.0/30");  // .1 and .2 usable
  auto first = a.Allocate(Pod("a"), Family::kV4);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->address.ToString(), "10.244.1.1");
  auto again = a.Allocate(Pod("a"), Family::kV4);
  EXPECT_EQ(again->address, first->address);
  auto second = a.Allocate(Pod("b"), Family::kV4);
  EXPECT_EQ(second->address.ToString(), "10.244.1.2");
  EXPECT_EQ(a.capacity(Family::kV4), 2u);
}

TEST(AllocatorTest, ExhaustedPoolSaysSo) {
  Allocator a = NewAllocator("10.244.1.0/30");
  ASSERT_TRUE(a.Allocate(Pod("a"), Family::kV4).ok());
  ASSERT_TRUE(a.Allocate(Pod("b"), Family::kV4).ok());
  auto c = a.Allocate(Pod("c"), Family::kV4);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.status().message(), "pod CIDR 10.244.1.0/30 has no free address (2 in use)");
}

TEST(AllocatorTest, ReleaseIsIdempotentAndAddressIsNotReusedAtOnce) {
  Allocator a = NewAllocator("10.244.1.0/29");  // .1 .. .6
  auto x = *a.Allocate(Pod("x"), Family::kV4);
  EXPECT_EQ(a.Release("x", "eth0").size(), 1u);
  EXPECT_EQ(a.Release("x", "eth0").size(), 0u);
  auto y = *a.Allocate(Pod("y"), Family::kV4);
  EXPECT_NE(y.address, x.address);  // walks forward
}

TEST(AllocatorTest, WrapsAroundToReleasedAddresses) {
  Allocator a = NewAllocator("10.244.1.0/30");
  ASSERT_TRUE(a.Allocate(Pod("a"), Family::kV4).ok());
  ASSERT_TRUE(a.Allocate(Pod("b"), Family::kV4).ok());
  a.Release("a", "eth0");
  auto c = a.Allocate(Pod("c"), Family::kV4);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->address.ToString(), "10.244.1.1");
}

TEST(AllocatorTest, StateSurvivesARestartAndNeverDoublesAnAddress) {
  Allocator a = NewAllocator("10.244.1.0/24");
  auto p1 = *a.Allocate(Pod("p1"), Family::kV4);
  auto p2 = *a.Allocate(Pod("p2"), Family::kV4);
  std::string state = a.SaveState();

  std::vector<Allocation> dropped;
  auto b = Allocator::LoadState({*net::IpPrefix::Parse("10.244.1.0/24")}, state, &dropped);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(dropped.empty());
  EXPECT_EQ(b->in_use(), 2u);
  auto p3 = *b->Allocate(Pod("p3"), Family::kV4);
  EXPECT_NE(p3.address, p1.address);
  EXPECT_NE(p3.address, p2.address);
  EXPECT_EQ(b->Allocate(Pod("p1"), Family::kV4)->address, p1.address);
}

TEST(AllocatorTest, StateOutsideANewPodCidrIsDroppedAndReported) {
  Allocator a = NewAllocator("10.244.1.0/24");
  ASSERT_TRUE(a.Allocate(Pod("old"), Family::kV4).ok());
  std::vector<Allocation> dropped;
  auto b = Allocator::LoadState({*net::IpPrefix::Parse("10.244.2.0/24")}, a.SaveState(), &dropped);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->in_use(), 0u);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].owner.container_id, "old");
}

TEST(AllocatorTest, CorruptStateIsDataLoss) {
  std::vector<Allocation> dropped;
  auto pools = std::vector<net::IpPrefix>{*net::IpPrefix::Parse("10.244.1.0/24")};
  EXPECT_EQ(Allocator::LoadState(pools, "{", &dropped).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Allocator::LoadState(pools, R"({"version":1,"allocations":[{"address":"x"}]})", &dropped)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST(AllocatorTest, DualStackAndBadPools) {
  auto a = Allocator::Create(
      {*net::IpPrefix::Parse("10.244.1.0/24"), *net::IpPrefix::Parse("fd00:10:244:1::/64")});
  ASSERT_TRUE(a.ok());
  auto v6 = a->Allocate(Pod("a"), Family::kV6);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->address.ToString(), "fd00:10:244:1::1");
  EXPECT_FALSE(Allocator::Create({*net::IpPrefix::Parse("10.244.1.0/24"),
                                  *net::IpPrefix::Parse("10.244.2.0/24")})
                   .ok());
  EXPECT_FALSE(Allocator::Create({*net::IpPrefix::Parse("10.244.1.0/31")}).ok());
  auto v4only = NewAllocator("10.244.1.0/24");
  EXPECT_EQ(v4only.Allocate(Pod("a"), Family::kV6).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace weft::ipam
