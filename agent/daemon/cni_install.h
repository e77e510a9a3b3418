// Installing the CNI plugin on the node: the weft-cni binary into the runtime's
// plugin folder and Weft's conflist into its configuration folder, each written
// to a temporary file and renamed, so containerd never reads half a file.
#ifndef WEFT_AGENT_DAEMON_CNI_INSTALL_H_
#define WEFT_AGENT_DAEMON_CNI_INSTALL_H_

#include <string>

#include "absl/status/status.h"

namespace weft::daemon {

inline constexpr char kConflistName[] = "10-weft.conflist";
inline constexpr char kNetworkName[] = "weft";
inline constexpr char kPluginName[] = "weft-cni";

// The network configuration list (CNI spec 1.0.0) the runtime reads.
std::string ConflistJson(const std::string& agent_socket, int mtu);

struct CniInstall {
  std::string plugin_source;  // the weft-cni binary shipped with the agent
  std::string bin_dir;        // /opt/cni/bin
  std::string conf_dir;       // /etc/cni/net.d
  std::string agent_socket;
  int mtu = 0;
};

// Copies the plugin (mode 0755) and writes the conflist (0644). Creates the
// folders when missing. Idempotent.
absl::Status InstallCni(const CniInstall& install);

// The weft-cni next to the running executable (/proc/self/exe).
std::string DefaultPluginSource();

}  // namespace weft::daemon

#endif  // WEFT_AGENT_DAEMON_CNI_INSTALL_H_
