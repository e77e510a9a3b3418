// The UAPI text protocol: pure rendering and parsing, and UapiDevice against an
// in-test unix socket server that answers like wireguard-go. No privileges.
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/netns/process.h"
#include "agent/wireguard/uapi.h"
#include "gtest/gtest.h"

namespace weft::wireguard {
namespace {

// RFC 7748 section 6.1 (Alice): the device's key in the answers below.
constexpr char kPrivateHex[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr char kPublicHex[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
// Bob's public key from the same section: the peer.
constexpr char kPeerHex[] = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";

Key Hex(const char* hex) { return *ParseHexKey(hex); }
net::IpPrefix P(const char* text) { return *net::IpPrefix::Parse(text); }
Endpoint E(const char* text) { return *Endpoint::Parse(text); }

// What wireguard-go answered for a device with one peer (captured with
// `wg set`; keys replaced by the RFC vectors).
std::string GetAnswer() {
  return absl::StrCat(
      "private_key=", kPrivateHex,
      "\n"
      "listen_port=50327\n"
      "fwmark=66\n"
      "public_key=",
      kPeerHex,
      "\n"
      "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
      "protocol_version=1\n"
      "endpoint=[fd00::1]:51820\n"
      "last_handshake_time_sec=1700000000\n"
      "last_handshake_time_nsec=250\n"
      "tx_bytes=1184\n"
      "rx_bytes=92\n"
      "persistent_keepalive_interval=25\n"
      "allowed_ip=10.1.0.0/24\n"
      "allowed_ip=fd00::/64\n"
      "errno=0\n\n");
}

TEST(UapiProtocolTest, SetForANewDeviceCarriesKeyPortAndPeers) {
  DeviceConfig config;
  config.private_key = Hex(kPrivateHex);
  config.listen_port = 51820;
  config.fwmark = 0x42;
  PeerConfig peer;
  peer.public_key = Hex(kPeerHex);
  peer.endpoint = E("[2001:db8::2]:51821");
  peer.allowed_ips = {P("10.244.2.0/24"), P("10.1.0.2/32")};
  peer.persistent_keepalive = 25;
  config.peers = {peer};
  EXPECT_EQ(PlanUapiSet(DeviceState{}, config), absl::StrCat("set=1\n"
                                                             "private_key=",
                                                             kPrivateHex,
                                                             "\n"
                                                             "listen_port=51820\n"
                                                             "fwmark=66\n"
                                                             "public_key=",
                                                             kPeerHex,
                                                             "\n"
                                                             "endpoint=[2001:db8::2]:51821\n"
                                                             "persistent_keepalive_interval=25\n"
                                                             "allowed_ip=10.244.2.0/24\n"
                                                             "allowed_ip=10.1.0.2/32\n"
                                                             "\n"));
}

TEST(UapiProtocolTest, UpdatesAreInPlaceAndRemovalsExplicitNeverReplacePeers) {
  Key other = PublicKey(GeneratePrivateKey());
  DevicePlan plan;
  PeerChange remove;
  remove.kind = PeerChange::Kind::kRemove;
  remove.public_key = other;
  PeerChange update;
  update.kind = PeerChange::Kind::kUpdate;
  update.public_key = Hex(kPeerHex);
  update.endpoint = E("192.0.2.7:51820");
  update.replace_allowed_ips = true;
  update.allowed_ips = {P("10.244.2.0/24")};
  PeerChange clear = update;
  clear.endpoint.reset();
  clear.allowed_ips.clear();
  plan.peers = {remove, update};
  EXPECT_EQ(PlanUapiSet(plan), absl::StrCat("set=1\n"
                                            "public_key=",
                                            ToHex(other),
                                            "\n"
                                            "remove=true\n"
                                            "public_key=",
                                            kPeerHex,
                                            "\n"
                                            "update_only=true\n"
                                            "endpoint=192.0.2.7:51820\n"
                                            "replace_allowed_ips=true\n"
                                            "allowed_ip=10.244.2.0/24\n"
                                            "\n"));
  plan.peers = {clear};
  EXPECT_EQ(PlanUapiSet(plan), absl::StrCat("set=1\npublic_key=", kPeerHex,
                                            "\nupdate_only=true\nreplace_allowed_ips=true\n\n"));
  EXPECT_FALSE(absl::StrContains(PlanUapiSet(plan), "replace_peers"));
  EXPECT_EQ(PlanUapiSet(DevicePlan{}), "");
}

TEST(UapiProtocolTest, ParsesAGetAnswer) {
  auto state = ParseUapiGet(GetAnswer(), "wg0");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(ToHex(state->public_key), kPublicHex);  // derived, the private key is not kept
  EXPECT_EQ(state->listen_port, 50327);
  EXPECT_EQ(state->fwmark, 66u);
  ASSERT_EQ(state->peers.size(), 1u);
  const PeerState& p = state->peers[0];
  EXPECT_EQ(ToHex(p.public_key), kPeerHex);
  EXPECT_EQ(p.endpoint, E("[fd00::1]:51820"));
  EXPECT_EQ(p.last_handshake, absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(250));
  EXPECT_EQ(p.tx_bytes, 1184u);
  EXPECT_EQ(p.rx_bytes, 92u);
  EXPECT_EQ(p.persistent_keepalive, 25);
  EXPECT_EQ(p.allowed_ips, (std::vector<net::IpPrefix>{P("10.1.0.0/24"), P("fd00::/64")}));
}

TEST(UapiProtocolTest, FreshDeviceHasNoKeyAndPeersWithoutHandshake) {
  auto empty = ParseUapiGet("listen_port=39804\nerrno=0\n\n", "wg0");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->public_key.IsZero());
  EXPECT_EQ(empty->fwmark, 0u);
  auto never =
      ParseUapiGet(absl::StrCat("public_key=", kPeerHex,
                                "\nlast_handshake_time_sec=0\n"
                                "last_handshake_time_nsec=0\nunknown_new_key=1\nerrno=0\n\n"),
                   "wg0");
  ASSERT_TRUE(never.ok()) << never.status();
  ASSERT_EQ(never->peers.size(), 1u);
  EXPECT_EQ(never->peers[0].last_handshake, absl::InfinitePast());
  EXPECT_FALSE(never->peers[0].endpoint.has_value());
}

TEST(UapiProtocolTest, BadAnswersAreErrorsThatNeverShowSecrets) {
  auto failed = ParseUapiGet("errno=-22\n\n", "wg0");
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(failed.status().message(), "wg0")) << failed.status();
  EXPECT_TRUE(absl::StrContains(failed.status().message(), "Invalid argument")) << failed.status();
  EXPECT_EQ(ParseUapiErrno("errno=5\n\n", "x").code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(ParseUapiErrno("errno=0\n\n", "x").ok());

  EXPECT_EQ(ParseUapiGet("listen_port=1\n", "wg0").status().code(),
            absl::StatusCode::kDataLoss);  // no errno line
  EXPECT_FALSE(ParseUapiGet("listen_port\nerrno=0\n\n", "wg0").ok());
  EXPECT_FALSE(ParseUapiGet("listen_port=70000\nerrno=0\n\n", "wg0").ok());
  EXPECT_FALSE(ParseUapiGet("errno=0\n\nlisten_port=1\n", "wg0").ok());
  EXPECT_FALSE(
      ParseUapiGet(absl::StrCat("public_key=", kPeerHex, "\nallowed_ip=10.0.0.0\nerrno=0\n\n"),
                   "wg0")
          .ok());

  // A private key one digit short: the error names the key, not its value.
  std::string secret = std::string(kPrivateHex).substr(1);
  auto bad_key = ParseUapiGet(absl::StrCat("private_key=", secret, "\nerrno=0\n\n"), "wg0");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_TRUE(absl::StrContains(bad_key.status().message(), "malformed private_key"))
      << bad_key.status();
  EXPECT_FALSE(absl::StrContains(bad_key.status().message(), secret.substr(0, 12)))
      << bad_key.status();
}

// A unix socket server that answers each request with handler(request).
class FakeUapiServer {
 public:
  explicit FakeUapiServer(std::function<std::string(const std::string&)> handler)
      : handler_(std::move(handler)) {
    char tmpl[] = "/tmp/weft-uapi-XXXXXX";  // short: sun_path has 108 bytes
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/wgt0.sock";
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path_.c_str());
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 && listen(fd_, 8) == 0;
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeUapiServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.size() < 2 || req.compare(req.size() - 2, 2, "\n\n") != 0) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      std::string answer;
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(req);
        answer = handler_(req);
      }
      (void)!write(c, answer.data(), answer.size());
      close(c);
    }
  }
  std::function<std::string(const std::string&)> handler_;
  std::string dir_, path_;
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

TEST(UapiDeviceTest, GetAndApplyTalkTheProtocol) {
  std::string set_answer = "errno=0\n\n";
  FakeUapiServer server(
      [&](const std::string& req) { return req == "get=1\n\n" ? GetAnswer() : set_answer; });
  ASSERT_TRUE(server.ok());
  auto dev = UapiDevice::Open("wgt0", server.path());
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ((*dev)->name(), "wgt0");
  EXPECT_EQ((*dev)->kind(), "userspace");
  auto state = (*dev)->Get();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->peers.size(), 1u);

  // The config the device already has: a get, and no set.
  DeviceConfig config;
  config.private_key = Hex(kPrivateHex);
  config.listen_port = 50327;
  config.fwmark = 66;
  PeerConfig peer;
  peer.public_key = Hex(kPeerHex);
  peer.endpoint = E("[fd00::1]:51820");
  peer.allowed_ips = {P("fd00::/64"), P("10.1.0.0/24")};
  peer.persistent_keepalive = 25;
  config.peers = {peer};
  size_t before = server.requests().size();
  ASSERT_TRUE((*dev)->Apply(config).ok());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), before + 1);
  EXPECT_EQ(reqs.back(), "get=1\n\n");

  // One more prefix: an in-place update.
  config.peers[0].allowed_ips.push_back(P("10.244.5.0/24"));
  ASSERT_TRUE((*dev)->Apply(config).ok());
  reqs = server.requests();
  ASSERT_EQ(reqs.size(), before + 3);
  EXPECT_EQ(reqs.back(), absl::StrCat("set=1\npublic_key=", kPeerHex,
                                      "\nupdate_only=true\nreplace_allowed_ips=true\n"
                                      "allowed_ip=fd00::/64\nallowed_ip=10.1.0.0/24\n"
                                      "allowed_ip=10.244.5.0/24\n\n"));

  // The device refuses: the error names the device, the change and the errno,
  // never the private key.
  set_answer = "errno=-22\n\n";
  config.private_key = GeneratePrivateKey();
  absl::Status s = (*dev)->Apply(config);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "wgt0")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "Invalid argument")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "update peer " + ToBase64(Hex(kPeerHex)))) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), ToHex(config.private_key))) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), ToBase64(config.private_key))) << s;
  // The request did carry the new key (hex), right after set=1.
  EXPECT_TRUE(absl::StartsWith(server.requests().back(),
                               "set=1\nprivate_key=" + ToHex(config.private_key) + "\n"));
}

TEST(UapiDeviceTest, InvalidConfigIsRefusedBeforeTalkingToTheDevice) {
  FakeUapiServer server([](const std::string&) { return GetAnswer(); });
  ASSERT_TRUE(server.ok());
  auto dev = UapiDevice::Open("wgt0", server.path());
  ASSERT_TRUE(dev.ok()) << dev.status();
  size_t before = server.requests().size();
  DeviceConfig config;  // no private key
  EXPECT_EQ((*dev)->Apply(config).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.requests().size(), before);
}

TEST(UapiDeviceTest, MissingOrBrokenSocketIsAClearError) {
  auto none = UapiDevice::Open("wgt0", "/tmp/weft-no-such-dir/wgt0.sock");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(none.status().message(), "/tmp/weft-no-such-dir/wgt0.sock"))
      << none.status();
  EXPECT_TRUE(absl::StrContains(none.status().message(), "wgt0")) << none.status();

  FakeUapiServer truncated([](const std::string&) { return std::string("listen_port=1\n"); });
  ASSERT_TRUE(truncated.ok());
  auto cut = UapiDevice::Open("wgt0", truncated.path());
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss) << cut.status();

  EXPECT_EQ(UapiDevice::Open("../etc", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UapiDevice::Open("a-name-longer-than-15", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace weft::wireguard
