#include "agent/lab/objects.h"

#include <yaml-cpp/yaml.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace weft::lab {

using nlohmann::json;

json NamespaceObject(const LabPlan& plan) {
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", {{"name", plan.pod_namespace}, {"labels", {{kLabLabel, plan.prefix}}}}}};
}

json NodeObject(const LabPlan& plan, const NodePlan& node) {
  const std::string cidr = node.pod_cidr.ToString();
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata",
           {{"name", node.name},
            {"labels",
             {{kLabLabel, plan.prefix},
              {"kubernetes.io/hostname", node.name},
              {"kubernetes.io/os", "linux"}}}}},
          {"spec",
           {{"podCIDR", cidr},
            {"podCIDRs", {cidr}},
            {"unschedulable", true},
            {"taints", {{{"key", kLabLabel}, {"value", plan.prefix}, {"effect", "NoSchedule"}}}}}}};
}

json NodeStatusPatch(const NodePlan& node) {
  return {{"status",
           {{"addresses",
             {{{"type", "InternalIP"}, {"address", node.internal_ip.ToString()}},
              {{"type", "Hostname"}, {"address", node.name}}}}}}};
}

json PodObject(const LabPlan& plan, const PodPlan& pod) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"namespace", pod.namespace_},
        {"name", pod.name},
        {"labels", {{"app", pod.name}, {kLabLabel, plan.prefix}}}}},
      {"spec",
       {{"nodeName", pod.node},
        {"automountServiceAccountToken", false},
        {"tolerations", {{{"operator", "Exists"}}}},
        // Never pulled or run: the lab's controller answers on the port itself.
        {"containers",
         {{{"name", pod.name},
           {"image", "registry.k8s.io/pause:3.10"},
           {"ports",
            {{{"name", pod.port_name}, {"containerPort", pod.port}, {"protocol", "TCP"}}}}}}}}},
  };
}

json ServiceObject(const LabPlan& plan, const ServicePlan& service, bool ask_addresses) {
  json port = {{"name", service.port_name}, {"port", service.port}, {"protocol", "TCP"}};
  int number = 0;
  if (absl::SimpleAtoi(service.target_port, &number)) {
    port["targetPort"] = number;
  } else {
    port["targetPort"] = service.target_port;
  }
  if (ask_addresses && service.node_port != 0) port["nodePort"] = service.node_port;
  json spec = {{"type", service.type}, {"selector", {{"app", service.app}}}, {"ports", {port}}};
  if (ask_addresses && !service.cluster_ip.empty()) {
    spec["clusterIP"] = service.cluster_ip;
    spec["clusterIPs"] = {service.cluster_ip};
  }
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"namespace", service.namespace_},
            {"name", service.name},
            {"labels", {{"app", service.app}, {kLabLabel, plan.prefix}}}}},
          {"spec", spec}};
}

absl::StatusOr<std::pair<std::string, int>> ServiceAddresses(const json& service) {
  const json spec = service.value("spec", json::object());
  const std::string name =
      service.value("metadata", json::object()).value("name", std::string("(unnamed)"));
  const json ip = spec.value("clusterIP", json());
  if (!ip.is_string() || ip.get<std::string>().empty() || ip.get<std::string>() == "None") {
    return absl::FailedPreconditionError(
        absl::StrCat("Service ", name, ": the API server gave it no cluster IP"));
  }
  int node_port = 0;
  const json ports = spec.value("ports", json::array());
  if (ports.is_array() && !ports.empty() && ports[0].is_object()) {
    const json np = ports[0].value("nodePort", json());
    if (np.is_number_integer()) node_port = np.get<int>();
  }
  return std::make_pair(ip.get<std::string>(), node_port);
}

json PodStatusPatch(const std::string& pod_ip, const std::string& host_ip) {
  json conditions = json::array();
  for (const char* type : {"Initialized", "PodScheduled", "ContainersReady", "Ready"}) {
    conditions.push_back({{"type", type}, {"status", "True"}});
  }
  return {{"status",
           {{"phase", "Running"},
            {"conditions", conditions},
            {"hostIP", host_ip},
            {"hostIPs", {{{"ip", host_ip}}}},
            {"podIP", pod_ip},
            {"podIPs", {{{"ip", pod_ip}}}}}}};
}

std::string AgentConfigYaml(const LabPlan& plan, const NodePlan& node,
                            const std::string& cni_plugin, bool service_range) {
  YAML::Emitter out;
  out << YAML::Comment(
      absl::StrCat("weft-agent config for lab node ", node.name, " (written by `weft lab up`)"));
  out << YAML::BeginMap;
  out << YAML::Key << "nodeName" << YAML::Value << node.name;
  out << YAML::Key << "kubeconfig" << YAML::Value << node.kubeconfig_path();
  out << YAML::Key << "routing" << YAML::Value << plan.routing;
  out << YAML::Key << "directRoutes" << YAML::Value << true;
  out << YAML::Key << "devices" << YAML::Value << YAML::Flow << YAML::BeginSeq << node.device
      << YAML::EndSeq;
  out << YAML::Key << "podCIDRSource" << YAML::Value << "node";
  out << YAML::Key << "nativeRoutingCIDR" << YAML::Value << plan.cluster_cidr.ToString();
  out << YAML::Key << "masquerade" << YAML::Value << true;
  out << YAML::Key << "stateDir" << YAML::Value << node.agent_state_dir();
  out << YAML::Key << "runDir" << YAML::Value << node.run_dir();
  out << YAML::Key << "bpffsDir" << YAML::Value << node.pin_dir;
  out << YAML::Key << "cniBinDir" << YAML::Value << node.cni_bin_dir();
  out << YAML::Key << "cniConfDir" << YAML::Value << node.cni_conf_dir();
  out << YAML::Key << "cniPlugin" << YAML::Value << cni_plugin;
  // Services in eBPF, the socket programs on the node's own cgroup: on this
  // shared kernel the machine's root cgroup is nobody's to take.
  out << YAML::Key << "kubeProxyReplacement" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "enabled" << YAML::Value << true;
  out << YAML::Key << "cgroupPath" << YAML::Value << node.cgroup;
  if (service_range) {
    out << YAML::Key << "serviceCIDRs" << YAML::Value << YAML::Flow << YAML::BeginSeq
        << plan.service_cidr.ToString() << YAML::EndSeq;
  }
  out << YAML::EndMap;
  if (plan.encryption == "wireguard") {
    // wireguard-go (this machine has no WireGuard module); an interface name
    // of the lab's own, so the nodes' UAPI sockets never collide.
    out << YAML::Key << "encryption" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "type" << YAML::Value << "wireguard";
    out << YAML::Key << "backend" << YAML::Value << "userspace";
    out << YAML::Key << "interface" << YAML::Value << node.wg_interface();
    if (plan.encryption_strict) out << YAML::Key << "strictMode" << YAML::Value << true;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string KubeconfigYaml(const KubeconfigSpec& spec) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "v1";
  out << YAML::Key << "kind" << YAML::Value << "Config";
  out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "lab";
  out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << spec.server;
  out << YAML::Key << "certificate-authority-data" << YAML::Value
      << absl::Base64Escape(spec.ca_pem);
  if (!spec.tls_server_name.empty()) {
    out << YAML::Key << "tls-server-name" << YAML::Value << spec.tls_server_name;
  }
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << spec.user;
  out << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
  if (!spec.client_cert_pem.empty()) {
    out << YAML::Key << "client-certificate-data" << YAML::Value
        << absl::Base64Escape(spec.client_cert_pem);
    out << YAML::Key << "client-key-data" << YAML::Value << absl::Base64Escape(spec.client_key_pem);
  }
  if (!spec.token.empty()) out << YAML::Key << "token" << YAML::Value << spec.token;
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "lab";
  out << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cluster" << YAML::Value << "lab";
  out << YAML::Key << "user" << YAML::Value << spec.user;
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "current-context" << YAML::Value << "lab";
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<HostPort> ParseServerUrl(const std::string& url) {
  constexpr absl::string_view kScheme = "https://";
  if (!absl::StartsWith(url, kScheme)) {
    return absl::InvalidArgumentError(absl::StrCat("server \"", url, "\" is not an https:// URL"));
  }
  std::string rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  HostPort hp;
  std::string port_text;
  if (absl::StartsWith(rest, "[")) {
    size_t close = rest.find(']');
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("server \"", url, "\": unterminated [IPv6]"));
    }
    hp.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        return absl::InvalidArgumentError(absl::StrCat("server \"", url, "\": junk after ]"));
      }
      port_text = rest.substr(close + 2);
    }
  } else {
    size_t colon = rest.rfind(':');
    hp.host = rest.substr(0, colon);
    if (colon != std::string::npos) port_text = rest.substr(colon + 1);
  }
  if (hp.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("server \"", url, "\": no host"));
  }
  if (!port_text.empty() &&
      (!absl::SimpleAtoi(port_text, &hp.port) || hp.port < 1 || hp.port > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat("server \"", url, "\": bad port \"", port_text, "\""));
  }
  return hp;
}

}  // namespace weft::lab
