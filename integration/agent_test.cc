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
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
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
#include "kubeprism/client.h"
#include "kubeprism/http_transport.h"
#include "kubeprism/kubeconfig.h"
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

sockaddr_in Addr(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// A TCP listener created inside a namespace (the socket stays there), for a
// test that reads what it accepts (lab::LabServers only greets).
int ListenIn(const std::string& netns_name, const std::string& ip, int port) {
  int fd = -1;
  absl::Status s = netns::RunIn(netns::PathOf(netns_name), [&]() -> absl::Status {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = Addr(ip, port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 8) != 0) {
      return absl::InternalError(absl::StrCat("listen ", ip, ":", port, ": ", strerror(errno)));
    }
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return s.ok() ? fd : -1;
}

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

  std::unique_ptr<kubeprism::Client> Admin() {
    auto config = kubeprism::LoadKubeconfig(state_->admin_kubeconfig);
    EXPECT_TRUE(config.ok()) << config.status();
    auto transport = kubeprism::HttpTransport::Create(*config);
    EXPECT_TRUE(transport.ok()) << transport.status();
    return std::make_unique<kubeprism::Client>(
        std::shared_ptr<kubeprism::Transport>(std::move(*transport)));
  }

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
  int listener = ListenIn(to.netns, PodIp("backend"), 9400);
  ASSERT_GE(listener, 0);
  std::atomic<int64_t> received{0};
  std::thread reader([&] {
    int c = accept(listener, nullptr, nullptr);
    char buf[65536];
    for (ssize_t n; c >= 0 && (n = read(c, buf, sizeof(buf))) > 0;) received += n;
    if (c >= 0) close(c);
  });

  int client = -1;
  ASSERT_TRUE(netns::RunIn(netns::PathOf(from.netns), [&]() -> absl::Status {
                client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                sockaddr_in a = Addr(PodIp("backend"), 9400);
                if (connect(client, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
                  return absl::InternalError(absl::StrCat("connect: ", strerror(errno)));
                }
                return absl::OkStatus();
              }).ok());
  std::atomic<bool> stop{false};
  std::atomic<int64_t> sent{0};
  std::atomic<int> write_error{0};
  std::thread writer([&] {
    std::string chunk(16384, 'w');
    while (!stop) {
      ssize_t n = write(client, chunk.data(), chunk.size());
      if (n < 0) {
        write_error = errno;
        return;
      }
      sent += n;
      absl::SleepFor(absl::Milliseconds(2));  // a steady stream, not a flood
    }
  });
  auto flowing = [&](const char* when) {
    int64_t before = received;
    EXPECT_TRUE(WaitFor([&] { return received > before + 65536; }, absl::Seconds(5)))
        << "the stream stalled " << when;
  };
  flowing("before the kill");

  // SIGKILL both agents (checked to be the lab's, by command line).
  std::vector<lab::AgentRecord> agents = state_->agents;
  for (const auto& a : agents) {
    auto cmdline = netns::ReadCmdline(a.process.pid);
    ASSERT_TRUE(cmdline.ok() && *cmdline == a.process.cmdline) << "agent pid " << a.process.pid;
    ASSERT_EQ(kill(a.process.pid, SIGKILL), 0);
  }
  for (const auto& a : agents) {
    EXPECT_TRUE(WaitFor([&] { return !netns::IsRunning(a.process.pid); }, absl::Seconds(5)));
  }
  flowing("with no agent running");

  // Restart them as the lab started them, in their node namespaces.
  for (const auto& a : agents) {
    const lab::NodePlan* node = state_->plan.FindNode(a.node);
    ASSERT_NE(node, nullptr);
    int log = open(node->log_path().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    netns::SpawnOptions options;
    options.argv = a.process.cmdline;
    options.netns_path = netns::PathOf(node->name);
    options.stdout_fd = log;
    options.stderr_fd = log;
    auto pid = netns::Spawn(options);
    close(log);
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

  stop = true;
  writer.join();
  shutdown(client, SHUT_WR);
  EXPECT_TRUE(WaitFor([&] { return received == sent; }, absl::Seconds(5)))
      << "sent " << sent << " bytes, received " << received;
  reader.join();
  close(client);
  close(listener);
  EXPECT_EQ(write_error, 0) << strerror(write_error);
  EXPECT_GT(sent, 3 * 65536);

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
