#include "agent/wireguard/device.h"

#include "absl/strings/match.h"
#include "agent/wireguard/fake_device.h"
#include "gtest/gtest.h"

namespace weft::wireguard {
namespace {

using Kind = PeerChange::Kind;

net::IpPrefix P(const char* text) { return *net::IpPrefix::Parse(text); }
Endpoint E(const char* text) { return *Endpoint::Parse(text); }

// Fixed keys (no randomness in plans under test).
Key K(uint8_t fill) {
  Key k;
  k.bytes.fill(fill);
  k.bytes[0] &= 248;
  k.bytes[31] = (k.bytes[31] & 127) | 64;
  return k;
}

PeerConfig Peer(const Key& pub, std::optional<Endpoint> ep, std::vector<net::IpPrefix> ips,
                int keepalive = 0) {
  PeerConfig p;
  p.public_key = pub;
  p.endpoint = ep;
  p.allowed_ips = std::move(ips);
  p.persistent_keepalive = keepalive;
  return p;
}

PeerState State(const PeerConfig& c) {
  PeerState s;
  s.public_key = c.public_key;
  s.endpoint = c.endpoint;
  s.allowed_ips = c.allowed_ips;
  s.persistent_keepalive = c.persistent_keepalive;
  return s;
}

class PlanDeviceTest : public ::testing::Test {
 protected:
  const Key self_ = K(1);
  const Key a_ = PublicKey(K(2)), b_ = PublicKey(K(3)), c_ = PublicKey(K(4));

  DeviceConfig Config(std::vector<PeerConfig> peers) {
    DeviceConfig c;
    c.private_key = self_;
    c.listen_port = 51820;
    c.peers = std::move(peers);
    return c;
  }
  // A device that already matches `config`.
  DeviceState Matching(const DeviceConfig& config) {
    DeviceState s;
    s.public_key = PublicKey(config.private_key);
    s.listen_port = config.listen_port;
    s.fwmark = config.fwmark;
    for (const auto& p : config.peers) s.peers.push_back(State(p));
    return s;
  }
};

TEST_F(PlanDeviceTest, NewDeviceGetsKeyPortAndAllPeers) {
  DeviceConfig want = Config({Peer(a_, E("192.0.2.1:51820"), {P("10.244.1.0/24")}, 25),
                              Peer(b_, std::nullopt, {P("10.244.2.0/24"), P("fd00:2::/64")})});
  DevicePlan plan = PlanDevice(DeviceState{}, want);
  ASSERT_TRUE(plan.private_key.has_value());
  EXPECT_EQ(*plan.private_key, self_);
  EXPECT_EQ(plan.listen_port, 51820);
  EXPECT_FALSE(plan.fwmark.has_value());
  ASSERT_EQ(plan.peers.size(), 2u);
  EXPECT_EQ(plan.peers[0].kind, Kind::kAdd);
  EXPECT_EQ(plan.peers[0].public_key, a_);
  EXPECT_EQ(plan.peers[0].endpoint, E("192.0.2.1:51820"));
  EXPECT_EQ(plan.peers[0].persistent_keepalive, 25);
  EXPECT_EQ(plan.peers[0].allowed_ips, std::vector<net::IpPrefix>{P("10.244.1.0/24")});
  EXPECT_FALSE(plan.peers[0].replace_allowed_ips);
  EXPECT_EQ(plan.peers[1].kind, Kind::kAdd);
  EXPECT_FALSE(plan.peers[1].endpoint.has_value());
  EXPECT_FALSE(plan.peers[1].persistent_keepalive.has_value());
  EXPECT_EQ(plan.peers[1].allowed_ips.size(), 2u);
}

TEST_F(PlanDeviceTest, MatchingDeviceNeedsNothingEvenWithAllowedIpsReordered) {
  DeviceConfig want =
      Config({Peer(a_, E("192.0.2.1:51820"), {P("10.244.1.0/24"), P("10.1.0.1/32")})});
  DeviceState have = Matching(want);
  std::swap(have.peers[0].allowed_ips[0], have.peers[0].allowed_ips[1]);
  have.peers[0].last_handshake = absl::FromUnixSeconds(1000);
  have.peers[0].rx_bytes = 5;
  DevicePlan plan = PlanDevice(have, want);
  EXPECT_TRUE(plan.empty()) << plan.Summary();
  EXPECT_EQ(plan.Summary(), "no change");
}

TEST_F(PlanDeviceTest, RemovesAddsAndUpdatesInPlaceWithRemovalsFirst) {
  PeerConfig pa = Peer(a_, E("192.0.2.1:51820"), {P("10.244.1.0/24")});
  PeerConfig pb = Peer(b_, E("192.0.2.2:51820"), {P("10.244.2.0/24")});
  DeviceState have = Matching(Config({pa, pb}));
  // b goes, c comes, a moves and gets another prefix.
  PeerConfig pa2 = Peer(a_, E("192.0.2.9:51820"), {P("10.244.1.0/24"), P("10.244.9.0/24")});
  PeerConfig pc = Peer(c_, E("192.0.2.3:51820"), {P("10.244.3.0/24")});
  DevicePlan plan = PlanDevice(have, Config({pa2, pc}));
  EXPECT_FALSE(plan.private_key.has_value());
  EXPECT_FALSE(plan.listen_port.has_value());
  ASSERT_EQ(plan.peers.size(), 3u);
  EXPECT_EQ(plan.peers[0].kind, Kind::kRemove);
  EXPECT_EQ(plan.peers[0].public_key, b_);
  EXPECT_EQ(plan.peers[1].kind, Kind::kUpdate);
  EXPECT_EQ(plan.peers[1].public_key, a_);
  EXPECT_EQ(plan.peers[1].endpoint, E("192.0.2.9:51820"));
  EXPECT_TRUE(plan.peers[1].replace_allowed_ips);
  EXPECT_EQ(plan.peers[1].allowed_ips,
            (std::vector<net::IpPrefix>{P("10.244.1.0/24"), P("10.244.9.0/24")}));
  EXPECT_FALSE(plan.peers[1].persistent_keepalive.has_value());
  EXPECT_EQ(plan.peers[2].kind, Kind::kAdd);
  EXPECT_EQ(plan.peers[2].public_key, c_);
}

TEST_F(PlanDeviceTest, OnlyWhatChangedIsSetOnAnUpdatedPeer) {
  PeerConfig pa = Peer(a_, E("192.0.2.1:51820"), {P("10.244.1.0/24")});
  DeviceState have = Matching(Config({pa}));

  PeerConfig only_ips = pa;
  only_ips.allowed_ips = {};
  DevicePlan p1 = PlanDevice(have, Config({only_ips}));
  ASSERT_EQ(p1.peers.size(), 1u);
  EXPECT_TRUE(p1.peers[0].replace_allowed_ips);
  EXPECT_TRUE(p1.peers[0].allowed_ips.empty());  // all removed
  EXPECT_FALSE(p1.peers[0].endpoint.has_value());

  PeerConfig only_keepalive = pa;
  only_keepalive.persistent_keepalive = 15;
  DevicePlan p2 = PlanDevice(have, Config({only_keepalive}));
  ASSERT_EQ(p2.peers.size(), 1u);
  EXPECT_EQ(p2.peers[0].persistent_keepalive, 15);
  EXPECT_FALSE(p2.peers[0].replace_allowed_ips);
  EXPECT_EQ(p2.Summary(), "update peer " + PeerName(a_) + " (keepalive)");

  // No endpoint in the config: the device's (maybe learned) endpoint stays.
  PeerConfig no_endpoint = pa;
  no_endpoint.endpoint.reset();
  EXPECT_TRUE(PlanDevice(have, Config({no_endpoint})).empty());
  // A peer without an endpoint on the device gets the configured one.
  have.peers[0].endpoint.reset();
  DevicePlan p3 = PlanDevice(have, Config({pa}));
  ASSERT_EQ(p3.peers.size(), 1u);
  EXPECT_EQ(p3.peers[0].endpoint, E("192.0.2.1:51820"));
}

TEST_F(PlanDeviceTest, DeviceSettingsChangeOnlyWhenTheyDiffer) {
  DeviceConfig want = Config({});
  DeviceState have = Matching(want);
  have.listen_port = 40000;
  have.fwmark = 7;
  DevicePlan plan = PlanDevice(have, want);
  EXPECT_EQ(plan.listen_port, 51820);
  EXPECT_EQ(plan.fwmark, 0u);  // cleared
  EXPECT_FALSE(plan.private_key.has_value());

  want.listen_port = 0;  // keep whatever port the device has
  EXPECT_FALSE(PlanDevice(have, want).listen_port.has_value());

  want.private_key = K(9);  // rotation
  DevicePlan rotate = PlanDevice(have, want);
  ASSERT_TRUE(rotate.private_key.has_value());
  EXPECT_EQ(*rotate.private_key, K(9));
}

TEST_F(PlanDeviceTest, SummaryNamesPeersButNeverThePrivateKey) {
  DeviceConfig want = Config({Peer(a_, std::nullopt, {P("10.0.0.0/8")})});
  DevicePlan plan = PlanDevice(DeviceState{}, want);
  std::string s = plan.Summary();
  EXPECT_TRUE(absl::StrContains(s, "add peer " + PeerName(a_))) << s;
  EXPECT_TRUE(absl::StrContains(s, "public " + ToBase64(PublicKey(self_)))) << s;
  EXPECT_FALSE(absl::StrContains(s, ToBase64(self_))) << s;
  EXPECT_FALSE(absl::StrContains(s, ToHex(self_))) << s;
}

TEST_F(PlanDeviceTest, ValidateConfigRejectsWhatNoDeviceWouldTakeAsMeant) {
  EXPECT_TRUE(ValidateConfig(Config({Peer(a_, std::nullopt, {P("10.1.0.0/16")}),
                                     Peer(b_, std::nullopt, {P("10.1.1.0/24")})}))
                  .ok());  // overlapping but different prefixes are routing, not an error

  DeviceConfig no_key = Config({});
  no_key.private_key = Key{};
  EXPECT_EQ(ValidateConfig(no_key).code(), absl::StatusCode::kInvalidArgument);

  absl::Status self = ValidateConfig(Config({Peer(PublicKey(self_), std::nullopt, {})}));
  EXPECT_TRUE(absl::StrContains(self.message(), "own public key")) << self;

  absl::Status twice =
      ValidateConfig(Config({Peer(a_, std::nullopt, {}), Peer(a_, std::nullopt, {})}));
  EXPECT_TRUE(absl::StrContains(twice.message(), PeerName(a_) + " is listed twice")) << twice;

  absl::Status shared = ValidateConfig(Config(
      {Peer(a_, std::nullopt, {P("10.1.0.0/24")}), Peer(b_, std::nullopt, {P("10.1.0.0/24")})}));
  EXPECT_TRUE(absl::StrContains(shared.message(), "10.1.0.0/24")) << shared;
  EXPECT_TRUE(absl::StrContains(shared.message(), PeerName(a_))) << shared;
  EXPECT_TRUE(absl::StrContains(shared.message(), PeerName(b_))) << shared;

  absl::Status keepalive = ValidateConfig(Config({Peer(a_, std::nullopt, {}, 70000)}));
  EXPECT_EQ(keepalive.code(), absl::StatusCode::kInvalidArgument);
  for (const absl::Status& s : {self, twice, shared, keepalive}) {
    EXPECT_FALSE(absl::StrContains(s.message(), ToBase64(self_))) << s;
  }
}

TEST(EndpointTest, ParsesAndFormatsBothFamilies) {
  auto v4 = Endpoint::Parse("192.0.2.1:51820");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->ip.ToString(), "192.0.2.1");
  EXPECT_EQ(v4->port, 51820);
  EXPECT_EQ(v4->ToString(), "192.0.2.1:51820");
  auto v6 = Endpoint::Parse("[2001:db8::1]:443");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_FALSE(v6->ip.is_v4());
  EXPECT_EQ(v6->ToString(), "[2001:db8::1]:443");
  auto zone = Endpoint::Parse("[fe80::1%eth0]:1");
  ASSERT_TRUE(zone.ok()) << zone.status();
  EXPECT_EQ(zone->ToString(), "[fe80::1]:1");
  for (const char* bad : {"192.0.2.1", "192.0.2.1:65536", "192.0.2.1:x", "[2001:db8::1]",
                          "2001:db8::1:80x", "host:80", "[::1]80"}) {
    EXPECT_FALSE(Endpoint::Parse(bad).ok()) << bad;
  }
}

TEST(FakeDeviceTest, AppliesPlansKeepingSessionsOfUpdatedPeers) {
  FakeDevice dev("wg-fake");
  DeviceConfig config;
  config.private_key = K(1);
  const Key a = PublicKey(K(2)), b = PublicKey(K(3));
  config.peers = {Peer(a, E("192.0.2.1:51820"), {P("10.244.1.0/24")}),
                  Peer(b, E("192.0.2.2:51820"), {P("10.244.2.0/24")})};
  ASSERT_TRUE(dev.Apply(config).ok());
  ASSERT_EQ(dev.applied().size(), 1u);
  dev.state().peers[0].last_handshake = absl::FromUnixSeconds(77);
  // Same config again: nothing to do, nothing recorded.
  ASSERT_TRUE(dev.Apply(config).ok());
  EXPECT_EQ(dev.applied().size(), 1u);

  config.peers[0].allowed_ips.push_back(P("10.244.9.0/24"));
  config.peers.pop_back();
  ASSERT_TRUE(dev.Apply(config).ok());
  auto state = dev.Get();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->peers.size(), 1u);
  EXPECT_EQ(state->peers[0].public_key, a);
  EXPECT_EQ(state->peers[0].last_handshake, absl::FromUnixSeconds(77));
  EXPECT_EQ(CanonicalPrefixes(state->peers[0].allowed_ips),
            CanonicalPrefixes({P("10.244.1.0/24"), P("10.244.9.0/24")}));
  EXPECT_TRUE(PlanDevice(*state, config).empty());

  dev.FailNextApply(absl::UnavailableError("boom"));
  EXPECT_EQ(dev.Apply(config).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(dev.Apply(config).ok());
}

}  // namespace
}  // namespace weft::wireguard
