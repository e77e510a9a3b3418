// Opens the node's WireGuard device with the right backend: the kernel module
// (Talos) when it is there, else wireguard-go (this project's test machines),
// or the one the operator asked for. The link gets its MTU and is brought up.
#ifndef WEFT_AGENT_WIREGUARD_SELECT_H_
#define WEFT_AGENT_WIREGUARD_SELECT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/wireguard/device.h"

namespace weft::wireguard {

enum class Backend { kAuto, kKernel, kUserspace };

// "auto", "kernel", "userspace".
absl::string_view BackendName(Backend backend);
absl::StatusOr<Backend> ParseBackend(absl::string_view text);

struct OpenOptions {
  std::string ifname;
  Backend backend = Backend::kAuto;
  int mtu = 0;  // 0: the backend's default (1420)
  // The network namespace of the interface (/var/run/netns/x); empty: ours.
  std::string netns_path;
  // Userspace backend only (see UserspaceOptions in uapi.h).
  std::string wireguard_go = "wireguard-go";
  std::string pid_file;
  std::string log_file;
  absl::Duration start_timeout = absl::Seconds(5);
  bool terminate_with_parent = false;
};

// kAuto:
//  - an interface `ifname` already there decides: kind "wireguard" is the
//    kernel's, a "tun" is adopted as wireguard-go's; anything else is an
//    error (never touched);
//  - otherwise the kernel when the generic netlink family "wireguard" exists
//    and the link can be created, else wireguard-go when it is installed,
//    else an error that names why each backend could not be used.
// kKernel / kUserspace: only that backend, with its error.
// A kernel link this call created is deleted again when opening it fails.
absl::StatusOr<std::unique_ptr<Device>> OpenDevice(const OpenOptions& options);

}  // namespace weft::wireguard

#endif  // WEFT_AGENT_WIREGUARD_SELECT_H_
