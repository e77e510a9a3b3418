// Real cgroups and namespaces on the shared kernel: names carry this
// process's PID and are removed on every exit path.
#include "common/netns/cgroup.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/netns/netns.h"
#include "gtest/gtest.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace weft::cgroup {
namespace {

uint64_t NetnsCookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) return 0;
  return cookie;
}

class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    auto root = V2Root();
    if (!root.ok()) GTEST_SKIP() << root.status();
    dir_ = absl::StrCat(*root, "/weft-t", getpid(), "-cg");
    netns_ = absl::StrCat("weft-t", getpid(), "-cgns");
  }
  void TearDown() override {
    if (!dir_.empty()) EXPECT_TRUE(Remove(dir_).ok());
    netns::Delete(netns_).IgnoreError();
  }
  std::string dir_, netns_;
};

TEST_F(CgroupTest, SocketComesFromTheNamespaceAndTheChildLeavesNothing) {
  ASSERT_TRUE(Create(dir_).ok());
  ASSERT_TRUE(Create(dir_).ok()) << "creating twice is fine";
  ASSERT_TRUE(netns::Create(netns_).ok());

  uint64_t theirs = 0;
  ASSERT_TRUE(netns::RunIn(netns::PathOf(netns_), [&] {
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                theirs = NetnsCookie(fd);
                close(fd);
                return absl::OkStatus();
              }).ok());
  int own = socket(AF_INET, SOCK_STREAM, 0);
  const uint64_t ours = NetnsCookie(own);
  close(own);
  ASSERT_NE(theirs, 0u);
  ASSERT_NE(theirs, ours);

  auto fd = SocketIn(dir_, netns::PathOf(netns_), AF_INET, SOCK_STREAM, 0);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(NetnsCookie(*fd), theirs);
  close(*fd);

  auto here = SocketIn(dir_, "", AF_INET, SOCK_DGRAM, 0);
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_EQ(NetnsCookie(*here), ours);
  close(*here);

  // The child exited: the cgroup is empty and removable.
  std::ifstream procs(dir_ + "/cgroup.procs");
  std::string pid;
  EXPECT_FALSE(static_cast<bool>(procs >> pid)) << "left in the cgroup: " << pid;
  ASSERT_TRUE(Remove(dir_).ok());
  struct stat st;
  EXPECT_NE(stat(dir_.c_str(), &st), 0);
  EXPECT_TRUE(Remove(dir_).ok()) << "removing twice is fine";
}

TEST_F(CgroupTest, ErrorsNameTheStep) {
  auto missing = SocketIn(dir_ + "-missing", "", AF_INET, SOCK_STREAM, 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("join cgroup"), std::string::npos)
      << missing.status();
  ASSERT_TRUE(Create(dir_).ok());
  auto bad_ns = SocketIn(dir_, "/nonexistent/netns", AF_INET, SOCK_STREAM, 0);
  ASSERT_FALSE(bad_ns.ok());
  EXPECT_NE(bad_ns.status().message().find("/nonexistent/netns"), std::string::npos);
  auto bad_family = SocketIn(dir_, "", 12345, SOCK_STREAM, 0);
  ASSERT_FALSE(bad_family.ok());
  EXPECT_NE(bad_family.status().message().find("create socket"), std::string::npos)
      << bad_family.status();
}

}  // namespace
}  // namespace weft::cgroup
