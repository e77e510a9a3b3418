// Benchmark (not a test): runs `talosgen patch` end to end (fork + exec + generate + exit)
// N times and prints the median and p90 latency, against a baseline of spawning /bin/true
// measured in the same run (so the ratio is comparable across machines).
//   bazel run -c opt //generator:patch_bench [-- N]
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;

namespace {

// One run with stdout/stderr to /dev/null; returns milliseconds, or -1 on failure.
double RunOnce(const std::vector<std::string>& argv_strings) {
  std::vector<char*> argv;
  for (const std::string& s : argv_strings) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return -1;
  }
  auto end = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(end - start).count();
}

struct Stats {
  double median = 0;
  double p90 = 0;
};

bool Measure(const std::vector<std::string>& argv, int n, Stats* out) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    double t = RunOnce(argv);
    if (t < 0) return false;
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  out->median = ms[ms.size() / 2];
  out->p90 = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: patch_bench TALOSGEN [N]\n");
    return 2;
  }
  std::string talosgen = argv[1];
  if (talosgen[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) != nullptr) talosgen = std::string(cwd) + "/" + talosgen;
  }
  int n = argc > 2 ? std::atoi(argv[2]) : 200;
  if (n < 1) n = 200;
  Stats base, patch;
  if (!Measure({"/bin/true"}, n, &base)) {
    std::fprintf(stderr, "patch_bench: /bin/true failed\n");
    return 1;
  }
  if (!Measure({talosgen, "patch"}, n, &patch)) {
    std::fprintf(stderr, "patch_bench: %s patch failed\n", talosgen.c_str());
    return 1;
  }
  std::printf("talosgen patch, %d runs (fork+exec, end to end)\n", n);
  std::printf("  baseline /bin/true: median %.3f ms, p90 %.3f ms\n", base.median, base.p90);
  std::printf("  talosgen patch:     median %.3f ms, p90 %.3f ms (goal: < 10 ms)\n", patch.median,
              patch.p90);
  std::printf("  ratio to baseline:  median %.2fx, p90 %.2fx\n", patch.median / base.median,
              patch.p90 / base.p90);
  return 0;
}
