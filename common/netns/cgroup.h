// cgroup v2 folders for socket programs, and sockets that belong to one.
//
// cgroup sock_addr programs (connect4, sendmsg4, ...) run for a socket
// according to the cgroup it was created in, whichever process uses it later.
// SocketIn exploits that: a short-lived child joins the cgroup (and a network
// namespace), creates the socket and hands it back, so a multi-threaded test
// or tool can act as a process of that cgroup without moving itself.
#ifndef WEFT_COMMON_NETNS_CGROUP_H_
#define WEFT_COMMON_NETNS_CGROUP_H_

#include <string>

#include "absl/status/statusor.h"

namespace weft::cgroup {

// Where cgroup v2 is mounted: /sys/fs/cgroup (unified hierarchy, Talos) or
// /sys/fs/cgroup/unified (hybrid hosts). NotFound when neither is cgroup2.
absl::StatusOr<std::string> V2Root();

// Creates the folder (a child cgroup); an existing one is fine.
absl::Status Create(const std::string& dir);

// Moves the processes still in `dir` to its parent and removes it
// (idempotent; a missing folder is fine).
absl::Status Remove(const std::string& dir);

// A socket(domain, type, protocol) created by a process in cgroup `dir` and,
// unless `netns_path` is empty, in that network namespace. The caller owns the
// descriptor (close-on-exec).
absl::StatusOr<int> SocketIn(const std::string& dir, const std::string& netns_path, int domain,
                             int type, int protocol);

}  // namespace weft::cgroup

#endif  // WEFT_COMMON_NETNS_CGROUP_H_
