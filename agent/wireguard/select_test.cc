// Backend choice on the real kernel, inside a namespace of the test's own.
// This machine has no WireGuard module, so "auto" must pick wireguard-go and
// "kernel" must fail clearly; on a kernel with the module the kernel path runs.
#include "agent/wireguard/select.h"

#include <sys/stat.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/netlink/netlink.h"
#include "agent/wireguard/genl.h"
#include "agent/wireguard/uapi.h"
#include "common/netns/process.h"
#include "common/testing/netns.h"
#include "gtest/gtest.h"

namespace weft::wireguard {
namespace {

using weft::testing::ScopedNetns;

TEST(BackendTest, NamesRoundTrip) {
  for (Backend b : {Backend::kAuto, Backend::kKernel, Backend::kUserspace}) {
    auto parsed = ParseBackend(BackendName(b));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, b);
  }
  auto bad = ParseBackend("go");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "auto, kernel or userspace"));
}

class SelectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!weft::testing::HaveRoot()) GTEST_SKIP() << "needs root for namespaces and links";
    weft::testing::RemoveStaleNamespaces();
    ns_ = std::make_unique<ScopedNetns>("sel");
    ASSERT_TRUE(ns_->ok());
    auto nl = netlink::Netlink::OpenInNamespace(ns_->path());
    ASSERT_TRUE(nl.ok()) << nl.status();
    nl_ = std::move(*nl);
    const char* tmp = std::getenv("TEST_TMPDIR");
    options_.ifname = weft::testing::UniqueName("ws");
    options_.netns_path = ns_->path();
    options_.mtu = 1400;
    options_.pid_file =
        absl::StrCat(tmp ? tmp : "/tmp", "/select-", getpid(), "/", options_.ifname, ".pid");
    options_.log_file = options_.pid_file + ".log";
    options_.terminate_with_parent = true;
    kernel_ = KernelWireguardAvailable(ns_->path()).ok();
  }
  void TearDown() override {
    if (!ns_) return;
    EXPECT_TRUE(StopUserspaceDevice(options_.pid_file, options_.ifname).ok());
    nl_.reset();
    const std::string path = ns_->path();
    ns_.reset();
    struct stat st;
    EXPECT_NE(stat(path.c_str(), &st), 0) << path << " left behind";
    EXPECT_NE(stat(UapiSocketPath(options_.ifname).c_str(), &st), 0);
  }
  bool LinkExists() { return nl_->GetLink(options_.ifname).ok(); }

  std::unique_ptr<ScopedNetns> ns_;
  std::unique_ptr<netlink::Netlink> nl_;
  OpenOptions options_;
  bool kernel_ = false;
};

TEST_F(SelectTest, KernelBackendWithoutTheModuleIsAClearErrorAndLeavesNothing) {
  if (kernel_) GTEST_SKIP() << "this kernel has WireGuard";
  options_.backend = Backend::kKernel;
  auto dev = OpenDevice(options_);
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.status().code(), absl::StatusCode::kNotFound) << dev.status();
  EXPECT_TRUE(absl::StrContains(dev.status().message(), options_.ifname)) << dev.status();
  EXPECT_TRUE(
      absl::StrContains(dev.status().message(), "the wireguard kernel module is not available"))
      << dev.status();
  EXPECT_FALSE(LinkExists());

  // Creating the link directly fails the same way, clearly.
  absl::Status create = CreateKernelLink(options_.ifname, 1400, ns_->path());
  EXPECT_EQ(create.code(), absl::StatusCode::kFailedPrecondition) << create;
  EXPECT_TRUE(absl::StrContains(create.message(), "no wireguard link type")) << create;
  EXPECT_TRUE(absl::StrContains(create.message(), options_.ifname)) << create;
  EXPECT_FALSE(LinkExists());
}

TEST_F(SelectTest, AutoPicksWireguardGoHereSetsMtuAndUpAndAdoptsOnTheNextOpen) {
  if (kernel_) GTEST_SKIP() << "this kernel has WireGuard: auto picks the kernel";
  if (!netns::FindProgram("wireguard-go").ok()) GTEST_SKIP() << "wireguard-go is not installed";
  auto dev = OpenDevice(options_);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ((*dev)->kind(), "userspace");
  EXPECT_EQ((*dev)->name(), options_.ifname);
  auto link = nl_->GetLink(options_.ifname);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->kind, "tun");
  EXPECT_EQ(link->mtu, 1400);
  EXPECT_TRUE(link->up);

  DeviceConfig config;
  config.private_key = GeneratePrivateKey();
  ASSERT_TRUE((*dev)->Apply(config).ok());
  const pid_t pid = static_cast<UapiDevice*>(dev->get())->pid();

  // An existing tun decides, even with an MTU change.
  options_.mtu = 1300;
  auto again = OpenDevice(options_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->kind(), "userspace");
  EXPECT_EQ(static_cast<UapiDevice*>(again->get())->pid(), pid);
  EXPECT_TRUE(static_cast<UapiDevice*>(again->get())->adopted());
  EXPECT_EQ(nl_->GetLink(options_.ifname)->mtu, 1300);
  auto state = (*again)->Get();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->public_key, PublicKey(config.private_key));

  // Asking for the kernel now names the tun it found.
  options_.backend = Backend::kKernel;
  auto kernel = OpenDevice(options_);
  EXPECT_FALSE(kernel.ok());
}

TEST_F(SelectTest, AutoWithNoBackendNamesBoth) {
  if (kernel_) GTEST_SKIP() << "this kernel has WireGuard";
  options_.wireguard_go = "/nonexistent/wireguard-go";
  auto dev = OpenDevice(options_);
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.status().code(), absl::StatusCode::kFailedPrecondition) << dev.status();
  EXPECT_TRUE(absl::StrContains(dev.status().message(), "kernel module is not available"))
      << dev.status();
  EXPECT_TRUE(absl::StrContains(dev.status().message(), "/nonexistent/wireguard-go"))
      << dev.status();
  EXPECT_FALSE(LinkExists());

  options_.backend = Backend::kUserspace;
  auto user = OpenDevice(options_);
  ASSERT_FALSE(user.ok());
  EXPECT_TRUE(absl::StrContains(user.status().message(), "/nonexistent/wireguard-go"))
      << user.status();
}

TEST_F(SelectTest, SomebodyElsesInterfaceIsLeftAlone) {
  ASSERT_TRUE(nl_->CreateVeth(options_.ifname, weft::testing::UniqueName("sp"), 1500, -1).ok());
  for (Backend b : {Backend::kAuto, Backend::kUserspace}) {
    options_.backend = b;
    auto dev = OpenDevice(options_);
    ASSERT_FALSE(dev.ok()) << BackendName(b);
    EXPECT_EQ(dev.status().code(), absl::StatusCode::kFailedPrecondition) << dev.status();
    EXPECT_TRUE(absl::StrContains(dev.status().message(), "veth")) << dev.status();
  }
  auto link = nl_->GetLink(options_.ifname);
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->kind, "veth");
  EXPECT_EQ(link->mtu, 1500);  // untouched
}

TEST_F(SelectTest, KernelBackendWhenTheModuleIsThere) {
  if (!kernel_) GTEST_SKIP() << "this kernel has no WireGuard module";
  auto dev = OpenDevice(options_);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ((*dev)->kind(), "kernel");
  auto link = nl_->GetLink(options_.ifname);
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->kind, "wireguard");
  EXPECT_EQ(link->mtu, 1400);
  EXPECT_TRUE(link->up);
  DeviceConfig config;
  config.private_key = GeneratePrivateKey();
  PeerConfig peer;
  peer.public_key = PublicKey(GeneratePrivateKey());
  peer.allowed_ips = {*net::IpPrefix::Parse("10.244.7.0/24")};
  config.peers = {peer};
  ASSERT_TRUE((*dev)->Apply(config).ok());
  auto state = (*dev)->Get();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->public_key, PublicKey(config.private_key));
  ASSERT_EQ(state->peers.size(), 1u);
  EXPECT_EQ(state->peers[0].allowed_ips, peer.allowed_ips);
}

}  // namespace
}  // namespace weft::wireguard
