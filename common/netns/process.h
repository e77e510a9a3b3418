// Processes started inside a network namespace (fork, setns, exec), run to
// completion with their output captured, and stopped again by PID — only after
// checking /proc/<pid>/cmdline, so a PID reused by somebody else's process is
// never signalled.
//
// Spawn is safe to call from a multi-threaded process: everything the child
// needs is prepared before fork(), and the child only makes async-signal-safe
// calls before exec.
#ifndef WEFT_COMMON_NETNS_PROCESS_H_
#define WEFT_COMMON_NETNS_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace weft::netns {

// A bind mount made in the child's own mount namespace (see SpawnOptions::mounts).
struct BindMount {
  std::string source;
  std::string target;      // must exist
  bool recursive = false;  // MS_REC: the mounts below `source` come along
};

struct SpawnOptions {
  // argv[0] is the program: a path, or a name looked up in $PATH (then in
  // /usr/sbin:/usr/bin:/sbin:/bin).
  std::vector<std::string> argv;
  // The whole environment of the child; nullopt inherits the caller's.
  std::optional<std::vector<std::string>> env;
  // Network namespace to run in (/var/run/netns/<name>); empty: the caller's.
  std::string netns_path;
  // Non-empty: the child gets a private mount namespace (every mount a slave of
  // the caller's, so nothing propagates back) and these bind mounts, in order,
  // before exec. Gives a program another view of fixed paths (e.g. /run) without
  // changing anything the rest of the machine sees. The program itself is opened
  // before the mounts (in the caller's view) and must be a binary, not a script.
  std::vector<BindMount> mounts;
  // Descriptors for the child's stdin/stdout/stderr; -1 is /dev/null.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Becomes descriptor 3 in the child (e.g. a readiness pipe); -1: none.
  int extra_fd = -1;
  // setsid(): the child leaves the caller's session and process group, so a
  // terminal's Ctrl-C or hang-up does not reach it.
  bool new_session = false;
  // The child gets SIGTERM when the thread that spawned it exits (a crashed
  // supervisor does not leave its children running).
  bool terminate_with_parent = false;
};

// The path of `program`: a path (must be an executable regular file), or a
// name looked up in $PATH, then /usr/sbin:/usr/bin:/sbin:/bin. NotFound
// otherwise.
absl::StatusOr<std::string> FindProgram(const std::string& program);

// Starts the process; returns its PID. The child starts with no blocked and no
// ignored signals, and with no descriptors but 0-2 (and 3 when extra_fd is set).
absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

struct ProcessResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Spawns with `input` as stdin (an in-memory file) and stdout/stderr on pipes
// (the options' descriptors are replaced), collects both and waits for the
// process. After `timeout` it is killed and DeadlineExceeded returned.
absl::StatusOr<ProcessResult> RunProcess(SpawnOptions options, const std::string& input,
                                         absl::Duration timeout);

// The argument vector of a running process. NotFound when there is no such
// process or it has exited (a zombie has an empty command line).
absl::StatusOr<std::vector<std::string>> ReadCmdline(pid_t pid);

// A process with this PID exists and has not exited (zombies count as exited).
bool IsRunning(pid_t pid);

// What a caller knows about a process it started, to recognise it later.
using CmdlineMatcher = std::function<bool(const std::vector<std::string>& cmdline)>;

// Matches when the command line is exactly `expected`.
CmdlineMatcher ExactCmdline(std::vector<std::string> expected);

// Stops the process `pid` if it is still running and its command line matches:
// SIGTERM, then SIGKILL once `grace` has passed. Reaps it when it is our child.
// Returns OK when the process is gone (or was never there), FailedPrecondition
// when the PID belongs to another program (nothing is signalled).
absl::Status Stop(pid_t pid, const CmdlineMatcher& is_ours, absl::Duration grace);

// Decodes a waitpid() status: the exit code, or 128+signal.
int ExitCode(int wait_status);

}  // namespace weft::netns

#endif  // WEFT_COMMON_NETNS_PROCESS_H_
