// The WireGuard interface as a network link (rtnetlink, through
// agent/netlink): does it exist, what kind is it, MTU and up. Both backends
// share this; the interface may live in another network namespace (tests, or
// an agent that manages a node namespace).
#ifndef WEFT_AGENT_WIREGUARD_LINK_H_
#define WEFT_AGENT_WIREGUARD_LINK_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/netlink/netlink.h"

namespace weft::wireguard {

// The link named `ifname` in the namespace at `netns_path` (empty: the
// caller's), or nullopt when there is none.
absl::StatusOr<std::optional<netlink::Link>> FindLink(const std::string& ifname,
                                                      const std::string& netns_path);

// Sets the MTU when `mtu` > 0 and it differs, then brings the link up (both
// idempotent).
absl::Status ConfigureLink(const std::string& ifname, int mtu, const std::string& netns_path);

// Interface names the kernel takes and that are safe in a socket path: 1..15
// characters of [A-Za-z0-9_.-], not "." or "..".
absl::Status ValidateInterfaceName(const std::string& ifname);

}  // namespace weft::wireguard

#endif  // WEFT_AGENT_WIREGUARD_LINK_H_
