#include "agent/cli/lab_command.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cxxopts.hpp>
#include <exception>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "agent/cli/command.h"
#include "agent/lab/controller.h"
#include "agent/lab/lab.h"
#include "agent/lab/plan.h"
#include "common/file_util.h"

namespace weft::cli {
namespace {

// Parses `args` with `options`; returns an exit code when the command is done
// (help printed or a usage error).
std::optional<int> Parse(cxxopts::Options& options, const std::vector<std::string>& args,
                         std::ostream& out, std::ostream& err,
                         std::optional<cxxopts::ParseResult>* parsed) {
  const std::string name = options.program();
  std::vector<std::string> storage = {name};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const std::string& s : storage) argv.push_back(s.c_str());
  try {
    *parsed = options.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const std::exception& e) {
    err << name << ": " << e.what() << "\n";
    return kExitUsage;
  }
  if ((*parsed)->count("help")) {
    out << options.help();
    return kExitOk;
  }
  if (!(*parsed)->unmatched().empty()) {
    err << name << ": unexpected argument \"" << (*parsed)->unmatched()[0] << "\"\n";
    return kExitUsage;
  }
  return std::nullopt;
}

// Namespaces and BPF need root; say so before anything else fails obscurely.
bool CheckRoot(const std::string& name, std::ostream& err) {
  if (geteuid() == 0) return true;
  err << name << ": needs root (it creates network namespaces and loads BPF programs)\n";
  return false;
}

// A binary shipped with weft: next to it (an install), else where Bazel puts
// it relative to weft (bazel-bin/agent/cli/weft -> bazel-bin/<package>/<name>).
std::string Companion(const std::string& name, const std::string& bazel_package) {
  for (const std::string& candidate :
       {BesideSelf(name), BesideSelf(absl::StrCat("../../", bazel_package, "/", name))}) {
    if (access(candidate.c_str(), X_OK) == 0) {
      return std::filesystem::path(candidate).lexically_normal().string();
    }
  }
  return BesideSelf(name);  // reported as missing by `lab up`
}

// The Weft extension image (OCI layout): next to weft, else where Bazel puts it
// (bazel-bin/extension/weft-extension.oci).
std::string ExtensionImage() {
  for (const std::string& candidate :
       {BesideSelf("weft-extension.oci"), BesideSelf("../../extension/weft-extension.oci")}) {
    if (access(candidate.c_str(), R_OK) == 0) {
      return std::filesystem::path(candidate).lexically_normal().string();
    }
  }
  return "";  // reported as missing by `lab up --talos`
}

bool OutputFlag(const cxxopts::ParseResult& flags, const std::string& name, std::ostream& err,
                bool* json) {
  const std::string output = flags["output"].as<std::string>();
  if (output != "text" && output != "json") {
    err << name << ": -o must be text or json, not \"" << output << "\"\n";
    return false;
  }
  *json = output == "json";
  return true;
}

}  // namespace

int LabUpCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const std::string agent_default = Companion("weft-agent", "agent/daemon");
  const std::string cni_default = Companion("weft-cni", "agent/cni");
  cxxopts::Options options(
      "weft lab up",
      "Starts a multi-node Weft cluster on this machine: one network namespace per node on a\n"
      "shared bridge, a real weft-agent in each (native routing or a VXLAN tunnel), an API server "
      "(the embedded lab server, or\n"
      "an existing one with --kubeconfig), and a sample workload (frontend, backend, redis)\n"
      "created as a kubelet would (Pod object, network namespace, CNI ADD). A lab left by a\n"
      "crashed run is removed first. Prints `weft lab status` at the end.\n"
      "With --talos each agent runs the way Talos runs it: the Weft extension's service\n"
      "container (runc, the extension image's rootfs and weft.yaml), configured by the\n"
      "ExtensionServiceConfig of `talosgen credentials`, against an API server that trusts\n"
      "the secrets bundle's Kubernetes CA and enforces the RBAC of `talosgen patch --cni weft`.\n"
      "Exit codes: 0 up and every connection passes, 1 failed (nothing left behind) or up\n"
      "but failing (left up for inspection), 2 usage.");
  // clang-format off
  options.add_options()
      ("nodes", "number of nodes", cxxopts::value<int>()->default_value("2"))
      ("kubeconfig", "use this cluster's API server instead of the embedded one",
       cxxopts::value<std::string>()->default_value(""))
      ("state-dir", "where the lab keeps its state, logs and credentials",
       cxxopts::value<std::string>()->default_value(lab::kDefaultStateDir))
      ("routing", "native (routes between nodes) or tunnel (VXLAN overlay)",
       cxxopts::value<std::string>()->default_value("native"))
      ("encryption", "none or wireguard (pod traffic between nodes through wireguard-go)",
       cxxopts::value<std::string>()->default_value("none"))
      ("encryption-strict", "with --encryption: drop pod traffic between nodes that is not encrypted")
      ("agent", "the weft-agent binary",
       cxxopts::value<std::string>()->default_value(agent_default))
      ("cni-plugin", "the weft-cni binary the agents install",
       cxxopts::value<std::string>()->default_value(cni_default))
      ("wait", "seconds to wait for every connection to pass after start-up",
       cxxopts::value<int>()->default_value("30"))
      ("agent-timeout", "seconds to wait for every agent's CNI configuration",
       cxxopts::value<int>()->default_value("90"))
      ("talos", "Talos mode: agents as the extension's service containers under runc")
      ("extension", "Talos mode: the extension image (OCI layout folder or oci-archive)",
       cxxopts::value<std::string>()->default_value(ExtensionImage()))
      ("secrets", "Talos mode: a `talosctl gen secrets` bundle (default: generate one)",
       cxxopts::value<std::string>()->default_value(""))
      ("rbac", "Talos mode: RBAC manifests or a Talos patch the API server enforces "
       "(default: `talosgen patch --cni weft`)",
       cxxopts::value<std::string>()->default_value(""))
      ("runc", "Talos mode: the runc binary", cxxopts::value<std::string>()->default_value("runc"))
      ("o,output", "final report as text or json",
       cxxopts::value<std::string>()->default_value("text"))
      ("h,help", "show this help");
  // clang-format on
  std::optional<cxxopts::ParseResult> parsed;
  if (auto done = Parse(options, args, out, err, &parsed)) return *done;
  const cxxopts::ParseResult& flags = *parsed;
  bool json = false;
  if (!OutputFlag(flags, "weft lab up", err, &json)) return kExitUsage;
  lab::UpOptions up;
  up.nodes = flags["nodes"].as<int>();
  if (up.nodes < 1 || up.nodes > lab::kMaxNodes) {
    err << "weft lab up: --nodes must be between 1 and " << lab::kMaxNodes << "\n";
    return kExitUsage;
  }
  up.routing = flags["routing"].as<std::string>();
  if (up.routing != "native" && up.routing != "tunnel") {
    err << "weft lab up: --routing must be native or tunnel, not \"" << up.routing << "\"\n";
    return kExitUsage;
  }
  up.encryption = flags["encryption"].as<std::string>();
  if (up.encryption != "none" && up.encryption != "wireguard") {
    err << "weft lab up: --encryption must be none or wireguard, not \"" << up.encryption << "\"\n";
    return kExitUsage;
  }
  up.encryption_strict = flags.count("encryption-strict") > 0;
  if (up.encryption_strict && up.encryption == "none") {
    err << "weft lab up: --encryption-strict needs --encryption wireguard\n";
    return kExitUsage;
  }
  up.kubeconfig = flags["kubeconfig"].as<std::string>();
  up.state_dir = flags["state-dir"].as<std::string>();
  up.agent_binary = flags["agent"].as<std::string>();
  up.cni_plugin = flags["cni-plugin"].as<std::string>();
  up.weft_binary = SelfExecutable();
  up.settle_timeout = absl::Seconds(std::max(0, flags["wait"].as<int>()));
  up.agent_timeout = absl::Seconds(std::max(1, flags["agent-timeout"].as<int>()));
  up.talos = flags.count("talos") > 0;
  up.extension_image = flags["extension"].as<std::string>();
  up.secrets = flags["secrets"].as<std::string>();
  up.rbac = flags["rbac"].as<std::string>();
  up.runc = flags["runc"].as<std::string>();
  if (up.talos && up.encryption != "none") {
    // Talos kernels have WireGuard built in; this machine's kernel does not,
    // and the extension image carries no wireguard-go.
    err << "weft lab up: --encryption needs the kernel's WireGuard in Talos mode; use it without "
           "--talos (wireguard-go)\n";
    return kExitUsage;
  }
  if (!up.talos && (!up.secrets.empty() || !up.rbac.empty())) {
    err << "weft lab up: --secrets and --rbac need --talos\n";
    return kExitUsage;
  }
  if (!CheckRoot("weft lab up", err)) return kExitFailure;

  auto report = lab::Up(up, err);
  if (!report.ok()) {
    err << "weft lab up: " << report.status().message() << "\n";
    return kExitFailure;
  }
  out << (json ? lab::ReportJson(*report) : lab::RenderReport(*report));
  if (!report->ok()) {
    err << "weft lab up: the lab is up but not everything works; it stays up for inspection "
           "(logs under "
        << report->state_dir << "); `weft lab down` removes it\n";
    return kExitFailure;
  }
  return kExitOk;
}

int LabStatusCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options(
      "weft lab status",
      "The lab's nodes (InternalIP, pod CIDR, agent health), pods (node, IP) and a\n"
      "connectivity matrix: a TCP connection from every pod and every node to every pod and\n"
      "to a server outside the cluster (reached through masquerading), made inside the\n"
      "source's network namespace, reading the server's greeting. Then the lab's Services:\n"
      "each cluster IP from every node and one pod per node (the socket made in the node's\n"
      "cgroup, where the agent's socket-level translation applies), each NodePort from the\n"
      "lab namespace to every node's InternalIP.\n"
      "Exit codes: 0 everything passes, 1 anything fails or there is no lab, 2 usage.");
  // clang-format off
  options.add_options()
      ("state-dir", "the lab's state folder",
       cxxopts::value<std::string>()->default_value(lab::kDefaultStateDir))
      ("timeout-ms", "per connection", cxxopts::value<int>()->default_value("2000"))
      ("o,output", "text or json", cxxopts::value<std::string>()->default_value("text"))
      ("h,help", "show this help");
  // clang-format on
  std::optional<cxxopts::ParseResult> parsed;
  if (auto done = Parse(options, args, out, err, &parsed)) return *done;
  bool json = false;
  if (!OutputFlag(*parsed, "weft lab status", err, &json)) return kExitUsage;
  if (!CheckRoot("weft lab status", err)) return kExitFailure;
  auto report = lab::Report((*parsed)["state-dir"].as<std::string>(),
                            absl::Milliseconds(std::max(1, (*parsed)["timeout-ms"].as<int>())));
  if (!report.ok()) {
    err << "weft lab status: " << report.status().message() << "\n";
    return kExitFailure;
  }
  out << (json ? lab::ReportJson(*report) : lab::RenderReport(*report));
  return report->ok() ? kExitOk : kExitFailure;
}

int LabDownCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options(
      "weft lab down",
      "Removes the lab: CNI DEL for every pod, its API objects, its processes (controller and\n"
      "agents, by PID after checking their command line), network namespaces, BPF pins and\n"
      "files. Exit codes: 0 removed (or there was no lab), 1 failure, 2 usage.");
  // clang-format off
  options.add_options()
      ("state-dir", "the lab's state folder",
       cxxopts::value<std::string>()->default_value(lab::kDefaultStateDir))
      ("h,help", "show this help");
  // clang-format on
  std::optional<cxxopts::ParseResult> parsed;
  if (auto done = Parse(options, args, out, err, &parsed)) return *done;
  if (!CheckRoot("weft lab down", err)) return kExitFailure;
  const std::string state_dir = (*parsed)["state-dir"].as<std::string>();
  absl::Status s = lab::Down(state_dir, out);
  if (absl::IsNotFound(s)) {
    out << "no lab in " << state_dir << "\n";
    return kExitOk;
  }
  if (!s.ok()) {
    err << "weft lab down: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

int LabServeCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options("weft lab serve",
                           "The lab controller (started by `weft lab up`; not for direct use).");
  // clang-format off
  options.add_options()
      ("state-dir", "the lab's state folder", cxxopts::value<std::string>())
      ("ready-fd", "descriptor for progress and the readiness verdict",
       cxxopts::value<int>()->default_value("-1"))
      ("h,help", "show this help");
  // clang-format on
  std::optional<cxxopts::ParseResult> parsed;
  if (auto done = Parse(options, args, out, err, &parsed)) return *done;
  if (!parsed->count("state-dir")) {
    err << "weft lab serve: --state-dir is required\n";
    return kExitUsage;
  }
  lab::ControllerOptions controller;
  controller.state_dir = (*parsed)["state-dir"].as<std::string>();
  controller.ready_fd = (*parsed)["ready-fd"].as<int>();
  if (controller.ready_fd >= 0 && fcntl(controller.ready_fd, F_GETFD) < 0) {
    err << "weft lab serve: --ready-fd " << controller.ready_fd << " is not open\n";
    return kExitUsage;
  }
  return lab::RunController(controller);
}

}  // namespace weft::cli
