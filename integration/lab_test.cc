// `weft lab` end to end on the real kernel: the real weft, weft-agent and
// weft-cni binaries. Each test brings a lab up in its own state folder, checks
// `weft lab status`, removes it and asserts that nothing with the lab's prefix
// is left: no network namespace, no bpffs pin, no process, no file. TearDown
// runs `weft lab down` too, so a failing test leaves nothing behind either.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/lab/state.h"
#include "common/netns/process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/lab_harness.h"
#include "kubeprism/api_errors.h"
#include "kubeprism/client.h"
#include "kubeprism/resource_types.h"
#include "nlohmann/json.hpp"

namespace weft {
namespace {

using integration::CommandResult;
using integration::ExpectHealthyReport;
using integration::ExpectNothingLeft;
using integration::ExpectStopped;
using integration::Runfile;
using integration::RunWeft;
using integration::WaitFor;
using nlohmann::json;
using ::testing::HasSubstr;

class LabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces and BPF";
    // Short: the agents' UNIX socket paths live under it (TEST_TMPDIR is too long).
    std::string tmpl = "/tmp/weft-lab-t-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    state_dir_ = root_ + "/state";
  }

  void TearDown() override {
    if (root_.empty()) return;
    RunWeft({"lab", "down", "--state-dir", state_dir_});
    for (const std::string& prefix : prefixes_) ExpectNothingLeft(prefix);
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  CommandResult Up(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"lab",          "up",
                                     "--state-dir",  state_dir_,
                                     "--agent",      Runfile("agent/daemon/weft-agent"),
                                     "--cni-plugin", Runfile("agent/cni/weft-cni"),
                                     "-o",           "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult w = RunWeft(args);
    if (auto state = lab::ReadState(state_dir_); state.ok()) {
      prefixes_.push_back(state->plan.prefix);
    }
    return w;
  }

  lab::LabState State() {
    auto state = lab::ReadState(state_dir_);
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? *state : lab::LabState();
  }

  // A report of a healthy lab (lab_harness.h), with the controller running.
  void ExpectAllGood(const json& report, int nodes) {
    ExpectHealthyReport(report, nodes);
    if (!report.is_object()) return;  // failed above
    EXPECT_EQ(report["controller"]["running"], true);
  }

  std::string root_;
  std::string state_dir_;
  std::vector<std::string> prefixes_;
};

TEST_F(LabTest, UpStatusDownLeavesNothing) {
  CommandResult up = Up();
  ASSERT_EQ(up.rc, 0) << up.out << up.err;
  ExpectAllGood(up.json, 2);
  EXPECT_THAT(up.err, HasSubstr("pod "));  // progress went to stderr

  CommandResult status = RunWeft({"lab", "status", "--state-dir", state_dir_, "-o", "json"});
  EXPECT_EQ(status.rc, 0) << status.out << status.err;
  ExpectAllGood(status.json, 2);
  CommandResult text = RunWeft({"lab", "status", "--state-dir", state_dir_});
  EXPECT_EQ(text.rc, 0);
  EXPECT_THAT(text.out, HasSubstr("result: ok (20/20 connections, 10/10 through Services)"));
  std::cout << "weft lab status:\n" << text.out;

  // The pods are what their agents think they are.
  const lab::LabState state = State();
  ASSERT_EQ(state.pods.size(), 3u);
  ASSERT_EQ(state.agents.size(), 2u);

  // One lab per state folder: a second `up` refuses and changes nothing.
  CommandResult again = Up();
  EXPECT_EQ(again.rc, 1);
  EXPECT_THAT(again.err, HasSubstr("is running in " + state_dir_));
  EXPECT_EQ(RunWeft({"lab", "status", "--state-dir", state_dir_}).rc, 0);

  CommandResult down = RunWeft({"lab", "down", "--state-dir", state_dir_});
  EXPECT_EQ(down.rc, 0) << down.err;
  // Namespace, 2 Nodes, 2 Services, their 2 EndpointSlices, 3 Pods.
  EXPECT_THAT(down.out, HasSubstr("3 pods detached (CNI DEL), 10 API objects deleted, the "
                                  "controller and 2 agents stopped"));
  EXPECT_THAT(down.out, HasSubstr("2 BPF pin folders and 2 cgroups removed"));
  ExpectNothingLeft(state.plan.prefix);
  ExpectStopped(state.controller);
  for (const lab::AgentRecord& a : state.agents) ExpectStopped(a.process);
  EXPECT_FALSE(std::filesystem::exists(state_dir_));

  CommandResult none = RunWeft({"lab", "down", "--state-dir", state_dir_});
  EXPECT_EQ(none.rc, 0);
  EXPECT_THAT(none.out, HasSubstr("no lab in " + state_dir_));
  EXPECT_EQ(RunWeft({"lab", "status", "--state-dir", state_dir_}).rc, 1);
}

TEST_F(LabTest, CrashedControllerIsCleanedByTheNextUp) {
  // Three nodes on the VXLAN overlay this time.
  CommandResult up = Up({"--nodes", "3", "--routing", "tunnel"});
  ASSERT_EQ(up.rc, 0) << up.out << up.err;
  ExpectAllGood(up.json, 3);
  EXPECT_EQ(up.json["routing"], "tunnel");
  const lab::LabState crashed = State();
  ASSERT_GT(crashed.controller.pid, 0);
  ASSERT_EQ(kill(crashed.controller.pid, SIGKILL), 0);
  WaitFor([&] { return !netns::IsRunning(crashed.controller.pid); }, absl::Seconds(5));

  CommandResult status = RunWeft({"lab", "status", "--state-dir", state_dir_, "-o", "json"});
  EXPECT_EQ(status.rc, 1);
  EXPECT_EQ(status.json["controller"]["running"], false) << status.out;
  EXPECT_EQ(status.json["ok"], false);

  CommandResult next = Up();
  ASSERT_EQ(next.rc, 0) << next.out << next.err;
  EXPECT_THAT(next.err,
              HasSubstr("removing lab " + crashed.plan.prefix + " left by a crashed run"));
  ExpectAllGood(next.json, 2);
  ExpectNothingLeft(crashed.plan.prefix);
  for (const lab::AgentRecord& a : crashed.agents) ExpectStopped(a.process);
  const lab::LabState fresh = State();
  EXPECT_NE(fresh.plan.prefix, crashed.plan.prefix);

  EXPECT_EQ(RunWeft({"lab", "down", "--state-dir", state_dir_}).rc, 0);
  ExpectNothingLeft(fresh.plan.prefix);
}

TEST_F(LabTest, ExternalApiServerThroughKubeconfig) {
  // An "existing cluster": the lab API server as its own process.
  const std::string api_dir = root_ + "/external";
  const std::string kubeconfig = api_dir + "/admin.kubeconfig";
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  netns::SpawnOptions server;
  server.argv = {Runfile("kubeprism/testing/lab-apiserver"), "--state-dir", api_dir,
                 "--admin-kubeconfig", kubeconfig};
  server.stdout_fd = out[1];
  auto pid = netns::Spawn(server);
  close(out[1]);
  ASSERT_TRUE(pid.ok()) << pid.status();
  struct StopServer {
    pid_t pid;
    std::vector<std::string> argv;
    ~StopServer() { netns::Stop(pid, netns::ExactCmdline(argv), absl::Seconds(5)).IgnoreError(); }
  } stop{*pid, server.argv};
  char line[256] = {};
  ASSERT_GT(read(out[0], line, sizeof(line) - 1), 0);  // "listening on https://..."
  close(out[0]);
  ASSERT_THAT(std::string(line), HasSubstr("listening on https://127.0.0.1:"));

  CommandResult up = Up({"--kubeconfig", kubeconfig});
  ASSERT_EQ(up.rc, 0) << up.out << up.err;
  ExpectAllGood(up.json, 2);
  EXPECT_EQ(up.json["apiMode"], "external");
  const lab::LabState state = State();

  EXPECT_EQ(state.admin_kubeconfig, kubeconfig);
  auto client = integration::AdminClient(state);
  ASSERT_NE(client, nullptr);
  auto node = client->Get(kubeprism::kNodes, "", state.plan.nodes[0].name);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)["spec"]["podCIDRs"][0], "10.200.1.0/24");
  auto pod = client->Get(kubeprism::kPods, state.plan.pod_namespace, "backend");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ((*pod)["status"]["phase"], "Running");

  ASSERT_EQ(RunWeft({"lab", "down", "--state-dir", state_dir_}).rc, 0);
  ExpectNothingLeft(state.plan.prefix);
  // The lab's objects are gone from the cluster; the user's kubeconfig is not.
  EXPECT_TRUE(kubeprism::IsNotFoundHttp(
      client->Get(kubeprism::kNodes, "", state.plan.nodes[0].name).status()));
  EXPECT_TRUE(kubeprism::IsNotFoundHttp(
      client->Get(kubeprism::kPods, state.plan.pod_namespace, "backend").status()));
  EXPECT_TRUE(std::filesystem::exists(kubeconfig));
}

}  // namespace
}  // namespace weft
