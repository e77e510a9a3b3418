#include "agent/daemon/cni_install.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
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

namespace {

// Copies `from` to `to` through a temporary file in `to`'s folder and a rename,
// in the kernel (no copy of the ~18 MB binary in the agent's memory).
absl::Status CopyFileAtomically(const std::string& from, const std::string& to, int mode) {
  int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    return absl::FailedPreconditionError(absl::StrCat("CNI plugin ", from, ": ", strerror(errno)));
  }
  struct stat st;
  fstat(in, &st);
  std::string tmp = absl::StrCat(to, ".tmp.", getpid());
  int out = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (out < 0) {
    int err = errno;
    close(in);
    return absl::InternalError(absl::StrCat("create ", tmp, ": ", strerror(err)));
  }
  fchmod(out, mode);  // not subject to the umask
  off_t left = st.st_size;
  int err = 0;
  while (left > 0) {
    ssize_t n = copy_file_range(in, nullptr, out, nullptr, static_cast<size_t>(left), 0);
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    left -= n;
  }
  if (err == 0 && fsync(out) != 0) err = errno;
  close(in);
  close(out);
  if (err == 0 && rename(tmp.c_str(), to.c_str()) != 0) err = errno;
  if (err != 0) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("copy ", from, " to ", to, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace

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
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return kPluginName;
  std::string exe(buf, static_cast<size_t>(n));
  return absl::StrCat(exe.substr(0, exe.rfind('/')), "/", kPluginName);
}

}  // namespace weft::daemon
