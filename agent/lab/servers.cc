#include "agent/lab/servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/netns/netns.h"

namespace weft::lab {
namespace {

constexpr int kConnectTimeoutMs = 5000;

absl::Status Errno(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

// Copies one direction until end of file or an error, then tells the other
// side no more data comes.
void Pump(int from, int to) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(from, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        shutdown(from, SHUT_RDWR);  // the other side is gone: end both directions
        shutdown(to, SHUT_RDWR);
        return;
      }
      off += w;
    }
  }
  shutdown(to, SHUT_WR);
}

// A TCP connection to `addr` within kConnectTimeoutMs; -1 and errno on failure.
int ConnectWithTimeout(const sockaddr_storage& addr, socklen_t len) {
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int err = 0;
  socklen_t err_len = sizeof(err);
  if (poll(&p, 1, kConnectTimeoutMs) != 1) {
    err = ETIMEDOUT;
  } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
    err = errno;
  }
  if (err != 0) {
    close(fd);
    errno = err;
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LabServers>> LabServers::Start() {
  std::unique_ptr<LabServers> servers(new LabServers());
  servers->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (servers->wake_fd_ < 0) return Errno("eventfd", errno);
  servers->acceptor_ = std::thread([s = servers.get()] { s->AcceptLoop(); });
  return servers;
}

LabServers::~LabServers() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::Status LabServers::AddGreeter(const std::string& netns_path, const std::string& address,
                                    int port, const std::string& greeting) {
  Listener l;
  l.greeting = greeting;
  return AddListener(netns_path, address, port, std::move(l));
}

absl::Status LabServers::AddRelay(const std::string& netns_path, const std::string& address,
                                  int port, const std::string& upstream_host, int upstream_port) {
  Listener l;
  l.relay = true;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(upstream_port);
  if (int rc = getaddrinfo(upstream_host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("resolve API server ", upstream_host, ": ", gai_strerror(rc)));
  }
  std::memcpy(&l.upstream, found->ai_addr, found->ai_addrlen);
  l.upstream_len = found->ai_addrlen;
  freeaddrinfo(found);
  return AddListener(netns_path, address, port, std::move(l));
}

absl::Status LabServers::AddListener(const std::string& netns_path, const std::string& address,
                                     int port, Listener listener) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.c_str(), &sin.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", address, "\" is not an IPv4 address"));
  }
  const std::string where = absl::StrCat(address, ":", port, " in ", netns_path);
  absl::Status created = netns::RunIn(netns_path, [&]() -> absl::Status {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Errno("socket for " + where, errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0 || listen(fd, 128) != 0) {
      int err = errno;
      close(fd);
      return Errno("listen on " + where, err);
    }
    listener.fd = fd;
    return absl::OkStatus();
  });
  if (!created.ok()) return created;
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    close(listener.fd);
    return absl::CancelledError("servers are stopping");
  }
  listeners_.push_back(std::move(listener));
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  return absl::OkStatus();
}

void LabServers::AcceptLoop() {
  for (;;) {
    std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}};
    std::vector<Listener> listeners;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      listeners = listeners_;
    }
    for (const Listener& l : listeners) fds.push_back({l.fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      const Listener& l = listeners[i - 1];
      for (;;) {
        int conn = accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) break;  // EAGAIN: all accepted
        if (l.relay) {
          StartRelay(conn, l);
        } else {
          // A few bytes always fit the new socket's buffer: never blocks.
          (void)send(conn, l.greeting.data(), l.greeting.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          close(conn);
        }
      }
    }
  }
}

void LabServers::StartRelay(int client, const Listener& listener) {
  absl::MutexLock lock(&mu_);
  ReapFinishedRelays();
  if (stopping_) {
    close(client);
    return;
  }
  auto relayed = std::make_unique<Relayed>();
  Relayed* r = relayed.get();
  r->client = client;
  // The thread dials from this (the controller's) namespace: threads start in
  // their creator's namespace, and the accept thread never leaves it.
  r->thread = std::thread([this, r, upstream = listener.upstream, len = listener.upstream_len] {
    int fd = ConnectWithTimeout(upstream, len);
    {
      absl::MutexLock lock(&mu_);
      r->upstream = fd;
      if (stopping_ && fd >= 0) shutdown(fd, SHUT_RDWR);
    }
    if (fd >= 0) {
      std::thread back([r] { Pump(r->upstream, r->client); });
      Pump(r->client, r->upstream);
      back.join();
    }
    // Descriptors are closed by whoever joins this thread, so Stop() never
    // shuts down a number that was closed and reused meanwhile.
    r->done = true;
  });
  relayed_.push_back(std::move(relayed));
}

void LabServers::ReapFinishedRelays() {
  for (auto it = relayed_.begin(); it != relayed_.end();) {
    Relayed& r = **it;
    if (!r.done) {
      ++it;
      continue;
    }
    r.thread.join();
    close(r.client);
    if (r.upstream >= 0) close(r.upstream);
    it = relayed_.erase(it);
  }
}

void LabServers::Stop() {
  std::list<std::unique_ptr<Relayed>> relayed;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    for (const auto& r : relayed_) {
      shutdown(r->client, SHUT_RDWR);
      if (r->upstream >= 0) shutdown(r->upstream, SHUT_RDWR);
    }
    relayed.swap(relayed_);
  }
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& r : relayed) {
    r->thread.join();
    close(r->client);
    if (r->upstream >= 0) close(r->upstream);
  }
  absl::MutexLock lock(&mu_);
  for (const Listener& l : listeners_) close(l.fd);
  listeners_.clear();
}

}  // namespace weft::lab
