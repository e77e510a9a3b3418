// The backend-neutral WireGuard device: what the agent wants (DeviceConfig),
// what the device has (DeviceState), and the pure planner between the two
// (PlanDevice) that both backends render — the kernel's generic netlink
// (genl.h) and wireguard-go's userspace API (uapi.h).
//
// Apply never uses "replace peers": it removes the peers that must go, adds the
// new ones and updates the others in place, so established sessions (and the
// traffic on them) of peers that stay survive every reconfiguration.
#ifndef WEFT_AGENT_WIREGUARD_DEVICE_H_
#define WEFT_AGENT_WIREGUARD_DEVICE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/wireguard/keys.h"
#include "common/net/ip.h"

namespace weft::wireguard {

// A peer's UDP address.
struct Endpoint {
  net::IpAddress ip;
  uint16_t port = 0;

  // "192.0.2.1:51820", "[2001:db8::1]:51820" (the UAPI form).
  std::string ToString() const;
  // The same forms. An IPv6 zone ("%eth0") is dropped.
  static absl::StatusOr<Endpoint> Parse(absl::string_view text);

  friend bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.ip == b.ip && a.port == b.port;
  }
  friend bool operator!=(const Endpoint& a, const Endpoint& b) { return !(a == b); }
};

struct PeerConfig {
  Key public_key;
  // Absent: the device keeps whatever endpoint it has (configured earlier or
  // learned from the peer's packets); WireGuard cannot unset an endpoint.
  std::optional<Endpoint> endpoint;
  std::vector<net::IpPrefix> allowed_ips;
  int persistent_keepalive = 0;  // seconds, 0..65535; 0 is off
};

struct DeviceConfig {
  Key private_key;  // secret: never logged, never in a Status
  // 0: keep the device's port (a new device picks a random one).
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<PeerConfig> peers;
};

struct PeerState {
  Key public_key;
  std::optional<Endpoint> endpoint;
  std::vector<net::IpPrefix> allowed_ips;
  int persistent_keepalive = 0;
  absl::Time last_handshake = absl::InfinitePast();  // InfinitePast: never
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};

// What a device reports. Deliberately without the private key (the backends
// read it only to derive public_key); all zeros when the device has none.
struct DeviceState {
  Key public_key;
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<PeerState> peers;
};

class Device {
 public:
  virtual ~Device() = default;
  // The interface name ("weft-wg0").
  virtual std::string name() const = 0;
  // "kernel", "userspace" (wireguard-go), "fake".
  virtual absl::string_view kind() const = 0;
  virtual absl::StatusOr<DeviceState> Get() = 0;
  // Makes the device match `config`: sets the private key and port only when
  // they differ, removes peers not in config, adds new ones, updates changed
  // ones in place (endpoint, keepalive; allowed IPs replaced) so established
  // sessions of unchanged and updated peers survive. Never replaces all peers.
  // Nothing is sent when the device already matches.
  virtual absl::Status Apply(const DeviceConfig& config) = 0;
};

// InvalidArgument (naming the peer by its public key) for a config no device
// would take as meant: no private key, a peer that is the device itself, a
// peer listed twice, the same allowed IP on two peers (WireGuard would silently
// give it to the last one), keepalive out of range.
absl::Status ValidateConfig(const DeviceConfig& config);

// One peer's part of a change.
struct PeerChange {
  enum class Kind { kAdd, kUpdate, kRemove };
  Kind kind = Kind::kAdd;
  Key public_key;
  std::optional<Endpoint> endpoint;         // set: (re)set it
  std::optional<int> persistent_keepalive;  // set: (re)set it
  // kAdd: the peer's allowed IPs. kUpdate: when replace_allowed_ips, the
  // complete new list (may be empty).
  bool replace_allowed_ips = false;
  std::vector<net::IpPrefix> allowed_ips;
};

// The minimal change that takes a device from `current` to `desired`.
struct DevicePlan {
  std::optional<Key> private_key;  // secret
  std::optional<uint16_t> listen_port;
  std::optional<uint32_t> fwmark;
  // Removals first (so a replacement peer never competes with the one it
  // replaces), then additions and updates in the order of the config.
  std::vector<PeerChange> peers;

  bool empty() const { return !private_key && !listen_port && !fwmark && peers.empty(); }
  // For errors and logs: "new private key (public <base64>), listen port 51820,
  // add peer <base64>, update peer <base64> (allowed IPs), remove peer <base64>".
  // Never contains the private key.
  std::string Summary() const;
};

// Pure. The private key "differs" when the public key derived from
// desired.private_key is not current.public_key. Allowed IPs compare as sets.
DevicePlan PlanDevice(const DeviceState& current, const DeviceConfig& desired);

// What Apply has to send: `config` validated (InvalidArgument naming the
// device), then planned against the device's current state. Both backends
// start their Apply with it.
absl::StatusOr<DevicePlan> PlanApply(Device& device, const DeviceConfig& config);

// "<base64 public key>": how peers are named in messages.
std::string PeerName(const Key& public_key);

// Allowed IPs in a canonical order (family, address, length) without
// duplicates, for comparing sets.
std::vector<net::IpPrefix> CanonicalPrefixes(std::vector<net::IpPrefix> prefixes);

}  // namespace weft::wireguard

#endif  // WEFT_AGENT_WIREGUARD_DEVICE_H_
