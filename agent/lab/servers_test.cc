// Greeters, relays and probes in real namespaces on the shared kernel: names
// carry this process's PID and are deleted on every exit path.
#include "agent/lab/servers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/lab/probe.h"
#include "common/netns/cgroup.h"
#include "common/netns/netns.h"
#include "gtest/gtest.h"

namespace weft::lab {
namespace {

class LabServersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to create network namespaces";
    prefix_ = absl::StrCat("weft-t", getpid(), "-srv-");
    ASSERT_TRUE(netns::Create(prefix_ + "a").ok());
    ASSERT_TRUE(netns::Create(prefix_ + "b").ok());
    auto servers = LabServers::Start();
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = *std::move(servers);
  }
  void TearDown() override {
    servers_.reset();
    for (const char* n : {"a", "b"}) netns::Delete(prefix_ + n).IgnoreError();
  }
  std::string Path(const char* n) { return netns::PathOf(prefix_ + n); }

  std::string prefix_;
  std::unique_ptr<LabServers> servers_;
};

TEST_F(LabServersTest, GreeterAnswersInsideItsNamespaceOnly) {
  ASSERT_TRUE(servers_->AddGreeter(Path("a"), "0.0.0.0", 8080, "backend\n").ok());
  EXPECT_TRUE(ProbeTcp(Path("a"), {"127.0.0.1", 8080, "backend\n"}, absl::Seconds(2)).ok());
  absl::Status wrong = ProbeTcp(Path("a"), {"127.0.0.1", 8080, "redis\n"}, absl::Seconds(2));
  EXPECT_EQ(wrong.message(), "127.0.0.1:8080 answered \"backend\\n\", expected \"redis\\n\"");
  // Namespace b has no listener on that port.
  absl::Status refused = ProbeTcp(Path("b"), {"127.0.0.1", 8080, "backend\n"}, absl::Seconds(2));
  EXPECT_EQ(refused.message(), "connect 127.0.0.1:8080: Connection refused");
  // The same port in another namespace is a separate socket.
  ASSERT_TRUE(servers_->AddGreeter(Path("b"), "0.0.0.0", 8080, "redis\n").ok());
  EXPECT_TRUE(ProbeTcp(Path("b"), {"127.0.0.1", 8080, "redis\n"}, absl::Seconds(2)).ok());
}

TEST_F(LabServersTest, RelayForwardsBothWaysToTheCallersNamespace) {
  // An echo server on this process's loopback (the API server's place).
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof(sin);
  getsockname(listener, reinterpret_cast<sockaddr*>(&sin), &len);
  const int upstream_port = ntohs(sin.sin_port);
  std::thread echo([listener] {
    int c = accept(listener, nullptr, nullptr);
    char buf[1024];
    ssize_t n;
    while ((n = read(c, buf, sizeof(buf))) > 0) (void)!write(c, buf, static_cast<size_t>(n));
    close(c);
  });

  ASSERT_TRUE(servers_->AddRelay(Path("a"), "127.0.0.1", 7445, "127.0.0.1", upstream_port).ok());
  std::string answer;
  ASSERT_TRUE(netns::RunIn(Path("a"), [&]() -> absl::Status {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                sockaddr_in to{};
                to.sin_family = AF_INET;
                to.sin_port = htons(7445);
                to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
                  close(fd);
                  return absl::UnavailableError("connect to the relay");
                }
                const std::string hello = "GET /version\r\n";
                (void)!write(fd, hello.data(), hello.size());
                shutdown(fd, SHUT_WR);
                char buf[1024];
                ssize_t n;
                while ((n = read(fd, buf, sizeof(buf))) > 0)
                  answer.append(buf, static_cast<size_t>(n));
                close(fd);
                return absl::OkStatus();
              }).ok());
  echo.join();
  close(listener);
  EXPECT_EQ(answer, "GET /version\r\n");
}

TEST_F(LabServersTest, StopClosesOpenRelayedConnections) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof(sin);
  getsockname(listener, reinterpret_cast<sockaddr*>(&sin), &len);
  ASSERT_TRUE(
      servers_->AddRelay(Path("b"), "127.0.0.1", 7445, "127.0.0.1", ntohs(sin.sin_port)).ok());
  int client = -1;
  ASSERT_TRUE(netns::RunIn(Path("b"), [&]() -> absl::Status {
                client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                sockaddr_in to{};
                to.sin_family = AF_INET;
                to.sin_port = htons(7445);
                to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                return connect(client, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0
                           ? absl::OkStatus()
                           : absl::UnavailableError("connect");
              }).ok());
  int upstream = accept(listener, nullptr, nullptr);  // the relay dialled in
  ASSERT_GE(upstream, 0);
  servers_->Stop();  // returns although the connection is idle and open
  char c;
  EXPECT_EQ(read(client, &c, 1), 0);    // closed towards the client...
  EXPECT_EQ(read(upstream, &c, 1), 0);  // ...and towards the server
  close(client);
  close(upstream);
  close(listener);
}

TEST_F(LabServersTest, ProbeInACgroupUsesASocketOfThatCgroupAndNamespace) {
  auto root = cgroup::V2Root();
  if (!root.ok()) GTEST_SKIP() << root.status();
  const std::string dir = absl::StrCat(*root, "/", prefix_, "cg");
  ASSERT_TRUE(cgroup::Create(dir).ok());
  ASSERT_TRUE(servers_->AddGreeter(Path("a"), "0.0.0.0", 8080, "backend\n").ok());
  // The socket is namespace a's although this thread never entered it.
  EXPECT_TRUE(
      ProbeTcpInCgroup(dir, Path("a"), {"127.0.0.1", 8080, "backend\n"}, absl::Seconds(2)).ok());
  absl::Status refused =
      ProbeTcpInCgroup(dir, Path("b"), {"127.0.0.1", 8080, "backend\n"}, absl::Seconds(2));
  EXPECT_EQ(refused.message(), "connect 127.0.0.1:8080: Connection refused");
  EXPECT_TRUE(cgroup::Remove(dir).ok());
  absl::Status gone =
      ProbeTcpInCgroup(dir, Path("a"), {"127.0.0.1", 8080, "backend\n"}, absl::Seconds(2));
  EXPECT_EQ(gone.message(), "no cgroup " + dir);
}

}  // namespace
}  // namespace weft::lab
