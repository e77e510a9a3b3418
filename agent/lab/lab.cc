#include "agent/lab/lab.h"

#include <dirent.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <set>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/api/agent.grpc.pb.h"
#include "agent/lab/api.h"
#include "agent/lab/cni_runtime.h"
#include "agent/lab/controller.h"
#include "agent/lab/endpointslices.h"
#include "agent/lab/logs.h"
#include "agent/lab/probe.h"
#include "agent/lab/talos_cluster.h"
#include "agent/lab/talos_node.h"
#include "agent/wireguard/uapi.h"
#include "common/file_util.h"
#include "common/netns/cgroup.h"
#include "common/netns/netns.h"
#include "common/netns/process.h"
#include "common/status_macros.h"
#include "kubeprism/api_errors.h"
#include "kubeprism/kubeconfig.h"
#include "kubeprism/resource_types.h"

namespace weft::lab {
namespace {

namespace v1 = weft::agent::v1;

// The controller stops its agents (up to kAgentStopGrace each) before it exits.
constexpr absl::Duration kControllerStopGrace = absl::Seconds(30);
constexpr absl::Duration kCniDelTimeout = absl::Seconds(30);

// The process is running and is the one we started (same command line).
bool Running(const ProcessRecord& p) {
  if (p.pid <= 0 || p.cmdline.empty() || !netns::IsRunning(p.pid)) return false;
  auto cmdline = netns::ReadCmdline(p.pid);
  return cmdline.ok() && *cmdline == p.cmdline;
}

const AgentRecord* FindAgent(const LabState& state, const std::string& node) {
  for (const AgentRecord& a : state.agents) {
    if (a.node == node) return &a;
  }
  return nullptr;
}

// Entries of `dir` whose name starts with `prefix`, as full paths.
std::vector<std::string> EntriesWithPrefix(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> found;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return found;
  while (dirent* e = readdir(d)) {
    if (absl::StartsWith(e->d_name, prefix)) found.push_back(absl::StrCat(dir, "/", e->d_name));
  }
  closedir(d);
  std::sort(found.begin(), found.end());
  return found;
}

// ---- teardown ---------------------------------------------------------------

struct Removed {
  int pods = 0;     // CNI DEL done
  int objects = 0;  // API objects deleted
  bool controller = false;
  int agents = 0;      // stopped (by the controller or by us)
  int containers = 0;  // runc containers killed and deleted (Talos mode)
  int netns = 0;
  int pins = 0;
  int cgroups = 0;
};

// Removes everything `state` records, and anything else carrying its prefix.
// Never stops: each failure is a warning and the next step runs.
Removed Teardown(const LabState& state, std::ostream& progress) {
  const LabPlan& plan = state.plan;
  Removed removed;
  auto warn = [&](const std::string& what) { progress << "warning: " << what << "\n"; };
  const bool controller_running = Running(state.controller);

  // 1. CNI DEL, as the runtime does when a pod goes away (needs the agents).
  std::vector<std::string> skipped;
  for (const PodRecord& record : state.pods) {
    const PodPlan* pod = plan.FindPod(record.key);
    const NodePlan* node = pod != nullptr ? plan.FindNode(pod->node) : nullptr;
    if (node == nullptr) continue;
    const AgentRecord* agent = FindAgent(state, node->name);
    if (agent == nullptr || !Running(agent->process)) {
      skipped.push_back(record.key);
      continue;
    }
    if (auto s =
            CniDel(NodeCni(state, *node), PodAttachment(*pod), record.cni_result, kCniDelTimeout);
        !s.ok()) {
      warn(std::string(s.message()));
    } else {
      ++removed.pods;
    }
  }
  if (!skipped.empty()) {
    progress << "  no CNI DEL for " << absl::StrJoin(skipped, ", ")
             << ": their agent is not running (removing the namespaces removes the interfaces)\n";
  }

  // 2. API objects, newest first. The embedded server lives in the controller.
  if (!state.api_objects.empty()) {
    if (state.api_mode != "external" && !controller_running) {
      // Gone with the controller: nothing left to delete.
    } else if (auto api = LabApi::Open(state.admin_kubeconfig, absl::Seconds(10)); !api.ok()) {
      warn(absl::StrCat("API objects not deleted: ", api.status().message()));
    } else {
      for (auto it = state.api_objects.rbegin(); it != state.api_objects.rend(); ++it) {
        const kubeprism::ResourceType* type = kubeprism::FindResourceType(it->resource);
        if (type == nullptr) continue;
        if (auto s = (*api)->Delete(*type, it->namespace_, it->name); !s.ok()) {
          warn(std::string(s.message()));
        } else {
          ++removed.objects;
        }
      }
    }
  }

  // 3. Processes, by PID and only when the command line is still ours. The
  //    controller stops its agents itself; agents it could not (it crashed)
  //    are stopped here.
  for (const AgentRecord& agent : state.agents) {
    if (Running(agent.process)) ++removed.agents;
  }
  if (controller_running) {
    if (auto s = netns::Stop(state.controller.pid, netns::ExactCmdline(state.controller.cmdline),
                             kControllerStopGrace);
        !s.ok()) {
      warn(absl::StrCat("controller: ", s.message()));
    } else {
      removed.controller = true;
    }
  }
  for (const AgentRecord& agent : state.agents) {
    if (!Running(agent.process)) continue;
    if (auto s = netns::Stop(agent.process.pid, netns::ExactCmdline(agent.process.cmdline),
                             kAgentStopGrace);
        !s.ok()) {
      warn(absl::StrCat("weft-agent on ", agent.node, ": ", s.message()));
      --removed.agents;
    }
  }

  // 3b. Talos mode: the containers in the lab's own runc state folder. The
  //     stopped runc processes deleted theirs; one whose runc was killed (a
  //     crash) still runs its agent: kill and delete it. Only IDs with the lab's
  //     prefix, in the lab's folder.
  if (state.talos) {
    Runc runc{state.talos->runc, plan.runc_root()};
    auto listed = RuncList(runc);
    if (!listed.ok()) warn(std::string(listed.status().message()));
    for (const std::string& id : listed.value_or(std::vector<std::string>{})) {
      if (!absl::StartsWith(id, plan.prefix + "-")) continue;
      if (auto s = RuncRemove(runc, id); !s.ok()) {
        warn(absl::StrCat("container ", id, ": ", s.message()));
      } else {
        ++removed.containers;
      }
    }
  }

  // 3c. The nodes' wireguard-go processes: an agent leaves its userspace
  //     WireGuard running across restarts, and a process holding a node
  //     namespace's TUN device would keep the namespace alive. By PID, only
  //     when the command line is `wireguard-go -f <the node's interface>`.
  if (plan.encryption != "none") {
    for (const NodePlan& node : plan.nodes) {
      if (auto s = wireguard::StopUserspaceDevice(node.wireguard_go_pid_path(), node.wg_interface());
          !s.ok()) {
        warn(absl::StrCat("wireguard-go on ", node.name, ": ", s.message()));
      }
    }
  }

  // 4. Namespaces: the recorded ones, then any other with the lab's prefix
  //    (unique per lab, so nobody else's). Pods first, the bridge's last.
  const std::string name_prefix = plan.prefix + "-";
  std::vector<std::string> names(state.netns.rbegin(), state.netns.rend());
  if (auto leftovers = netns::List(name_prefix); leftovers.ok()) {
    for (const std::string& n : *leftovers) {
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  }
  for (const std::string& name : names) {
    if (!absl::StartsWith(name, name_prefix)) continue;
    if (access(netns::PathOf(name).c_str(), F_OK) != 0) continue;
    if (auto s = netns::Delete(name); !s.ok()) {
      warn(std::string(s.message()));
    } else {
      ++removed.netns;
    }
  }

  // 5. bpffs pins (the agents leave their datapath in place when stopped).
  const std::string pin_prefix = absl::StrCat(kBpffsRoot, "/", name_prefix);
  std::set<std::string> pins(state.pin_dirs.begin(), state.pin_dirs.end());
  for (const std::string& p : EntriesWithPrefix(kBpffsRoot, name_prefix)) pins.insert(p);
  for (const std::string& pin_dir : pins) {
    if (!absl::StartsWith(pin_dir, pin_prefix)) continue;
    std::error_code ec;
    if (!std::filesystem::exists(pin_dir, ec)) continue;
    std::filesystem::remove_all(pin_dir, ec);
    if (ec) {
      warn(absl::StrCat("remove ", pin_dir, ": ", ec.message()));
    } else {
      ++removed.pins;
    }
  }

  // 5b. The nodes' cgroups (after their agents stopped): the recorded ones, then
  //     any other with the lab's prefix under the cgroup v2 root. A process
  //     still inside is moved to the parent first (cgroup::Remove).
  std::set<std::string> cgroups(state.cgroups.begin(), state.cgroups.end());
  if (auto root = cgroup::V2Root(); root.ok()) {
    for (const std::string& c : EntriesWithPrefix(*root, name_prefix)) cgroups.insert(c);
  }
  for (const std::string& dir : cgroups) {
    if (!absl::StartsWith(dir.substr(dir.rfind('/') + 1), name_prefix)) continue;
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) continue;
    if (auto s = cgroup::Remove(dir); !s.ok()) {
      warn(std::string(s.message()));
    } else {
      ++removed.cgroups;
    }
  }

  // 6. Files: only what the lab wrote (never the user's --kubeconfig).
  std::error_code ec;
  for (const std::string& dir : {plan.nodes_dir(), plan.apiserver_dir(), plan.talos_dir()}) {
    std::filesystem::remove_all(dir, ec);
    if (ec) warn(absl::StrCat("remove ", dir, ": ", ec.message()));
  }
  for (const std::string& file :
       {plan.admin_kubeconfig_path(), plan.controller_log_path(), plan.state_path()}) {
    if (unlink(file.c_str()) != 0 && errno != ENOENT) {
      warn(absl::StrCat("remove ", file, ": ", strerror(errno)));
    }
  }
  if (rmdir(plan.state_dir.c_str()) != 0 && errno != ENOENT) {
    warn(absl::StrCat("remove ", plan.state_dir, ": ", strerror(errno)));
  }
  return removed;
}

std::string Describe(const Removed& r) {
  return absl::StrCat(r.pods, " pods detached (CNI DEL), ", r.objects, " API objects deleted, ",
                      r.controller ? "the controller and " : "", r.agents, " agents stopped, ",
                      r.containers > 0 ? absl::StrCat(r.containers, " runc containers, ") : "",
                      r.netns, " network namespaces, ", r.pins, " BPF pin folders and ", r.cgroups,
                      " cgroups removed");
}

// ---- up ---------------------------------------------------------------------

// A state folder `up` may use: absent (created 0700) or empty.
absl::Status PrepareStateDir(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(dir, " exists and is not a folder"));
    }
    std::error_code ec;
    if (!std::filesystem::is_empty(dir, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " is not empty and holds no lab (lab.json): pick another --state-dir"));
    }
    return absl::OkStatus();
  }
  return MakeDirs(dir, 0700);
}

// A random id whose prefix nothing on this machine uses yet.
absl::StatusOr<std::string> NewLabId() {
  absl::BitGen random;
  for (int attempt = 0; attempt < 64; ++attempt) {
    std::string id = absl::StrFormat("%04x", absl::Uniform<uint32_t>(random, 0, 0x10000));
    const std::string prefix = absl::StrCat("wl", id, "-");
    auto used = netns::List(prefix);
    if (used.ok() && used->empty() && EntriesWithPrefix(kBpffsRoot, prefix).empty()) return id;
  }
  return absl::ResourceExhaustedError("no unused lab id found");
}

absl::Status CheckExecutable(const std::string& path, const char* flag) {
  if (path.empty() || access(path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(flag, ": \"", path, "\" is not an executable file"));
  }
  return absl::OkStatus();
}

// Reads the controller's readiness lines until "ready", an error, its exit,
// a stop signal (blocked in `signals`) or the deadline. `reported` tells
// whether an error came from the controller itself (it names the cause).
absl::Status FollowController(int fd, pid_t pid, const sigset_t& signals, absl::Time deadline,
                              std::ostream& progress, bool* reported) {
  std::string buffer;
  for (;;) {
    timespec zero{0, 0};
    if (int sig = sigtimedwait(&signals, nullptr, &zero); sig > 0) {
      return absl::CancelledError(absl::StrCat("interrupted (", strsignal(sig), ")"));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("the lab did not come up in time");
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) < 0 && errno != EINTR) return absl::InternalError("poll");
    if (p.revents == 0) continue;
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) buffer.append(chunk, static_cast<size_t>(n));
    for (size_t eol; (eol = buffer.find('\n')) != std::string::npos;) {
      std::string line = buffer.substr(0, eol);
      buffer.erase(0, eol + 1);
      if (line == kReadyLine) return absl::OkStatus();
      std::string text;
      if (absl::StartsWith(line, kErrorPrefix)) {
        *reported = true;
        if (!absl::CUnescape(line.substr(strlen(kErrorPrefix)), &text)) text = line;
        return absl::InternalError(text);
      }
      if (absl::StartsWith(line, kStepPrefix)) {
        if (!absl::CUnescape(line.substr(strlen(kStepPrefix)), &text)) text = line;
        progress << "  " << text << "\n";
      }
    }
    if (n <= 0) {
      // Closed without a verdict: the controller died. Say how, if it is quick to tell.
      int status = 0;
      for (int i = 0; i < 50; ++i) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
          return absl::InternalError(absl::StrCat("the controller exited during start-up (code ",
                                                  netns::ExitCode(status), ")"));
        }
        absl::SleepFor(absl::Milliseconds(20));
      }
      return absl::InternalError("the controller closed its readiness pipe during start-up");
    }
    progress.flush();
  }
}

// ---- report -----------------------------------------------------------------

void FillAgent(const std::string& socket, NodeRow* row) {
  auto stub =
      v1::Agent::NewStub(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  v1::AgentStatus status;
  grpc::Status s = stub->GetStatus(&ctx, v1::GetStatusRequest(), &status);
  if (!s.ok()) {
    row->agent_error = absl::StrCat("GetStatus on ", socket, ": ", s.error_message());
    return;
  }
  row->agent_healthy = status.healthy();
  row->endpoints = status.endpoint_count();
  for (const std::string& p : status.problems()) row->agent_problems.push_back(p);
  row->kube_proxy_replacement =
      status.kube_proxy_replacement().empty() ? "False" : status.kube_proxy_replacement();
  for (const std::string& f : status.kube_proxy_replacement_features()) {
    row->kube_proxy_replacement_features.push_back(f);
  }
  row->service_frontends = status.service_frontend_count();
  if (status.encryption().empty() || status.encryption() == "Disabled") return;
  row->encryption = status.encryption();
  grpc::ClientContext enc_ctx;
  enc_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  v1::EncryptionStatus enc;
  s = stub->GetEncryptionStatus(&enc_ctx, v1::GetEncryptionStatusRequest(), &enc);
  if (!s.ok()) {
    row->encryption_skipped.push_back(absl::StrCat("GetEncryptionStatus: ", s.error_message()));
    return;
  }
  row->peers = enc.peers_size();
  for (const auto& p : enc.peers()) {
    if (p.last_handshake_unix() != 0) ++row->peers_with_handshake;
  }
  for (const auto& p : enc.skipped()) row->encryption_skipped.push_back(p);
}

// "ip:port" of the ready endpoints in `slices` (the first port of each slice).
std::vector<std::string> ReadyEndpoints(const std::vector<nlohmann::json>& slices) {
  std::set<std::string> out;
  for (const nlohmann::json& slice : slices) {
    if (!slice.is_object()) continue;
    const nlohmann::json ports = slice.value("ports", nlohmann::json::array());
    std::string port;
    if (ports.is_array() && !ports.empty() && ports[0].is_object() &&
        ports[0].value("port", nlohmann::json()).is_number_integer()) {
      port = absl::StrCat(":", ports[0]["port"].get<int>());
    }
    const nlohmann::json endpoints = slice.value("endpoints", nlohmann::json::array());
    if (!endpoints.is_array()) continue;
    for (const nlohmann::json& e : endpoints) {
      if (!e.is_object()) continue;
      const nlohmann::json conditions = e.value("conditions", nlohmann::json::object());
      // A nil "ready" means ready (the API's default).
      if (conditions.is_object() && conditions.value("ready", nlohmann::json(true)) == false) {
        continue;
      }
      const nlohmann::json addresses = e.value("addresses", nlohmann::json::array());
      if (!addresses.is_array()) continue;
      for (const nlohmann::json& a : addresses) {
        if (a.is_string()) out.insert(a.get<std::string>() + port);
      }
    }
  }
  return {out.begin(), out.end()};
}

}  // namespace

absl::StatusOr<LabReport> Report(const std::string& state_dir, absl::Duration probe_timeout) {
  ASSIGN_OR_RETURN(LabState state, ReadState(state_dir));
  const LabPlan& plan = state.plan;
  LabReport report;
  report.prefix = plan.prefix;
  report.state_dir = plan.state_dir;
  report.phase = PhaseName(state.phase);
  report.phase_error = state.error;
  report.api_mode = state.api_mode;
  report.api_server = state.api_server;
  report.routing = plan.routing;
  report.encryption = plan.encryption + (plan.encryption_strict ? " (strict)" : "");
  report.segment = plan.segment.ToString();
  report.outside = plan.outside.ToString();
  if (state.talos) report.talos_extension = state.talos->extension_image;
  report.controller_pid = state.controller.pid;
  report.controller_running = Running(state.controller);
  if (!report.controller_running) {
    report.problems.push_back(absl::StrCat("the lab controller (pid ", state.controller.pid,
                                           ") is not running: the lab is broken; `weft lab down` "
                                           "or the next `weft lab up` removes it"));
  }

  for (const NodePlan& node : plan.nodes) {
    NodeRow row;
    row.name = node.name;
    row.internal_ip = node.internal_ip.ToString();
    row.pod_cidr = node.pod_cidr.ToString();
    if (const AgentRecord* agent = FindAgent(state, node.name); agent != nullptr) {
      row.agent_pid = agent->process.pid;
      row.agent_running = Running(agent->process);
      // Talos mode: runc's command line ends with the container ID.
      if (state.talos && !agent->process.cmdline.empty())
        row.container = agent->process.cmdline.back();
    }
    if (row.agent_running) FillAgent(node.socket_path(), &row);
    report.nodes.push_back(std::move(row));
  }

  // The pods as the API server has them (the embedded one lives in the controller).
  std::unique_ptr<LabApi> api;
  if (!state.admin_kubeconfig.empty() &&
      (report.controller_running || state.api_mode == "external")) {
    auto opened = LabApi::Open(state.admin_kubeconfig, absl::Seconds(5));
    if (opened.ok()) {
      api = *std::move(opened);
    } else {
      report.problems.push_back(absl::StrCat("API server: ", opened.status().message()));
    }
  }
  for (const PodPlan& pod : plan.pods) {
    PodRow row;
    row.namespace_ = pod.namespace_;
    row.name = pod.name;
    row.node = pod.node;
    row.port = pod.port;
    if (const PodRecord* record = state.FindPod(pod.key()); record != nullptr) row.ip = record->ip;
    if (api != nullptr) {
      auto object = api->Get(kubeprism::kPods, pod.namespace_, pod.name);
      if (object.ok()) {
        row.phase = object->value("status", nlohmann::json::object()).value("phase", "");
      } else if (!kubeprism::IsNotFoundHttp(object.status())) {
        report.problems.push_back(absl::StrCat("API server: ", object.status().message()));
        api.reset();  // one message is enough
      }
    }
    report.pods.push_back(std::move(row));
  }

  // The matrix: from every pod and every node to every pod and to the outside
  // (through masquerading), all cells at once.
  struct Source {
    std::string label;
    std::string netns;
  };
  struct Target {
    std::string name;
    std::optional<ProbeTarget> probe;  // none: the pod has no address
  };
  std::vector<Source> sources;
  for (const PodPlan& pod : plan.pods) sources.push_back({"pod " + pod.name, pod.netns});
  for (const NodePlan& node : plan.nodes) sources.push_back({"node " + node.name, node.name});
  std::vector<Target> targets;
  for (const PodPlan& pod : plan.pods) {
    const PodRecord* record = state.FindPod(pod.key());
    targets.push_back({pod.name, record == nullptr ? std::nullopt
                                                   : std::optional<ProbeTarget>(ProbeTarget{
                                                         record->ip, pod.port, pod.greeting()})});
  }
  targets.push_back({kOutsideName, ProbeTarget{plan.outside.ToString(), kOutsidePort,
                                               absl::StrCat(kOutsideName, "\n")}});
  for (const Source& s : sources) report.sources.push_back(s.label);
  for (const Target& t : targets) report.targets.push_back(t.name);
  report.cells.resize(sources.size() * targets.size());
  std::vector<std::thread> probes;
  for (size_t row = 0; row < sources.size(); ++row) {
    for (size_t col = 0; col < targets.size(); ++col) {
      Cell& cell = report.cells[row * targets.size() + col];
      cell.from = sources[row].label;
      cell.to = targets[col].name;
      const std::string netns_path = netns::PathOf(sources[row].netns);
      if (!targets[col].probe) {
        cell.error = "the pod has no address (CNI ADD did not complete)";
        continue;
      }
      if (access(netns_path.c_str(), F_OK) != 0) {
        cell.error = absl::StrCat("no network namespace ", sources[row].netns);
        continue;
      }
      probes.emplace_back([&cell, netns_path, probe = *targets[col].probe, probe_timeout] {
        absl::Status s = ProbeTcp(netns_path, probe, probe_timeout);
        cell.ok = s.ok();
        if (!s.ok()) cell.error = std::string(s.message());
      });
    }
  }

  // The Services: each one's addresses and ready endpoints, then the same kind
  // of cells through them (the greeting is the selected pod's).
  for (const ServicePlan& service : plan.services) {
    ServiceRow row;
    row.namespace_ = service.namespace_;
    row.name = service.name;
    row.type = service.type;
    row.port = service.port;
    row.target_port = service.target_port;
    if (const ServiceRecord* record = state.FindService(service.key()); record != nullptr) {
      row.cluster_ip = record->cluster_ip;
      row.node_port = record->node_port;
    }
    if (api != nullptr) {
      auto slices = api->List(kubeprism::kEndpointSlices, service.namespace_,
                              absl::StrCat(kServiceNameLabel, "=", service.name));
      if (slices.ok()) {
        row.endpoints_known = true;
        row.endpoints = ReadyEndpoints(*slices);
      } else {
        report.problems.push_back(absl::StrCat("API server: ", slices.status().message()));
        api.reset();
      }
    }
    report.services.push_back(std::move(row));
  }
  // By cluster IP: from each node and from the first pod of each node, the
  // socket made in that node's cgroup (socket-level translation applies to the
  // node's processes only).
  struct ServiceSource {
    std::string label;
    std::string netns;
    std::string cgroup;
  };
  std::vector<ServiceSource> service_sources;
  for (const NodePlan& node : plan.nodes) {
    service_sources.push_back({"node " + node.name, node.name, node.cgroup});
  }
  for (const NodePlan& node : plan.nodes) {
    for (const PodPlan& pod : plan.pods) {
      if (pod.node != node.name) continue;
      service_sources.push_back({"pod " + pod.name, pod.netns, node.cgroup});
      break;
    }
  }
  // The greeting through `service`: its pod's; nullopt when the lab has no such pod.
  auto greeting = [&](const ServicePlan& service) -> std::optional<std::string> {
    const PodPlan* pod = plan.FindApp(service.app);
    if (pod == nullptr) return std::nullopt;
    return pod->greeting();
  };
  if (!plan.services.empty()) {
    for (const ServiceSource& s : service_sources) report.service_sources.push_back(s.label);
    for (const ServicePlan& service : plan.services) report.service_targets.push_back(service.name);
    report.service_cells.resize(service_sources.size() * plan.services.size());
  }
  for (size_t row = 0; row < report.service_sources.size(); ++row) {
    for (size_t col = 0; col < plan.services.size(); ++col) {
      const ServicePlan& service = plan.services[col];
      const ServiceRow& service_row = report.services[col];
      Cell& cell = report.service_cells[row * plan.services.size() + col];
      cell.from = service_sources[row].label;
      cell.to = service.name;
      const std::string netns_path = netns::PathOf(service_sources[row].netns);
      const std::optional<std::string> expected = greeting(service);
      if (service_row.cluster_ip.empty()) {
        cell.error = "the Service was not created (no cluster IP in the lab's state)";
      } else if (!expected) {
        cell.error = absl::StrCat("the lab has no pod ", service.app);
      } else if (service_sources[row].cgroup.empty()) {
        cell.error = "the lab gave this node no cgroup (made by an older weft)";
      } else if (access(netns_path.c_str(), F_OK) != 0) {
        cell.error = absl::StrCat("no network namespace ", service_sources[row].netns);
      } else {
        probes.emplace_back([&cell, cgroup = service_sources[row].cgroup, netns_path,
                             probe = ProbeTarget{service_row.cluster_ip, service.port, *expected},
                             probe_timeout] {
          absl::Status s = ProbeTcpInCgroup(cgroup, netns_path, probe, probe_timeout);
          cell.ok = s.ok();
          if (!s.ok()) cell.error = std::string(s.message());
        });
      }
    }
  }
  // By NodePort: from the lab namespace (the nodes' segment, outside every
  // node) to each node's InternalIP.
  std::vector<size_t> node_ports;  // indexes of NodePort Services
  for (size_t i = 0; i < plan.services.size(); ++i) {
    if (plan.services[i].type == "NodePort") node_ports.push_back(i);
  }
  if (!node_ports.empty()) {
    for (const NodePlan& node : plan.nodes) report.nodeport_nodes.push_back(node.name);
    for (size_t i : node_ports) {
      const ServiceRow& row = report.services[i];
      report.nodeport_targets.push_back(
          row.node_port != 0 ? absl::StrCat(row.name, ":", row.node_port) : row.name);
    }
    report.nodeport_cells.resize(plan.nodes.size() * node_ports.size());
  }
  const std::string lab_netns_path = netns::PathOf(plan.lab_netns);
  for (size_t row = 0; row < report.nodeport_nodes.size(); ++row) {
    const NodePlan& node = plan.nodes[row];
    for (size_t col = 0; col < node_ports.size(); ++col) {
      const ServicePlan& service = plan.services[node_ports[col]];
      const ServiceRow& service_row = report.services[node_ports[col]];
      Cell& cell = report.nodeport_cells[row * node_ports.size() + col];
      cell.from = "lab namespace";
      cell.to = absl::StrCat(service.name, " nodePort on ", node.name);
      const std::optional<std::string> expected = greeting(service);
      if (service_row.node_port == 0) {
        cell.error = "the Service has no nodePort (not created)";
      } else if (!expected) {
        cell.error = absl::StrCat("the lab has no pod ", service.app);
      } else if (access(lab_netns_path.c_str(), F_OK) != 0) {
        cell.error = absl::StrCat("no network namespace ", plan.lab_netns);
      } else {
        probes.emplace_back(
            [&cell, lab_netns_path,
             probe = ProbeTarget{node.internal_ip.ToString(), service_row.node_port, *expected},
             probe_timeout] {
              absl::Status s = ProbeTcp(lab_netns_path, probe, probe_timeout);
              cell.ok = s.ok();
              if (!s.ok()) cell.error = std::string(s.message());
            });
      }
    }
  }
  for (std::thread& t : probes) t.join();
  return report;
}

absl::Status Down(const std::string& state_dir, std::ostream& progress) {
  ASSIGN_OR_RETURN(LabState state, ReadState(state_dir));
  progress << "removing lab " << state.plan.prefix << "\n";
  Removed removed = Teardown(state, progress);
  progress << "lab " << state.plan.prefix << " removed: " << Describe(removed) << "\n";
  return absl::OkStatus();
}

absl::StatusOr<LabReport> Up(const UpOptions& options, std::ostream& progress) {
  // A lab already there: refuse a running one, clean a crashed one.
  if (auto existing = ReadState(options.state_dir); existing.ok()) {
    if (Running(existing->controller)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "lab ", existing->plan.prefix, " is running in ", options.state_dir, " (controller pid ",
          existing->controller.pid, "): `weft lab down` removes it"));
    }
    progress << "removing lab " << existing->plan.prefix << " left by a crashed run\n";
    Removed removed = Teardown(*existing, progress);
    progress << "  " << Describe(removed) << "\n";
  } else if (!absl::IsNotFound(existing.status())) {
    return absl::Status(existing.status().code(),
                        absl::StrCat(existing.status().message(),
                                     " (check what it describes and remove it by hand)"));
  }

  if (!options.talos) {
    RETURN_IF_ERROR(CheckExecutable(options.agent_binary, "--agent"));
    RETURN_IF_ERROR(CheckExecutable(options.cni_plugin, "--cni-plugin"));
  }
  RETURN_IF_ERROR(CheckExecutable(options.weft_binary, "weft"));
  // Talos mode: fail now on what the detached controller would fail on later.
  std::optional<TalosState> talos;
  std::string generated_secrets;
  if (options.talos) {
    if (!options.kubeconfig.empty()) {
      return absl::InvalidArgumentError(
          "--talos needs the embedded API server (it trusts the secrets bundle's CA and enforces "
          "the generated RBAC): drop --kubeconfig");
    }
    talos.emplace();
    talos->runc = options.runc;
    RETURN_IF_ERROR(RuncVersion(options.runc).status());
    RETURN_IF_ERROR(CgroupV2Mount().status());
    std::error_code ec;
    talos->extension_image = std::filesystem::absolute(options.extension_image, ec).string();
    if (options.extension_image.empty() || access(talos->extension_image.c_str(), R_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("--extension: \"", options.extension_image,
                       "\" is not readable (bazel build -c opt //extension:weft-extension)"));
    }
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    if (!options.secrets.empty()) {
      talos->secrets = std::filesystem::absolute(options.secrets, ec).string();
      if (auto ca = LoadKubernetesCa(talos->secrets, now); !ca.ok()) {
        return absl::Status(ca.status().code(), absl::StrCat("--secrets: ", ca.status().message()));
      }
    } else {
      ASSIGN_OR_RETURN(generated_secrets, GenerateSecretsBundle());
      talos->secrets_generated = true;
    }
    if (!options.rbac.empty()) {
      talos->rbac = std::filesystem::absolute(options.rbac, ec).string();
      ASSIGN_OR_RETURN(std::string text, ReadFile(talos->rbac));
      if (auto rules = ApiServerRules(text, talos->rbac); !rules.ok()) {
        return absl::Status(rules.status().code(),
                            absl::StrCat("--rbac: ", rules.status().message()));
      }
    }
  }
  std::string kubeconfig;
  if (!options.kubeconfig.empty()) {
    std::error_code ec;
    kubeconfig = std::filesystem::absolute(options.kubeconfig, ec).string();
    // Fail now, not in the detached controller.
    if (auto c = kubeprism::LoadKubeconfig(kubeconfig); !c.ok()) {
      return absl::Status(c.status().code(), absl::StrCat("--kubeconfig: ", c.status().message()));
    }
  }
  ASSIGN_OR_RETURN(std::string id, NewLabId());
  ASSIGN_OR_RETURN(LabPlan plan, MakePlan(id, options.nodes, options.state_dir));
  // Each node gets a cgroup of its own under this machine's cgroup v2 mount.
  auto cgroup_root = cgroup::V2Root();
  if (!cgroup_root.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        cgroup_root.status().message(),
        ": the lab gives each node a cgroup v2 folder for its socket-level Service translation"));
  }
  SetCgroupRoot(*cgroup_root, &plan);
  plan.routing = options.routing;
  plan.encryption = options.encryption;
  plan.encryption_strict = options.encryption_strict;
  RETURN_IF_ERROR(PrepareStateDir(plan.state_dir));

  LabState state;
  state.plan = plan;
  state.api_mode = kubeconfig.empty() ? "embedded" : "external";
  state.admin_kubeconfig = kubeconfig;
  state.agent_binary = options.talos ? "" : options.agent_binary;
  state.cni_plugin = options.talos ? "" : options.cni_plugin;
  state.agent_timeout_seconds =
      static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(options.agent_timeout)));
  if (talos && talos->secrets_generated) {
    talos->secrets = plan.secrets_path();
    RETURN_IF_ERROR(MakeDirs(plan.talos_dir(), 0700));
    RETURN_IF_ERROR(WriteFileAtomically(plan.secrets_path(), generated_secrets, 0600));
  }
  state.talos = talos;
  RETURN_IF_ERROR(WriteState(state));
  progress << "lab " << plan.prefix << ": " << plan.nodes.size() << " nodes, " << plan.pods.size()
           << " pods, state in " << plan.state_dir << "\n";
  if (talos) {
    progress << "  Talos mode: extension " << talos->extension_image << ", secrets "
             << talos->secrets << (talos->secrets_generated ? " (generated)" : "") << ", RBAC "
             << (talos->rbac.empty() ? "of `talosgen patch --cni weft`" : talos->rbac) << "\n";
  }

  // Stop signals wait for us (the controller starts with a clean mask).
  sigset_t signals, old_mask;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, &old_mask);
  struct RestoreMask {
    sigset_t mask;
    ~RestoreMask() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{old_mask};

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  int log =
      open(plan.controller_log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  netns::SpawnOptions controller;
  // The readiness pipe becomes the controller's descriptor 3.
  controller.argv = {options.weft_binary, "lab",        "serve", "--state-dir",
                     plan.state_dir,      "--ready-fd", "3"};
  controller.stdout_fd = log;
  controller.stderr_fd = log;
  controller.extra_fd = ready[1];
  controller.new_session = true;  // outlives this command and its terminal
  auto pid = netns::Spawn(controller);
  close(ready[1]);
  if (log >= 0) close(log);

  absl::Status started = pid.status();
  bool reported = false;
  if (pid.ok()) {
    started = FollowController(ready[0], *pid, signals, absl::Now() + options.start_timeout,
                               progress, &reported);
  }
  close(ready[0]);
  if (!started.ok()) {
    // The files go with the lab: keep what explains an unexplained failure.
    const std::string log_tail =
        reported || absl::IsCancelled(started) ? "" : LogTail(plan.controller_log_path(), 15);
    progress << "start-up failed; removing what was created\n";
    LabState latest = ReadState(plan.state_dir).value_or(state);
    const auto stop_controller = [&] {
      if (pid.ok()) {
        netns::Stop(*pid, netns::ExactCmdline(controller.argv), kControllerStopGrace).IgnoreError();
      }
    };
    // A controller that recorded itself is stopped by the teardown, after it
    // deleted the API objects from the controller's API server.
    if (latest.controller.pid != pid.value_or(0)) stop_controller();
    Removed removed = Teardown(latest, progress);
    stop_controller();  // gone by now; reaps our child
    progress << "  " << Describe(removed) << "\n";
    return absl::Status(started.code(), absl::StrCat(started.message(), log_tail));
  }

  // Up: wait until the agents have programmed their routes and every cell passes.
  progress << "lab " << plan.prefix << " is up; checking connectivity\n";
  const absl::Time deadline = absl::Now() + options.settle_timeout;
  for (;;) {
    ASSIGN_OR_RETURN(LabReport report, Report(plan.state_dir));
    timespec zero{0, 0};
    if (report.ok() || absl::Now() > deadline || sigtimedwait(&signals, nullptr, &zero) > 0) {
      return report;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
}

}  // namespace weft::lab
