#include "common/netns/process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace weft::netns {
namespace {

SpawnOptions Shell(const std::string& script) {
  SpawnOptions o;
  o.argv = {"sh", "-c", script};
  return o;
}

TEST(ProcessTest, RunFeedsStdinAndCapturesBothStreams) {
  auto r = RunProcess(Shell("read line; echo \"got $line\"; echo oops >&2; exit 3"), "hello\n",
                      absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "got hello\n");
  EXPECT_EQ(r->err, "oops\n");
}

TEST(ProcessTest, RunPassesExactlyTheGivenEnvironment) {
  SpawnOptions o = Shell("echo \"$CNI_COMMAND:${HOME:-unset}\"");
  o.argv[0] = "/bin/sh";
  o.env = std::vector<std::string>{"CNI_COMMAND=ADD"};
  auto r = RunProcess(o, "", absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "ADD:unset\n");
}

TEST(ProcessTest, RunKillsAChildThatOverstays) {
  auto r = RunProcess(Shell("sleep 30"), "", absl::Milliseconds(200));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
}

TEST(ProcessTest, MissingProgramIsAnError) {
  SpawnOptions o;
  o.argv = {"/nonexistent/weft-no-such-program"};
  auto pid = Spawn(o);
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.status().message().find("No such file"), std::string::npos) << pid.status();
}

TEST(ProcessTest, FindProgramLooksInPathAndChecksPaths) {
  auto sh = FindProgram("sh");
  ASSERT_TRUE(sh.ok()) << sh.status();
  EXPECT_EQ(sh->substr(sh->rfind('/')), "/sh");
  EXPECT_EQ(FindProgram("weft-no-such-program").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FindProgram("/nonexistent/wireguard-go").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FindProgram("/etc").status().code(), absl::StatusCode::kNotFound);  // not a file
}

TEST(ProcessTest, ChildStartsWithSignalsUnblocked) {
  // The caller blocks SIGTERM (as the lab controller does); the child must not.
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  auto r = RunProcess(Shell("grep SigBlk /proc/self/status"), "", absl::Seconds(10));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "SigBlk:\t0000000000000000\n");
}

TEST(ProcessTest, StopLeavesAProcessWithAnotherCommandLineAlone) {
  SpawnOptions o;
  o.argv = {"sleep", "30"};
  auto pid = Spawn(o);
  ASSERT_TRUE(pid.ok()) << pid.status();
  auto cmdline = ReadCmdline(*pid);
  ASSERT_TRUE(cmdline.ok());
  EXPECT_EQ(*cmdline, (std::vector<std::string>{"sleep", "30"}));

  absl::Status refused = Stop(*pid, ExactCmdline({"sleep", "31"}), absl::Seconds(1));
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_TRUE(IsRunning(*pid));

  EXPECT_TRUE(Stop(*pid, ExactCmdline({"sleep", "30"}), absl::Seconds(5)).ok());
  EXPECT_FALSE(IsRunning(*pid));
  EXPECT_FALSE(ReadCmdline(*pid).ok());
  // Already gone: still fine.
  EXPECT_TRUE(Stop(*pid, ExactCmdline({"sleep", "30"}), absl::Seconds(1)).ok());
}

TEST(ProcessTest, StopEscalatesToSigkill) {
  auto pid = Spawn(Shell("trap '' TERM; while :; do sleep 0.05; done"));
  ASSERT_TRUE(pid.ok()) << pid.status();
  auto cmdline = ReadCmdline(*pid);
  ASSERT_TRUE(cmdline.ok());
  absl::SleepFor(absl::Milliseconds(100));  // let the shell install its trap
  EXPECT_TRUE(Stop(*pid, ExactCmdline(*cmdline), absl::Milliseconds(200)).ok());
  EXPECT_FALSE(IsRunning(*pid));
}

TEST(ProcessTest, ZombieIsNotRunning) {
  auto pid = Spawn(Shell("exit 0"));
  ASSERT_TRUE(pid.ok());
  // Not reaped yet: a zombie once it exits.
  for (int i = 0; i < 200 && IsRunning(*pid); ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_FALSE(IsRunning(*pid));
  EXPECT_FALSE(ReadCmdline(*pid).ok());
  int status = 0;
  ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
  EXPECT_EQ(ExitCode(status), 0);
}

}  // namespace
}  // namespace weft::netns
