#include "common/net/ip.h"

#include "gtest/gtest.h"

namespace weft::net {
namespace {

TEST(IpAddressTest, ParsesBothFamiliesAndRoundTrips) {
  auto v4 = IpAddress::Parse("10.244.1.7");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->v4(), 0x0af40107u);
  EXPECT_EQ(v4->ToString(), "10.244.1.7");
  auto v6 = IpAddress::Parse("fd00:10:244::7");
  ASSERT_TRUE(v6.ok());
  EXPECT_FALSE(v6->is_v4());
  EXPECT_EQ(v6->ToString(), "fd00:10:244::7");
  EXPECT_EQ(v6->bytes()[15], 7);
}

TEST(IpAddressTest, RejectsGarbage) {
  EXPECT_FALSE(IpAddress::Parse("10.244.1").ok());
  EXPECT_FALSE(IpAddress::Parse("300.1.1.1").ok());
  EXPECT_FALSE(IpAddress::Parse("").ok());
}

TEST(IpPrefixTest, ParsesAndExplainsErrors) {
  auto p = IpPrefix::Parse("10.244.0.0/16");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->length(), 16);
  EXPECT_EQ(p->size(), 65536);
  EXPECT_EQ(IpPrefix::Parse("10.244.0.0/33").status().message(),
            "invalid CIDR \"10.244.0.0/33\": prefix length must be 0..32");
  EXPECT_EQ(IpPrefix::Parse("10.244.1.0/16").status().message(),
            "invalid CIDR \"10.244.1.0/16\": host bits set (did you mean 10.244.0.0/16?)");
  EXPECT_FALSE(IpPrefix::Parse("10.244.0.0").ok());
  EXPECT_FALSE(IpPrefix::Parse("10.244.0.0/x").ok());
}

TEST(IpPrefixTest, ContainmentAndOverlap) {
  auto pods = *IpPrefix::Parse("10.244.0.0/16");
  auto node = *IpPrefix::Parse("10.244.3.0/24");
  auto svc = *IpPrefix::Parse("10.96.0.0/12");
  EXPECT_TRUE(pods.Contains(node));
  EXPECT_FALSE(node.Contains(pods));
  EXPECT_TRUE(pods.Overlaps(node));
  EXPECT_TRUE(node.Overlaps(pods));
  EXPECT_FALSE(pods.Overlaps(svc));
  EXPECT_TRUE(node.Contains(*IpAddress::Parse("10.244.3.255")));
  EXPECT_FALSE(node.Contains(*IpAddress::Parse("10.244.4.0")));
  EXPECT_FALSE(node.Contains(*IpAddress::Parse("::1")));
  EXPECT_EQ(node.At(5).ToString(), "10.244.3.5");
  auto all = *IpPrefix::Parse("0.0.0.0/0");
  EXPECT_TRUE(all.Contains(*IpAddress::Parse("255.255.255.255")));
}

TEST(IpPrefixTest, Ipv6Prefixes) {
  auto p = *IpPrefix::Parse("fd00:10:244:1::/64");
  EXPECT_TRUE(p.Contains(*IpAddress::Parse("fd00:10:244:1::42")));
  EXPECT_FALSE(p.Contains(*IpAddress::Parse("fd00:10:244:2::42")));
  EXPECT_EQ(p.At(1).ToString(), "fd00:10:244:1::1");
}

TEST(Ipv4AddressTest, ParseConvertAndOrder) {
  static_assert(sizeof(Ipv4Address) == 4, "compact");
  auto a = Ipv4Address::Parse("10.96.0.10");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->value(), 0x0a60000au);
  EXPECT_EQ(a->ToString(), "10.96.0.10");
  EXPECT_EQ(a->ToIp(), *IpAddress::Parse("10.96.0.10"));
  EXPECT_EQ(*Ipv4Address::From(*IpAddress::Parse("10.96.0.10")), *a);
  EXPECT_LT(Ipv4Address(0x0a000001u), Ipv4Address(0x0a000002u));
  EXPECT_NE(Ipv4Address(1), Ipv4Address(2));
  EXPECT_FALSE(Ipv4Address::Parse("fd00::1").ok());
  EXPECT_FALSE(Ipv4Address::From(*IpAddress::Parse("::ffff:10.0.0.1")).ok());
  EXPECT_FALSE(Ipv4Address::Parse("10.0.0").ok());
}

}  // namespace
}  // namespace weft::net
