// Named network namespaces, the `ip netns` way (a bind mount of the namespace
// at /var/run/netns/<name>, so iproute2 and other tools see them), and running
// code inside one on a helper thread. Product code (the lab, later the agent);
// common/testing/netns.h keeps the test fixtures.
//
// A network namespace is a property of a thread, not of a process, so a thread
// can enter one, create sockets there and leave; a socket stays in the
// namespace it was created in for its whole life.
#ifndef WEFT_COMMON_NETNS_NETNS_H_
#define WEFT_COMMON_NETNS_NETNS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::netns {

// Where named namespaces are mounted (the iproute2 convention).
inline constexpr char kNamedNetnsDir[] = "/var/run/netns";

// "/var/run/netns/<name>".
std::string PathOf(absl::string_view name);

// Creates a new network namespace mounted at /var/run/netns/<name>, with its
// loopback interface up. AlreadyExists when the name is taken; on any other
// failure nothing is left behind. Needs CAP_SYS_ADMIN.
absl::Status Create(const std::string& name);

// Unmounts and removes /var/run/netns/<name>. Absent is not an error. The
// namespace itself (and its interfaces) goes away once no process, thread or
// socket uses it any more.
absl::Status Delete(const std::string& name);

// Names under /var/run/netns starting with `prefix`, sorted. A missing folder
// is an empty list.
absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix);

// Runs `fn` on a new thread that has first joined the network namespace at
// `netns_path` (/var/run/netns/<name> or /proc/<pid>/ns/net), and returns what
// it returns. The caller's own thread never changes namespace. Sockets `fn`
// creates stay in that namespace; /proc/sys/net opened by `fn` is that
// namespace's.
absl::Status RunIn(const std::string& netns_path, const std::function<absl::Status()>& fn);

// The namespace's inode number ("which namespace is this"): equal for the same
// namespace, whatever path names it.
absl::StatusOr<uint64_t> Inode(const std::string& netns_path);

// Writes a sysctl under /proc/sys ("net.ipv4.ip_forward" -> "1") in the
// namespace at `netns_path`.
absl::Status WriteSysctl(const std::string& netns_path, const std::string& name,
                         const std::string& value);

}  // namespace weft::netns

#endif  // WEFT_COMMON_NETNS_NETNS_H_
