#include "agent/lab/talos.h"

#include <yaml-cpp/yaml.h>

#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace weft::lab {
namespace {

using nlohmann::json;

// Thrown inside the parsers only, caught at their edge.
struct BadSpec : std::exception {
  explicit BadSpec(std::string m) : message(std::move(m)) {}
  std::string message;
};

std::string Scalar(const YAML::Node& node, const std::string& what) {
  if (!node.IsDefined() || node.IsNull()) return "";
  if (!node.IsScalar()) throw BadSpec(absl::StrCat(what, ": expected a string"));
  return node.Scalar();
}

bool Bool(const YAML::Node& node, const std::string& what) {
  if (!node.IsDefined() || node.IsNull()) return false;
  const std::string text = absl::AsciiStrToLower(Scalar(node, what));
  if (text == "true") return true;
  if (text == "false") return false;
  throw BadSpec(absl::StrCat(what, ": expected true or false, got \"", text, "\""));
}

std::vector<std::string> Strings(const YAML::Node& node, const std::string& what) {
  std::vector<std::string> out;
  if (!node.IsDefined() || node.IsNull()) return out;
  if (!node.IsSequence()) throw BadSpec(absl::StrCat(what, ": expected a list"));
  for (size_t i = 0; i < node.size(); ++i)
    out.push_back(Scalar(node[i], absl::StrCat(what, "[", i, "]")));
  return out;
}

// nullopt when the key is absent (the runtime's defaults apply), else the list.
std::optional<std::vector<std::string>> OptionalStrings(const YAML::Node& node,
                                                        const std::string& what) {
  if (!node.IsDefined() || node.IsNull()) return std::nullopt;
  return Strings(node, what);
}

bool ValidServiceName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_')) return false;
  }
  return true;
}

ServiceSpec ParseSpecNode(const YAML::Node& root) {
  if (!root.IsMap()) throw BadSpec("not a YAML map");
  ServiceSpec spec;
  spec.name = Scalar(root["name"], "name");
  if (!ValidServiceName(spec.name)) {
    throw BadSpec(absl::StrCat("name: \"", spec.name, "\" does not match ^[-_a-z0-9]{1,}$"));
  }
  const YAML::Node container = root["container"];
  if (!container.IsDefined() || !container.IsMap()) throw BadSpec("container: missing");
  spec.entrypoint = Scalar(container["entrypoint"], "container.entrypoint");
  if (spec.entrypoint.empty()) throw BadSpec("container.entrypoint: missing");
  spec.args = Strings(container["args"], "container.args");
  spec.environment = Strings(container["environment"], "container.environment");
  if (container["environmentFile"].IsDefined()) {
    throw BadSpec(
        "container.environmentFile: not supported by the lab (deprecated by Talos 1.7; "
        "use the ExtensionServiceConfig's environment)");
  }
  const YAML::Node mounts = container["mounts"];
  if (mounts.IsDefined() && !mounts.IsNull() && !mounts.IsSequence()) {
    throw BadSpec("container.mounts: expected a list");
  }
  for (size_t i = 0; mounts.IsDefined() && mounts.IsSequence() && i < mounts.size(); ++i) {
    const std::string where = absl::StrCat("container.mounts[", i, "]");
    SpecMount m;
    m.source = Scalar(mounts[i]["source"], where + ".source");
    m.destination = Scalar(mounts[i]["destination"], where + ".destination");
    m.type = Scalar(mounts[i]["type"], where + ".type");
    m.options = Strings(mounts[i]["options"], where + ".options");
    if (!absl::StartsWith(m.destination, "/")) {
      throw BadSpec(absl::StrCat(where, ".destination: \"", m.destination, "\" is not absolute"));
    }
    spec.mounts.push_back(std::move(m));
  }
  const YAML::Node security = container["security"];
  if (security.IsDefined() && security.IsMap()) {
    spec.writeable_rootfs = Bool(security["writeableRootfs"], "container.security.writeableRootfs");
    spec.writeable_sysfs = Bool(security["writeableSysfs"], "container.security.writeableSysfs");
    spec.masked_paths = OptionalStrings(security["maskedPaths"], "container.security.maskedPaths");
    spec.readonly_paths =
        OptionalStrings(security["readonlyPaths"], "container.security.readonlyPaths");
    spec.rootfs_propagation =
        Scalar(security["rootfsPropagation"], "container.security.rootfsPropagation");
  }
  const YAML::Node depends = root["depends"];
  for (size_t i = 0; depends.IsDefined() && depends.IsSequence() && i < depends.size(); ++i) {
    const std::string where = absl::StrCat("depends[", i, "]");
    const YAML::Node d = depends[i];
    std::vector<std::string> kinds;
    for (const char* kind : {"service", "path", "network", "time", "configuration"}) {
      if (d.IsDefined() && d.IsMap() && d[kind].IsDefined()) kinds.push_back(kind);
    }
    if (kinds.size() != 1) {
      throw BadSpec(absl::StrCat(where,
                                 ": needs exactly one of service, path, network, time, "
                                 "configuration"));
    }
    if (kinds[0] == "network") {
      for (const std::string& condition : Strings(d["network"], where + ".network")) {
        if (condition != "addresses" && condition != "connectivity" && condition != "hostname" &&
            condition != "etcfiles") {
          throw BadSpec(absl::StrCat(where, ".network: unknown condition \"", condition, "\""));
        }
        spec.network.push_back(condition);
      }
    }
    spec.depends.push_back(kinds[0]);
  }
  spec.restart = Scalar(root["restart"], "restart");
  const std::string restart = absl::AsciiStrToLower(spec.restart);
  if (restart != "always" && restart != "never" && restart != "untilsuccess") {
    throw BadSpec(
        absl::StrCat("restart: \"", spec.restart, "\" (expected always, never or untilSuccess)"));
  }
  return spec;
}

json BindMount(const std::string& source, const std::string& destination,
               std::vector<std::string> options) {
  return {{"destination", destination},
          {"type", "bind"},
          {"source", source},
          {"options", std::move(options)}};
}

// containerd's defaults (pkg/oci), which Talos leaves in place unless the spec
// sets the lists.
const std::vector<std::string>& DefaultMaskedPaths() {
  static const auto* paths = new std::vector<std::string>{"/proc/acpi",
                                                          "/proc/asound",
                                                          "/proc/kcore",
                                                          "/proc/keys",
                                                          "/proc/latency_stats",
                                                          "/proc/timer_list",
                                                          "/proc/timer_stats",
                                                          "/proc/sched_debug",
                                                          "/proc/scsi",
                                                          "/sys/firmware",
                                                          "/sys/devices/virtual/powercap"};
  return *paths;
}

const std::vector<std::string>& DefaultReadonlyPaths() {
  static const auto* paths = new std::vector<std::string>{"/proc/bus", "/proc/fs", "/proc/irq",
                                                          "/proc/sys", "/proc/sysrq-trigger"};
  return *paths;
}

// Capability numbers 0..40 (linux/capability.h), the ones runc knows.
constexpr const char* kCapabilities[] = {"CAP_CHOWN",
                                         "CAP_DAC_OVERRIDE",
                                         "CAP_DAC_READ_SEARCH",
                                         "CAP_FOWNER",
                                         "CAP_FSETID",
                                         "CAP_KILL",
                                         "CAP_SETGID",
                                         "CAP_SETUID",
                                         "CAP_SETPCAP",
                                         "CAP_LINUX_IMMUTABLE",
                                         "CAP_NET_BIND_SERVICE",
                                         "CAP_NET_BROADCAST",
                                         "CAP_NET_ADMIN",
                                         "CAP_NET_RAW",
                                         "CAP_IPC_LOCK",
                                         "CAP_IPC_OWNER",
                                         "CAP_SYS_MODULE",
                                         "CAP_SYS_RAWIO",
                                         "CAP_SYS_CHROOT",
                                         "CAP_SYS_PTRACE",
                                         "CAP_SYS_PACCT",
                                         "CAP_SYS_ADMIN",
                                         "CAP_SYS_BOOT",
                                         "CAP_SYS_NICE",
                                         "CAP_SYS_RESOURCE",
                                         "CAP_SYS_TIME",
                                         "CAP_SYS_TTY_CONFIG",
                                         "CAP_MKNOD",
                                         "CAP_LEASE",
                                         "CAP_AUDIT_WRITE",
                                         "CAP_AUDIT_CONTROL",
                                         "CAP_SETFCAP",
                                         "CAP_MAC_OVERRIDE",
                                         "CAP_MAC_ADMIN",
                                         "CAP_SYSLOG",
                                         "CAP_WAKE_ALARM",
                                         "CAP_BLOCK_SUSPEND",
                                         "CAP_AUDIT_READ",
                                         "CAP_PERFMON",
                                         "CAP_BPF",
                                         "CAP_CHECKPOINT_RESTORE"};

}  // namespace

absl::StatusOr<ServiceSpec> ParseServiceSpec(const std::string& yaml, const std::string& source) {
  try {
    return ParseSpecNode(YAML::Load(yaml));
  } catch (const BadSpec& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", e.message));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid YAML: ", e.what()));
  }
}

absl::StatusOr<ExtensionServiceConfig> ParseExtensionServiceConfig(const std::string& yaml,
                                                                   const std::string& source) {
  try {
    const YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap()) throw BadSpec("not a YAML map");
    if (Scalar(root["apiVersion"], "apiVersion") != "v1alpha1" ||
        Scalar(root["kind"], "kind") != "ExtensionServiceConfig") {
      throw BadSpec("not an ExtensionServiceConfig (apiVersion v1alpha1)");
    }
    ExtensionServiceConfig config;
    config.name = Scalar(root["name"], "name");
    if (config.name.empty()) throw BadSpec("name: missing");
    const YAML::Node files = root["configFiles"];
    for (size_t i = 0; files.IsDefined() && files.IsSequence() && i < files.size(); ++i) {
      const std::string where = absl::StrCat("configFiles[", i, "]");
      ConfigFile f;
      f.mount_path = Scalar(files[i]["mountPath"], where + ".mountPath");
      f.content = Scalar(files[i]["content"], where + ".content");
      if (f.mount_path.empty() || f.content.empty()) {
        throw BadSpec(absl::StrCat(where, ": needs a non-empty mountPath and content"));
      }
      if (!absl::StartsWith(f.mount_path, "/")) {
        throw BadSpec(absl::StrCat(where, ".mountPath: \"", f.mount_path, "\" is not absolute"));
      }
      config.config_files.push_back(std::move(f));
    }
    config.environment = Strings(root["environment"], "environment");
    if (config.config_files.empty() && config.environment.empty()) {
      throw BadSpec(absl::StrCat("no config files found for extension \"", config.name, "\""));
    }
    return config;
  } catch (const BadSpec& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", e.message));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid YAML: ", e.what()));
  }
}

std::string TalosConfigFileName(const std::string& mount_path) {
  std::string name = mount_path;
  while (absl::StartsWith(name, "/")) name.erase(0, 1);
  return absl::StrReplaceAll(name, {{"/", "-"}});
}

std::vector<std::string> CapabilityNames(uint64_t mask) {
  std::vector<std::string> names;
  for (size_t bit = 0; bit < sizeof(kCapabilities) / sizeof(kCapabilities[0]); ++bit) {
    if (mask & (uint64_t{1} << bit)) names.push_back(kCapabilities[bit]);
  }
  return names;
}

std::vector<std::string> GrantableCapabilities(uint64_t bounding_set) {
  std::vector<std::string> out;
  for (std::string& name : CapabilityNames(bounding_set)) {
    if (name != "CAP_SYS_BOOT" && name != "CAP_SYS_MODULE") out.push_back(std::move(name));
  }
  return out;
}

absl::StatusOr<json> OciRuntimeConfig(const ServiceSpec& spec, const ContainerInputs& in) {
  if (!absl::StartsWith(in.rootfs, "/")) {
    return absl::InvalidArgumentError(absl::StrCat("rootfs \"", in.rootfs, "\" is not absolute"));
  }
  json args = json::array({spec.entrypoint});
  for (const std::string& a : spec.args) args.push_back(a);
  json env = json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
  for (const std::string& e : spec.environment) env.push_back(e);
  for (const std::string& e : in.extra_env) env.push_back(e);
  const json caps = in.capabilities;

  json mounts = json::array();
  mounts.push_back({{"destination", "/proc"},
                    {"type", "proc"},
                    {"source", "proc"},
                    {"options", {"nosuid", "noexec", "nodev"}}});
  mounts.push_back({{"destination", "/dev"},
                    {"type", "tmpfs"},
                    {"source", "tmpfs"},
                    {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}});
  mounts.push_back(
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}});
  mounts.push_back({{"destination", "/dev/shm"},
                    {"type", "tmpfs"},
                    {"source", "shm"},
                    {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}});
  mounts.push_back({{"destination", "/dev/mqueue"},
                    {"type", "mqueue"},
                    {"source", "mqueue"},
                    {"options", {"nosuid", "noexec", "nodev"}}});
  mounts.push_back(
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", spec.writeable_sysfs ? "rw" : "ro"}}});
  mounts.push_back({{"destination", "/run"},
                    {"type", "tmpfs"},
                    {"source", "tmpfs"},
                    {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}});
  for (const std::string& file : in.host_files) {
    mounts.push_back(BindMount(file, file, {"rbind", "ro"}));
  }
  for (const SpecMount& m : spec.mounts) {
    auto source = in.sources.find(m.source);
    if (source == in.sources.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("mount ", m.source, " -> ", m.destination,
                       ": the lab has no per-node folder for this host path"));
    }
    mounts.push_back({{"destination", m.destination},
                      {"type", m.type.empty() ? "bind" : m.type},
                      {"source", source->second},
                      {"options", m.options}});
  }
  for (const auto& [host_file, mount_path] : in.config_files) {
    mounts.push_back(BindMount(host_file, mount_path, {"bind", "ro"}));
  }

  json namespaces = json::array({{{"type", "pid"}},
                                 {{"type", "mount"}},
                                 {{"type", "uts"}},
                                 {{"type", "network"}, {"path", in.netns_path}}});
  json linux_section = {
      {"namespaces", namespaces},
      {"resources", {{"devices", json::array({{{"allow", true}, {"access", "rwm"}}})}}},
      {"maskedPaths", spec.masked_paths ? *spec.masked_paths : DefaultMaskedPaths()},
      {"readonlyPaths", spec.readonly_paths ? *spec.readonly_paths : DefaultReadonlyPaths()},
  };
  if (!spec.rootfs_propagation.empty()) {
    linux_section["rootfsPropagation"] = spec.rootfs_propagation;
  }
  json config = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", args},
        {"env", env},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", in.rootfs}, {"readonly", !spec.writeable_rootfs}}},
      {"mounts", mounts},
      {"linux", linux_section},
  };
  if (!in.hostname.empty()) config["hostname"] = in.hostname;
  if (in.oom_score_adj) config["process"]["oomScoreAdj"] = *in.oom_score_adj;
  return config;
}

}  // namespace weft::lab
