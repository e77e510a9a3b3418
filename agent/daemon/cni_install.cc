#include "agent/daemon/cni_install.h"

#include <limits.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace weft::daemon {

std::string ConflistJson(const std::string& agent_socket, int mtu) {
  nlohmann::json plugin = {{"type", kPluginName}, {"agentSocket", agent_socket}};
  if (mtu > 0) plugin["mtu"] = mtu;
  nlohmann::json list = {
      {"cniVersion", "1.0.0"}, {"name", kNetworkName}, {"plugins", nlohmann::json::array({plugin})}};
  return list.dump(2) + "\n";
}

absl::Status InstallCni(const CniInstall& install) {
  auto binary = ReadFile(install.plugin_source);
  if (!binary.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("CNI plugin ", install.plugin_source, ": ", binary.status().message()));
  }
  RETURN_IF_ERROR(MakeDirs(install.bin_dir, 0755));
  RETURN_IF_ERROR(MakeDirs(install.conf_dir, 0755));
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(install.bin_dir, "/", kPluginName), *binary, 0755));
  return WriteFileAtomically(absl::StrCat(install.conf_dir, "/", kConflistName),
                             ConflistJson(install.agent_socket, install.mtu), 0644);
}

std::string DefaultPluginSource() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return kPluginName;
  std::string exe(buf, static_cast<size_t>(n));
  return absl::StrCat(exe.substr(0, exe.rfind('/')), "/", kPluginName);
}

}  // namespace weft::daemon
