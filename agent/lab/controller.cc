#include "agent/lab/controller.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/lab/api.h"
#include "agent/lab/cni_runtime.h"
#include "agent/lab/endpointslices.h"
#include "agent/lab/logs.h"
#include "agent/lab/network.h"
#include "agent/lab/objects.h"
#include "agent/lab/servers.h"
#include "agent/lab/state.h"
#include "agent/lab/talos.h"
#include "agent/lab/talos_cluster.h"
#include "agent/lab/talos_node.h"
#include "common/file_util.h"
#include "common/netns/cgroup.h"
#include "common/netns/netns.h"
#include "common/netns/process.h"
#include "common/status_macros.h"
#include "kubeprism/kubeconfig.h"
#include "kubeprism/logging.h"
#include "kubeprism/resource_types.h"
#include "kubeprism/testing/lab_apiserver.h"
#include "kubeprism/testing/weft_rbac.h"

namespace weft::lab {
namespace {

using nlohmann::json;

constexpr absl::Duration kCniTimeout = absl::Seconds(60);
// How often a serving controller brings the EndpointSlices up to date (Pods
// deleted, Services added by hand with the lab's label).
constexpr absl::Duration kSliceResync = absl::Seconds(2);

void LogLine(absl::string_view message) {
  std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
                   message, "\n");
  fputs(line.c_str(), stderr);
  fflush(stderr);
}

// Moves process `pid` (and the children it starts later) into cgroup `dir`.
absl::Status MoveToCgroup(pid_t pid, const std::string& dir) {
  const std::string procs = dir + "/cgroup.procs";
  int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", procs, ": ", strerror(errno)));
  const std::string text = absl::StrCat(pid);
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  close(fd);
  if (!written) {
    return absl::InternalError(absl::StrCat("move pid ", pid, " to ", dir, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

class Controller {
 public:
  Controller(LabState state, int ready_fd) : state_(std::move(state)), ready_fd_(ready_fd) {
    sigemptyset(&stop_signals_);
    sigaddset(&stop_signals_, SIGTERM);
    sigaddset(&stop_signals_, SIGINT);
  }

  absl::Status BringUp();
  void Serve();
  void Shutdown();
  void ReportFailure(const absl::Status& status);

 private:
  absl::Status Save() { return WriteState(state_); }
  // A line of the readiness protocol (controller.h) to `weft lab up`.
  void Send(absl::string_view prefix, absl::string_view text, bool last);
  void Progress(const std::string& text);
  // Cancelled when SIGTERM/SIGINT is pending: `weft lab up` gave up on us.
  absl::Status CheckStop();

  absl::Status StartApiServer();
  absl::Status StartRelays();
  absl::Status RegisterNodes();
  absl::Status CreateCgroups();
  absl::Status CreateServices();
  // The lab's EndpointSlice controller (endpointslices.h): the lab's Services
  // (label weft.dev/lab=<prefix>) and the namespace's Pods -> slices.
  absl::Status ReconcileEndpointSlices();
  absl::Status StartAgents();
  absl::Status WaitForAgents();
  absl::Status CreatePod(const PodPlan& pod);
  // Creates the object and records it; returns it as the API server stored it.
  absl::StatusOr<json> CreateObject(const kubeprism::ResourceType& type, const std::string& ns,
                                    const json& object);
  absl::StatusOr<KubeconfigSpec> AgentCredentials(const NodePlan& node);
  // Talos mode: the bundle's CA and the RBAC rules for the API server, the
  // unpacked extension, and one runc container per node.
  absl::Status PrepareTalosApiServer(kubeprism::testing::LabApiServerOptions* options);
  absl::Status PrepareExtension();
  absl::Status StartContainer(const NodePlan& node);
  // Spawns `options` (argv, namespace) as the agent of `node`: output appended to
  // the node's log, SIGTERM when the controller dies; recorded and saved. `what`
  // names it in errors ("weft-agent on n1").
  absl::StatusOr<pid_t> SpawnAgent(const NodePlan& node, netns::SpawnOptions options,
                                   const std::string& what);
  // Reaps agents that exited; true when all still run.
  bool CheckAgents(std::string* which);

  LabState state_;
  int ready_fd_;
  sigset_t stop_signals_;
  std::unique_ptr<kubeprism::testing::LabApiServer> api_server_;  // embedded mode
  kubeprism::ClientConfig external_;                              // external mode
  std::string upstream_host_;
  int upstream_port_ = 0;
  std::unique_ptr<LabApi> api_;
  std::unique_ptr<LabServers> servers_;
  std::vector<bool> agent_exited_;
  std::set<std::string> slice_problems_;  // reported once each
  std::string slice_error_;               // the last resync error, logged when it changes
  // Talos mode.
  std::optional<pki::CertificateAndKey> talos_ca_;
  std::optional<generator::Spec> talos_spec_;
  std::optional<UnpackedExtension> extension_;
  std::vector<std::string> capabilities_;
  std::optional<int> oom_score_adj_;
};

void Controller::Send(absl::string_view prefix, absl::string_view text, bool last) {
  if (ready_fd_ < 0) return;
  // One line per message: newlines (log tails in errors) travel escaped.
  std::string line = absl::StrCat(prefix, absl::CEscape(text), "\n");
  (void)!write(ready_fd_, line.data(), line.size());
  if (last) {
    close(ready_fd_);
    ready_fd_ = -1;
  }
}

void Controller::Progress(const std::string& text) {
  LogLine(text);
  Send(kStepPrefix, text, false);
}

void Controller::ReportFailure(const absl::Status& status) {
  LogLine(absl::StrCat("start-up failed: ", status.message()));
  state_.phase = Phase::kFailed;
  state_.error = std::string(status.message());
  if (auto s = Save(); !s.ok()) LogLine(absl::StrCat("save state: ", s.message()));
  Send(kErrorPrefix, status.message(), true);
}

absl::Status Controller::CheckStop() {
  timespec zero{0, 0};
  if (sigtimedwait(&stop_signals_, nullptr, &zero) > 0) {
    return absl::CancelledError("stopped by a signal during start-up");
  }
  return absl::OkStatus();
}

absl::Status Controller::BringUp() {
  const LabPlan& plan = state_.plan;
  state_.controller.pid = getpid();
  ASSIGN_OR_RETURN(state_.controller.cmdline, netns::ReadCmdline(getpid()));
  RETURN_IF_ERROR(Save());

  Progress(absl::StrCat("network: namespaces ", plan.prefix, "-*, bridge ", plan.bridge,
                        ", node segment ", plan.segment.ToString()));
  RETURN_IF_ERROR(CreateLabNetwork(plan, [this](const std::string& name) {
    state_.netns.push_back(name);
    return Save();
  }));
  RETURN_IF_ERROR(CheckStop());
  RETURN_IF_ERROR(StartApiServer());
  RETURN_IF_ERROR(StartRelays());
  RETURN_IF_ERROR(RegisterNodes());
  RETURN_IF_ERROR(CreateServices());
  RETURN_IF_ERROR(CheckStop());
  RETURN_IF_ERROR(CreateCgroups());
  if (state_.talos) RETURN_IF_ERROR(PrepareExtension());
  RETURN_IF_ERROR(StartAgents());
  RETURN_IF_ERROR(WaitForAgents());
  for (const PodPlan& pod : plan.pods) {
    RETURN_IF_ERROR(CheckStop());
    if (auto s = CreatePod(pod); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("pod ", pod.key(), ": ", s.message()));
    }
  }
  state_.phase = Phase::kReady;
  RETURN_IF_ERROR(Save());
  LogLine("ready");
  Send(kReadyLine, "", true);
  return absl::OkStatus();
}

absl::Status Controller::StartApiServer() {
  const LabPlan& plan = state_.plan;
  if (state_.api_mode == "external") {
    // The user's kubeconfig (recorded by `weft lab up`): its credentials are
    // the admin's and, relayed through KubePrism, the agents'.
    ASSIGN_OR_RETURN(external_, kubeprism::LoadKubeconfig(state_.admin_kubeconfig));
    ASSIGN_OR_RETURN(HostPort hp, ParseServerUrl(external_.server));
    upstream_host_ = hp.host;
    upstream_port_ = hp.port;
    state_.api_server = external_.server;
  } else {
    kubeprism::testing::LabApiServerOptions options;
    options.state_dir = plan.apiserver_dir();
    if (state_.talos) RETURN_IF_ERROR(PrepareTalosApiServer(&options));
    ASSIGN_OR_RETURN(api_server_, kubeprism::testing::LabApiServer::Start(options));
    ASSIGN_OR_RETURN(
        kubeprism::testing::LabCredentials admin,
        api_server_->IssueClientCert("weft-lab-admin", {"system:masters"}, 365LL * 86400));
    KubeconfigSpec spec;
    spec.server = api_server_->url();
    spec.ca_pem = api_server_->ca_pem();
    spec.user = "weft-lab-admin";
    spec.client_cert_pem = admin.cert_pem;
    spec.client_key_pem = admin.key_pem;
    // It holds a client key: 0600 like every secret.
    RETURN_IF_ERROR(WriteFileAtomically(plan.admin_kubeconfig_path(), KubeconfigYaml(spec), 0600));
    state_.admin_kubeconfig = plan.admin_kubeconfig_path();
    state_.api_server = api_server_->url();
    upstream_host_ = "127.0.0.1";
    upstream_port_ = api_server_->port();
  }
  RETURN_IF_ERROR(Save());
  Progress(absl::StrCat("API server ", state_.api_server, " (", state_.api_mode, ")"));
  ASSIGN_OR_RETURN(api_, LabApi::Open(state_.admin_kubeconfig, absl::Seconds(30)));
  return absl::OkStatus();
}

absl::Status Controller::StartRelays() {
  ASSIGN_OR_RETURN(servers_, LabServers::Start());
  for (const NodePlan& node : state_.plan.nodes) {
    RETURN_IF_ERROR(servers_->AddRelay(netns::PathOf(node.name), "127.0.0.1", kKubePrismPort,
                                       upstream_host_, upstream_port_));
  }
  // The "outside" answers too, for traffic leaving the cluster.
  RETURN_IF_ERROR(servers_->AddGreeter(netns::PathOf(state_.plan.lab_netns),
                                       state_.plan.outside.ToString(), kOutsidePort,
                                       absl::StrCat(kOutsideName, "\n")));
  Progress(absl::StrCat("KubePrism: 127.0.0.1:", kKubePrismPort, " in every node namespace -> ",
                        upstream_host_, ":", upstream_port_));
  return absl::OkStatus();
}

absl::StatusOr<json> Controller::CreateObject(const kubeprism::ResourceType& type,
                                              const std::string& ns, const json& object) {
  ASSIGN_OR_RETURN(json created, api_->Create(type, ns, object));
  state_.api_objects.push_back(
      {std::string(type.plural), ns, object.at("metadata").at("name").get<std::string>()});
  RETURN_IF_ERROR(Save());
  return created;
}

absl::Status Controller::RegisterNodes() {
  const LabPlan& plan = state_.plan;
  RETURN_IF_ERROR(CreateObject(kubeprism::kNamespaces, "", NamespaceObject(plan)).status());
  for (const NodePlan& node : plan.nodes) {
    RETURN_IF_ERROR(CreateObject(kubeprism::kNodes, "", NodeObject(plan, node)).status());
    RETURN_IF_ERROR(api_->PatchStatus(kubeprism::kNodes, "", node.name, NodeStatusPatch(node)));
    Progress(absl::StrCat("Node ", node.name, ": InternalIP ", node.internal_ip.ToString(),
                          ", podCIDR ", node.pod_cidr.ToString()));
  }
  return absl::OkStatus();
}

absl::Status Controller::CreateServices() {
  const LabPlan& plan = state_.plan;
  // The embedded API server allocates nothing: the lab asks for its addresses.
  // A real cluster allocates them (and refuses addresses outside its ranges).
  const bool ask_addresses = state_.api_mode != "external";
  for (const ServicePlan& service : plan.services) {
    auto created = CreateObject(kubeprism::kServices, service.namespace_,
                                ServiceObject(plan, service, ask_addresses));
    if (!created.ok()) {
      return absl::Status(created.status().code(), absl::StrCat("Service ", service.key(), ": ",
                                                                created.status().message()));
    }
    if (!ask_addresses && !ServiceAddresses(*created).ok()) {
      // An API server that allocates nothing (the lab's own, run as an
      // "existing cluster"): the lab's addresses after all.
      json fixed = ServiceObject(plan, service, /*ask_addresses=*/true);
      fixed["metadata"]["resourceVersion"] =
          created->value("metadata", json::object()).value("resourceVersion", "");
      created = api_->Update(kubeprism::kServices, service.namespace_, fixed);
      if (!created.ok()) {
        return absl::Status(created.status().code(), absl::StrCat("Service ", service.key(), ": ",
                                                                  created.status().message()));
      }
    }
    ASSIGN_OR_RETURN(auto addresses, ServiceAddresses(*created));
    state_.services.push_back({service.key(), addresses.first, addresses.second});
    RETURN_IF_ERROR(Save());
    Progress(absl::StrCat(
        "Service ", service.key(), " (", service.type, "): ", addresses.first, ":", service.port,
        addresses.second != 0 ? absl::StrCat(", nodePort ", addresses.second) : "",
        " -> app=", service.app, " port ", service.target_port));
  }
  if (auto s = ReconcileEndpointSlices(); !s.ok()) {
    Progress(absl::StrCat("EndpointSlices: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status Controller::ReconcileEndpointSlices() {
  const LabPlan& plan = state_.plan;
  const std::string& ns = plan.pod_namespace;
  ASSIGN_OR_RETURN(std::vector<json> services,
                   api_->List(kubeprism::kServices, ns, absl::StrCat(kLabLabel, "=", plan.prefix)));
  ASSIGN_OR_RETURN(std::vector<json> pods, api_->List(kubeprism::kPods, ns));
  ASSIGN_OR_RETURN(std::vector<json> slices, api_->List(kubeprism::kEndpointSlices, ns));
  SliceChanges changes = PlanSlices(services, pods, slices, plan.prefix);
  for (const std::string& p : changes.problems) {
    if (slice_problems_.insert(p).second) LogLine(p);
  }
  auto describe = [](const json& slice) {
    return absl::StrCat("EndpointSlice ", slice["metadata"]["namespace"].get<std::string>(), "/",
                        slice["metadata"]["name"].get<std::string>(), ": ",
                        slice["endpoints"].size(), " endpoints");
  };
  for (const json& slice : changes.create) {
    RETURN_IF_ERROR(CreateObject(kubeprism::kEndpointSlices, ns, slice).status());
    LogLine(absl::StrCat(describe(slice), " (created)"));
  }
  for (const json& slice : changes.update) {
    RETURN_IF_ERROR(api_->Update(kubeprism::kEndpointSlices, ns, slice).status());
    LogLine(absl::StrCat(describe(slice), " (updated)"));
  }
  for (const std::string& name : changes.remove) {
    RETURN_IF_ERROR(api_->Delete(kubeprism::kEndpointSlices, ns, name));
    LogLine(absl::StrCat("EndpointSlice ", ns, "/", name, " deleted (its Service is gone)"));
  }
  return absl::OkStatus();
}

absl::Status Controller::CreateCgroups() {
  // One cgroup per node under this machine's cgroup v2 mount, recorded first:
  // its agent attaches the socket programs there instead of the machine's root.
  for (const NodePlan& node : state_.plan.nodes) {
    if (node.cgroup.empty()) {
      return absl::InternalError(absl::StrCat("node ", node.name, ": no cgroup in the plan"));
    }
    state_.cgroups.push_back(node.cgroup);
    RETURN_IF_ERROR(Save());
    RETURN_IF_ERROR(cgroup::Create(node.cgroup));
  }
  const std::vector<NodePlan>& nodes = state_.plan.nodes;
  Progress(absl::StrCat("cgroups ", nodes.front().cgroup,
                        nodes.size() > 1 ? absl::StrCat(" .. ", nodes.back().cgroup) : "",
                        ": each node's processes and its socket-level Service translation"));
  return absl::OkStatus();
}

absl::StatusOr<KubeconfigSpec> Controller::AgentCredentials(const NodePlan& node) {
  KubeconfigSpec spec;
  // Through the node's KubePrism, as on Talos.
  spec.server = absl::StrCat("https://127.0.0.1:", kKubePrismPort);
  if (api_server_ != nullptr) {
    const std::string user = absl::StrCat("weft-agent:", node.name);
    ASSIGN_OR_RETURN(kubeprism::testing::LabCredentials creds,
                     api_server_->IssueClientCert(user, {"weft:agents"}, 365LL * 86400));
    spec.ca_pem = api_server_->ca_pem();
    spec.user = user;
    spec.client_cert_pem = creds.cert_pem;
    spec.client_key_pem = creds.key_pem;
  } else {
    spec.ca_pem = external_.ca_pem;
    // The relay is 127.0.0.1; the server's certificate names the real host.
    spec.tls_server_name =
        external_.tls_server_name.empty() ? upstream_host_ : external_.tls_server_name;
    spec.user = "weft-agent";
    spec.client_cert_pem = external_.client_cert_pem;
    spec.client_key_pem = external_.client_key_pem;
    spec.token = external_.token;
  }
  return spec;
}

absl::Status Controller::StartAgents() {
  for (const NodePlan& node : state_.plan.nodes) {
    if (state_.talos) {
      RETURN_IF_ERROR(StartContainer(node));
      continue;
    }
    RETURN_IF_ERROR(MakeDirs(node.dir, 0700));
    ASSIGN_OR_RETURN(KubeconfigSpec creds, AgentCredentials(node));
    RETURN_IF_ERROR(WriteFileAtomically(node.kubeconfig_path(), KubeconfigYaml(creds), 0600));
    RETURN_IF_ERROR(WriteFileAtomically(
        node.config_path(),
        AgentConfigYaml(state_.plan, node, state_.cni_plugin, state_.api_mode == "embedded"),
        0600));
    // The agent creates its pin folder: recorded first.
    state_.pin_dirs.push_back(node.pin_dir);
    RETURN_IF_ERROR(Save());

    netns::SpawnOptions options;
    options.argv = {state_.agent_binary, "--config", node.config_path()};
    options.netns_path = netns::PathOf(node.name);
    ASSIGN_OR_RETURN(
        pid_t pid, SpawnAgent(node, std::move(options), absl::StrCat("weft-agent on ", node.name)));
    // The agent runs in its node's cgroup, as a node's processes are below the
    // cgroup its socket programs attach to. Moved once started: what it made
    // before (nothing that connects to a Service) stays where it was.
    std::string in_cgroup = absl::StrCat(", cgroup ", node.cgroup);
    if (absl::Status s = MoveToCgroup(pid, node.cgroup); !s.ok()) {
      LogLine(absl::StrCat("weft-agent on ", node.name, ": ", s.message()));
      in_cgroup.clear();
    }
    Progress(absl::StrCat("weft-agent on ", node.name, ": pid ", pid, in_cgroup, ", log ",
                          node.log_path()));
  }
  return absl::OkStatus();
}

absl::StatusOr<pid_t> Controller::SpawnAgent(const NodePlan& node, netns::SpawnOptions options,
                                             const std::string& what) {
  int log = open(node.log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) {
    return absl::InternalError(absl::StrCat("open ", node.log_path(), ": ", strerror(errno)));
  }
  options.stdout_fd = log;
  options.stderr_fd = log;
  // In Talos mode runc passes the SIGTERM on to the agent, and deletes the container.
  options.terminate_with_parent = true;
  auto pid = netns::Spawn(options);
  close(log);
  if (!pid.ok()) {
    return absl::Status(pid.status().code(), absl::StrCat(what, ": ", pid.status().message()));
  }
  state_.agents.push_back({node.name, {*pid, options.argv}});
  agent_exited_.push_back(false);
  RETURN_IF_ERROR(Save());
  return *pid;
}

bool Controller::CheckAgents(std::string* which) {
  bool all = true;
  for (size_t i = 0; i < state_.agents.size(); ++i) {
    if (agent_exited_[i]) {
      all = false;
      continue;
    }
    int status = 0;
    if (waitpid(state_.agents[i].process.pid, &status, WNOHANG) == state_.agents[i].process.pid) {
      agent_exited_[i] = true;
      all = false;
      const NodePlan* node = state_.plan.FindNode(state_.agents[i].node);
      std::string message = absl::StrCat("weft-agent on ", state_.agents[i].node,
                                         " exited with code ", netns::ExitCode(status),
                                         node != nullptr ? LogTail(node->log_path(), 5) : "");
      LogLine(message);
      if (which != nullptr && which->empty()) *which = message;
    }
  }
  return all;
}

absl::Status Controller::WaitForAgents() {
  Progress("waiting for the agents' CNI configuration (the node is network-ready)");
  const absl::Duration timeout = absl::Seconds(state_.agent_timeout_seconds);
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    std::string exited;
    if (!CheckAgents(&exited)) {
      return absl::FailedPreconditionError(exited.empty() ? std::string("a weft-agent exited")
                                                          : exited);
    }
    std::vector<std::string> waiting;
    for (const NodePlan& node : state_.plan.nodes) {
      if (!FindNetworkConfig(node.cni_conf_dir()).ok()) waiting.push_back(node.name);
    }
    if (waiting.empty()) return absl::OkStatus();
    if (absl::Now() > deadline) {
      const NodePlan* node = state_.plan.FindNode(waiting.front());
      return absl::DeadlineExceededError(absl::StrCat(
          "no CNI configuration from the agent on ", absl::StrJoin(waiting, ", "), " after ",
          absl::FormatDuration(timeout), node != nullptr ? LogTail(node->log_path(), 5) : ""));
    }
    RETURN_IF_ERROR(CheckStop());
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status Controller::CreatePod(const PodPlan& pod) {
  const NodePlan* node = state_.plan.FindNode(pod.node);
  if (node == nullptr) return absl::InternalError(absl::StrCat("no node ", pod.node));
  // 1. The Pod object, bound to its node (the scheduler's part).
  RETURN_IF_ERROR(
      CreateObject(kubeprism::kPods, pod.namespace_, PodObject(state_.plan, pod)).status());
  // 2. The sandbox: a network namespace, and the pod's server inside it.
  state_.netns.push_back(pod.netns);
  RETURN_IF_ERROR(Save());
  RETURN_IF_ERROR(netns::Create(pod.netns));
  RETURN_IF_ERROR(
      servers_->AddGreeter(netns::PathOf(pod.netns), "0.0.0.0", pod.port, pod.greeting()));
  // 3. CNI ADD through the protocol, run in the node's namespace as the
  //    node's runtime would.
  ASSIGN_OR_RETURN(json result, CniAdd(NodeCni(state_, *node), PodAttachment(pod), kCniTimeout));
  ASSIGN_OR_RETURN(std::string ip, PodIpFromResult(result));
  state_.pods.push_back({pod.key(), ip, result});
  RETURN_IF_ERROR(Save());
  // 4. The Pod's status, as kubelet reports it.
  RETURN_IF_ERROR(api_->PatchStatus(kubeprism::kPods, pod.namespace_, pod.name,
                                    PodStatusPatch(ip, node->internal_ip.ToString())));
  Progress(absl::StrCat("pod ", pod.key(), " on ", pod.node, ": ", ip, ":", pod.port));
  // 5. The endpoint controller's part: the pod is an endpoint of its Services now.
  if (auto s = ReconcileEndpointSlices(); !s.ok()) {
    Progress(absl::StrCat("EndpointSlices: ", s.message()));
  }
  return absl::OkStatus();
}

// ---- Talos mode -------------------------------------------------------------

absl::Status Controller::PrepareTalosApiServer(kubeprism::testing::LabApiServerOptions* options) {
  const LabPlan& plan = state_.plan;
  const TalosState& talos = *state_.talos;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  ASSIGN_OR_RETURN(pki::CertificateAndKey ca, LoadKubernetesCa(talos.secrets, now));
  // The lab API server loads its CA from its folder: the cluster's Kubernetes CA,
  // so it authenticates certificates minted from the bundle (and signs its own
  // serving certificate with it, as Talos does for kube-apiserver).
  RETURN_IF_ERROR(MakeDirs(plan.apiserver_dir(), 0700));
  ASSIGN_OR_RETURN(std::string ca_pem, pki::CertificateToPem(ca.cert.get()));
  ASSIGN_OR_RETURN(std::string key_pem, pki::PrivateKeyToPem(ca.key.get()));
  RETURN_IF_ERROR(WriteFileAtomically(plan.apiserver_dir() + "/ca.key", key_pem, 0600));
  RETURN_IF_ERROR(WriteFileAtomically(plan.apiserver_dir() + "/ca.crt", ca_pem, 0644));
  talos_ca_ = std::move(ca);

  ASSIGN_OR_RETURN(generator::Spec spec, LabClusterSpec(plan));
  talos_spec_ = spec;
  const std::string patch = ControlPlanePatch(spec);
  RETURN_IF_ERROR(MakeDirs(plan.talos_dir(), 0700));
  RETURN_IF_ERROR(WriteFileAtomically(plan.controlplane_patch_path(), patch, 0600));
  std::string rbac = patch;
  std::string source = plan.controlplane_patch_path();
  if (!talos.rbac.empty()) {
    ASSIGN_OR_RETURN(rbac, ReadFile(talos.rbac));
    source = talos.rbac;
  }
  ASSIGN_OR_RETURN(options->rules, ApiServerRules(rbac, source));
  RETURN_IF_ERROR(WriteFileAtomically(plan.rules_path(),
                                      kubeprism::testing::LabRulesYaml(options->rules), 0600));
  Progress(absl::StrCat("Talos: Kubernetes CA of ", talos.secrets, "; RBAC of ", source, " (",
                        options->rules.size(), " rules with the built-in system:masters one, ",
                        plan.rules_path(), ")"));
  return absl::OkStatus();
}

absl::Status Controller::PrepareExtension() {
  const LabPlan& plan = state_.plan;
  const TalosState& talos = *state_.talos;
  ASSIGN_OR_RETURN(std::string version, RuncVersion(talos.runc));
  RETURN_IF_ERROR(CgroupV2Mount().status());
  ASSIGN_OR_RETURN(uint64_t bounding, CapabilityBoundingSet());
  capabilities_ = GrantableCapabilities(bounding);
  // Talos's -600 needs CAP_SYS_RESOURCE (bit 24) to lower the score.
  const bool sys_resource = (bounding >> 24) & 1;
  if (sys_resource) oom_score_adj_ = -600;
  ASSIGN_OR_RETURN(UnpackedExtension extension,
                   UnpackExtension(talos.extension_image, plan.extension_dir(), talos.service));
  for (const std::string& kind : extension.spec.depends) {
    // The lab starts the containers once the node namespaces are configured and
    // the ExtensionServiceConfig files are written; it emulates nothing else.
    if (kind != "network" && kind != "configuration") {
      return absl::FailedPreconditionError(absl::StrCat(extension.spec_path, ": depends on ", kind,
                                                        ", which the lab does not emulate"));
    }
  }
  Progress(absl::StrCat(
      "extension ", talos.extension_image, " unpacked in ", plan.extension_dir(), ": service ",
      extension.spec.name, ", entrypoint ", extension.spec.entrypoint, ", ",
      extension.spec.mounts.size(), " mounts; ", version, ", ", capabilities_.size(),
      " capabilities",
      sys_resource ? "" : " (no CAP_SYS_RESOURCE here: no OOM score -600 as on Talos)"));
  extension_ = std::move(extension);
  return absl::OkStatus();
}

absl::Status Controller::StartContainer(const NodePlan& node) {
  const LabPlan& plan = state_.plan;
  TalosState& talos = *state_.talos;
  const ServiceSpec& spec = extension_->spec;
  RETURN_IF_ERROR(MakeDirs(node.dir, 0700));

  // 1. `talosgen credentials --secrets <bundle> --node-name <node>`.
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  ASSIGN_OR_RETURN(std::string document,
                   NodeExtensionServiceConfig(*talos_spec_, *talos_ca_, node.name, now));
  RETURN_IF_ERROR(WriteFileAtomically(node.extension_service_config_path(), document, 0600));
  ASSIGN_OR_RETURN(ExtensionServiceConfig config,
                   ParseExtensionServiceConfig(document, node.extension_service_config_path()));
  if (config.name != spec.name) {
    return absl::FailedPreconditionError(
        absl::StrCat(node.extension_service_config_path(), ": ExtensionServiceConfig \"",
                     config.name, "\" is not for service \"", spec.name,
                     "\" (Talos would keep waiting for its configuration)"));
  }

  // 2. Its files where Talos writes them, bound read-only at their mountPaths.
  ContainerInputs in;
  RETURN_IF_ERROR(MakeDirs(node.extension_config_dir(), 0700));
  for (const ConfigFile& f : config.config_files) {
    const std::string host =
        absl::StrCat(node.extension_config_dir(), "/", TalosConfigFileName(f.mount_path));
    // Talos writes 0644 in a root-only folder; these hold the agent's key: 0600.
    RETURN_IF_ERROR(WriteFileAtomically(host, f.content, 0600));
    in.config_files.push_back({host, f.mount_path});
  }
  in.extra_env = config.environment;

  // 3. The spec's mounts: each host path is the node's own folder. bpffs: the
  //    node's pin folder mounted at /sys/fs/bpf, so the agent's default bpffsDir
  //    /sys/fs/bpf/weft is <pin folder>/weft on this machine (the config files stay
  //    as talosgen wrote them). cgroup v2: the node's own cgroup, so the agent's
  //    default cgroupPath /sys/fs/cgroup (a Talos node's root) is the node's
  //    folder here and its socket programs never attach to this machine's root.
  state_.pin_dirs.push_back(node.pin_dir);
  RETURN_IF_ERROR(Save());
  in.sources = {{"/sys/fs/bpf", node.pin_dir},
                {"/sys/fs/cgroup", node.cgroup},
                {"/opt/cni/bin", node.cni_bin_dir()},
                {"/etc/cni/net.d", node.cni_conf_dir()},
                {"/var/lib/weft", node.agent_state_dir()},
                {"/var/run/weft", node.run_dir()},
                {"/run/weft", node.run_dir()}};
  for (const SpecMount& m : spec.mounts) {
    auto source = in.sources.find(m.source);
    // Talos creates a missing source folder (0700) before it starts the service.
    if (source != in.sources.end() && source->first != "/sys/fs/cgroup") {
      RETURN_IF_ERROR(MakeDirs(source->second, 0700));
    }
  }
  RETURN_IF_ERROR(PrepareNodeRunView(node));
  in.rootfs = extension_->rootfs;
  in.netns_path = netns::PathOf(node.name);
  in.hostname = node.name;
  for (const char* file : {"/etc/hosts", "/etc/resolv.conf"}) {
    if (access(file, R_OK) == 0) in.host_files.push_back(file);
  }
  in.capabilities = capabilities_;
  in.oom_score_adj = oom_score_adj_;
  ASSIGN_OR_RETURN(json oci, OciRuntimeConfig(spec, in));
  RETURN_IF_ERROR(MakeDirs(node.bundle_dir(), 0700));
  RETURN_IF_ERROR(
      WriteFileAtomically(node.bundle_dir() + "/config.json", oci.dump(2) + "\n", 0600));

  // 4. runc, as Talos's containerd: the container's process is the agent.
  const std::string id = absl::StrCat(node.name, "-ext-", spec.name);
  talos.containers.push_back(id);
  RETURN_IF_ERROR(Save());
  netns::SpawnOptions options;
  options.argv = RuncRunArgv(Runc{talos.runc, plan.runc_root()}, node.bundle_dir(), id);
  ASSIGN_OR_RETURN(pid_t pid,
                   SpawnAgent(node, std::move(options), absl::StrCat("runc for ", node.name)));
  Progress(absl::StrCat("weft-agent on ", node.name, ": container ", id, " (runc pid ", pid, "), ",
                        config.config_files.size(),
                        " config files from its "
                        "ExtensionServiceConfig, log ",
                        node.log_path()));
  return absl::OkStatus();
}

void Controller::Serve() {
  sigset_t wait_for = stop_signals_;
  sigaddset(&wait_for, SIGCHLD);
  timespec second{1, 0};
  absl::Time next_resync = absl::Now() + kSliceResync;
  for (;;) {
    int sig = sigtimedwait(&wait_for, nullptr, &second);
    if (sig == SIGTERM || sig == SIGINT) {
      LogLine(absl::StrCat("stopping (", strsignal(sig), ")"));
      return;
    }
    // SIGCHLD or the periodic check: an agent that exits stays down (and
    // `weft lab status` says so) rather than being restarted behind the
    // tester's back; its log tells why.
    CheckAgents(nullptr);
    if (absl::Now() >= next_resync) {
      absl::Status s = ReconcileEndpointSlices();
      const std::string error = s.ok() ? "" : std::string(s.message());
      if (error != slice_error_) {
        LogLine(error.empty() ? "EndpointSlices: up to date again"
                              : absl::StrCat("EndpointSlices: ", error));
        slice_error_ = error;
      }
      next_resync = absl::Now() + kSliceResync;
    }
  }
}

void Controller::Shutdown() {
  for (size_t i = 0; i < state_.agents.size(); ++i) {
    const AgentRecord& agent = state_.agents[i];
    if (i < agent_exited_.size() && agent_exited_[i]) continue;
    absl::Status s =
        netns::Stop(agent.process.pid, netns::ExactCmdline(agent.process.cmdline), kAgentStopGrace);
    LogLine(absl::StrCat("weft-agent on ", agent.node, " (pid ", agent.process.pid,
                         "): ", s.ok() ? "stopped" : s.message()));
  }
  if (state_.talos) {
    // runc deletes a container whose process exited; one it could not stop is removed here.
    Runc runc{state_.talos->runc, state_.plan.runc_root()};
    for (const std::string& id : state_.talos->containers) {
      if (absl::Status s = RuncRemove(runc, id); !s.ok()) {
        LogLine(absl::StrCat("container ", id, ": ", s.message()));
      }
    }
  }
  if (servers_ != nullptr) servers_->Stop();
  if (api_server_ != nullptr) api_server_->Stop();
}

}  // namespace

int RunController(const ControllerOptions& options) {
  // Signals are taken with sigwait in the main thread: block them before any
  // thread exists so every thread inherits the mask. Children get a clean mask
  // (netns::Spawn).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  kubeprism::SetLogSink([](kubeprism::LogLevel, absl::string_view message) { LogLine(message); });

  auto state = ReadState(options.state_dir);
  if (!state.ok()) {
    LogLine(std::string(state.status().message()));
    if (options.ready_fd >= 0) {
      std::string line = absl::StrCat(kErrorPrefix, absl::CEscape(state.status().message()), "\n");
      (void)!write(options.ready_fd, line.data(), line.size());
    }
    return 1;
  }
  LogLine(absl::StrCat("lab ", state->plan.prefix, ": controller pid ", getpid()));
  Controller controller(*std::move(state), options.ready_fd);
  if (absl::Status s = controller.BringUp(); !s.ok()) {
    controller.ReportFailure(s);
    controller.Shutdown();
    return 1;
  }
  controller.Serve();
  controller.Shutdown();
  LogLine("stopped");
  return 0;
}

}  // namespace weft::lab
