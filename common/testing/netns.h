// Test fixtures on the shared kernel: network namespaces with a unique per-run
// prefix, removed on every exit path (destructor), and leftovers of crashed runs
// (whose creating process is gone) removed by the next run.
#ifndef WEFT_COMMON_TESTING_NETNS_H_
#define WEFT_COMMON_TESTING_NETNS_H_

#include <string>
#include <vector>

namespace weft::testing {

// True when the process may create namespaces and load BPF (root).
bool HaveRoot();

// Runs a shell command, returns its exit code; output goes to `out` if given.
int Run(const std::string& cmd, std::string* out = nullptr);

// A named network namespace ("weft-t<pid>-<n>-<suffix>") under /var/run/netns.
class ScopedNetns {
 public:
  explicit ScopedNetns(const std::string& suffix);
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }
  // "ip netns exec <name> <cmd>": exit code, output in `out`.
  int Exec(const std::string& cmd, std::string* out = nullptr) const;
  // Opens the namespace file (O_RDONLY); the caller closes it.
  int OpenFd() const;
  bool ok() const { return ok_; }

 private:
  std::string name_;
  bool ok_ = false;
};

// Moves the calling thread into a namespace for its lifetime (then back).
class NetnsGuard {
 public:
  explicit NetnsGuard(const std::string& path);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;
  bool ok() const { return ok_; }

 private:
  int self_ = -1;
  bool ok_ = false;
};

// A short name unique to this process for interfaces and pins ("wt<pid%>n").
std::string UniqueName(const std::string& stem);

// Removes namespaces named weft-t<pid>-* whose pid is no longer running.
void RemoveStaleNamespaces();

}  // namespace weft::testing

#endif  // WEFT_COMMON_TESTING_NETNS_H_
