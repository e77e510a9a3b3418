// The lab controller's in-process servers, each listening inside one network
// namespace (the socket is created by a thread that entered it; a socket keeps
// its namespace), all accepted by one thread:
//
//  - greeters: the sample workload. A pod's "server" is a listening socket in
//    the pod's namespace that answers every connection with the pod's name —
//    real TCP through the datapath, without a process per pod.
//  - relays: KubePrism as on a Talos node. 127.0.0.1:7445 inside a node's
//    namespace, every connection forwarded to the API server, dialled from the
//    controller's own namespace (host loopback or the external server).
#ifndef WEFT_AGENT_LAB_SERVERS_H_
#define WEFT_AGENT_LAB_SERVERS_H_

#include <sys/socket.h>

#include <atomic>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace weft::lab {

class LabServers {
 public:
  // Starts the accept thread.
  static absl::StatusOr<std::unique_ptr<LabServers>> Start();
  ~LabServers();  // Stop()
  LabServers(const LabServers&) = delete;
  LabServers& operator=(const LabServers&) = delete;

  // Listens on `address`:`port` inside the namespace at `netns_path`; every
  // connection gets `greeting` and is closed.
  absl::Status AddGreeter(const std::string& netns_path, const std::string& address, int port,
                          const std::string& greeting);

  // Listens on `address`:`port` inside the namespace at `netns_path`; every
  // connection is relayed byte for byte to `upstream_host`:`upstream_port`
  // (resolved now, dialled per connection from the caller's namespace).
  absl::Status AddRelay(const std::string& netns_path, const std::string& address, int port,
                        const std::string& upstream_host, int upstream_port);

  // Closes the listeners and every relayed connection, and joins all threads.
  void Stop();

 private:
  struct Listener {
    int fd = -1;
    std::string greeting;         // greeter
    sockaddr_storage upstream{};  // relay
    socklen_t upstream_len = 0;
    bool relay = false;
  };
  // One relayed connection: two pumps, one per direction.
  struct Relayed {
    int client = -1;
    int upstream = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  LabServers() = default;
  absl::Status AddListener(const std::string& netns_path, const std::string& address, int port,
                           Listener listener);
  void AcceptLoop();
  void StartRelay(int client, const Listener& listener);
  void ReapFinishedRelays() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  int wake_fd_ = -1;  // eventfd: new listener or stop
  std::thread acceptor_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(mu_);
  std::list<std::unique_ptr<Relayed>> relayed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_SERVERS_H_
