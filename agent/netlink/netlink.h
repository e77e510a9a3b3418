// The rtnetlink edge: links, addresses, routes, neighbours and VXLAN forwarding
// entries, in the current network namespace or in another one. The only place
// that speaks NETLINK_ROUTE; callers (the CNI plugin, the route and tunnel
// reconcilers) deal in values.
//
// Every failed kernel call becomes a Status that names the operation, the object
// and the errno ("add route 10.244.2.0/24 via 192.168.50.12 dev eth0: Network is
// unreachable").
#ifndef WEFT_AGENT_NETLINK_NETLINK_H_
#define WEFT_AGENT_NETLINK_NETLINK_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/ip.h"

struct nlmsghdr;  // <linux/netlink.h>

namespace weft::netlink {

class Request;  // a netlink message being built (netlink.cc)

// Routes Weft installs carry this rtnetlink protocol number, so they can be
// listed and removed without touching anybody else's (see /etc/iproute2/rt_protos).
inline constexpr uint8_t kWeftRouteProtocol = 0xd7;  // 215

// The settings of a VXLAN device (IFLA_INFO_DATA of kind "vxlan").
struct VxlanInfo {
  uint32_t vni = 0;
  int port = 0;                          // UDP destination port
  std::optional<net::IpAddress> local;   // source address of the outer packets
  int underlay_index = 0;                // IFLA_VXLAN_LINK (0: none)
  bool learning = true;                  // learns remote MACs from received packets
};

struct Link {
  int index = 0;
  std::string name;
  std::array<uint8_t, 6> mac{};
  int mtu = 0;
  bool up = false;
  std::string kind;  // "veth", "vxlan", ... (empty when the kernel does not say)
  std::optional<VxlanInfo> vxlan;  // set when kind is "vxlan"
};

struct Address {
  int index = 0;  // link
  net::IpAddress address;
  int prefix_length = 0;
  net::IpPrefix subnet() const { return net::IpPrefix::Of(address, prefix_length); }
};

// An IPv4 ARP or IPv6 ND entry.
struct Neighbor {
  int index = 0;  // link
  net::IpAddress address;
  std::optional<std::array<uint8_t, 6>> mac;  // absent while unresolved
  uint16_t state = 0;                         // NUD_* bits
  bool permanent() const;                     // NUD_PERMANENT: set by hand, never expires
};

// A forwarding entry of a VXLAN device (its own FDB, NTF_SELF): frames for `mac`
// are sent to the remote tunnel endpoint `dst`.
struct FdbEntry {
  std::array<uint8_t, 6> mac{};
  std::optional<net::IpAddress> dst;  // absent for entries without a remote
  bool permanent = false;
};

struct RouteSpec {
  net::IpPrefix dst;
  std::optional<net::IpAddress> gateway;
  int oif = 0;               // output interface index (0: let the kernel pick from gateway)
  bool onlink = false;       // gateway is on the link even without a matching subnet
  bool scope_link = false;   // RT_SCOPE_LINK (directly reachable, no gateway)
  uint8_t protocol = kWeftRouteProtocol;
  std::optional<net::IpAddress> prefsrc;
  int mtu = 0;
  uint32_t table = 254;      // RT_TABLE_MAIN
};

class Netlink;

// Makes `want`/32 the only IPv4 address of link `index`: adds it when missing,
// removes any other IPv4 address (e.g. of a pod CIDR the node had before). The
// kernel's IPv6 link-local address stays. For devices Weft owns (weft_vxlan,
// the WireGuard device).
absl::Status EnsureSoleIpv4Address(Netlink& nl, int index, const net::IpAddress& want);

// An open NETLINK_ROUTE socket bound to one network namespace.
class Netlink {
 public:
  // In the caller's current namespace.
  static absl::StatusOr<std::unique_ptr<Netlink>> Open();
  // In the namespace at `netns_path` (/var/run/netns/x or /proc/<pid>/ns/net). The
  // socket stays bound to that namespace; the calling thread's namespace is
  // restored before returning.
  static absl::StatusOr<std::unique_ptr<Netlink>> OpenInNamespace(const std::string& netns_path);
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  absl::StatusOr<Link> GetLink(const std::string& name);
  absl::StatusOr<Link> GetLink(int index);
  absl::StatusOr<std::vector<Link>> ListLinks();

  // Creates a veth pair: `name` here, `peer_name` in the namespace whose fd is
  // `peer_netns_fd` (-1: here as well).
  absl::Status CreateVeth(const std::string& name, const std::string& peer_name, int mtu,
                          int peer_netns_fd);
  absl::Status CreateVxlan(const std::string& name, uint32_t vni, int port,
                           const net::IpAddress& local, int underlay_index, int mtu);
  absl::Status DeleteLink(const std::string& name);
  absl::Status SetLinkUp(int index);
  absl::Status SetMtu(int index, int mtu);
  absl::Status RenameLink(int index, const std::string& name);
  absl::Status SetMac(int index, const std::array<uint8_t, 6>& mac);

  absl::Status AddAddress(int index, const net::IpAddress& address, int prefix_length);
  // Deletion of an address that is not there is not an error (idempotent).
  absl::Status DeleteAddress(int index, const net::IpAddress& address, int prefix_length);
  // Addresses on a link (or on every link when index is 0).
  absl::StatusOr<std::vector<Address>> ListAddresses(int index = 0);

  // Adds or replaces (NLM_F_REPLACE) a route.
  absl::Status ReplaceRoute(const RouteSpec& route);
  // Deletion of a route that is not there is not an error (idempotent).
  absl::Status DeleteRoute(const RouteSpec& route);
  // IPv4 and IPv6 routes of `table` installed with `protocol`.
  absl::StatusOr<std::vector<RouteSpec>> ListRoutes(uint8_t protocol, uint32_t table = 254);

  // A permanent neighbour entry (e.g. the pod's gateway → host veth MAC).
  absl::Status ReplaceNeighbor(int index, const net::IpAddress& address,
                               const std::array<uint8_t, 6>& mac);
  // Deletion of an entry that is not there is not an error (idempotent).
  absl::Status DeleteNeighbor(int index, const net::IpAddress& address);
  // IPv4 and IPv6 neighbour entries of a link (of every link when index is 0).
  absl::StatusOr<std::vector<Neighbor>> ListNeighbors(int index = 0);

  // The FDB of a VXLAN device (AF_BRIDGE, NTF_SELF): a permanent entry that
  // sends frames for `mac` to the tunnel endpoint `dst`, replacing any earlier
  // remote of that MAC.
  absl::Status ReplaceFdb(int index, const std::array<uint8_t, 6>& mac, const net::IpAddress& dst);
  // Removes every remote of `mac`; an absent entry is not an error (idempotent).
  absl::Status DeleteFdb(int index, const std::array<uint8_t, 6>& mac);
  // The device's own FDB entries (one per MAC and remote).
  absl::StatusOr<std::vector<FdbEntry>> ListFdb(int index);

 private:
  explicit Netlink(int fd) : fd_(fd) {}
  // RTM_NEWLINK on an existing link: set `set_flags`, add attributes.
  absl::Status ModifyLink(int index, unsigned set_flags,
                          const std::function<void(Request&)>& attrs, const std::string& what);
  // Sends `msg` with `flags` and passes each reply of its sequence to
  // `on_reply` until it returns true (with the status to return).
  absl::Status Exchange(std::vector<uint8_t>& msg, uint16_t flags, const std::string& what,
                        const std::function<bool(const ::nlmsghdr*, absl::Status*)>& on_reply);
  // Sends one request and waits for its ACK (or error).
  absl::Status Transact(std::vector<uint8_t>& msg, const std::string& what);
  // Sends a dump request and collects every reply message.
  absl::StatusOr<std::vector<std::vector<uint8_t>>> Dump(std::vector<uint8_t>& msg,
                                                          const std::string& what);
  // Sends a request for one link (by index or IFLA_IFNAME): one message back,
  // not a dump of every link.
  absl::StatusOr<Link> GetOneLink(std::vector<uint8_t>& msg, const std::string& what);
  int fd_;
  uint32_t seq_ = 1;
};

// Writes a sysctl under /proc/sys ("net.ipv4.ip_forward" → "1").
absl::Status WriteSysctl(const std::string& name, const std::string& value);

}  // namespace weft::netlink

#endif  // WEFT_AGENT_NETLINK_NETLINK_H_
