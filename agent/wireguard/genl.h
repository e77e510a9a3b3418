// WireGuard in the kernel (Talos nodes): the generic netlink family
// "wireguard" (<linux/wireguard.h>) for configuration, rtnetlink for creating
// the link. Message encoding and decoding are pure functions over byte
// vectors, tested without a kernel; KernelDevice is the thin socket edge.
//
// Never sends WGDEVICE_F_REPLACE_PEERS: peers are removed (WGPEER_F_REMOVE_ME),
// added, or updated in place (WGPEER_F_UPDATE_ONLY, WGPEER_F_REPLACE_ALLOWEDIPS)
// so sessions of peers that stay survive (see device.h).
#ifndef WEFT_AGENT_WIREGUARD_GENL_H_
#define WEFT_AGENT_WIREGUARD_GENL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/wireguard/device.h"

namespace weft::wireguard {

inline constexpr char kGenlFamilyName[] = "wireguard";
// Like wg(8): requests of at most one page; the rest goes into more messages.
inline constexpr size_t kDefaultMaxMessageBytes = 4096;
// Smaller limits are raised to this, so one peer header and one allowed IP
// always fit and splitting always makes progress.
inline constexpr size_t kMinMaxMessageBytes = 256;

// The error `message` carries: OK for an ACK (NLMSG_ERROR with error 0), for
// NLMSG_DONE with status 0 and for any other message type; for an error, a
// Status with the errno text and the kernel's extended-ACK message if there
// is one ("No such device (errno 19)"). DataLoss when truncated.
absl::Status ParseNetlinkError(const std::vector<uint8_t>& message);

// CTRL_CMD_GETFAMILY for `family` (to GENL_ID_CTRL), and the family id in
// the reply messages.
std::vector<uint8_t> EncodeGetFamily(absl::string_view family);
absl::StatusOr<uint16_t> DecodeFamilyId(const std::vector<std::vector<uint8_t>>& replies);

// WG_CMD_GET_DEVICE dump request for `ifname`.
std::vector<uint8_t> EncodeGetDevice(uint16_t family_id, const std::string& ifname);

// The WG_CMD_SET_DEVICE requests (NLM_F_REQUEST | NLM_F_ACK, sequence numbers
// 0 for the sender to fill) that carry out `plan`, each at most
// `max_message_bytes`. The device settings go in the first message; peers
// that do not fit go into the next one, and a peer whose allowed IPs do not
// fit continues in the next message with only its public key, UPDATE_ONLY and
// the remaining allowed IPs (REPLACE_ALLOWEDIPS only in its first part).
// Empty for an empty plan. The first message holds the private key when the
// plan changes it: wipe after sending, never log.
std::vector<std::vector<uint8_t>> EncodeSetDevice(
    uint16_t family_id, const std::string& ifname, const DevicePlan& plan,
    size_t max_message_bytes = kDefaultMaxMessageBytes);

// The device in the reply messages of a WG_CMD_GET_DEVICE dump (NLMSG_DONE
// optional), coalescing peers split across messages. The private key is
// skipped (the kernel sends the public key too). Truncated or malformed
// attributes are DataLoss errors; an NLMSG_ERROR or a failing NLMSG_DONE is
// the error it carries.
absl::StatusOr<DeviceState> DecodeGetDevice(const std::vector<std::vector<uint8_t>>& messages);

// RTM_NEWLINK (NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK) of kind "wireguard".
std::vector<uint8_t> EncodeNewWireguardLink(const std::string& ifname, int mtu);

// The id of the generic netlink family `name` (in the namespace at
// `netns_path`, empty: the caller's); NotFound when the kernel has none.
absl::StatusOr<uint16_t> ResolveGenlFamily(const std::string& name,
                                           const std::string& netns_path = "");

// OK when the kernel (in the namespace at `netns_path`, empty: the caller's)
// has the generic netlink family "wireguard"; NotFound ("the wireguard kernel
// module is not available (generic netlink family "wireguard" not found)")
// when not.
absl::Status KernelWireguardAvailable(const std::string& netns_path = "");

// `ip link add IFNAME type wireguard` (with `mtu` when > 0). AlreadyExists
// when the name is taken; FailedPrecondition when the kernel has no WireGuard.
absl::Status CreateKernelLink(const std::string& ifname, int mtu,
                              const std::string& netns_path = "");

class NetlinkSocket;  // genl.cc

// A kernel WireGuard device. Not thread-safe (one socket, one request at a time).
class KernelDevice : public Device {
 public:
  // Resolves the family and checks that `ifname` is a WireGuard device.
  static absl::StatusOr<std::unique_ptr<KernelDevice>> Open(const std::string& ifname,
                                                            const std::string& netns_path = "");
  ~KernelDevice() override;

  std::string name() const override { return ifname_; }
  absl::string_view kind() const override { return "kernel"; }
  absl::StatusOr<DeviceState> Get() override;
  absl::Status Apply(const DeviceConfig& config) override;

 private:
  KernelDevice(std::string ifname, std::unique_ptr<NetlinkSocket> socket, uint16_t family_id);
  std::string ifname_;
  std::unique_ptr<NetlinkSocket> socket_;
  uint16_t family_id_;
};

}  // namespace weft::wireguard

#endif  // WEFT_AGENT_WIREGUARD_GENL_H_
