#include "integration/lab_sockets.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/netns/netns.h"
#include "integration/lab_harness.h"

namespace weft::integration {

void SetTimeouts(int fd, absl::Duration t) {
  timeval tv = absl::ToTimeval(t);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

absl::StatusOr<Fd> ListenIn(const std::string& netns_name, const std::string& ip, int port) {
  Fd fd;
  absl::Status s = netns::RunIn(netns::PathOf(netns_name), [&]() -> absl::Status {
    fd = Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = SockAddr(ip, port);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd.get(), 8) != 0) {
      return absl::InternalError(absl::StrCat("listen ", ip, ":", port, " in ", netns_name, ": ",
                                              strerror(errno)));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  SetTimeouts(fd.get(), absl::Milliseconds(100));
  return fd;
}

absl::StatusOr<Fd> ConnectFrom(const std::string& netns_name, const std::string& ip, int port,
                               absl::Duration timeout) {
  Fd fd;
  absl::Status s = netns::RunIn(netns::PathOf(netns_name), [&]() -> absl::Status {
    fd = Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    SetTimeouts(fd.get(), timeout);
    sockaddr_in a = SockAddr(ip, port);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      // A connect that times out under SO_SNDTIMEO reports EINPROGRESS.
      return absl::UnavailableError(absl::StrCat(
          "connect ", ip, ":", port, " from ", netns_name, ": ",
          errno == EINPROGRESS ? absl::StrCat("timed out after ", absl::FormatDuration(timeout))
                               : strerror(errno)));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool ReadToEnd(int fd, std::string* into) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) return true;
    if (n < 0) return false;
    into->append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Start(const std::string& netns_name,
                                                              const std::string& ip, int port) {
  auto listener = ListenIn(netns_name, ip, port);
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<EchoServer>(new EchoServer(std::move(*listener)));
}

EchoServer::EchoServer(Fd listener) : listener_(std::move(listener)) {
  thread_ = std::thread([this] { Serve(); });
}

EchoServer::~EchoServer() {
  stop_ = true;
  thread_.join();
}

void EchoServer::Serve() {
  while (!stop_) {
    Fd c(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (c.get() < 0) continue;  // the 100 ms timeout: look at stop_
    SetTimeouts(c.get(), absl::Seconds(3));
    std::string got;
    if (ReadToEnd(c.get(), &got)) SendAll(c.get(), got);
  }
}

absl::Status Echo(const std::string& netns_name, const std::string& ip, int port,
                  const std::string& payload, absl::Duration timeout) {
  auto c = ConnectFrom(netns_name, ip, port, timeout);
  if (!c.ok()) return c.status();
  const std::string to = absl::StrCat(ip, ":", port);
  if (!SendAll(c->get(), payload)) {
    return absl::UnavailableError(absl::StrCat("send to ", to, ": ", strerror(errno)));
  }
  shutdown(c->get(), SHUT_WR);
  std::string back;
  if (!ReadToEnd(c->get(), &back)) {
    return absl::UnavailableError(absl::StrCat("read the echo of ", to, ": ", strerror(errno)));
  }
  if (back != payload) {
    return absl::DataLossError(absl::StrCat(to, " echoed ", back.size(), " bytes, not the ",
                                            payload.size(), " sent"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TcpStream>> TcpStream::Start(const std::string& from_netns,
                                                            const std::string& to_netns,
                                                            const std::string& ip, int port) {
  auto listener = ListenIn(to_netns, ip, port);
  if (!listener.ok()) return listener.status();
  std::unique_ptr<TcpStream> s(new TcpStream(std::move(*listener)));
  auto client = ConnectFrom(from_netns, ip, port, absl::Seconds(3));
  if (!client.ok()) return client.status();  // ~TcpStream stops the reader
  s->client_ = std::move(*client);
  SetTimeouts(s->client_.get(), absl::Milliseconds(200));
  s->writer_ = std::thread([p = s.get()] { p->Write(); });
  return s;
}

TcpStream::TcpStream(Fd listener) : listener_(std::move(listener)) {
  reader_ = std::thread([this] { Read(); });
}

bool TcpStream::Flowing(absl::Duration timeout) {
  const int64_t before = received_;
  return WaitFor([&] { return received_ > before + 65536; }, timeout);
}

TcpStream::Totals TcpStream::Finish() {
  if (!finished_) {
    finished_ = true;
    stop_writing_ = true;
    if (writer_.joinable()) writer_.join();
    if (client_.get() >= 0) {
      shutdown(client_.get(), SHUT_WR);
      WaitFor([&] { return end_of_file_ || read_errno_ != 0; }, absl::Seconds(15));
    }
    stop_reading_ = true;
    reader_.join();
  }
  return {sent_, received_, write_errno_, read_errno_, end_of_file_};
}

void TcpStream::Read() {
  Fd c;
  while (c.get() < 0 && !stop_reading_) {
    c = Fd(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }
  if (c.get() < 0) return;
  SetTimeouts(c.get(), absl::Milliseconds(200));
  char buf[65536];
  absl::Time last = absl::Now();
  while (!stop_reading_) {
    ssize_t n = read(c.get(), buf, sizeof(buf));
    if (n > 0) {
      received_ += n;
      const absl::Time now = absl::Now();
      const int64_t pause = absl::ToInt64Nanoseconds(now - last);
      last = now;
      for (int64_t seen = longest_pause_ns_;
           pause > seen && !longest_pause_ns_.compare_exchange_weak(seen, pause);) {
      }
    } else if (n == 0) {
      end_of_file_ = true;
      return;
    } else if (errno != EAGAIN && errno != EINTR) {
      read_errno_ = errno;
      return;
    }
  }
}

void TcpStream::Write() {
  const std::string chunk(16384, 'w');
  while (!stop_writing_) {
    ssize_t n = send(client_.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;  // a full buffer: the path stalls
      write_errno_ = errno;
      return;
    }
    sent_ += n;
    absl::SleepFor(absl::Milliseconds(2));  // a steady stream, not a flood
  }
}

}  // namespace weft::integration
