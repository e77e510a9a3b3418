// One cell of the connectivity matrix: from inside a network namespace (a pod's
// or a node's), open a TCP connection to a pod's server (or a Service) and read
// its greeting, as a client process in that pod would. Real traffic through the
// datapath.
#ifndef WEFT_AGENT_LAB_PROBE_H_
#define WEFT_AGENT_LAB_PROBE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace weft::lab {

struct ProbeTarget {
  std::string ip;
  int port = 0;
  std::string greeting;  // what the server must answer
};

// OK when the connection opens and the server's whole answer equals
// `target.greeting` within `timeout`; otherwise the error says which step
// failed ("connect 10.200.2.1:8080: timed out after 2s").
absl::Status ProbeTcp(const std::string& netns_path, const ProbeTarget& target,
                      absl::Duration timeout);

// The same with a socket created in cgroup `cgroup_dir` (and the namespace at
// `netns_path`), as a process of that cgroup would: what a node's socket-level
// Service translation (cgroup connect4 programs) applies to. For ClusterIPs.
absl::Status ProbeTcpInCgroup(const std::string& cgroup_dir, const std::string& netns_path,
                              const ProbeTarget& target, absl::Duration timeout);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_PROBE_H_
