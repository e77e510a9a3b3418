// What the lab end-to-end tests (lab_test, talos_lab_test, agent_test) share:
// their runfiles, running the weft CLI and other commands, polling, and the
// checks that a lab left nothing behind and that a report is a healthy lab's.
// Test-only: the checks are gtest expectations.
#ifndef WEFT_INTEGRATION_LAB_HARNESS_H_
#define WEFT_INTEGRATION_LAB_HARNESS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/lab/plan.h"
#include "agent/lab/state.h"
#include "kubeprism/client.h"
#include "nlohmann/json.hpp"

namespace weft::integration {

// The path of a `data` dependency of the test, from its workspace-relative path
// ("agent/cli/weft").
std::string Runfile(const std::string& path);

struct CommandResult {
  int rc = -1;  // -1: it could not be run or timed out (err says why)
  std::string out;
  std::string err;
  nlohmann::json json;  // `out` parsed; discarded (is_discarded()) when not JSON
};

// Runs `argv` to completion with its output captured; killed after `timeout`.
CommandResult RunCommand(std::vector<std::string> argv, absl::Duration timeout = absl::Minutes(4));
// The weft CLI of the runfiles with `args`.
CommandResult RunWeft(std::vector<std::string> args);

// Polls `done` every 50 ms for up to `timeout`; its last answer.
bool WaitFor(const std::function<bool()>& done, absl::Duration timeout);

// Nothing of lab `prefix` is left: no network namespace, no bpffs pin and no
// cgroup (in the cgroup v2 root) named "<prefix>-...", nor any such entry in
// `extra_dirs`.
void ExpectNothingLeft(const std::string& prefix, const std::vector<std::string>& extra_dirs = {});

// The process the lab recorded no longer runs (or its PID is somebody else's).
void ExpectStopped(const lab::ProcessRecord& process);

// A client of the lab's API server with the admin credentials the lab wrote.
std::unique_ptr<kubeprism::Client> AdminClient(const lab::LabState& state);

// SIGKILL of an agent, only while its command line is still the recorded one
// (expectations fail otherwise); waits up to 5 s for it to be gone, reaping it
// when this process started it (RestartAgent).
void KillAgent(const lab::ProcessRecord& agent);

// Starts an agent again as the lab started it on `node`: `cmdline` in the
// node's namespace, output appended to the node's agent log, terminated when
// the test's thread exits (a crashed test leaves no agent behind).
absl::StatusOr<pid_t> RestartAgent(const lab::NodePlan& node, const std::vector<std::string>& cmdline);

// A lab for one test suite: `weft lab up` in a fresh folder under /tmp (short:
// agent socket paths live below), with the real weft-agent and weft-cni of
// the runfiles.
struct SuiteLab {
  std::string root;       // the folder; removed by DownSuiteLab
  std::string state_dir;  // root + "/state"
  std::optional<lab::LabState> state;  // unset when `lab up` failed
  nlohmann::json up_report;            // `weft lab up -o json`
  std::map<std::string, lab::ProcessRecord> agents;  // node -> its agent now
  std::vector<lab::ProcessRecord> restarted;          // by the tests, stopped at the end
};
// Brings the lab up with `flags` (a failure is a test failure: `state` stays
// unset). `tag` names the folder: /tmp/weft-<tag>-t-XXXXXX.
std::unique_ptr<SuiteLab> UpSuiteLab(const std::string& tag, const std::vector<std::string>& flags);
// Stops the agents the tests restarted, runs `weft lab down` (also after a
// failed up), expects nothing of the lab left (nor in `extra_dirs`) and its
// processes stopped, and removes the folder.
void DownSuiteLab(std::unique_ptr<SuiteLab> lab, const std::vector<std::string>& extra_dirs = {});
// Starts node's agent again as the lab started it (RestartAgent), recorded in
// `lab` as the node's agent and as one to stop at the end.
absl::Status RestartSuiteAgent(SuiteLab* lab, const lab::NodePlan& node);

// The JSON report (`weft lab up|status -o json`) of a healthy lab of `nodes`
// nodes and the three sample pods: ok and ready, every node's agent running and
// healthy, every pod Running with an address in the pod CIDRs (10.200.0.0/16),
// every cell of the matrix ((pods + nodes) x (pods + outside)) passing.
void ExpectHealthyReport(const nlohmann::json& report, int nodes);

}  // namespace weft::integration

#endif  // WEFT_INTEGRATION_LAB_HARNESS_H_
