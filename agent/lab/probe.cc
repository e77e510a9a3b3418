#include "agent/lab/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/netns/cgroup.h"
#include "common/netns/netns.h"

namespace weft::lab {
namespace {

// Milliseconds left until `deadline`, at least 0.
int MillisLeft(absl::Time deadline) {
  return static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
}

absl::StatusOr<sockaddr_in> Address(const ProbeTarget& target) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(target.port));
  if (inet_pton(AF_INET, target.ip.c_str(), &sin.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", target.ip, "\" is not an IPv4 address"));
  }
  return sin;
}

// Connects the non-blocking TCP socket `fd` (closed here) and reads the greeting.
absl::Status ProbeWith(int fd, sockaddr_in sin, const ProbeTarget& target, absl::Time deadline) {
  const std::string where = absl::StrCat(target.ip, ":", target.port);
  auto fail = [&](const std::string& what) {
    close(fd);
    return absl::UnavailableError(absl::StrCat(what, " ", where, ": ", strerror(errno)));
  };
  if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0 && errno != EINPROGRESS) {
    return fail("connect");
  }
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, MillisLeft(deadline)) != 1) {
    errno = ETIMEDOUT;
    return fail("connect");
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    errno = err;
    return fail("connect");
  }
  std::string answer;
  for (;;) {
    p = {fd, POLLIN, 0};
    if (poll(&p, 1, MillisLeft(deadline)) != 1) {
      errno = ETIMEDOUT;
      return fail("read greeting from");
    }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return fail("read greeting from");
    if (n == 0) break;
    answer.append(buf, static_cast<size_t>(n));
    if (answer.size() > 4096) break;
  }
  close(fd);
  if (answer != target.greeting) {
    return absl::DataLossError(absl::StrCat(where, " answered \"", absl::CEscape(answer),
                                            "\", expected \"", absl::CEscape(target.greeting),
                                            "\""));
  }
  return absl::OkStatus();
}

absl::Status Probe(const ProbeTarget& target, absl::Duration timeout) {
  auto sin = Address(target);
  if (!sin.ok()) return sin.status();
  const absl::Time deadline = absl::Now() + timeout;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  return ProbeWith(fd, *sin, target, deadline);
}

}  // namespace

absl::Status ProbeTcp(const std::string& netns_path, const ProbeTarget& target,
                      absl::Duration timeout) {
  return netns::RunIn(netns_path, [&] { return Probe(target, timeout); });
}

absl::Status ProbeTcpInCgroup(const std::string& cgroup_dir, const std::string& netns_path,
                              const ProbeTarget& target, absl::Duration timeout) {
  auto sin = Address(target);
  if (!sin.ok()) return sin.status();
  const absl::Time deadline = absl::Now() + timeout;
  if (access(cgroup_dir.c_str(), F_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("no cgroup ", cgroup_dir));
  }
  auto fd = cgroup::SocketIn(cgroup_dir, netns_path, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (!fd.ok()) return fd.status();
  return ProbeWith(*fd, *sin, target, deadline);
}

}  // namespace weft::lab
