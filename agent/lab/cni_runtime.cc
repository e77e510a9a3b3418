#include "agent/lab/cni_runtime.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/lab/talos_node.h"
#include "common/file_util.h"
#include "common/net/ip.h"
#include "common/netns/netns.h"
#include "common/netns/process.h"
#include "common/status_macros.h"

namespace weft::lab {
namespace {

using nlohmann::json;

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(dir, " does not exist"));
    return absl::InternalError(absl::StrCat("list ", dir, ": ", strerror(errno)));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) names.emplace_back(e->d_name);
  closedir(d);
  return names;
}

absl::StatusOr<NetworkConfig> LoadNetworkConfig(const std::string& conf_dir) {
  ASSIGN_OR_RETURN(std::string path, FindNetworkConfig(conf_dir));
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseNetworkConfig(text, path);
}

// Runs one plugin; the parsed stdout on success (null when it printed nothing).
absl::StatusOr<json> Invoke(const CniNode& node, const std::string& command,
                            const CniAttachment& pod, const json& conf, absl::Duration timeout) {
  const std::string type = conf.value("type", "");
  if (type.empty() || absl::StrContains(type, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin type \"", type, "\" is not a plugin name"));
  }
  const std::string plugin = absl::StrCat(node.bin_dir, "/", type);
  if (access(plugin.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("CNI plugin ", type, " not found in ", node.bin_dir));
  }
  netns::SpawnOptions options;
  options.argv = {plugin};
  options.env = CniEnvironment(command, pod, node.bin_dir);
  options.netns_path = node.netns_path;
  options.mounts = node.mounts;
  ASSIGN_OR_RETURN(netns::ProcessResult run, netns::RunProcess(options, conf.dump(), timeout));
  const std::string what =
      absl::StrCat(type, " ", command, " for ", pod.pod_namespace, "/", pod.pod_name);
  json out = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  if (run.exit_code != 0) {
    if (!out.is_discarded() && out.is_object() && out.contains("msg")) {
      std::string message = absl::StrCat(what, ": ", out.value("msg", ""));
      if (out.contains("details") && out["details"].is_string()) {
        absl::StrAppend(&message, ": ", out["details"].get<std::string>());
      }
      absl::StrAppend(&message, " (CNI error ", out.value("code", 0), ")");
      return absl::FailedPreconditionError(message);
    }
    return absl::InternalError(absl::StrCat(what, ": exit code ", run.exit_code, ": ",
                                            absl::StripAsciiWhitespace(run.err)));
  }
  if (absl::StripAsciiWhitespace(run.out).empty()) return json();
  if (out.is_discarded()) {
    return absl::InternalError(absl::StrCat(what, ": result is not JSON: ", run.out));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> PickNetworkConfig(const std::vector<std::string>& file_names) {
  std::vector<std::string> candidates;
  for (const std::string& name : file_names) {
    if (absl::EndsWith(name, ".conflist") || absl::EndsWith(name, ".conf") ||
        absl::EndsWith(name, ".json")) {
      candidates.push_back(name);
    }
  }
  if (candidates.empty()) return absl::NotFoundError("no *.conflist, *.conf or *.json file");
  return *std::min_element(candidates.begin(), candidates.end());
}

absl::StatusOr<std::string> FindNetworkConfig(const std::string& conf_dir) {
  auto names = ListDir(conf_dir);
  auto picked = names.ok() ? PickNetworkConfig(*names) : names.status();
  if (!picked.ok()) {
    return absl::NotFoundError(absl::StrCat("no CNI network configuration in ", conf_dir));
  }
  return absl::StrCat(conf_dir, "/", *picked);
}

absl::StatusOr<NetworkConfig> ParseNetworkConfig(const std::string& text,
                                                 const std::string& source) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  NetworkConfig config;
  if (!j.contains("name") || !j["name"].is_string() || !j.contains("cniVersion") ||
      !j["cniVersion"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": needs string fields name and cniVersion"));
  }
  config.name = j["name"].get<std::string>();
  config.cni_version = j["cniVersion"].get<std::string>();
  if (j.contains("plugins")) {
    if (!j["plugins"].is_array() || j["plugins"].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": plugins must be a non-empty list"));
    }
    for (const json& p : j["plugins"]) {
      if (!p.is_object() || !p.contains("type") || !p["type"].is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": every plugin needs a string type"));
      }
      config.plugins.push_back(p);
    }
  } else {
    if (!j.contains("type") || !j["type"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": needs plugins or a type"));
    }
    config.plugins.push_back(j);
  }
  return config;
}

json PluginStdin(const NetworkConfig& config, size_t index, const json& prev_result) {
  json conf = config.plugins.at(index);
  conf["name"] = config.name;
  conf["cniVersion"] = config.cni_version;
  if (!prev_result.is_null()) conf["prevResult"] = prev_result;
  return conf;
}

std::vector<std::string> CniEnvironment(const std::string& command, const CniAttachment& pod,
                                        const std::string& cni_path) {
  return {
      absl::StrCat("CNI_COMMAND=", command),
      absl::StrCat("CNI_CONTAINERID=", pod.container_id),
      absl::StrCat("CNI_NETNS=", pod.netns_path),
      absl::StrCat("CNI_IFNAME=", pod.ifname),
      absl::StrCat("CNI_PATH=", cni_path),
      absl::StrCat("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=", pod.pod_namespace,
                   ";K8S_POD_NAME=", pod.pod_name,
                   ";K8S_POD_INFRA_CONTAINER_ID=", pod.container_id),
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  };
}

absl::StatusOr<std::string> PodIpFromResult(const json& result) {
  if (result.is_object() && result.contains("ips") && result["ips"].is_array()) {
    for (const json& ip : result["ips"]) {
      std::string address = ip.value("address", "");
      std::string host = address.substr(0, address.find('/'));
      auto parsed = net::IpAddress::Parse(host);
      if (parsed.ok() && parsed->is_v4()) return host;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("CNI result has no IPv4 address: ", result.dump()));
}

CniAttachment PodAttachment(const PodPlan& pod) {
  return {pod.container_id, netns::PathOf(pod.netns), "eth0", pod.namespace_, pod.name};
}

CniNode NodeCni(const LabState& state, const NodePlan& node) {
  CniNode cni{netns::PathOf(node.name), node.cni_bin_dir(), node.cni_conf_dir(), {}};
  // On a Talos node containerd runs the plugin on the host, where the agent's
  // socket is /var/run/weft/weft.sock (the conflist says so): give the plugin
  // the node's /run.
  if (state.talos) cni.mounts = NodeRunView(node);
  return cni;
}

absl::StatusOr<json> CniAdd(const CniNode& node, const CniAttachment& pod, absl::Duration timeout) {
  ASSIGN_OR_RETURN(NetworkConfig config, LoadNetworkConfig(node.conf_dir));
  json result;
  for (size_t i = 0; i < config.plugins.size(); ++i) {
    ASSIGN_OR_RETURN(result, Invoke(node, "ADD", pod, PluginStdin(config, i, result), timeout));
  }
  return result;
}

absl::Status CniDel(const CniNode& node, const CniAttachment& pod, const json& prev_result,
                    absl::Duration timeout) {
  ASSIGN_OR_RETURN(NetworkConfig config, LoadNetworkConfig(node.conf_dir));
  for (size_t i = config.plugins.size(); i-- > 0;) {
    RETURN_IF_ERROR(
        Invoke(node, "DEL", pod, PluginStdin(config, i, prev_result), timeout).status());
  }
  return absl::OkStatus();
}

}  // namespace weft::lab
