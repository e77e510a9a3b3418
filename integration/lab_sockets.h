// TCP helpers for the lab tests: sockets opened inside a namespace (they stay
// there), an echo server, and a steady stream counted at both ends. Every
// blocking call has a timeout, so a broken path fails a test instead of
// hanging it. Test-only.
#ifndef WEFT_INTEGRATION_LAB_SOCKETS_H_
#define WEFT_INTEGRATION_LAB_SOCKETS_H_

#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/testing/fd.h"
#include "common/testing/sockaddr.h"
#include "absl/time/time.h"

namespace weft::integration {

// An owned descriptor.
using Fd = weft::testing::ScopedFd;

using weft::testing::SockAddr;

// Every blocking call on `fd` (connect, accept, read, write) gives up after `t`.
void SetTimeouts(int fd, absl::Duration t);

// A TCP listener made inside namespace `netns_name` (the socket stays there);
// accept() gives up every 100 ms so its thread can notice a stop.
absl::StatusOr<Fd> ListenIn(const std::string& netns_name, const std::string& ip, int port);

// A TCP connection from inside namespace `netns_name`, every call on it
// limited to `timeout`.
absl::StatusOr<Fd> ConnectFrom(const std::string& netns_name, const std::string& ip, int port,
                               absl::Duration timeout);

bool SendAll(int fd, const std::string& data);
// Reads to end of file; false on an error or a timeout first.
bool ReadToEnd(int fd, std::string* into);

// A TCP echo server in a namespace: each connection gets back what it sent
// (read to its end of file, then written back), until destroyed.
class EchoServer {
 public:
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(const std::string& netns_name,
                                                           const std::string& ip, int port);
  ~EchoServer();

 private:
  explicit EchoServer(Fd listener);
  void Serve();

  Fd listener_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Sends `payload` from namespace `netns_name` to an EchoServer and checks that
// the same bytes come back, each step within `timeout`.
absl::Status Echo(const std::string& netns_name, const std::string& ip, int port,
                  const std::string& payload, absl::Duration timeout);

// A steady TCP stream from one namespace to a listener in another, counted at
// both ends; every blocking call gives up within 200 ms, so it always stops.
class TcpStream {
 public:
  struct Totals {
    int64_t sent = 0;
    int64_t received = 0;
    int write_errno = 0;  // the first failed send (ECONNRESET, EPIPE, ...)
    int read_errno = 0;   // the first failed read
    bool end_of_file = false;
  };

  static absl::StatusOr<std::unique_ptr<TcpStream>> Start(const std::string& from_netns,
                                                          const std::string& to_netns,
                                                          const std::string& ip, int port);
  ~TcpStream() { Finish(); }

  // More than 64 KiB arrive within `timeout`.
  bool Flowing(absl::Duration timeout);
  int64_t received() const { return received_; }
  // The longest time without a byte arriving since the last call.
  absl::Duration TakeLongestPause() { return absl::Nanoseconds(longest_pause_ns_.exchange(0)); }

  // Stops writing, closes the sending side and waits (up to 15 s) for the
  // receiver to read everything up to the end of file.
  Totals Finish();

 private:
  explicit TcpStream(Fd listener);
  void Read();
  void Write();

  Fd listener_;
  Fd client_;
  std::thread reader_;
  std::thread writer_;
  bool finished_ = false;
  std::atomic<bool> stop_writing_{false};
  std::atomic<bool> stop_reading_{false};
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> received_{0};
  std::atomic<int> write_errno_{0};
  std::atomic<int> read_errno_{0};
  std::atomic<bool> end_of_file_{false};
  std::atomic<int64_t> longest_pause_ns_{0};
};

}  // namespace weft::integration

#endif  // WEFT_INTEGRATION_LAB_SOCKETS_H_
