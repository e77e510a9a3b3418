#include "common/netns/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/file_util.h"

extern char** environ;

namespace weft::netns {
namespace {

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Descriptors the child works with are first moved to this number or above, so
// dup2() onto 0-3 never overwrites one that is still needed.
constexpr int kHighFd = 10;

absl::Status Errno(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

// argv[0] as given when it holds a '/', else the first executable of that name
// in $PATH or the usual system folders (sbin first: `ip` lives there).
// A path is used as given (exec reports what is wrong with it); a name is
// looked up.
absl::StatusOr<std::string> ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  return FindProgram(name);
}

// Reads what is available on a non-blocking descriptor; false at end of file.
bool Drain(int fd, std::string* into) {
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      into->append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

}  // namespace

int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

absl::StatusOr<std::string> FindProgram(const std::string& program) {
  auto usable = [](const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
  };
  if (program.find('/') != std::string::npos) {
    if (usable(program)) return program;
    return absl::NotFoundError(
        absl::StrCat("program ", program, " does not exist or is not executable"));
  }
  std::string path;
  if (const char* env = std::getenv("PATH"); env != nullptr) path = env;
  absl::StrAppend(&path, ":/usr/sbin:/usr/bin:/sbin:/bin");
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", program);
    if (usable(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("program \"", program, "\" not found in $PATH"));
}

absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  auto program = ResolveProgram(options.argv[0]);
  if (!program.ok()) return program.status();

  // Everything the child touches is built here, before fork().
  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  if (options.env) {
    for (const std::string& e : *options.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }
  char* const* env = options.env ? envp.data() : environ;

  int netns_fd = -1;
  if (!options.netns_path.empty()) {
    netns_fd = open(options.netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      return Errno(absl::StrCat("open network namespace ", options.netns_path), errno);
    }
  }
  // With mounts the program is opened now, in the caller's view of the files,
  // and run from that descriptor after the mounts changed the view.
  int program_fd = -1;
  if (!options.mounts.empty()) {
    program_fd = open(program->c_str(), O_PATH | O_CLOEXEC);
    if (program_fd < 0) {
      int err = errno;
      if (netns_fd >= 0) close(netns_fd);
      return Errno(absl::StrCat("open ", *program), err);
    }
  }
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  // The child reports a failed exec through this pipe; a successful exec
  // closes it (O_CLOEXEC) and the parent reads end of file.
  int exec_error[2];
  if (devnull < 0 || pipe2(exec_error, O_CLOEXEC) != 0) {
    int err = errno;
    if (netns_fd >= 0) close(netns_fd);
    if (program_fd >= 0) close(program_fd);
    if (devnull >= 0) close(devnull);
    return Errno("spawn: pipe", err);
  }
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    int report = fcntl(exec_error[1], F_DUPFD_CLOEXEC, kHighFd);
    auto fail = [report]() {
      int err = errno;
      (void)!write(report, &err, sizeof(err));
      _exit(127);
    };
    if (options.terminate_with_parent) {
      if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) fail();
      if (getppid() != parent) _exit(1);  // the parent is already gone
    }
    if (options.new_session && setsid() < 0) fail();
    if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) fail();
    if (!options.mounts.empty()) {
      if (unshare(CLONE_NEWNS) != 0) fail();
      if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) fail();
      for (const BindMount& m : options.mounts) {
        const unsigned long flags = MS_BIND | (m.recursive ? MS_REC : 0);
        if (mount(m.source.c_str(), m.target.c_str(), nullptr, flags, nullptr) != 0) fail();
      }
    }
    // Signal dispositions and masks survive exec; start clean.
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig == SIGKILL || sig == SIGSTOP) continue;
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      sigaction(sig, &dfl, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const int sources[4] = {options.stdin_fd >= 0 ? options.stdin_fd : devnull,
                            options.stdout_fd >= 0 ? options.stdout_fd : devnull,
                            options.stderr_fd >= 0 ? options.stderr_fd : devnull, options.extra_fd};
    int moved[4];
    for (int i = 0; i < 4; ++i) {
      moved[i] = sources[i] >= 0 ? fcntl(sources[i], F_DUPFD_CLOEXEC, kHighFd) : -1;
      if (sources[i] >= 0 && moved[i] < 0) fail();
    }
    for (int i = 0; i < 4; ++i) {
      if (moved[i] >= 0 && dup2(moved[i], i) < 0) fail();  // dup2 clears O_CLOEXEC
    }
    // Every other descriptor closes at exec (the report pipe only if exec works).
    syscall(SYS_close_range, options.extra_fd >= 0 ? 4 : 3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (program_fd >= 0) {
      syscall(SYS_execveat, program_fd, "", argv.data(), env, AT_EMPTY_PATH);
    } else {
      execve(program->c_str(), argv.data(), env);
    }
    fail();
  }
  int fork_errno = errno;
  close(exec_error[1]);
  if (netns_fd >= 0) close(netns_fd);
  if (program_fd >= 0) close(program_fd);
  close(devnull);
  if (pid < 0) {
    close(exec_error[0]);
    return Errno(absl::StrCat("fork for ", options.argv[0]), fork_errno);
  }
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_error[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(exec_error[0]);
  if (n == sizeof(child_errno)) {
    waitpid(pid, nullptr, 0);
    return Errno(absl::StrCat("start ", *program,
                              options.netns_path.empty() ? "" : " in " + options.netns_path),
                 child_errno);
  }
  return pid;
}

absl::StatusOr<ProcessResult> RunProcess(SpawnOptions options, const std::string& input,
                                         absl::Duration timeout) {
  // stdin from an in-memory file: the child reads it at its own pace and we
  // never block on (or get SIGPIPE from) a pipe it does not drain.
  int in = memfd_create("weft-stdin", MFD_CLOEXEC);
  if (in < 0) return Errno("memfd_create", errno);
  if (write(in, input.data(), input.size()) != static_cast<ssize_t>(input.size()) ||
      lseek(in, 0, SEEK_SET) != 0) {
    int err = errno;
    close(in);
    return Errno("write stdin", err);
  }
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in);
    return Errno("pipe", errno);
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(in);
    close(out[0]);
    close(out[1]);
    return Errno("pipe", errno);
  }
  options.stdin_fd = in;
  options.stdout_fd = out[1];
  options.stderr_fd = err[1];
  auto pid = Spawn(options);
  close(in);
  close(out[1]);
  close(err[1]);
  if (!pid.ok()) {
    close(out[0]);
    close(err[0]);
    return pid.status();
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);

  ProcessResult result;
  const absl::Time deadline = absl::Now() + timeout;
  bool out_open = true, err_open = true, exited = false, timed_out = false;
  int status = 0;
  while (!exited || out_open || err_open) {
    if (!exited) {
      pid_t w = waitpid(*pid, &status, WNOHANG);
      exited = w == *pid;
      // A grandchild may keep the pipes open after the child exited: read
      // what is there and stop.
      if (exited) {
        if (out_open) Drain(out[0], &result.out);
        if (err_open) Drain(err[0], &result.err);
        break;
      }
    }
    if (absl::Now() >= deadline) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    poll(fds, 2, 50);
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      out_open = Drain(out[0], &result.out);
    }
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      err_open = Drain(err[0], &result.err);
    }
  }
  close(out[0]);
  close(err[0]);
  if (timed_out) {
    kill(*pid, SIGKILL);
    waitpid(*pid, nullptr, 0);
    return absl::DeadlineExceededError(
        absl::StrCat(options.argv[0], " did not finish within ", absl::FormatDuration(timeout)));
  }
  result.exit_code = ExitCode(status);
  return result;
}

absl::StatusOr<std::vector<std::string>> ReadCmdline(pid_t pid) {
  auto text = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
  if (!text.ok() || text->empty()) {
    return absl::NotFoundError(absl::StrCat("no running process ", pid));
  }
  if (text->back() == '\0') text->pop_back();
  return std::vector<std::string>(absl::StrSplit(*text, '\0'));
}

bool IsRunning(pid_t pid) {
  if (pid <= 0) return false;
  auto stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return false;
  // "pid (comm) S ...": the state follows the last ')' (comm may hold one).
  size_t close_paren = stat->rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat->size()) return false;
  const char state = (*stat)[close_paren + 2];
  return state != 'Z' && state != 'X';
}

CmdlineMatcher ExactCmdline(std::vector<std::string> expected) {
  return [expected = std::move(expected)](const std::vector<std::string>& cmdline) {
    return cmdline == expected;
  };
}

absl::Status Stop(pid_t pid, const CmdlineMatcher& is_ours, absl::Duration grace) {
  if (pid <= 0) return absl::OkStatus();
  auto reaped = [pid]() {
    // Reaps our own child; for anybody else's process waitpid fails (ECHILD)
    // and the /proc check decides.
    waitpid(pid, nullptr, WNOHANG);
    return !IsRunning(pid);
  };
  auto wait_gone = [&](absl::Duration how_long) {
    const absl::Time deadline = absl::Now() + how_long;
    while (absl::Now() < deadline) {
      if (reaped()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return reaped();
  };
  auto cmdline = ReadCmdline(pid);
  if (!cmdline.ok()) {
    reaped();
    return absl::OkStatus();
  }
  if (!is_ours(*cmdline)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "process ", pid, " is \"", absl::StrJoin(*cmdline, " "), "\", not ours: left alone"));
  }
  if (kill(pid, SIGTERM) != 0 && errno == ESRCH) return absl::OkStatus();
  if (wait_gone(grace)) return absl::OkStatus();
  // Check again before SIGKILL: the PID must still be the same program.
  cmdline = ReadCmdline(pid);
  if (!cmdline.ok() || !is_ours(*cmdline)) return absl::OkStatus();
  kill(pid, SIGKILL);
  if (wait_gone(absl::Seconds(5))) return absl::OkStatus();
  return absl::DeadlineExceededError(
      absl::StrCat("process ", pid, " (", (*cmdline)[0], ") did not exit after SIGKILL"));
}

}  // namespace weft::netns
