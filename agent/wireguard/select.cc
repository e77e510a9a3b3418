#include "common/netns/process.h"
#include "agent/wireguard/select.h"

#include "absl/strings/str_cat.h"
#include "agent/netlink/netlink.h"
#include "agent/wireguard/genl.h"
#include "agent/wireguard/link.h"
#include "agent/wireguard/uapi.h"
#include "common/status_macros.h"

namespace weft::wireguard {
namespace {

std::string What(const OpenOptions& o) { return absl::StrCat("wireguard device ", o.ifname); }

absl::Status DeleteLink(const OpenOptions& o) {
  auto nl = o.netns_path.empty() ? netlink::Netlink::Open()
                                 : netlink::Netlink::OpenInNamespace(o.netns_path);
  if (!nl.ok()) return nl.status();
  return (*nl)->DeleteLink(o.ifname);
}

absl::StatusOr<std::unique_ptr<Device>> OpenKernel(const OpenOptions& o,
                                                   const std::optional<netlink::Link>& link) {
  if (absl::Status s = KernelWireguardAvailable(o.netns_path); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(What(o), ": kernel backend: ", s.message()));
  }
  if (link && link->kind != "wireguard") {
    return absl::FailedPreconditionError(absl::StrCat(
        What(o), ": kernel backend: the interface exists but is of kind \"", link->kind,
        "\", not a kernel wireguard link (wireguard-go's is a \"tun\"); left alone"));
  }
  bool created = false;
  if (!link) {
    absl::Status s = CreateKernelLink(o.ifname, o.mtu, o.netns_path);
    if (!s.ok() && !absl::IsAlreadyExists(s)) {
      return absl::Status(s.code(), absl::StrCat(What(o), ": kernel backend: ", s.message()));
    }
    created = s.ok();
  }
  absl::Status s = ConfigureLink(o.ifname, o.mtu, o.netns_path);
  std::unique_ptr<Device> device;
  if (s.ok()) {
    auto dev = KernelDevice::Open(o.ifname, o.netns_path);
    if (dev.ok()) {
      device = std::move(*dev);
    } else {
      s = dev.status();
    }
  }
  if (!s.ok()) {
    if (created) DeleteLink(o).IgnoreError();  // leave nothing behind we made
    return absl::Status(s.code(), absl::StrCat(What(o), ": kernel backend: ", s.message()));
  }
  return device;
}

absl::StatusOr<std::unique_ptr<Device>> OpenUserspace(const OpenOptions& o) {
  UserspaceOptions u;
  u.ifname = o.ifname;
  u.wireguard_go = o.wireguard_go;
  u.pid_file = o.pid_file;
  u.log_file = o.log_file;
  u.mtu = o.mtu;
  u.netns_path = o.netns_path;
  u.start_timeout = o.start_timeout;
  u.terminate_with_parent = o.terminate_with_parent;
  auto dev = EnsureUserspaceDevice(u);
  if (!dev.ok()) {
    return absl::Status(dev.status().code(),
                        absl::StrCat("userspace backend: ", dev.status().message()));
  }
  return std::unique_ptr<Device>(std::move(*dev));
}

}  // namespace

absl::string_view BackendName(Backend backend) {
  switch (backend) {
    case Backend::kAuto:
      return "auto";
    case Backend::kKernel:
      return "kernel";
    case Backend::kUserspace:
      return "userspace";
  }
  return "auto";
}

absl::StatusOr<Backend> ParseBackend(absl::string_view text) {
  if (text == "auto") return Backend::kAuto;
  if (text == "kernel") return Backend::kKernel;
  if (text == "userspace") return Backend::kUserspace;
  return absl::InvalidArgumentError(
      absl::StrCat("WireGuard backend \"", text, "\": expected auto, kernel or userspace"));
}

absl::StatusOr<std::unique_ptr<Device>> OpenDevice(const OpenOptions& o) {
  RETURN_IF_ERROR(ValidateInterfaceName(o.ifname));
  auto link = FindLink(o.ifname, o.netns_path);
  if (!link.ok()) {
    return absl::Status(
        link.status().code(),
        absl::StrCat(What(o), ": look up the interface: ", link.status().message()));
  }
  switch (o.backend) {
    case Backend::kKernel:
      return OpenKernel(o, *link);
    case Backend::kUserspace:
      return OpenUserspace(o);
    case Backend::kAuto:
      break;
  }
  // An existing interface decides (an agent restart finds its own device).
  if (*link) {
    if ((*link)->kind == "wireguard") return OpenKernel(o, *link);
    if ((*link)->kind == "tun") return OpenUserspace(o);
    return absl::FailedPreconditionError(
        absl::StrCat(What(o), ": the interface exists but is of kind \"", (*link)->kind,
                     "\", not a WireGuard device; left alone"));
  }
  auto kernel = OpenKernel(o, std::nullopt);
  if (kernel.ok()) return kernel;
  if (auto program = netns::FindProgram(o.wireguard_go); !program.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(What(o), ": no WireGuard backend: ", kernel.status().message(),
                     "; userspace backend: ", program.status().message()));
  }
  auto user = OpenUserspace(o);
  if (user.ok()) return user;
  return absl::Status(user.status().code(),
                      absl::StrCat(What(o), ": no WireGuard backend: ", kernel.status().message(),
                                   "; ", user.status().message()));
}

}  // namespace weft::wireguard
