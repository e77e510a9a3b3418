#include "common/testing/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"

namespace weft::testing {
namespace {
std::atomic<int> g_counter{0};
}  // namespace

bool HaveRoot() { return geteuid() == 0; }

int Run(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  std::string buf;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) buf.append(chunk, n);
  int rc = pclose(p);
  if (out) *out = buf;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void RemoveStaleNamespaces() {
  DIR* d = opendir("/var/run/netns");
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (!absl::StartsWith(name, "weft-t")) continue;
    auto dash = name.find('-', 6);
    int pid = 0;
    if (dash == std::string::npos || !absl::SimpleAtoi(name.substr(6, dash - 6), &pid)) continue;
    if (pid != getpid() && kill(pid, 0) != 0) stale.push_back(name);
  }
  closedir(d);
  for (const auto& n : stale) Run("ip netns delete " + n);
}

std::string UniqueName(const std::string& stem) {
  return absl::StrCat(stem, getpid() % 100000, "x", g_counter++);
}

ScopedNetns::ScopedNetns(const std::string& suffix) {
  name_ = absl::StrCat("weft-t", getpid(), "-", g_counter++, "-", suffix);
  ok_ = Run("ip netns add " + name_) == 0;
  if (ok_) Run("ip -n " + name_ + " link set lo up");
}

ScopedNetns::~ScopedNetns() {
  if (ok_) Run("ip netns delete " + name_);
}

int ScopedNetns::Exec(const std::string& cmd, std::string* out) const {
  return Run("ip netns exec " + name_ + " " + cmd, out);
}

int ScopedNetns::OpenFd() const { return open(path().c_str(), O_RDONLY | O_CLOEXEC); }

NetnsGuard::NetnsGuard(const std::string& path) {
  self_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ok_ = self_ >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0;
  if (target >= 0) close(target);
}

NetnsGuard::~NetnsGuard() {
  if (self_ >= 0) {
    setns(self_, CLONE_NEWNET);
    close(self_);
  }
}

}  // namespace weft::testing
