// CNI conformance on the real kernel: the real weft-cni binary, invoked the way
// containerd does (CNI_* environment, config on stdin, result on stdout), inside
// a "node" namespace where a node agent serves the local API.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "agent/cni/plugin.h"
#include "agent/datapath/datapath.h"
#include "common/testing/netns.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace weft::cni {
namespace {

using nlohmann::json;
using weft::testing::ScopedNetns;

std::string Runfile(const std::string& path) {
  return absl::StrCat(getenv("TEST_SRCDIR"), "/weft/", path);
}

struct CniRun {
  int rc = -1;
  json out;
  std::string raw;
};

class CniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!weft::testing::HaveRoot()) GTEST_SKIP() << "needs root for namespaces and BPF";
    weft::testing::RemoveStaleNamespaces();
    node_ = std::make_unique<ScopedNetns>("node");
    ASSERT_TRUE(node_->ok());
    // Short: a UNIX socket path may not exceed 107 bytes (TEST_TMPDIR is long).
    std::string tmpl = "/tmp/weft-t-cni-XXXXXX";
    dir_ = mkdtemp(tmpl.data());
    socket_ = dir_ + "/run/weft.sock";
    pins_ = "/sys/fs/bpf/" + weft::testing::UniqueName("weft-t");
    node_->Exec("sysctl -qw net.ipv4.ip_forward=1");
    // The node's own address (a real node has one on its NIC): the source of
    // node-to-pod traffic.
    node_->Exec("ip addr add 192.168.99.1/32 dev lo");
  }

  void TearDown() override {
    StopAgent();
    pods_.clear();
    node_.reset();
    if (!pins_.empty()) datapath::RemovePins(pins_).IgnoreError();
    if (!dir_.empty()) weft::testing::Run("rm -rf " + dir_);
  }

  void StartAgent(const std::string& cidr) {
    agent_ = fork();
    if (agent_ == 0) {
      execlp("ip", "ip", "netns", "exec", node_->name().c_str(),
             Runfile("agent/cni/testing/node_agent").c_str(), "--socket", socket_.c_str(),
             "--state-dir", dir_.c_str(), "--pin-dir", pins_.c_str(), "--pod-cidr", cidr.c_str(),
             nullptr);
      _exit(127);
    }
    for (int i = 0; i < 100 && access(socket_.c_str(), F_OK) != 0; ++i) usleep(50000);
    ASSERT_EQ(access(socket_.c_str(), F_OK), 0) << "node agent did not start";
  }

  void StopAgent() {
    if (agent_ > 0) {
      kill(agent_, SIGTERM);
      waitpid(agent_, nullptr, 0);
      agent_ = -1;
    }
  }

  ScopedNetns& NewPod() {
    pods_.push_back(std::make_unique<ScopedNetns>("pod"));
    return *pods_.back();
  }

  // Runs weft-cni in the node namespace as a runtime would.
  CniRun Cni(const std::string& command, const std::string& container, const ScopedNetns* pod,
             json conf = json(), const std::string& ifname = "eth0") {
    if (conf.is_null()) {
      conf = {{"cniVersion", "1.0.0"}, {"name", "weft"}, {"type", "weft-cni"},
              {"agentSocket", socket_}};
    }
    std::string in = dir_ + "/stdin.json";
    std::ofstream(in) << conf.dump();
    std::string env = absl::StrCat("CNI_COMMAND=", command, " CNI_CONTAINERID=", container,
                                   " CNI_IFNAME=", ifname, " CNI_PATH=/opt/cni/bin",
                                   " CNI_ARGS=\\\"K8S_POD_NAMESPACE=default;K8S_POD_NAME=", container,
                                   "\\\"");
    if (pod) absl::StrAppend(&env, " CNI_NETNS=", pod->path());
    CniRun r;
    // stdout only: the result or error JSON (stderr carries the human message).
    r.rc = node_->Exec(absl::StrCat("sh -c \"env ", env, " ", Runfile("agent/cni/weft-cni"), " < ",
                                    in, " 2>/dev/null\""),
                       &r.raw);
    if (!r.raw.empty()) r.out = json::parse(r.raw, nullptr, false);
    return r;
  }

  bool HostLinkExists(const std::string& name) {
    return node_->Exec("ip link show " + name) == 0;
  }

  std::unique_ptr<ScopedNetns> node_;
  std::vector<std::unique_ptr<ScopedNetns>> pods_;
  std::string dir_, socket_, pins_;
  pid_t agent_ = -1;
};

TEST_F(CniTest, AddGivesASpecResultAndAWorkingPod) {
  StartAgent("10.244.1.0/24");
  auto& a = NewPod();
  auto& b = NewPod();
  CniRun ra = Cni("ADD", "podA", &a);
  ASSERT_EQ(ra.rc, 0) << ra.raw;
  EXPECT_EQ(ra.out["cniVersion"], "1.0.0");
  EXPECT_EQ(ra.out["ips"][0]["address"], "10.244.1.1/32");
  EXPECT_EQ(ra.out["ips"][0]["gateway"], "169.254.1.1");
  EXPECT_EQ(ra.out["ips"][0]["interface"], 1);
  EXPECT_EQ(ra.out["interfaces"][1]["sandbox"], a.path());
  EXPECT_EQ(ra.out["interfaces"][0]["name"], HostVethName("podA", "eth0"));
  CniRun rb = Cni("ADD", "podB", &b);
  ASSERT_EQ(rb.rc, 0) << rb.raw;
  std::string out;
  EXPECT_EQ(a.Exec("ping -c 1 -W 2 10.244.1.2", &out), 0) << out;       // pod to pod
  EXPECT_EQ(node_->Exec("ping -c 1 -W 2 10.244.1.1", &out), 0) << out;  // node to pod
}

TEST_F(CniTest, CheckPassesAfterAddAndFailsWhenBroken) {
  StartAgent("10.244.1.0/24");
  auto& a = NewPod();
  CniRun add = Cni("ADD", "podA", &a);
  ASSERT_EQ(add.rc, 0) << add.raw;
  json conf = {{"cniVersion", "1.0.0"}, {"name", "weft"}, {"type", "weft-cni"},
               {"agentSocket", socket_}, {"prevResult", add.out}};
  EXPECT_EQ(Cni("CHECK", "podA", &a, conf).rc, 0);
  a.Exec("ip addr flush dev eth0");
  CniRun broken = Cni("CHECK", "podA", &a, conf);
  EXPECT_NE(broken.rc, 0);
  EXPECT_NE(broken.out["msg"].get<std::string>().find("missing in the pod"), std::string::npos);
}

TEST_F(CniTest, DelIsIdempotentAndReleases) {
  StartAgent("10.244.1.0/30");  // two addresses
  auto& a = NewPod();
  ASSERT_EQ(Cni("ADD", "podA", &a).rc, 0);
  std::string veth = HostVethName("podA", "eth0");
  ASSERT_TRUE(HostLinkExists(veth));
  EXPECT_EQ(Cni("DEL", "podA", &a).rc, 0);
  EXPECT_FALSE(HostLinkExists(veth));
  EXPECT_EQ(Cni("DEL", "podA", &a).rc, 0);
  EXPECT_EQ(Cni("DEL", "podA", nullptr).rc, 0);  // no netns: still fine
  // Both addresses are free again.
  auto& b = NewPod();
  auto& c = NewPod();
  EXPECT_EQ(Cni("ADD", "podB", &b).rc, 0);
  EXPECT_EQ(Cni("ADD", "podC", &c).rc, 0);
}

TEST_F(CniTest, AddAfterACrashReplacesLeftovers) {
  StartAgent("10.244.1.0/24");
  auto& a = NewPod();
  // A crashed ADD left the host veth behind.
  node_->Exec("ip link add " + HostVethName("podA", "eth0") + " type veth peer name leftover0");
  CniRun r = Cni("ADD", "podA", &a);
  ASSERT_EQ(r.rc, 0) << r.raw;
  EXPECT_FALSE(HostLinkExists("leftover0"));
  // The agent restarts: the same pod keeps its address on a repeated ADD.
  StopAgent();
  StartAgent("10.244.1.0/24");
  auto& b = NewPod();
  CniRun rb = Cni("ADD", "podB", &b);
  ASSERT_EQ(rb.rc, 0) << rb.raw;
  EXPECT_NE(rb.out["ips"][0]["address"], r.out["ips"][0]["address"]);
}

TEST_F(CniTest, PoolExhaustionIsASpecErrorAndLeavesNothing) {
  StartAgent("10.244.1.0/30");
  auto& a = NewPod();
  auto& b = NewPod();
  auto& c = NewPod();
  ASSERT_EQ(Cni("ADD", "podA", &a).rc, 0);
  ASSERT_EQ(Cni("ADD", "podB", &b).rc, 0);
  CniRun r = Cni("ADD", "podC", &c);
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.out["code"], 101);
  EXPECT_EQ(r.out["msg"], "no free pod address on this node");
  EXPECT_FALSE(HostLinkExists(HostVethName("podC", "eth0")));
  EXPECT_NE(c.Exec("ip link show eth0"), 0);
}

TEST_F(CniTest, AgentNotRunningIsAnActionableError) {
  auto& a = NewPod();
  CniRun r = Cni("ADD", "podA", &a);
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.out["code"], 100);
  EXPECT_NE(r.out["details"].get<std::string>().find("not answering on " + socket_), std::string::npos);
  EXPECT_NE(a.Exec("ip link show eth0"), 0);
}

TEST_F(CniTest, MalformedInputGetsSpecCodes) {
  StartAgent("10.244.1.0/24");
  auto& a = NewPod();
  CniRun bad_conf = Cni("ADD", "podA", &a, json{{"cniVersion", "1.0.0"}, {"type", "weft-cni"}});
  EXPECT_EQ(bad_conf.out["code"], 7);
  CniRun bad_version =
      Cni("ADD", "podA", &a, json{{"cniVersion", "9.9.9"}, {"name", "w"}, {"type", "weft-cni"}});
  EXPECT_EQ(bad_version.out["code"], 1);
  CniRun no_netns = Cni("ADD", "podA", nullptr);
  EXPECT_EQ(no_netns.out["code"], 4);
  CniRun good = Cni("ADD", "podA", &a);
  EXPECT_EQ(good.rc, 0) << good.raw;  // the same ADD with good input works
}

}  // namespace
}  // namespace weft::cni
