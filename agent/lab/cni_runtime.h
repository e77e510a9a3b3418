// The container runtime's side of CNI, as containerd does it through libcni:
// pick the node's network configuration, run every plugin of the list with the
// CNI_* environment and its own configuration on stdin (the list's name and
// cniVersion injected, the previous plugin's result as prevResult), and keep
// the final result for DEL. The lab uses it to create pods exactly the way a
// kubelet would.
#ifndef WEFT_AGENT_LAB_CNI_RUNTIME_H_
#define WEFT_AGENT_LAB_CNI_RUNTIME_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/lab/plan.h"
#include "agent/lab/state.h"
#include "common/netns/process.h"
#include "nlohmann/json.hpp"

namespace weft::lab {

// The file a runtime loads from its configuration folder: the lexically first
// *.conflist, *.conf or *.json. NotFound when there is none.
absl::StatusOr<std::string> PickNetworkConfig(const std::vector<std::string>& file_names);

// The path of the configuration a runtime would load from `conf_dir`. NotFound
// while there is none (the node is not network-ready yet).
absl::StatusOr<std::string> FindNetworkConfig(const std::string& conf_dir);

struct NetworkConfig {
  std::string name;
  std::string cni_version;
  std::vector<nlohmann::json> plugins;  // as written in the file
};
// A .conflist ({name, cniVersion, plugins: [...]}) or a single-plugin .conf.
absl::StatusOr<NetworkConfig> ParseNetworkConfig(const std::string& text,
                                                 const std::string& source);

// stdin for plugin `index`: its configuration with the list's name and
// cniVersion, and `prev_result` when not null.
nlohmann::json PluginStdin(const NetworkConfig& config, size_t index,
                           const nlohmann::json& prev_result);

// One pod's attachment, the CNI_* variables a runtime sets.
struct CniAttachment {
  std::string container_id;
  std::string netns_path;  // the pod's namespace
  std::string ifname = "eth0";
  std::string pod_namespace;
  std::string pod_name;
};
// The plugin's whole environment (nothing inherited): CNI_COMMAND, CNI_CONTAINERID,
// CNI_NETNS, CNI_IFNAME, CNI_PATH, CNI_ARGS (with K8S_POD_* as kubelet's
// runtimes pass them) and a PATH.
std::vector<std::string> CniEnvironment(const std::string& command, const CniAttachment& pod,
                                        const std::string& cni_path);

// The first IPv4 address of a result ("10.200.1.2" from "10.200.1.2/32").
absl::StatusOr<std::string> PodIpFromResult(const nlohmann::json& result);

// A node as its runtime sees CNI: the namespace plugins run in (the node's),
// its plugin folder (CNI_PATH) and configuration folder.
struct CniNode {
  std::string netns_path;
  std::string bin_dir;
  std::string conf_dir;
  // The node's own view of fixed host paths, when it differs from this
  // machine's: plugins run in a private mount namespace with these bind mounts
  // (the lab's Talos mode gives them the node's /run, where the agent's socket is).
  std::vector<netns::BindMount> mounts;
};

// The lab's side of the above: a pod's attachment (its namespace, eth0, its
// container ID and name), and its node's CNI as the node's runtime sees it; in
// Talos mode with the node's /run, where the agent's socket is.
CniAttachment PodAttachment(const PodPlan& pod);
CniNode NodeCni(const LabState& state, const NodePlan& node);

// ADD of every plugin in the list, in order; returns the last result. On a
// plugin error the message carries its code, msg and details.
absl::StatusOr<nlohmann::json> CniAdd(const CniNode& node, const CniAttachment& pod,
                                      absl::Duration timeout);
// DEL of every plugin in reverse order with `prev_result` (the ADD result).
absl::Status CniDel(const CniNode& node, const CniAttachment& pod,
                    const nlohmann::json& prev_result, absl::Duration timeout);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_CNI_RUNTIME_H_
