// Shared pieces of the integration benchmarks (datapath_bench, cni_bench): child
// processes that are stopped on Ctrl-C, shell commands with their output, clocks
// and percentiles. Test-only: benches run by hand, as root, on the shared kernel.
#ifndef WEFT_INTEGRATION_BENCH_BENCH_UTIL_H_
#define WEFT_INTEGRATION_BENCH_BENCH_UTIL_H_

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace weft::bench {

// Ctrl-C, SIGTERM and SIGHUP: blocked in every thread; one thread waits for them,
// sets Stopping() and kills the children started with Spawn/Sh, so the bench
// unwinds through its destructors (namespaces, pins, processes) and exits.
// Call first in main(), before any thread starts.
void InstallStopHandler();
bool Stopping();
// Cancelled (naming the signal) once a stop signal arrived.
absl::Status CheckNotStopping();
// main()'s exit code for a bench's result: 0; 130 when stopped by a signal;
// else 1. An error is printed to stderr after "<bench>: ".
int ExitCode(const char* bench, const absl::Status& result);

struct SpawnOptions {
  // Network namespace the child joins before exec ("" = ours).
  std::string netns_path;
  // Extra environment ("K=V"); with `clear_env` the whole environment.
  std::vector<std::string> env;
  bool clear_env = false;
  std::string stdin_file;   // "" = /dev/null
  std::string stdout_file;  // "" = inherit; Spawn only (RunCapture pipes it)
  bool merge_stderr = true;
};

// A child process we started; SIGKILLed on stop, reaped on destruction.
class Child {
 public:
  Child() = default;
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() { Kill(); }
  Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Sends `sig` and waits for the exit; returns the wait status (-1 when none).
  int Kill(int sig = SIGKILL);
  // Waits for the exit; returns the exit code (128+signal when killed).
  int Wait();
  // SIGTERM, then SIGKILL if still running after `grace_ms`; returns the exit code.
  int Terminate(int grace_ms);

 private:
  pid_t pid_ = -1;
};

// Starts argv[0] (looked up in PATH) with signals unblocked.
absl::StatusOr<Child> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// Runs argv to completion; stdout (+stderr when merged) in `out`. Returns the
// exit code, or an error when the process could not be started.
absl::StatusOr<int> RunCapture(const std::vector<std::string>& argv, std::string* out,
                               const SpawnOptions& options = {});

// `/bin/sh -c cmd`: OK when it exits 0, else an error with the command and its output.
absl::Status Sh(const std::string& cmd);
// The same, returning the output.
absl::StatusOr<std::string> ShOut(const std::string& cmd);

int64_t MonotonicNanos();

// Nearest-rank percentile (p in 0..100) of `v` (sorted in place). 0 for empty.
double Percentile(std::vector<double>& v, double p);
double Median(std::vector<double> v);

// The runfiles path of `workspace_path` ("agent/cni/weft-cni") for a binary run
// with `bazel run`, or next to /proc/self/exe's runfiles.
std::string Runfile(const std::string& workspace_path);

// VmRSS / VmHWM of a process in KiB (-1 when unreadable).
int64_t ProcStatusKiB(pid_t pid, const std::string& field);

// 1-minute load average of the machine, to print next to the numbers.
double LoadAverage1();

// Share of all CPUs' time that was busy (not idle/iowait) over `ms`, 0..1.
double CpuBusyFraction(int ms);

// Waits (sampling 1 s at a time, at most `max_wait_ms`) until the machine's
// CPUs are at most `max_busy` busy: other work on a shared machine distorts
// throughput numbers. Returns the last sample; proceeds anyway after the wait.
absl::StatusOr<double> WaitForQuietCpus(double max_busy, int max_wait_ms);

}  // namespace weft::bench

#endif  // WEFT_INTEGRATION_BENCH_BENCH_UTIL_H_
