// weft-agent on a real lab (`weft lab up`: real agents, real CNI, real kernel):
// what the lab's connectivity matrix does not show by itself.
//   - pods reach node addresses (their own node and another), nodes reach pods;
//   - a Node removed from the API takes its route with it on every other node,
//     and the route comes back with the Node;
//   - SIGKILL of the agents during a long TCP stream between pods on two nodes,
//     then a restart: the stream never stops and loses no byte, and the
//     restarted agents come back healthy with the same endpoints;
//   - a Pod deleted from the API without CNI DEL (a runtime that crashed) has
//     its address and host interface reclaimed by its node's agent.
// One lab for the whole suite (bringing one up takes seconds); every test
// leaves it as it found it, and its `lab down` leaves nothing with the lab's
// prefix. Root, no sandbox, owns the kernel while it runs.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/lab/probe.h"
#include "agent/lab/servers.h"
#include "agent/lab/state.h"
#include "agent/netlink/netlink.h"
#include "common/netns/netns.h"
#include "common/netns/process.h"
#include "gtest/gtest.h"
#include "integration/lab_harness.h"
#include "integration/lab_sockets.h"
#include "kubeprism/client.h"
#include "kubeprism/resource_types.h"
#include "nlohmann/json.hpp"

namespace weft {
namespace {

using integration::CommandResult;
using integration::ExpectNothingLeft;
using integration::ExpectStopped;
using integration::Runfile;
using integration::RunWeft;
using integration::WaitFor;
using nlohmann::json;

class AgentOnLabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    std::string tmpl = "/tmp/weft-agent-t-XXXXXX";  // short: agent socket paths live below
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = new std::string(tmpl);
    state_dir_ = new std::string(*root_ + "/state");
    CommandResult up = RunWeft({"lab", "up", "--state-dir", *state_dir_, "--agent",
                                Runfile("agent/daemon/weft-agent"), "--cni-plugin",
                                Runfile("agent/cni/weft-cni")});
    ASSERT_EQ(up.rc, 0) << up.out << up.err;
    auto state = lab::ReadState(*state_dir_);
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = new lab::LabState(*state);
  }

  static void TearDownTestSuite() {
    if (root_ == nullptr) return;
    for (auto& [pid, cmdline] : restarted_) {
      (void)netns::Stop(pid, netns::ExactCmdline(cmdline), absl::Seconds(5));
    }
    // Whatever of the lab came up, even when SetUpTestSuite failed half way.
    auto state = lab::ReadState(*state_dir_);
    CommandResult down = RunWeft({"lab", "down", "--state-dir", *state_dir_});
    EXPECT_EQ(down.rc, 0) << down.err;
    if (state.ok()) {
      ExpectNothingLeft(state->plan.prefix);
      ExpectStopped(state->controller);
    }
    std::error_code ec;
    std::filesystem::remove_all(*root_, ec);
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces and BPF";
    ASSERT_NE(state_, nullptr) << "the lab did not come up";
  }

  const lab::NodePlan& Node(int i) { return state_->plan.nodes[i]; }
  const lab::PodPlan& Pod(const std::string& name) {
    return *state_->plan.FindPod(state_->plan.pod_namespace + "/" + name);
  }
  std::string PodIp(const std::string& name) { return state_->FindPod(Pod(name).key())->ip; }
  // A pod's server, as the lab's probes reach it.
  lab::ProbeTarget Target(const std::string& pod) {
    return {PodIp(pod), Pod(pod).port, Pod(pod).greeting()};
  }

  std::unique_ptr<kubeprism::Client> Admin() { return integration::AdminClient(*state_); }


  // Weft's routes to other nodes in a node's namespace, as "dst via gw".
  std::vector<std::string> WeftRoutes(const lab::NodePlan& node) {
    auto nl = netlink::Netlink::OpenInNamespace(netns::PathOf(node.name));
    EXPECT_TRUE(nl.ok()) << nl.status();
    if (!nl.ok()) return {};
    auto routes = (*nl)->ListRoutes(netlink::kWeftRouteProtocol);
    std::vector<std::string> out;
    if (routes.ok()) {
      for (const auto& r : *routes) {
        if (!r.gateway) continue;  // the pods' own /32 routes (also Weft's)
        out.push_back(absl::StrCat(r.dst.ToString(), " via ", r.gateway->ToString()));
      }
    }
    return out;
  }

  bool Healthy(const lab::NodePlan& node) {
    CommandResult r = RunWeft({"status", "--socket", node.socket_path(), "-o", "json"});
    return r.rc == 0;
  }

  static std::string* root_;
  static std::string* state_dir_;
  static lab::LabState* state_;
  static std::vector<std::pair<pid_t, std::vector<std::string>>> restarted_;
};

std::string* AgentOnLabTest::root_ = nullptr;
std::string* AgentOnLabTest::state_dir_ = nullptr;
lab::LabState* AgentOnLabTest::state_ = nullptr;
std::vector<std::pair<pid_t, std::vector<std::string>>> AgentOnLabTest::restarted_;

TEST_F(AgentOnLabTest, PodsReachNodeAddressesAndNodesReachPods) {
  const lab::NodePlan& n1 = Node(0);
  const lab::NodePlan& n2 = Node(1);
  auto servers = lab::LabServers::Start();
  ASSERT_TRUE(servers.ok()) << servers.status();
  absl::Status on_n1 =
      (*servers)->AddGreeter(netns::PathOf(n1.name), n1.internal_ip.ToString(), 9301, "node1\n");
  ASSERT_TRUE(on_n1.ok()) << on_n1;
  absl::Status on_n2 =
      (*servers)->AddGreeter(netns::PathOf(n2.name), n2.internal_ip.ToString(), 9302, "node2\n");
  ASSERT_TRUE(on_n2.ok()) << on_n2;
  const std::string frontend = netns::PathOf(Pod("frontend").netns);  // on node 1
  const std::string backend = netns::PathOf(Pod("backend").netns);    // on node 2
  const absl::Duration t = absl::Seconds(3);
  EXPECT_TRUE(lab::ProbeTcp(frontend, {n1.internal_ip.ToString(), 9301, "node1\n"}, t).ok())
      << "pod -> its own node";
  EXPECT_TRUE(lab::ProbeTcp(frontend, {n2.internal_ip.ToString(), 9302, "node2\n"}, t).ok())
      << "pod -> another node";
  EXPECT_TRUE(lab::ProbeTcp(backend, {n1.internal_ip.ToString(), 9301, "node1\n"}, t).ok())
      << "pod -> another node (other direction)";
  EXPECT_TRUE(lab::ProbeTcp(netns::PathOf(n1.name), Target("backend"), t).ok())
      << "node -> pod on another node";
  EXPECT_TRUE(lab::ProbeTcp(netns::PathOf(n2.name), Target("backend"), t).ok())
      << "node -> pod on the same node";
  // The check can fail: nothing listens on this port.
  EXPECT_FALSE(lab::ProbeTcp(frontend, {n2.internal_ip.ToString(), 9303, "x\n"}, t).ok());
}

TEST_F(AgentOnLabTest, RoutesFollowNodesLeavingAndJoining) {
  const lab::NodePlan& n1 = Node(0);
  const lab::NodePlan& n2 = Node(1);
  const std::string route =
      absl::StrCat(n2.pod_cidr.ToString(), " via ", n2.internal_ip.ToString());
  ASSERT_EQ(WeftRoutes(n1), std::vector<std::string>{route});

  auto admin = Admin();
  auto node = admin->Get(kubeprism::kNodes, "", n2.name);
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_TRUE(admin->Delete(kubeprism::kNodes, "", n2.name).ok());
  EXPECT_TRUE(WaitFor([&] { return WeftRoutes(n1).empty(); }, absl::Seconds(10)))
      << "the route to the removed node stayed";
  EXPECT_FALSE(
      lab::ProbeTcp(netns::PathOf(Pod("frontend").netns), Target("backend"), absl::Seconds(1)).ok())
      << "pods of a node that left are still reachable: the check below proves nothing";

  json back = *node;
  back["metadata"].erase("resourceVersion");
  back["metadata"].erase("uid");
  back["metadata"].erase("creationTimestamp");
  ASSERT_TRUE(admin->Create(kubeprism::kNodes, "", back).ok());
  EXPECT_TRUE(
      WaitFor([&] { return WeftRoutes(n1) == std::vector<std::string>{route}; }, absl::Seconds(10)))
      << "the route did not come back with the node";
  EXPECT_TRUE(
      lab::ProbeTcp(netns::PathOf(Pod("frontend").netns), Target("backend"), absl::Seconds(3))
          .ok());
}

TEST_F(AgentOnLabTest, StreamSurvivesAgentsKilledAndRestarted) {
  const lab::PodPlan& from = Pod("frontend");  // node 1
  const lab::PodPlan& to = Pod("backend");     // node 2
  auto stream = integration::TcpStream::Start(from.netns, to.netns, PodIp("backend"), 9400);
  ASSERT_TRUE(stream.ok()) << stream.status();
  auto flowing = [&](const char* when) {
    EXPECT_TRUE((*stream)->Flowing(absl::Seconds(5))) << "the stream stalled " << when;
  };
  flowing("before the kill");

  // SIGKILL both agents (checked to be the lab's, by command line), then
  // restart them as the lab started them, in their node namespaces.
  std::vector<lab::AgentRecord> agents = state_->agents;
  for (const auto& a : agents) integration::KillAgent(a.process);
  flowing("with no agent running");
  for (const auto& a : agents) {
    const lab::NodePlan* node = state_->plan.FindNode(a.node);
    ASSERT_NE(node, nullptr);
    auto pid = integration::RestartAgent(*node, a.process.cmdline);
    ASSERT_TRUE(pid.ok()) << pid.status();
    restarted_.push_back({*pid, a.process.cmdline});
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(WaitFor([&] { return Healthy(Node(i)); }, absl::Seconds(20)))
        << Node(i).name << " did not come back healthy";
  }
  flowing("after the restart");

  // The restarted agents know the same endpoints (state restored, nothing leaked).
  CommandResult list =
      RunWeft({"endpoint", "list", "--socket", Node(1).socket_path(), "-o", "json"});
  ASSERT_EQ(list.rc, 0) << list.err;
  json eps = list.json["endpoints"];
  ASSERT_EQ(eps.size(), 2u) << list.out;  // backend and redis

  integration::TcpStream::Totals totals = (*stream)->Finish();
  EXPECT_EQ(totals.write_errno, 0) << strerror(totals.write_errno);
  EXPECT_EQ(totals.read_errno, 0) << strerror(totals.read_errno);
  EXPECT_TRUE(totals.end_of_file);
  EXPECT_EQ(totals.received, totals.sent);
  EXPECT_GT(totals.sent, 3 * 65536);

  // New connections work too, across nodes and on one node.
  const absl::Duration t = absl::Seconds(3);
  EXPECT_TRUE(lab::ProbeTcp(netns::PathOf(from.netns), Target("redis"), t).ok());
  EXPECT_TRUE(lab::ProbeTcp(netns::PathOf(to.netns), Target("redis"), t).ok());
}

// Last: it takes redis away from the lab.
TEST_F(AgentOnLabTest, PodGoneWithoutCniDelIsReclaimed) {
  const lab::NodePlan& n2 = Node(1);
  auto endpoints = [&] {
    CommandResult r = RunWeft({"endpoint", "list", "--socket", n2.socket_path(), "-o", "json"});
    std::vector<std::string> pods;
    if (r.json.is_object()) {
      for (const json& e : r.json["endpoints"]) pods.push_back(e["podName"].get<std::string>());
    }
    std::sort(pods.begin(), pods.end());
    return pods;
  };
  ASSERT_EQ(endpoints(), (std::vector<std::string>{"backend", "redis"}));
  auto host_links = [&] {
    auto nl = netlink::Netlink::OpenInNamespace(netns::PathOf(n2.name));
    EXPECT_TRUE(nl.ok()) << nl.status();
    if (!nl.ok()) return -1;
    auto links = (*nl)->ListLinks();
    EXPECT_TRUE(links.ok()) << links.status();
    if (!links.ok()) return -1;
    int veths = 0;
    for (const auto& l : *links) veths += absl::StartsWith(l.name, "lxc") ? 1 : 0;
    return veths;
  };
  ASSERT_EQ(host_links(), 2);

  auto admin = Admin();
  ASSERT_TRUE(admin->Delete(kubeprism::kPods, state_->plan.pod_namespace, "redis").ok());
  EXPECT_TRUE(WaitFor([&] { return endpoints() == std::vector<std::string>{"backend"}; },
                      absl::Seconds(30)))
      << "redis's endpoint was not reclaimed";
  EXPECT_EQ(host_links(), 1) << "redis's host veth is still there";
  // The pod that still exists kept its endpoint and its traffic.
  EXPECT_TRUE(
      lab::ProbeTcp(netns::PathOf(Pod("frontend").netns), Target("backend"), absl::Seconds(3))
          .ok());
}

}  // namespace
}  // namespace weft
