// `weft kube probe` end to end: the real binary against the lab API server.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kubeprism/lab_fixture.h"

namespace weft::kubeprism {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string WeftBinary() {
  return absl::StrCat(std::getenv("TEST_SRCDIR"), "/", std::getenv("TEST_WORKSPACE"),
                      "/agent/cli/weft");
}

// A running `weft` with stdout+stderr on a pipe.
class WeftProcess {
 public:
  explicit WeftProcess(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) return;
    std::vector<std::string> argv_storage = {WeftBinary()};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (std::string& s : argv_storage) argv.push_back(s.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~WeftProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }

  // Reads until `needle` appears in the output (true) or the deadline/EOF (false).
  bool WaitForOutput(const std::string& needle, absl::Duration timeout = absl::Seconds(8)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (output_.find(needle) == std::string::npos) {
      const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) return output_.find(needle) != std::string::npos;
      output_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  // Reads to EOF and returns the exit code (-1 if killed by a signal).
  int Wait() {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd_, buf, sizeof(buf))) > 0) output_.append(buf, static_cast<size_t>(n));
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  void Signal(int sig) { kill(pid_, sig); }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  std::string output_;
};

class ProbeLabTest : public ::testing::Test {
 protected:
  void Start(testing::LabApiServerOptions options = {}) {
    auto lab = LabFixture::Start(options);
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = *std::move(lab);
    ASSERT_TRUE(lab_->Put(kServices, ServiceObject("default", "frontend")).ok());
    ASSERT_TRUE(lab_->Put(kServices, ServiceObject("default", "backend")).ok());
  }
  std::string Kubeconfig(const std::string& user, const std::vector<std::string>& groups) {
    auto config = lab_->ConfigFor(user, groups);
    EXPECT_TRUE(config.ok()) << config.status();
    auto path = lab_->WriteKubeconfig(*config, absl::StrCat(user, ".kubeconfig"));
    EXPECT_TRUE(path.ok()) << path.status();
    return *path;
  }
  std::unique_ptr<LabFixture> lab_;
};

TEST_F(ProbeLabTest, AllResourcesReachableExitsZero) {
  Start();
  WeftProcess weft({"kube", "probe", "--kubeconfig", Kubeconfig("admin", {"system:masters"})});
  EXPECT_EQ(weft.Wait(), 0) << weft.output();
  EXPECT_THAT(weft.output(), HasSubstr("RESOURCE"));
  EXPECT_THAT(weft.output(), ::testing::ContainsRegex("services +core +2 +[0-9]+ +ok"));
  EXPECT_THAT(weft.output(), HasSubstr("result: ok"));
  EXPECT_THAT(weft.output(), Not(HasSubstr("errors:")));
}

TEST_F(ProbeLabTest, AbsentCrdsAreFine) {
  testing::LabApiServerOptions options;
  options.resources.clear();
  for (const auto& r : testing::DefaultLabResources()) {
    if (r.group != "cilium.io") options.resources.push_back(r);
  }
  Start(options);
  WeftProcess weft({"kube", "probe", "--kubeconfig", Kubeconfig("admin", {"system:masters"})});
  EXPECT_EQ(weft.Wait(), 0) << weft.output();
  EXPECT_THAT(weft.output(), ::testing::ContainsRegex("ciliumnetworkpolicies +cilium.io +- +- +absent"));
}

TEST_F(ProbeLabTest, ForbiddenResourceExitsOne) {
  Start();
  std::vector<testing::LabRule> rules;
  for (const ResourceType* t : WatchedResourceTypes()) {
    if (t != &kEndpointSlices) rules.push_back({"*", "*", std::string(t->group), std::string(t->plural)});
  }
  rules.push_back({"*", "list", "discovery.k8s.io", "endpointslices"});  // list but not watch
  lab_->server().SetRules(rules);
  WeftProcess weft({"kube", "probe", "--kubeconfig", Kubeconfig("agent", {"weft:agents"})});
  EXPECT_EQ(weft.Wait(), 1) << weft.output();
  EXPECT_THAT(weft.output(), ::testing::ContainsRegex("endpointslices +discovery.k8s.io +0 +[0-9]+ +forbidden\\(watch\\)"));
  EXPECT_THAT(weft.output(), HasSubstr("forbidden: RBAC refused watch endpointslices in group discovery.k8s.io"));
  EXPECT_THAT(weft.output(), HasSubstr("result: FAILING"));

  lab_->server().SetRules({{"*", "*", "", "*"}});
  WeftProcess list_refused({"kube", "probe", "--kubeconfig", Kubeconfig("agent2", {})});
  EXPECT_EQ(list_refused.Wait(), 1) << list_refused.output();
  EXPECT_THAT(list_refused.output(), HasSubstr("forbidden(list)"));
}

TEST_F(ProbeLabTest, ServerDownExitsOne) {
  Start();
  const std::string kubeconfig = Kubeconfig("admin", {"system:masters"});
  lab_->server().Stop();
  WeftProcess weft({"kube", "probe", "--kubeconfig", kubeconfig});
  EXPECT_EQ(weft.Wait(), 1) << weft.output();
  EXPECT_THAT(weft.output(), HasSubstr("all resources: cannot connect to"));
}

TEST_F(ProbeLabTest, WatchPrintsEventsUntilInterrupted) {
  Start();
  WeftProcess weft({"kube", "probe", "--kubeconfig", Kubeconfig("admin", {"system:masters"}),
                    "--watch", "svc"});
  ASSERT_TRUE(weft.WaitForOutput("ADDED default/frontend Service rv=")) << weft.output();
  ASSERT_TRUE(weft.WaitForOutput("ADDED default/backend Service rv=")) << weft.output();
  ASSERT_TRUE(lab_->Put(kServices, ServiceObject("default", "frontend", 1)).ok());
  ASSERT_TRUE(weft.WaitForOutput(absl::StrCat("MODIFIED default/frontend Service rv=",
                                              lab_->server().resource_version())))
      << weft.output();
  ASSERT_TRUE(lab_->server().Remove(ToLab(kServices), "default", "backend").ok());
  ASSERT_TRUE(weft.WaitForOutput("DELETED default/backend Service")) << weft.output();
  weft.Signal(SIGINT);
  EXPECT_EQ(weft.Wait(), 0) << weft.output();
}

TEST_F(ProbeLabTest, UsageErrorsExitTwo) {
  WeftProcess unknown({"kube", "probe", "--watch", "gadgets"});
  EXPECT_EQ(unknown.Wait(), 2);
  EXPECT_THAT(unknown.output(), HasSubstr("unknown resource \"gadgets\""));
  WeftProcess no_command({"frobnicate"});
  EXPECT_EQ(no_command.Wait(), 2);
}

}  // namespace
}  // namespace weft::kubeprism
