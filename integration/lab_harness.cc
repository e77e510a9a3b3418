#include "integration/lab_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/lab/plan.h"
#include "common/netns/cgroup.h"
#include "common/netns/netns.h"
#include "common/netns/process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kubeprism/http_transport.h"
#include "kubeprism/kubeconfig.h"

namespace weft::integration {

using nlohmann::json;

std::string Runfile(const std::string& path) {
  return absl::StrCat(std::getenv("TEST_SRCDIR"), "/", std::getenv("TEST_WORKSPACE"), "/", path);
}

CommandResult RunCommand(std::vector<std::string> argv, absl::Duration timeout) {
  netns::SpawnOptions options;
  options.argv = std::move(argv);
  auto r = netns::RunProcess(options, "", timeout);
  CommandResult c;
  if (!r.ok()) {
    c.err = std::string(r.status().message());
    return c;
  }
  c.rc = r->exit_code;
  c.out = std::move(r->out);
  c.err = std::move(r->err);
  c.json = json::parse(c.out, nullptr, /*allow_exceptions=*/false);
  return c;
}

CommandResult RunWeft(std::vector<std::string> args) {
  args.insert(args.begin(), Runfile("agent/cli/weft"));
  return RunCommand(std::move(args));
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  for (absl::Time end = absl::Now() + timeout; absl::Now() < end;) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return done();
}

void ExpectNothingLeft(const std::string& prefix, const std::vector<std::string>& extra_dirs) {
  auto names = netns::List(prefix + "-");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ::testing::IsEmpty()) << "network namespaces of lab " << prefix;
  std::vector<std::string> dirs = {lab::kBpffsRoot};
  // The nodes' cgroups, <cgroup v2 root>/<prefix>-node<N>.
  if (auto root = cgroup::V2Root(); root.ok()) dirs.push_back(*root);
  for (const std::string& d : extra_dirs) {
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  }
  for (const std::string& dir : dirs) {
    std::vector<std::string> left;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (absl::StartsWith(it->path().filename().string(), prefix + "-")) {
        left.push_back(it->path());
      }
    }
    EXPECT_FALSE(ec) << "list " << dir << ": " << ec.message();
    EXPECT_THAT(left, ::testing::IsEmpty()) << "left in " << dir << " by lab " << prefix;
  }
}

void ExpectStopped(const lab::ProcessRecord& process) {
  auto cmdline = netns::ReadCmdline(process.pid);
  EXPECT_FALSE(netns::IsRunning(process.pid) && cmdline.ok() && *cmdline == process.cmdline)
      << "pid " << process.pid << " still runs";
}

void ExpectHealthyReport(const json& report, int nodes) {
  ASSERT_TRUE(report.is_object()) << report;
  EXPECT_EQ(report["ok"], true) << report.dump(2);
  EXPECT_EQ(report["phase"], "ready");
  ASSERT_EQ(report["nodes"].size(), static_cast<size_t>(nodes));
  for (const json& n : report["nodes"]) {
    EXPECT_EQ(n["agent"]["running"], true) << n;
    EXPECT_EQ(n["agent"]["healthy"], true) << n;
  }
  ASSERT_EQ(report["pods"].size(), 3u);
  for (const json& p : report["pods"]) {
    EXPECT_EQ(p["phase"], "Running") << p;
    EXPECT_TRUE(absl::StartsWith(p["ip"].get<std::string>(), "10.200.")) << p;
  }
  const int cells = (3 + nodes) * 4;  // (pods + nodes) x (pods + outside)
  EXPECT_EQ(report["connectivity"]["total"], cells);
  EXPECT_EQ(report["connectivity"]["passed"], cells) << report["connectivity"].dump(2);
  // The Services (backend ClusterIP, frontend NodePort): from every node and
  // one pod per node that has pods (2: pods sit on nodes 1 and 2), and the
  // NodePort from outside to every node.
  for (const json& n : report["nodes"]) {
    EXPECT_EQ(n["kubeProxyReplacement"]["state"], "True") << n;
  }
  const int service_cells = 2 * (nodes + std::min(nodes, 2)) + nodes;
  EXPECT_EQ(report["services"]["total"], service_cells);
  EXPECT_EQ(report["services"]["passed"], service_cells) << report["services"].dump(2);
}

std::unique_ptr<kubeprism::Client> AdminClient(const lab::LabState& state) {
  auto config = kubeprism::LoadKubeconfig(state.admin_kubeconfig);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  auto transport = kubeprism::HttpTransport::Create(*config);
  EXPECT_TRUE(transport.ok()) << transport.status();
  if (!transport.ok()) return nullptr;
  return std::make_unique<kubeprism::Client>(
      std::shared_ptr<kubeprism::Transport>(std::move(*transport)));
}

void KillAgent(const lab::ProcessRecord& agent) {
  auto cmdline = netns::ReadCmdline(agent.pid);
  ASSERT_TRUE(cmdline.ok() && *cmdline == agent.cmdline) << "agent pid " << agent.pid;
  ASSERT_EQ(kill(agent.pid, SIGKILL), 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        waitpid(agent.pid, nullptr, WNOHANG);  // ours when RestartAgent started it
        return !netns::IsRunning(agent.pid);
      },
      absl::Seconds(5)));
}

absl::StatusOr<pid_t> RestartAgent(const lab::NodePlan& node, const std::vector<std::string>& cmdline) {
  int log = open(node.log_path().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  netns::SpawnOptions options;
  options.argv = cmdline;
  options.netns_path = netns::PathOf(node.name);
  options.stdout_fd = log;
  options.stderr_fd = log;
  options.terminate_with_parent = true;
  auto pid = netns::Spawn(options);
  if (log >= 0) close(log);
  return pid;
}


std::unique_ptr<SuiteLab> UpSuiteLab(const std::string& tag, const std::vector<std::string>& flags) {
  auto lab = std::make_unique<SuiteLab>();
  std::string tmpl = absl::StrCat("/tmp/weft-", tag, "-t-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl << ": " << strerror(errno);
    return lab;
  }
  lab->root = tmpl;
  lab->state_dir = lab->root + "/state";
  std::vector<std::string> args = {"lab",          "up",
                                   "--state-dir",  lab->state_dir,
                                   "--agent",      Runfile("agent/daemon/weft-agent"),
                                   "--cni-plugin", Runfile("agent/cni/weft-cni"),
                                   "-o",           "json"};
  args.insert(args.end(), flags.begin(), flags.end());
  const absl::Time start = absl::Now();
  CommandResult up = RunWeft(args);
  EXPECT_EQ(up.rc, 0) << up.out << up.err;
  std::cout << "lab up " << absl::StrJoin(flags, " ") << ": " << (absl::Now() - start) << "\n";
  if (up.rc != 0) return lab;
  auto state = lab::ReadState(lab->state_dir);
  EXPECT_TRUE(state.ok()) << state.status();
  if (!state.ok()) return lab;
  lab->state = *std::move(state);
  lab->up_report = up.json;
  for (const auto& a : lab->state->agents) lab->agents[a.node] = a.process;
  return lab;
}

void DownSuiteLab(std::unique_ptr<SuiteLab> lab, const std::vector<std::string>& extra_dirs) {
  if (lab == nullptr || lab->root.empty()) return;
  for (const auto& p : lab->restarted) {
    (void)netns::Stop(p.pid, netns::ExactCmdline(p.cmdline), absl::Seconds(5));
  }
  // Whatever of the lab came up, even when `up` failed half way.
  auto state = lab::ReadState(lab->state_dir);
  CommandResult down = RunWeft({"lab", "down", "--state-dir", lab->state_dir});
  EXPECT_EQ(down.rc, 0) << down.out << down.err;
  if (state.ok()) {
    ExpectNothingLeft(state->plan.prefix, extra_dirs);
    ExpectStopped(state->controller);
    for (const auto& a : state->agents) ExpectStopped(a.process);
  }
  std::error_code ec;
  std::filesystem::remove_all(lab->root, ec);
}

absl::Status RestartSuiteAgent(SuiteLab* lab, const lab::NodePlan& node) {
  lab::ProcessRecord& a = lab->agents[node.name];
  auto pid = RestartAgent(node, a.cmdline);
  if (!pid.ok()) return pid.status();
  a.pid = *pid;
  lab->restarted.push_back(a);
  return absl::OkStatus();
}

}  // namespace weft::integration
