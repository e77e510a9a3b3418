#include "common/file_util.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace weft {

namespace {

// The shared part of the atomic writes: a temporary file beside `path` with
// `mode` (regardless of the umask), filled by `fill`, synced, renamed over
// `path`. The temporary file never outlives a failure.
absl::Status ReplaceAtomically(const std::string& path, int mode,
                               const std::function<int(int fd)>& fill) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(absl::StrCat("create ", tmp, ": ", strerror(errno)));
  fchmod(fd, mode);  // not subject to the umask
  auto fail = [&](const std::string& what, int err) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
  };
  if (int err = fill(fd); err != 0) {
    close(fd);
    return fail("write " + tmp, err);
  }
  int err = fsync(fd) != 0 ? errno : 0;
  if (close(fd) != 0 && err == 0) err = errno;
  if (err != 0) return fail("sync " + tmp, err);
  if (rename(tmp.c_str(), path.c_str()) != 0) return fail("rename " + tmp + " to " + path, errno);
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents,
                                 int mode) {
  return ReplaceAtomically(path, mode, [&](int fd) {
    for (size_t off = 0; off < contents.size();) {
      ssize_t n = write(fd, contents.data() + off, contents.size() - off);
      if (n < 0 && errno != EINTR) return errno;
      if (n > 0) off += static_cast<size_t>(n);
    }
    return 0;
  });
}

absl::Status CopyFileAtomically(const std::string& from, const std::string& to, int mode) {
  int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(from, " does not exist"));
    return absl::InternalError(absl::StrCat("open ", from, ": ", strerror(errno)));
  }
  struct stat st;
  absl::Status s = fstat(in, &st) != 0
                       ? absl::InternalError(absl::StrCat("stat ", from, ": ", strerror(errno)))
                       : ReplaceAtomically(to, mode, [&](int fd) {
                           for (off_t left = st.st_size; left > 0;) {
                             // sendfile, not copy_file_range: the source and
                             // the target are often on different filesystems
                             // (an extension's rootfs, a bind-mounted
                             // /opt/cni/bin), where copy_file_range fails.
                             ssize_t n = sendfile(fd, in, nullptr, static_cast<size_t>(left));
                             if (n < 0 && errno != EINTR) return errno;
                             if (n == 0) return EIO;  // the source shrank under us
                             if (n > 0) left -= n;
                           }
                           return 0;
                         });
  close(in);
  return s;
}

std::string SelfExecutable() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string BesideSelf(const std::string& name) {
  const std::string exe = SelfExecutable();
  return exe.substr(0, exe.rfind('/') + 1) + name;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status MakeDirs(const std::string& path, int mode) {
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("create ", prefix, ": ", strerror(errno)));
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a folder"));
  }
  return absl::OkStatus();
}

}  // namespace weft
