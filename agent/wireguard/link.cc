#include "agent/wireguard/link.h"

#include <memory>

#include "absl/strings/str_cat.h"

namespace weft::wireguard {
namespace {

absl::StatusOr<std::unique_ptr<netlink::Netlink>> OpenRtnl(const std::string& netns_path) {
  return netns_path.empty() ? netlink::Netlink::Open()
                            : netlink::Netlink::OpenInNamespace(netns_path);
}

}  // namespace

absl::Status ValidateInterfaceName(const std::string& ifname) {
  if (ifname.empty() || ifname.size() > 15) {
    return absl::InvalidArgumentError(
        absl::StrCat("interface name \"", ifname, "\" must have 1 to 15 characters"));
  }
  if (ifname == "." || ifname == "..") {
    return absl::InvalidArgumentError(absl::StrCat("interface name \"", ifname, "\" is reserved"));
  }
  for (char c : ifname) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "interface name \"", ifname, "\" may only hold letters, digits, '-', '_' and '.'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<netlink::Link>> FindLink(const std::string& ifname,
                                                      const std::string& netns_path) {
  auto nl = OpenRtnl(netns_path);
  if (!nl.ok()) return nl.status();
  auto link = (*nl)->GetLink(ifname);
  if (link.ok()) return std::optional<netlink::Link>(*link);
  if (absl::IsNotFound(link.status())) return std::optional<netlink::Link>();
  return link.status();
}

absl::Status ConfigureLink(const std::string& ifname, int mtu, const std::string& netns_path) {
  auto nl = OpenRtnl(netns_path);
  if (!nl.ok()) return nl.status();
  auto link = (*nl)->GetLink(ifname);
  if (!link.ok()) return link.status();
  if (mtu > 0 && link->mtu != mtu) {
    if (absl::Status s = (*nl)->SetMtu(link->index, mtu); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("wireguard device ", ifname, ": ", s.message()));
    }
  }
  if (!link->up) {
    if (absl::Status s = (*nl)->SetLinkUp(link->index); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("wireguard device ", ifname, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace weft::wireguard
