#include "integration/bench/bench_util.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <fstream>
#include <set>
#include <thread>

#include "common/file_util.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"

extern char** environ;

namespace weft::bench {
namespace {

std::atomic<bool> g_stopping{false};
std::atomic<int> g_signal{0};

absl::Mutex g_children_mu;
std::set<pid_t>* g_children ABSL_GUARDED_BY(g_children_mu) = new std::set<pid_t>();

void Register(pid_t pid) {
  absl::MutexLock l(&g_children_mu);
  g_children->insert(pid);
}

void Unregister(pid_t pid) {
  absl::MutexLock l(&g_children_mu);
  g_children->erase(pid);
}

// The environment for a child: ours with `extra` overriding, or `extra` alone.
std::vector<std::string> ChildEnv(const SpawnOptions& o) {
  std::vector<std::string> env;
  if (!o.clear_env) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      std::string key = kv.substr(0, kv.find('='));
      bool overridden = std::any_of(o.env.begin(), o.env.end(), [&](const std::string& x) {
        return absl::StartsWith(x, key + "=");
      });
      if (!overridden) env.push_back(kv);
    }
  }
  for (const auto& kv : o.env) env.push_back(kv);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// fork + exec; `out_fd` >= 0 becomes the child's stdout (and stderr if merged).
absl::StatusOr<pid_t> ForkExec(const std::vector<std::string>& argv_in, const SpawnOptions& o,
                               int out_fd) {
  if (argv_in.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = ChildEnv(o);
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  int ns_fd = -1;
  if (!o.netns_path.empty()) {
    ns_fd = open(o.netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) return absl::NotFoundError(absl::StrCat("open ", o.netns_path, ": ", strerror(errno)));
  }
  int in_fd = open(o.stdin_file.empty() ? "/dev/null" : o.stdin_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (in_fd < 0) {
    if (ns_fd >= 0) close(ns_fd);
    return absl::NotFoundError(absl::StrCat("open ", o.stdin_file, ": ", strerror(errno)));
  }
  int file_fd = -1;
  if (out_fd < 0 && !o.stdout_file.empty()) {
    file_fd = open(o.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (file_fd < 0) {
      close(in_fd);
      if (ns_fd >= 0) close(ns_fd);
      return absl::InternalError(absl::StrCat("open ", o.stdout_file, ": ", strerror(errno)));
    }
    out_fd = file_fd;
  }
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET) != 0) _exit(126);
    dup2(in_fd, 0);
    if (out_fd >= 0) {
      dup2(out_fd, 1);
      if (o.merge_stderr) dup2(out_fd, 2);
    }
    execvpe(c_argv[0], c_argv.data(), c_env.data());
    _exit(127);
  }
  int err = errno;
  close(in_fd);
  if (ns_fd >= 0) close(ns_fd);
  if (file_fd >= 0) close(file_fd);
  if (pid < 0) return absl::InternalError(absl::StrCat("fork for ", argv[0], ": ", strerror(err)));
  Register(pid);
  return pid;
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

void InstallStopHandler() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread([stop] {
    for (;;) {
      int sig = 0;
      if (sigwait(&stop, &sig) != 0) continue;
      if (g_stopping.exchange(true)) {
        fprintf(stderr, "\nstill cleaning up (namespaces, BPF pins, processes)...\n");
        continue;
      }
      g_signal = sig;
      fprintf(stderr, "\n%s: stopping; cleaning up...\n", strsignal(sig));
      // The children (iperf3, agents, servers) die now; whoever waits for them
      // sees the failure, checks Stopping() and unwinds.
      absl::MutexLock l(&g_children_mu);
      for (pid_t pid : *g_children) kill(pid, SIGKILL);
    }
  }).detach();
}

bool Stopping() { return g_stopping.load(); }

absl::Status CheckNotStopping() {
  if (!Stopping()) return absl::OkStatus();
  return absl::CancelledError(absl::StrCat("stopped by ", strsignal(g_signal.load())));
}

int ExitCode(const char* bench, const absl::Status& result) {
  if (result.ok()) return 0;
  std::cerr << bench << ": " << result << "\n";
  return absl::IsCancelled(result) ? 130 : 1;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    Kill();
    pid_ = o.pid_;
    o.pid_ = -1;
  }
  return *this;
}

int Child::Kill(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  Unregister(pid_);
  pid_ = -1;
  return status;
}

int Child::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  Unregister(pid_);
  pid_ = -1;
  return ExitCode(status);
}

int Child::Terminate(int grace_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int waited = 0;; waited += 20) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) break;
    if (waited >= grace_ms) {
      kill(pid_, SIGKILL);
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    usleep(20000);
  }
  Unregister(pid_);
  pid_ = -1;
  return ExitCode(status);
}

absl::StatusOr<Child> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  auto pid = ForkExec(argv, options, -1);
  if (!pid.ok()) return pid.status();
  return Child(*pid);
}

absl::StatusOr<int> RunCapture(const std::vector<std::string>& argv, std::string* out,
                               const SpawnOptions& options) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  auto pid = ForkExec(argv, options, fds[1]);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  Child child(*pid);
  std::string buf;
  char chunk[8192];
  for (;;) {
    ssize_t n = read(fds[0], chunk, sizeof(chunk));
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  if (out) *out = std::move(buf);
  return child.Wait();
}

absl::StatusOr<std::string> ShOut(const std::string& cmd) {
  std::string out;
  auto rc = RunCapture({"/bin/sh", "-c", cmd}, &out);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    if (Stopping()) return CheckNotStopping();
    return absl::InternalError(absl::StrCat("`", cmd, "` exited ", *rc, ": ", out));
  }
  return out;
}

absl::Status Sh(const std::string& cmd) { return ShOut(cmd).status(); }

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<size_t>(rank, 1)) - 1];
}

double Median(std::vector<double> v) { return Percentile(v, 50); }

std::string Runfile(const std::string& workspace_path) {
  const std::string rel = "weft/" + workspace_path;
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    const char* dir = getenv(var);
    if (dir != nullptr && *dir != '\0') {
      std::string p = absl::StrCat(dir, "/", rel);
      if (access(p.c_str(), F_OK) == 0) return p;
    }
  }
  if (std::string exe = SelfExecutable(); !exe.empty()) {
    std::string p = absl::StrCat(exe, ".runfiles/", rel);
    if (access(p.c_str(), F_OK) == 0) return p;
  }
  return workspace_path;  // `bazel run` starts us in the runfiles tree
}

int64_t ProcStatusKiB(pid_t pid, const std::string& field) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, field + ":")) {
      std::string v = line.substr(field.size() + 1);
      v = v.substr(0, v.find("kB"));
      int64_t kib = -1;
      if (absl::SimpleAtoi(v, &kib)) return kib;  // SimpleAtoi strips whitespace
    }
  }
  return -1;
}

double LoadAverage1() {
  double l[1] = {-1};
  if (getloadavg(l, 1) != 1) return -1;
  return l[0];
}

namespace {
// user nice system idle iowait irq softirq steal: (busy, total) jiffies.
std::pair<uint64_t, uint64_t> CpuJiffies() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {};
  stat >> cpu;
  for (auto& x : v) stat >> x;
  uint64_t total = 0;
  for (auto x : v) total += x;
  return {total - v[3] - v[4], total};
}
}  // namespace

double CpuBusyFraction(int ms) {
  auto [busy0, total0] = CpuJiffies();
  usleep(static_cast<useconds_t>(ms) * 1000);
  auto [busy1, total1] = CpuJiffies();
  if (total1 <= total0) return 0;
  return static_cast<double>(busy1 - busy0) / static_cast<double>(total1 - total0);
}

absl::StatusOr<double> WaitForQuietCpus(double max_busy, int max_wait_ms) {
  double busy = 1;
  for (int waited = 0; waited <= max_wait_ms; waited += 1000) {
    RETURN_IF_ERROR(CheckNotStopping());
    busy = CpuBusyFraction(1000);
    if (busy <= max_busy) break;
  }
  return busy;
}

}  // namespace weft::bench
