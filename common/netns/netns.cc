#include "common/netns/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace weft::netns {
namespace {

absl::Status Errno(const std::string& what, int err) {
  return absl::Status(err == EPERM || err == EACCES ? absl::StatusCode::kPermissionDenied
                                                    : absl::StatusCode::kInternal,
                      absl::StrCat(what, ": ", strerror(err)));
}

// Makes /var/run/netns a shared mount point, as `ip netns add` does: namespaces
// mounted later then propagate to every mount namespace (containers that bind
// /var/run/netns see them too), and `ip netns` treats ours like its own.
absl::Status PrepareNamedDir() {
  if (mkdir(kNamedNetnsDir, 0755) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("create ", kNamedNetnsDir), errno);
  }
  bool made_mount_point = false;
  while (mount("", kNamedNetnsDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
    // EINVAL: not a mount point yet. Bind it onto itself once, then retry.
    if (errno != EINVAL || made_mount_point) {
      return Errno(absl::StrCat("make ", kNamedNetnsDir, " a shared mount"), errno);
    }
    if (mount(kNamedNetnsDir, kNamedNetnsDir, "none", MS_BIND | MS_REC, nullptr) != 0) {
      return Errno(absl::StrCat("bind-mount ", kNamedNetnsDir), errno);
    }
    made_mount_point = true;
  }
  return absl::OkStatus();
}

// In the calling thread's namespace: `ip link set lo up` without netlink.
absl::Status LoopbackUp() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket for loopback", errno);
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  absl::Status status;
  if (ioctl(fd, SIOCGIFFLAGS, &req) != 0) {
    status = Errno("read flags of lo", errno);
  } else {
    req.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &req) != 0) status = Errno("set lo up", errno);
  }
  close(fd);
  return status;
}

}  // namespace

std::string PathOf(absl::string_view name) { return absl::StrCat(kNamedNetnsDir, "/", name); }

absl::Status Create(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || absl::StrContains(name, "/")) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a namespace name"));
  }
  if (auto s = PrepareNamedDir(); !s.ok()) return s;
  const std::string path = PathOf(name);
  // The mount point: an empty file, created exclusively so two creators of the
  // same name cannot both succeed.
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("network namespace ", name, " already exists"));
    }
    return Errno(absl::StrCat("create ", path), errno);
  }
  close(fd);
  // unshare() moves only the calling thread; a throw-away thread leaves the
  // caller where it was. The bind mount keeps the namespace alive after the
  // thread ends.
  absl::Status status;
  std::thread([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      status = Errno(absl::StrCat("create network namespace ", name), errno);
      return;
    }
    if (mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      status = Errno(absl::StrCat("mount network namespace at ", path), errno);
      return;
    }
    status = LoopbackUp();
  }).join();
  if (!status.ok()) {
    umount2(path.c_str(), MNT_DETACH);
    unlink(path.c_str());
  }
  return status;
}

absl::Status Delete(const std::string& name) {
  if (name.empty() || absl::StrContains(name, "/")) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a namespace name"));
  }
  const std::string path = PathOf(name);
  // EINVAL: not mounted (a half-created entry); ENOENT: already gone.
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return Errno(absl::StrCat("unmount ", path), errno);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Errno(absl::StrCat("remove ", path), errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) {
  std::vector<std::string> names;
  DIR* dir = opendir(kNamedNetnsDir);
  if (dir == nullptr) {
    if (errno == ENOENT) return names;
    return Errno(absl::StrCat("list ", kNamedNetnsDir), errno);
  }
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (absl::StartsWith(name, prefix)) names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status RunIn(const std::string& netns_path, const std::function<absl::Status()>& fn) {
  int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(absl::StrCat("open network namespace ", netns_path), errno);
  absl::Status status;
  std::thread([&] {
    if (setns(fd, CLONE_NEWNET) != 0) {
      status = Errno(absl::StrCat("enter network namespace ", netns_path), errno);
      return;
    }
    status = fn();
  }).join();
  close(fd);
  return status;
}

absl::StatusOr<uint64_t> Inode(const std::string& netns_path) {
  struct stat st {};
  if (stat(netns_path.c_str(), &st) != 0) return Errno(absl::StrCat("stat ", netns_path), errno);
  return static_cast<uint64_t>(st.st_ino);
}

absl::Status WriteSysctl(const std::string& netns_path, const std::string& name,
                         const std::string& value) {
  const std::string file = absl::StrCat("/proc/sys/", absl::StrReplaceAll(name, {{".", "/"}}));
  return RunIn(netns_path, [&]() -> absl::Status {
    int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Errno(absl::StrCat("open ", file), errno);
    ssize_t n = write(fd, value.data(), value.size());
    int err = errno;
    close(fd);
    if (n != static_cast<ssize_t>(value.size())) {
      return Errno(absl::StrCat("set ", name, "=", value, " in ", netns_path), err);
    }
    return absl::OkStatus();
  });
}

}  // namespace weft::netns
