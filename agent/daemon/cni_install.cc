#include "agent/daemon/cni_install.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

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
  if (access(install.plugin_source.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("CNI plugin ", install.plugin_source, ": ", strerror(errno)));
  }
  RETURN_IF_ERROR(MakeDirs(install.bin_dir, 0755));
  RETURN_IF_ERROR(MakeDirs(install.conf_dir, 0755));
  RETURN_IF_ERROR(CopyFileAtomically(install.plugin_source,
                                     absl::StrCat(install.bin_dir, "/", kPluginName), 0755));
  return WriteFileAtomically(absl::StrCat(install.conf_dir, "/", kConflistName),
                             ConflistJson(install.agent_socket, install.mtu), 0644);
}

std::string DefaultPluginSource() {
  return BesideSelf(kPluginName);
}

}  // namespace weft::daemon
