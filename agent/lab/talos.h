// The lab's Talos mode, pure part: what Talos does with Weft's system extension
// on a node, as data. The extension service spec (the image's
// /usr/local/etc/containers/weft.yaml) and the ExtensionServiceConfig document
// from `talosgen credentials` become the OCI runtime configuration (config.json)
// of the container Talos's containerd would run (FACTS §4.1, §5.3, §5.4); runc
// runs it. The host paths of the spec's mounts are mapped to the lab node's own
// folders, so several "nodes" share one machine.
#ifndef WEFT_AGENT_LAB_TALOS_H_
#define WEFT_AGENT_LAB_TALOS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace weft::lab {

// Where a Talos system extension's service specs live inside the image's rootfs,
// and the root filesystem of service <name> (FACTS §5.3).
inline constexpr char kExtensionSpecDir[] = "/usr/local/etc/containers";
inline constexpr char kExtensionRootfsDir[] = "/usr/local/lib/containers";

// One `container.mounts` entry (an OCI mount).
struct SpecMount {
  std::string source;
  std::string destination;
  std::string type;
  std::vector<std::string> options;
};

// An extension service spec (talos pkg/machinery/extensions/services).
struct ServiceSpec {
  std::string name;
  std::string entrypoint;
  std::vector<std::string> args;
  std::vector<std::string> environment;
  std::vector<SpecMount> mounts;
  bool writeable_rootfs = false;
  bool writeable_sysfs = false;
  // nullopt: the runtime's defaults; an empty list: none.
  std::optional<std::vector<std::string>> masked_paths;
  std::optional<std::vector<std::string>> readonly_paths;
  std::string rootfs_propagation;
  // One entry per `depends` item: "network" (with `network`), "configuration",
  // "service", "path" or "time".
  std::vector<std::string> depends;
  std::vector<std::string> network;  // the `network` conditions
  std::string restart;
};

// Parses and checks what Talos checks (name, entrypoint, restart, one kind per
// dependency). Unknown keys are ignored, as Talos does; `environmentFile`
// (deprecated, and a file on the host) is refused.
absl::StatusOr<ServiceSpec> ParseServiceSpec(const std::string& yaml, const std::string& source);

struct ConfigFile {
  std::string mount_path;
  std::string content;
};

// The ExtensionServiceConfig document (FACTS §4.1).
struct ExtensionServiceConfig {
  std::string name;
  std::vector<ConfigFile> config_files;
  std::vector<std::string> environment;
};
absl::StatusOr<ExtensionServiceConfig> ParseExtensionServiceConfig(const std::string& yaml,
                                                                   const std::string& source);

// The file name Talos gives a config file under /system/overlays/extensions/<name>/:
// the mountPath without its leading "/", each "/" turned into "-"
// ("/etc/weft/agent.yaml" -> "etc-weft-agent.yaml").
std::string TalosConfigFileName(const std::string& mount_path);

// "CAP_CHOWN", ... for the bits of a capability mask (/proc/<pid>/status CapBnd).
std::vector<std::string> CapabilityNames(uint64_t mask);
// What Talos grants an extension service: every capability of the bounding set
// except CAP_SYS_BOOT and CAP_SYS_MODULE.
std::vector<std::string> GrantableCapabilities(uint64_t bounding_set);

// Everything about the lab node the container needs besides the spec.
struct ContainerInputs {
  std::string rootfs;      // absolute: the unpacked <kExtensionRootfsDir>/<name>
  std::string netns_path;  // the node's network namespace: Talos runs it in the host's
  std::string hostname;
  // The host path each mount source of the spec stands for on this node
  // ("/sys/fs/bpf" -> the node's bpffs folder). A source without an entry is an error.
  std::map<std::string, std::string> sources;
  // Host file -> mountPath: the ExtensionServiceConfig's files, read-only.
  std::vector<std::pair<std::string, std::string>> config_files;
  // Host files bound read-only at the same path, as Talos binds /etc/hosts and
  // /etc/resolv.conf (the ones this machine has).
  std::vector<std::string> host_files;
  std::vector<std::string> extra_env;     // the ExtensionServiceConfig's environment
  std::vector<std::string> capabilities;  // GrantableCapabilities of this machine
  // Talos gives extension services -600. Lowering it needs CAP_SYS_RESOURCE, which
  // not every machine running the lab has: nullopt leaves runc's own.
  std::optional<int> oom_score_adj = -600;
};

// The OCI runtime config (config.json) of the service container:
//   process   entrypoint + args, root, cwd /, PATH + the spec's and the config's
//             environment, the capabilities, noNewPrivileges, the OOM score
//   root      the rootfs, read-only unless writeableRootfs
//   mounts    containerd's defaults (/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue,
//             /sys read-only unless writeableSysfs, /run), `host_files` read-only,
//             the spec's mounts with their sources mapped, then
//             the config files read-only at their mountPaths
//   linux     own PID, mount and UTS namespaces, the node's network namespace (host
//             IPC), every device allowed, masked and read-only paths (containerd's
//             defaults unless the spec sets them), rootfsPropagation
absl::StatusOr<nlohmann::json> OciRuntimeConfig(const ServiceSpec& spec,
                                                const ContainerInputs& inputs);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_TALOS_H_
