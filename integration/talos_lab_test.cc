// `weft lab up --talos` end to end: each node's weft-agent runs the way Talos runs
// it — the service container of the Weft extension image under Debian's runc,
// configured by the ExtensionServiceConfig of `talosgen credentials`, in the node's
// network namespace — against an API server that authenticates the generated client
// certificate with the secrets bundle's Kubernetes CA and authorizes it with the RBAC
// of `talosgen patch --cni weft`.
//
//   UpStatusDown             everything passes; the agents are what Talos would run;
//                            `down` leaves nothing (no container, namespace, pin,
//                            cgroup, process or file)
//   CrashedLabIsCleaned      runc and the controller SIGKILLed (the agents keep
//                            running in their containers): the next `up` kills and
//                            deletes the containers and removes the rest
//   EveryRuleIsNeeded        for each rule of the generated ClusterRole, a lab whose
//                            API server lacks just that rule: the agent visibly fails
//                            on exactly that request
//
// Root, no sandbox, owns the kernel while it runs; skips without root or runc.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "agent/lab/state.h"
#include "agent/lab/talos_node.h"
#include "common/file_util.h"
#include "common/netns/netns.h"
#include "common/netns/process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/lab_harness.h"
#include "kubeprism/testing/weft_rbac.h"
#include "nlohmann/json.hpp"

namespace weft {
namespace {

using integration::CommandResult;
using integration::ExpectHealthyReport;
using integration::ExpectNothingLeft;
using integration::RunCommand;
using integration::Runfile;
using integration::RunWeft;
using integration::WaitFor;
using kubeprism::testing::LabRule;
using nlohmann::json;
using ::testing::HasSubstr;

// The ClusterRole/ClusterRoleBinding for `rules` (one ClusterRole rule each).
std::string RbacManifest(const std::vector<LabRule>& rules) {
  std::string role =
      "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
      "metadata: {name: weft-agent}\nrules:\n";
  std::vector<std::string> subjects;
  for (const LabRule& r : rules) {
    absl::StrAppend(&role, "- {apiGroups: [\"", r.group, "\"], resources: [", r.resource,
                    "], verbs: [", r.verb, "]}\n");
    const std::string subject =
        absl::StartsWith(r.subject, "group:")
            ? absl::StrCat("{kind: Group, name: '", r.subject.substr(6), "'}")
            : absl::StrCat("{kind: User, name: '", r.subject, "'}");
    if (std::find(subjects.begin(), subjects.end(), subject) == subjects.end()) {
      subjects.push_back(subject);
    }
  }
  if (rules.empty()) absl::StrAppend(&role, "[]\n");
  return absl::StrCat(role,
                      "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
                      "metadata: {name: weft-agent}\n"
                      "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, "
                      "name: weft-agent}\nsubjects: [",
                      absl::StrJoin(subjects, ", "), "]\n");
}

std::string Refusal(const LabRule& r) {
  return absl::StrCat("forbidden: RBAC refused ", r.verb, " ", r.resource);
}

class TalosLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces, BPF and runc";
    CommandResult runc = RunCommand({"runc", "--version"});
    if (runc.rc != 0) GTEST_SKIP() << "runc cannot run here: " << runc.err;
    // Short: the agents' UNIX socket paths live under it (TEST_TMPDIR is too long).
    std::string tmpl = "/tmp/weft-talos-t-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    state_dir_ = root_ + "/state";
  }

  void TearDown() override {
    if (root_.empty()) return;
    RunWeft({"lab", "down", "--state-dir", state_dir_});
    for (const std::string& prefix : prefixes_) ExpectLabGone(prefix);
    for (int pid : container_pids_) ExpectGone(pid);
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  CommandResult Up(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"lab",
                                     "up",
                                     "--talos",
                                     "--state-dir",
                                     state_dir_,
                                     "--extension",
                                     Runfile("extension/weft-extension.oci"),
                                     "-o",
                                     "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult c = RunWeft(args);
    if (auto state = lab::ReadState(state_dir_); state.ok()) {
      prefixes_.push_back(state->plan.prefix);
    }
    return c;
  }

  lab::LabState State() {
    auto state = lab::ReadState(state_dir_);
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? *state : lab::LabState();
  }

  // The PID of a running container's process (`runc state`), 0 if none.
  int ContainerPid(const lab::LabState& state, const std::string& id) {
    CommandResult c = RunCommand({"runc", "--root", state.plan.runc_root(), "state", id});
    if (c.rc != 0 || !c.json.is_object() || c.json.value("status", "") != "running") return 0;
    const int pid = c.json.value("pid", 0);
    if (pid > 0) container_pids_.push_back(pid);
    return pid;
  }

  // A report of a healthy lab (lab_harness.h), each agent in its container.
  void ExpectAllGood(const json& report, int nodes) {
    ExpectHealthyReport(report, nodes);
    if (!report.is_object()) return;  // failed above
    EXPECT_THAT(report["talosExtension"].get<std::string>(), HasSubstr("weft-extension.oci"));
    for (const json& n : report["nodes"]) {
      EXPECT_EQ(n["agent"]["container"], absl::StrCat(n["name"].get<std::string>(), "-ext-weft"));
    }
  }

  // Nothing of the lab, not even in the cgroup v2 root (lab_harness.h).
  void ExpectLabGone(const std::string& prefix) {
    auto cgroup2 = lab::CgroupV2Mount();
    ExpectNothingLeft(
        prefix, cgroup2.ok() ? std::vector<std::string>{*cgroup2} : std::vector<std::string>{});
  }

  void ExpectGone(int pid) {
    EXPECT_TRUE(WaitFor([&] { return !netns::IsRunning(pid); }, absl::Seconds(5)))
        << "container process " << pid << " still runs";
  }

  std::string root_;
  std::string state_dir_;
  std::vector<std::string> prefixes_;
  std::vector<int> container_pids_;
};

TEST_F(TalosLabTest, UpStatusDown) {
  CommandResult up = Up();
  ASSERT_EQ(up.rc, 0) << up.out << up.err;
  ExpectAllGood(up.json, 2);
  EXPECT_THAT(up.err, HasSubstr("(generated)"));

  CommandResult status = RunWeft({"lab", "status", "--state-dir", state_dir_});
  EXPECT_EQ(status.rc, 0) << status.out << status.err;
  EXPECT_THAT(status.out, HasSubstr("result: ok (20/20 connections, 10/10 through Services)"));
  std::cout << "weft lab status (Talos mode):\n" << status.out;

  const lab::LabState state = State();
  ASSERT_TRUE(state.talos.has_value());
  ASSERT_EQ(state.talos->containers.size(), 2u);
  // The generated RBAC, as the API server enforces it: the agent's rules and the
  // built-in one for the lab's admin.
  auto rules = ReadFile(state.plan.rules_path());
  ASSERT_TRUE(rules.ok());
  EXPECT_THAT(*rules, HasSubstr("{subject: \"group:weft:agents\", verb: \"watch\", group: \"\", "
                                "resource: \"nodes\"}"));
  EXPECT_THAT(*rules, HasSubstr("group:system:masters"));

  for (const lab::NodePlan& node : state.plan.nodes) {
    SCOPED_TRACE(node.name);
    const int pid = ContainerPid(state, node.name + "-ext-weft");
    ASSERT_GT(pid, 0);
    // The service's entrypoint and args, from the extension's rootfs...
    auto cmdline = netns::ReadCmdline(pid);
    ASSERT_TRUE(cmdline.ok());
    EXPECT_EQ(*cmdline, (std::vector<std::string>{"/usr/local/bin/weft-agent", "--config",
                                                  "/etc/weft/agent.yaml"}));
    auto exe = ReadFile(absl::StrCat("/proc/", pid, "/root/usr/local/bin/weft-agent"));
    auto ours = ReadFile(state.plan.extension_dir() +
                         "/rootfs/usr/local/lib/containers/weft/usr/local/bin/weft-agent");
    ASSERT_TRUE(exe.ok() && ours.ok());
    EXPECT_TRUE(*exe == *ours) << "the container runs the extension's weft-agent";
    // ... in the node's network namespace, with no new privileges.
    struct stat ns_of_pid {
    }, ns_of_node{};
    ASSERT_EQ(stat(absl::StrCat("/proc/", pid, "/ns/net").c_str(), &ns_of_pid), 0);
    ASSERT_EQ(stat(netns::PathOf(node.name).c_str(), &ns_of_node), 0);
    EXPECT_EQ(ns_of_pid.st_ino, ns_of_node.st_ino);
    auto proc_status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
    ASSERT_TRUE(proc_status.ok());
    EXPECT_THAT(*proc_status, HasSubstr("NoNewPrivs:\t1"));
    // The ExtensionServiceConfig's files, read-only where Talos mounts them.
    auto agent_yaml = ReadFile(absl::StrCat("/proc/", pid, "/root/etc/weft/agent.yaml"));
    ASSERT_TRUE(agent_yaml.ok());
    EXPECT_THAT(*agent_yaml, HasSubstr("nodeName: " + node.name));
    EXPECT_THAT(*agent_yaml, HasSubstr("generated by `talosgen credentials`"));
    // bpffs: the node's pin folder is the container's /sys/fs/bpf; the agent pins
    // under its default bpffsDir /sys/fs/bpf/weft.
    EXPECT_TRUE(std::filesystem::exists(node.pin_dir + "/weft/weft_endpoints_v1"));
    // cgroup v2: the node's own folder is the container's /sys/fs/cgroup, where
    // the agent's default cgroupPath puts its socket programs.
    EXPECT_TRUE(std::filesystem::is_directory(node.cgroup)) << node.cgroup;
    // The agent installed the plugin through the /opt/cni/bin mount.
    EXPECT_EQ(access((node.cni_bin_dir() + "/weft-cni").c_str(), X_OK), 0);
    // It needed nothing the RBAC does not grant.
    auto log = ReadFile(node.log_path());
    ASSERT_TRUE(log.ok());
    EXPECT_THAT(*log, ::testing::Not(HasSubstr("forbidden")));
  }

  CommandResult down = RunWeft({"lab", "down", "--state-dir", state_dir_});
  EXPECT_EQ(down.rc, 0) << down.err;
  // Namespace, 2 Nodes, 2 Services, their 2 EndpointSlices, 3 Pods.
  EXPECT_THAT(down.out, HasSubstr("3 pods detached (CNI DEL), 10 API objects deleted, the "
                                  "controller and 2 agents stopped"));
  ExpectLabGone(state.plan.prefix);
  for (int pid : container_pids_) ExpectGone(pid);
  EXPECT_FALSE(std::filesystem::exists(state_dir_));
}

TEST_F(TalosLabTest, CrashedLabIsCleanedByTheNextUp) {
  CommandResult up = Up({"--routing", "tunnel"});
  ASSERT_EQ(up.rc, 0) << up.out << up.err;
  ExpectAllGood(up.json, 2);
  const lab::LabState crashed = State();
  std::vector<int> agents;
  for (const lab::NodePlan& node : crashed.plan.nodes) {
    agents.push_back(ContainerPid(crashed, node.name + "-ext-weft"));
    ASSERT_GT(agents.back(), 0);
  }
  // runc first (its containers keep running without it), then the controller.
  for (const lab::AgentRecord& a : crashed.agents) ASSERT_EQ(kill(a.process.pid, SIGKILL), 0);
  ASSERT_EQ(kill(crashed.controller.pid, SIGKILL), 0);
  WaitFor([&] { return !netns::IsRunning(crashed.controller.pid); }, absl::Seconds(5));
  for (int pid : agents) EXPECT_TRUE(netns::IsRunning(pid)) << "agent " << pid;
  auto listed = lab::RuncList(lab::Runc{"runc", crashed.plan.runc_root()});
  EXPECT_THAT(listed.value_or(std::vector<std::string>{}),
              ::testing::Contains(crashed.plan.nodes[0].name + "-ext-weft"))
      << listed.status();

  CommandResult next = Up();
  ASSERT_EQ(next.rc, 0) << next.out << next.err;
  EXPECT_THAT(next.err,
              HasSubstr("removing lab " + crashed.plan.prefix + " left by a crashed run"));
  EXPECT_THAT(next.err, HasSubstr("2 runc containers"));
  ExpectAllGood(next.json, 2);
  ExpectLabGone(crashed.plan.prefix);
  for (int pid : agents) ExpectGone(pid);

  EXPECT_EQ(RunWeft({"lab", "down", "--state-dir", state_dir_}).rc, 0);
}

// "The agent has no permission it does not use": for each rule of the ClusterRole
// that `talosgen patch --cni weft` generates, a lab whose API server enforces the
// RBAC without just that rule. The agent must fail on exactly that request, visibly:
// its log (the informer failing with 403) and, where the request matters at once,
// its status or the pods.
TEST_F(TalosLabTest, EveryRuleIsNeeded) {
  CommandResult patch = RunCommand({Runfile("generator/talosgen"), "patch", "--cni", "weft"});
  ASSERT_EQ(patch.rc, 0) << patch.err;
  auto generated = kubeprism::testing::LabRulesFromFile(patch.out);
  ASSERT_TRUE(generated.ok()) << generated.status();
  ASSERT_FALSE(generated->empty());

  std::vector<std::string> summary;
  for (size_t i = 0; i < generated->size(); ++i) {
    const LabRule removed = (*generated)[i];
    SCOPED_TRACE(Refusal(removed));
    std::vector<LabRule> fewer = *generated;
    fewer.erase(fewer.begin() + static_cast<long>(i));
    const std::string manifest = RbacManifest(fewer);
    auto back = kubeprism::testing::LabRulesFromFile(manifest);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->size(), fewer.size());
    const std::string rbac = absl::StrCat(root_, "/rbac-", i, ".yaml");
    ASSERT_TRUE(WriteFileAtomically(rbac, manifest, 0600).ok());

    CommandResult up = Up({"--rbac", rbac, "--agent-timeout", "20", "--wait", "5"});
    std::string evidence = up.err;  // a failed start-up quotes the agent's log
    std::vector<std::string> effects;
    if (up.rc != 0 && !up.json.is_object()) effects.push_back("the lab did not come up (no pods)");
    if (up.json.is_object()) {
      CommandResult status = RunWeft({"lab", "status", "--state-dir", state_dir_, "-o", "json"});
      for (const json& n : status.json.value("nodes", json::array())) {
        if (n["agent"]["healthy"] != true) {
          effects.push_back(absl::StrCat("agent on ", n["name"].get<std::string>(), " unhealthy"));
        }
        evidence += n["agent"].dump();
      }
      for (const lab::NodePlan& node : State().plan.nodes) {
        evidence += ReadFile(node.log_path()).value_or("");
      }
      if (status.json.value("ok", false) == false) effects.push_back("`weft lab status` fails");
    }
    const bool refused = absl::StrContains(evidence, Refusal(removed));
    if (refused) effects.push_back("the agent reports the 403 for it");
    EXPECT_TRUE(refused) << "nothing shows that the agent needs " << removed.verb << " "
                         << removed.resource << "\n"
                         << up.out << up.err;
    // And it is refused nothing else.
    for (const LabRule& kept : fewer) {
      EXPECT_FALSE(absl::StrContains(evidence, Refusal(kept))) << Refusal(kept);
    }
    summary.push_back(absl::StrCat("  without ", removed.verb, " ", removed.resource, ": ",
                                   absl::StrJoin(effects, "; ")));
    RunWeft({"lab", "down", "--state-dir", state_dir_});
  }
  std::cout << "removing one rule of the generated ClusterRole:\n"
            << absl::StrJoin(summary, "\n") << "\n";
}

}  // namespace
}  // namespace weft
