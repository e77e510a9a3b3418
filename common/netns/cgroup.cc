#include "common/netns/cgroup.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace weft::cgroup {
namespace {

absl::Status Errno(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

bool IsCgroup2(const char* path) {
  struct statfs st;
  return statfs(path, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

// Child side of SocketIn: only async-signal-safe calls (the parent may be
// multi-threaded). Returns the errno of the failing step, with `step` set.
int MakeSocketChild(const char* procs, int netns_fd, int domain, int type, int protocol,
                    int channel, int* step) {
  *step = 0;
  int fd = open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "0", 1) != 1) return errno;
  close(fd);
  *step = 1;
  if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) return errno;
  *step = 2;
  int s = socket(domain, type | SOCK_CLOEXEC, protocol);
  if (s < 0) return errno;
  *step = 3;
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof(control));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &s, sizeof(int));
  if (sendmsg(channel, &msg, MSG_NOSIGNAL) != 1) return errno;
  return 0;
}

}  // namespace

absl::StatusOr<std::string> V2Root() {
  for (const char* p : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    if (IsCgroup2(p)) return std::string(p);
  }
  return absl::NotFoundError("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified");
}

absl::Status Create(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("create cgroup ", dir), errno);
  }
  return absl::OkStatus();
}

absl::Status Remove(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : Errno(absl::StrCat("stat ", dir), errno);
  }
  const std::string parent = dir.substr(0, dir.find_last_of('/'));
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::ifstream in(dir + "/cgroup.procs");
    std::vector<std::string> pids;
    for (std::string pid; in >> pid;) pids.push_back(pid);
    for (const std::string& pid : pids) {
      std::ofstream out(parent + "/cgroup.procs");
      out << pid << std::flush;  // a process that exited meanwhile: ignored
    }
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
    if (errno != EBUSY) return Errno(absl::StrCat("remove cgroup ", dir), errno);
    usleep(20 * 1000);  // a process was forking into it
  }
  return absl::FailedPreconditionError(absl::StrCat("remove cgroup ", dir, ": still busy"));
}

absl::StatusOr<int> SocketIn(const std::string& dir, const std::string& netns_path, int domain,
                             int type, int protocol) {
  const std::string procs = dir + "/cgroup.procs";
  int netns_fd = -1;
  if (!netns_path.empty()) {
    netns_fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) return Errno(absl::StrCat("open network namespace ", netns_path), errno);
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0) {
    int err = errno;
    if (netns_fd >= 0) close(netns_fd);
    return Errno("socketpair", err);
  }
  // The error travels back as two ints over a pipe: step and errno.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    int err = errno;
    close(pair[0]);
    close(pair[1]);
    if (netns_fd >= 0) close(netns_fd);
    return Errno("pipe", err);
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(pair[0]);
    close(report[0]);
    int step = 0;
    int err = MakeSocketChild(procs.c_str(), netns_fd, domain, type, protocol, pair[1], &step);
    int out[2] = {step, err};
    (void)!write(report[1], out, sizeof(out));
    _exit(err == 0 ? 0 : 1);
  }
  int fork_err = errno;
  close(pair[1]);
  close(report[1]);
  if (netns_fd >= 0) close(netns_fd);
  if (pid < 0) {
    close(pair[0]);
    close(report[0]);
    return Errno("fork", fork_err);
  }
  int out[2] = {-1, 0};
  ssize_t got = read(report[0], out, sizeof(out));
  close(report[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (got != sizeof(out) || out[1] != 0) {
    close(pair[0]);
    static const char* kSteps[] = {"join cgroup", "enter network namespace", "create socket",
                                   "pass socket"};
    const char* step = (got == sizeof(out) && out[0] >= 0 && out[0] < 4) ? kSteps[out[0]]
                                                                          : "child process";
    return Errno(absl::StrCat("socket in cgroup ", dir, ": ", step), got == sizeof(out) ? out[1] : EIO);
  }
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(pair[0], &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  int err = errno;
  close(pair[0]);
  cmsghdr* c = n == 1 ? CMSG_FIRSTHDR(&msg) : nullptr;
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) {
    return Errno(absl::StrCat("socket in cgroup ", dir, ": receive"), n < 0 ? err : EIO);
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

}  // namespace weft::cgroup
