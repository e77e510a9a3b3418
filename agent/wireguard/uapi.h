// WireGuard through the cross-platform userspace API
// (https://www.wireguard.com/xplatform/), as spoken by wireguard-go on the unix
// socket /var/run/wireguard/<ifname>.sock, and the wireguard-go process itself.
//
// The protocol: a request is "get=1\n\n" or "set=1\n" + key=value lines + "\n";
// the answer is key=value lines ending in "errno=N\n\n" (wireguard-go writes N
// as a negative errno, e.g. "errno=-22"). Keys are hex. The device's private
// key is read only to derive its public key and is wiped from memory after.
//
// wireguard-go behaviour, found by trying it (wireguard-go v0.0.20220316,
// kernel 6.18; uapi_test checks the first three):
//  - Deleting its interface (`ip link del IFNAME`) makes wireguard-go exit by
//    itself, and it removes its UAPI socket on the way out.
//  - SIGTERM: it exits, removes the socket, and its TUN interface disappears.
//  - SIGKILL: the TUN interface disappears (it is not persistent), but the
//    socket file stays behind. The next wireguard-go for that name removes a
//    stale socket nobody answers on, and StopUserspaceDevice removes it too.
//  - The socket folder is fixed (/var/run/wireguard, shared by every network
//    namespace), so interface names must be unique across namespaces.
//  - It prints a banner to stderr on start that the kernel could do this
//    itself (it says so even here, without the module); harmless.
#ifndef WEFT_AGENT_WIREGUARD_UAPI_H_
#define WEFT_AGENT_WIREGUARD_UAPI_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/wireguard/device.h"

namespace weft::wireguard {

inline constexpr char kUapiSocketDir[] = "/var/run/wireguard";

// "/var/run/wireguard/<ifname>.sock".
std::string UapiSocketPath(const std::string& ifname);

// The "set=1" request for `plan` (ends with the empty line); empty when the
// plan is empty. Holds the private key when the plan changes it: callers wipe
// it after use and never log it. Updated peers carry update_only=true (never
// recreate a peer that vanished meanwhile), removed ones remove=true; there is
// never a replace_peers.
std::string PlanUapiSet(const DevicePlan& plan);
// PlanUapiSet(PlanDevice(current, desired)).
std::string PlanUapiSet(const DeviceState& current, const DeviceConfig& desired);

// Parses a "get=1" answer (including its errno line). `device` names the
// device in errors. Unknown keys are skipped (newer wireguard-go versions add
// some). Secret values never appear in an error.
absl::StatusOr<DeviceState> ParseUapiGet(absl::string_view answer, const std::string& device);

// The status of a "set=1" answer: OK for errno=0; otherwise an error naming
// `what` and the errno text.
absl::Status ParseUapiErrno(absl::string_view answer, const std::string& what);

struct UserspaceOptions {
  std::string ifname;
  // A path, or a name looked up in $PATH (then /usr/sbin:/usr/bin:/sbin:/bin).
  std::string wireguard_go = "wireguard-go";
  // Where the PID of the wireguard-go we start is kept (required), so a
  // restarted agent can adopt or stop it.
  std::string pid_file;
  // wireguard-go's stdout and stderr, appended (empty: discarded).
  std::string log_file;
  int mtu = 0;  // 0: wireguard-go's default (1420)
  // The network namespace for the interface (/var/run/netns/x); empty: the
  // caller's. The socket is in the shared /var/run/wireguard either way.
  std::string netns_path;
  absl::Duration start_timeout = absl::Seconds(5);
  // Tests: the child gets SIGTERM when the spawning thread exits, so a crashed
  // test leaves no wireguard-go behind. The agent leaves it off: wireguard-go
  // (and the tunnel's sessions) must outlive an agent restart.
  bool terminate_with_parent = false;
};

class UapiDevice : public Device {
 public:
  // A device served on `socket_path` (empty: UapiSocketPath(ifname)). Checks
  // that the socket answers a get; Unavailable when it does not.
  static absl::StatusOr<std::unique_ptr<UapiDevice>> Open(const std::string& ifname,
                                                          const std::string& socket_path = "");

  std::string name() const override { return ifname_; }
  absl::string_view kind() const override { return "userspace"; }
  absl::StatusOr<DeviceState> Get() override;
  absl::Status Apply(const DeviceConfig& config) override;

  const std::string& socket_path() const { return socket_path_; }
  // The wireguard-go process serving the device (from EnsureUserspaceDevice);
  // 0 when unknown (opened directly, or adopted without a valid pid file).
  pid_t pid() const { return pid_; }
  // EnsureUserspaceDevice found the device running and took it over.
  bool adopted() const { return adopted_; }

 private:
  friend absl::StatusOr<std::unique_ptr<UapiDevice>> EnsureUserspaceDevice(
      const UserspaceOptions& options);
  UapiDevice(std::string ifname, std::string socket_path)
      : ifname_(std::move(ifname)), socket_path_(std::move(socket_path)) {}
  // One request, the whole answer (up to and including "errno=N\n\n").
  absl::StatusOr<std::string> Exchange(const std::string& request, const std::string& what);

  std::string ifname_;
  std::string socket_path_;
  pid_t pid_ = 0;
  bool adopted_ = false;
};

// Returns the userspace device `ifname`, starting wireguard-go if needed.
//  - The interface exists and its socket answers: adopted (no new process; an
//    agent restart keeps the tunnel and its sessions).
//  - Nothing there: starts `wireguard-go -f IFNAME` in a new session (so it
//    survives the agent), output to log_file, writes pid_file, waits up to
//    start_timeout for the socket to answer.
//  - The interface exists but nobody answers on its socket: FailedPrecondition
//    (a kernel WireGuard link or somebody else's interface; left alone).
// Then sets the MTU (when given) and brings the link up.
absl::StatusOr<std::unique_ptr<UapiDevice>> EnsureUserspaceDevice(const UserspaceOptions& options);

// Stops the wireguard-go of `pid_file` (SIGTERM, SIGKILL after 5 s), only if
// /proc/PID/cmdline is `<program> -f <ifname>` (program compared by its last
// path component). Then removes the pid file and a stale socket nobody answers
// on. No pid file, or a PID that is not running or belongs to another program
// (stale file; nothing is signalled): OK.
absl::Status StopUserspaceDevice(const std::string& pid_file, const std::string& ifname,
                                 const std::string& program = "wireguard-go");


}  // namespace weft::wireguard

#endif  // WEFT_AGENT_WIREGUARD_UAPI_H_
