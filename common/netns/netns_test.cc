// Real namespaces on the shared kernel: every name carries this process's PID
// and is deleted on every exit path.
#include "common/netns/netns.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/netns/process.h"
#include "gtest/gtest.h"

namespace weft::netns {
namespace {

// A file as this process sees it (in its own network namespace); "" if unreadable.
std::string ReadOurs(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to create network namespaces";
    prefix_ = absl::StrCat("weft-t", getpid(), "-nsl-");
  }
  void TearDown() override {
    auto names = List(prefix_);
    if (names.ok()) {
      for (const auto& n : *names) Delete(n).IgnoreError();
    }
  }
  std::string prefix_;
};

TEST_F(NetnsTest, CreateListDelete) {
  ASSERT_TRUE(Create(prefix_ + "a").ok());
  ASSERT_TRUE(Create(prefix_ + "b").ok());
  EXPECT_TRUE(absl::IsAlreadyExists(Create(prefix_ + "a")));
  auto names = List(prefix_);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::vector<std::string>{prefix_ + "a", prefix_ + "b"}));

  EXPECT_TRUE(Delete(prefix_ + "a").ok());
  EXPECT_TRUE(Delete(prefix_ + "a").ok());  // idempotent
  names = List(prefix_);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{prefix_ + "b"});
}

TEST_F(NetnsTest, RunInEntersTheNamespaceAndLeavesTheCallerAlone) {
  ASSERT_TRUE(Create(prefix_ + "run").ok());
  auto ours = Inode("/proc/thread-self/ns/net");
  auto target = Inode(PathOf(prefix_ + "run"));
  ASSERT_TRUE(ours.ok() && target.ok());
  ASSERT_NE(*ours, *target);

  uint64_t seen = 0;
  int fd = -1;
  ASSERT_TRUE(RunIn(PathOf(prefix_ + "run"), [&]() -> absl::Status {
                seen = *Inode("/proc/thread-self/ns/net");
                fd = socket(AF_INET, SOCK_STREAM, 0);  // stays in the namespace
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(seen, *target);
  EXPECT_EQ(*Inode("/proc/thread-self/ns/net"), *ours);
  close(fd);

  absl::Status failed =
      RunIn(PathOf(prefix_ + "run"), [] { return absl::InternalError("inside"); });
  EXPECT_EQ(failed.message(), "inside");
  EXPECT_FALSE(RunIn(PathOf(prefix_ + "missing"), [] { return absl::OkStatus(); }).ok());
}

TEST_F(NetnsTest, LoopbackIsUpAndSysctlsArePerNamespace) {
  ASSERT_TRUE(Create(prefix_ + "lo").ok());
  SpawnOptions ip;
  ip.argv = {"ip", "-o", "link", "show", "lo"};
  ip.netns_path = PathOf(prefix_ + "lo");
  auto r = RunProcess(ip, "", absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->out.find("UP"), std::string::npos) << r->out;

  // Both values, so the check cannot pass on a value the namespace already had;
  // the caller's namespace keeps its own.
  const std::string ours = ReadOurs("/proc/sys/net/ipv4/ip_forward");
  ASSERT_FALSE(ours.empty());
  auto read_inside = [&]() -> std::string {
    SpawnOptions cat;
    cat.argv = {"cat", "/proc/sys/net/ipv4/ip_forward"};
    cat.netns_path = PathOf(prefix_ + "lo");
    auto c = RunProcess(cat, "", absl::Seconds(10));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->out : "";
  };
  for (const char* value : {"0", "1"}) {
    SCOPED_TRACE(value);
    ASSERT_TRUE(WriteSysctl(PathOf(prefix_ + "lo"), "net.ipv4.ip_forward", value).ok());
    EXPECT_EQ(read_inside(), absl::StrCat(value, "\n"));
    EXPECT_EQ(ReadOurs("/proc/sys/net/ipv4/ip_forward"), ours)
        << "the write reached the caller's namespace";
  }
}

TEST_F(NetnsTest, SpawnRunsTheProcessInTheNamespace) {
  ASSERT_TRUE(Create(prefix_ + "spawn").ok());
  SpawnOptions o;
  o.argv = {"stat", "-L", "-c", "%i", "/proc/self/ns/net"};
  o.netns_path = PathOf(prefix_ + "spawn");
  auto r = RunProcess(o, "", absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  uint64_t inode = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(r->out), &inode)) << r->out;
  EXPECT_EQ(inode, *Inode(PathOf(prefix_ + "spawn")));
}

// SpawnOptions::mounts: the child sees the bind mount, the caller does not.
TEST_F(NetnsTest, SpawnWithPrivateMounts) {
  char tmpl[] = "/tmp/weft-t-mnt-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string a = dir + "/a", b = dir + "/b";
  ASSERT_EQ(mkdir(a.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(b.c_str(), 0700), 0);
  FILE* f = fopen((a + "/marker").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);

  SpawnOptions options;
  options.argv = {"/bin/ls", b};
  options.mounts = {{a, b, false}};
  auto r = RunProcess(options, "", absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, "marker\n");
  EXPECT_NE(access((b + "/marker").c_str(), F_OK), 0) << "the mount leaked to the caller";

  unlink((a + "/marker").c_str());
  rmdir(a.c_str());
  rmdir(b.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace weft::netns
