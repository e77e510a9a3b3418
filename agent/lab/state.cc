#include "agent/lab/state.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace weft::lab {
namespace {

using nlohmann::json;

constexpr int kStateVersion = 1;

// Thrown inside StateFromJson only, caught at its edge.
struct BadField : std::exception {
  explicit BadField(std::string m) : message(std::move(m)) {}
  std::string message;
};

net::IpAddress Address(const json& j, const char* field) {
  auto ip = net::IpAddress::Parse(j.at(field).get<std::string>());
  if (!ip.ok()) throw BadField(absl::StrCat(field, ": ", ip.status().message()));
  return *ip;
}

net::IpPrefix Prefix(const json& j, const char* field) {
  auto p = net::IpPrefix::Parse(j.at(field).get<std::string>());
  if (!p.ok()) throw BadField(absl::StrCat(field, ": ", p.status().message()));
  return *p;
}

json ProcessJson(const ProcessRecord& p) { return {{"pid", p.pid}, {"cmdline", p.cmdline}}; }

ProcessRecord ProcessFrom(const json& j) {
  ProcessRecord p;
  p.pid = j.value("pid", 0);
  p.cmdline = j.value("cmdline", std::vector<std::string>{});
  return p;
}

json PlanJson(const LabPlan& plan) {
  json nodes = json::array();
  for (const NodePlan& n : plan.nodes) {
    nodes.push_back({{"name", n.name},
                     {"labVeth", n.lab_veth},
                     {"device", n.device},
                     {"internalIP", n.internal_ip.ToString()},
                     {"podCIDR", n.pod_cidr.ToString()},
                     {"pinDir", n.pin_dir},
                     {"cgroup", n.cgroup},
                     {"dir", n.dir}});
  }
  json pods = json::array();
  for (const PodPlan& p : plan.pods) {
    pods.push_back({{"namespace", p.namespace_},
                    {"name", p.name},
                    {"node", p.node},
                    {"port", p.port},
                    {"portName", p.port_name},
                    {"netns", p.netns},
                    {"containerID", p.container_id}});
  }
  json services = json::array();
  for (const ServicePlan& s : plan.services) {
    services.push_back({{"namespace", s.namespace_},
                        {"name", s.name},
                        {"type", s.type},
                        {"port", s.port},
                        {"portName", s.port_name},
                        {"targetPort", s.target_port},
                        {"app", s.app},
                        {"clusterIP", s.cluster_ip},
                        {"nodePort", s.node_port}});
  }
  return {{"id", plan.id},
          {"prefix", plan.prefix},
          {"stateDir", plan.state_dir},
          {"labNetns", plan.lab_netns},
          {"bridge", plan.bridge},
          {"segment", plan.segment.ToString()},
          {"gateway", plan.gateway.ToString()},
          {"outside", plan.outside.ToString()},
          {"clusterCIDR", plan.cluster_cidr.ToString()},
          {"serviceCIDR", plan.service_cidr.ToString()},
          {"routing", plan.routing},
          {"encryption", plan.encryption},
          {"encryptionStrict", plan.encryption_strict},
          {"podNamespace", plan.pod_namespace},
          {"nodes", nodes},
          {"pods", pods},
          {"services", services}};
}

LabPlan PlanFrom(const json& j) {
  LabPlan plan;
  plan.id = j.at("id").get<std::string>();
  plan.prefix = j.at("prefix").get<std::string>();
  plan.state_dir = j.at("stateDir").get<std::string>();
  plan.lab_netns = j.at("labNetns").get<std::string>();
  plan.bridge = j.at("bridge").get<std::string>();
  plan.segment = Prefix(j, "segment");
  plan.gateway = Address(j, "gateway");
  plan.outside = Address(j, "outside");
  plan.cluster_cidr = Prefix(j, "clusterCIDR");
  // Labs made before Services had none.
  if (j.contains("serviceCIDR")) plan.service_cidr = Prefix(j, "serviceCIDR");
  plan.routing = j.value("routing", "native");
  plan.encryption = j.value("encryption", "none");
  plan.encryption_strict = j.value("encryptionStrict", false);
  plan.pod_namespace = j.at("podNamespace").get<std::string>();
  for (const json& n : j.at("nodes")) {
    NodePlan node;
    node.name = n.at("name").get<std::string>();
    node.lab_veth = n.at("labVeth").get<std::string>();
    node.device = n.at("device").get<std::string>();
    node.internal_ip = Address(n, "internalIP");
    node.pod_cidr = Prefix(n, "podCIDR");
    node.pin_dir = n.at("pinDir").get<std::string>();
    node.cgroup = n.value("cgroup", "");
    node.dir = n.at("dir").get<std::string>();
    plan.nodes.push_back(std::move(node));
  }
  for (const json& p : j.at("pods")) {
    PodPlan pod;
    pod.namespace_ = p.at("namespace").get<std::string>();
    pod.name = p.at("name").get<std::string>();
    pod.node = p.at("node").get<std::string>();
    pod.port = p.at("port").get<int>();
    pod.port_name = p.value("portName", "");
    pod.netns = p.at("netns").get<std::string>();
    pod.container_id = p.at("containerID").get<std::string>();
    plan.pods.push_back(std::move(pod));
  }
  for (const json& s : j.value("services", json::array())) {
    ServicePlan service;
    service.namespace_ = s.at("namespace").get<std::string>();
    service.name = s.at("name").get<std::string>();
    service.type = s.at("type").get<std::string>();
    service.port = s.at("port").get<int>();
    service.port_name = s.value("portName", "");
    service.target_port = s.at("targetPort").get<std::string>();
    service.app = s.at("app").get<std::string>();
    service.cluster_ip = s.value("clusterIP", "");
    service.node_port = s.value("nodePort", 0);
    plan.services.push_back(std::move(service));
  }
  return plan;
}

}  // namespace

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kStarting:
      return "starting";
    case Phase::kReady:
      return "ready";
    case Phase::kFailed:
      return "failed";
  }
  return "unknown";
}

const PodRecord* LabState::FindPod(const std::string& key) const {
  for (const PodRecord& p : pods) {
    if (p.key == key) return &p;
  }
  return nullptr;
}

const ServiceRecord* LabState::FindService(const std::string& key) const {
  for (const ServiceRecord& s : services) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

std::string StateToJson(const LabState& state) {
  json agents = json::array();
  for (const AgentRecord& a : state.agents) {
    agents.push_back({{"node", a.node}, {"process", ProcessJson(a.process)}});
  }
  json objects = json::array();
  for (const ApiObjectRecord& o : state.api_objects) {
    objects.push_back({{"resource", o.resource}, {"namespace", o.namespace_}, {"name", o.name}});
  }
  json pods = json::array();
  for (const PodRecord& p : state.pods) {
    pods.push_back({{"key", p.key}, {"ip", p.ip}, {"cniResult", p.cni_result}});
  }
  json services = json::array();
  for (const ServiceRecord& s : state.services) {
    services.push_back({{"key", s.key}, {"clusterIP", s.cluster_ip}, {"nodePort", s.node_port}});
  }
  json j = {{"version", kStateVersion},
            {"plan", PlanJson(state.plan)},
            {"phase", PhaseName(state.phase)},
            {"error", state.error},
            {"apiMode", state.api_mode},
            {"apiServer", state.api_server},
            {"adminKubeconfig", state.admin_kubeconfig},
            {"agentBinary", state.agent_binary},
            {"cniPlugin", state.cni_plugin},
            {"agentTimeoutSeconds", state.agent_timeout_seconds},
            {"controller", ProcessJson(state.controller)},
            {"agents", agents},
            {"netns", state.netns},
            {"pinDirs", state.pin_dirs},
            {"cgroups", state.cgroups},
            {"apiObjects", objects},
            {"pods", pods},
            {"services", services}};
  if (state.talos) {
    const TalosState& t = *state.talos;
    j["talos"] = {{"secrets", t.secrets},
                  {"secretsGenerated", t.secrets_generated},
                  {"rbac", t.rbac},
                  {"extensionImage", t.extension_image},
                  {"runc", t.runc},
                  {"service", t.service},
                  {"containers", t.containers}};
  }
  return j.dump(2) + "\n";
}

absl::StatusOr<LabState> StateFromJson(const std::string& text, const std::string& source) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(source, ": not a JSON object"));
  }
  if (j.value("version", 0) != kStateVersion) {
    return absl::FailedPreconditionError(absl::StrCat(source, ": state version ",
                                                      j.value("version", 0), " (this weft reads ",
                                                      kStateVersion, ")"));
  }
  try {
    LabState state;
    state.plan = PlanFrom(j.at("plan"));
    const std::string phase = j.at("phase").get<std::string>();
    if (phase == "starting") {
      state.phase = Phase::kStarting;
    } else if (phase == "ready") {
      state.phase = Phase::kReady;
    } else if (phase == "failed") {
      state.phase = Phase::kFailed;
    } else {
      throw BadField(absl::StrCat("phase: \"", phase, "\" is unknown"));
    }
    state.error = j.value("error", "");
    state.api_mode = j.value("apiMode", "embedded");
    state.api_server = j.value("apiServer", "");
    state.admin_kubeconfig = j.value("adminKubeconfig", "");
    state.agent_binary = j.value("agentBinary", "");
    state.cni_plugin = j.value("cniPlugin", "");
    state.agent_timeout_seconds = j.value("agentTimeoutSeconds", 90);
    if (j.contains("talos")) {
      const json& t = j.at("talos");
      TalosState talos;
      talos.secrets = t.value("secrets", "");
      talos.secrets_generated = t.value("secretsGenerated", false);
      talos.rbac = t.value("rbac", "");
      talos.extension_image = t.value("extensionImage", "");
      talos.runc = t.value("runc", "runc");
      talos.service = t.value("service", "weft");
      talos.containers = t.value("containers", std::vector<std::string>{});
      state.talos = std::move(talos);
    }
    state.controller = ProcessFrom(j.value("controller", json::object()));
    for (const json& a : j.value("agents", json::array())) {
      state.agents.push_back({a.at("node").get<std::string>(), ProcessFrom(a.at("process"))});
    }
    state.netns = j.value("netns", std::vector<std::string>{});
    state.pin_dirs = j.value("pinDirs", std::vector<std::string>{});
    state.cgroups = j.value("cgroups", std::vector<std::string>{});
    for (const json& o : j.value("apiObjects", json::array())) {
      state.api_objects.push_back({o.at("resource").get<std::string>(),
                                   o.at("namespace").get<std::string>(),
                                   o.at("name").get<std::string>()});
    }
    for (const json& p : j.value("pods", json::array())) {
      state.pods.push_back({p.at("key").get<std::string>(), p.at("ip").get<std::string>(),
                            p.value("cniResult", json())});
    }
    for (const json& s : j.value("services", json::array())) {
      state.services.push_back(
          {s.at("key").get<std::string>(), s.value("clusterIP", ""), s.value("nodePort", 0)});
    }
    return state;
  } catch (const BadField& e) {
    return absl::DataLossError(absl::StrCat(source, ": ", e.message));
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(source, ": ", e.what()));
  }
}

absl::Status WriteState(const LabState& state) {
  // It names the admin kubeconfig and holds nothing secret, but only root
  // runs the lab: 0600 like everything else under the state folder.
  return WriteFileAtomically(state.plan.state_path(), StateToJson(state), 0600);
}

absl::StatusOr<LabState> ReadState(const std::string& state_dir) {
  const std::string path = state_dir + "/lab.json";
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) {
      return absl::NotFoundError(absl::StrCat("no lab in ", state_dir, " (no lab.json)"));
    }
    return text.status();
  }
  return StateFromJson(*text, path);
}

}  // namespace weft::lab
