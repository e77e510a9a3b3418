// The ServiceMap over the BPF maps of bpf/maps/lb.h (used by DatapathImpl;
// tests reach it through Datapath::services()).
#ifndef WEFT_AGENT_DATAPATH_SERVICES_H_
#define WEFT_AGENT_DATAPATH_SERVICES_H_

#include <memory>

#include "agent/datapath/datapath.h"

namespace weft::datapath {

struct LbMapFds {
  int svc = -1;
  int slot = -1;
  int backend = -1;
  int maglev = -1;
  int affinity = -1;
  int config = -1;
  int range = -1;
};

// Frontend and backend ids continue from what the (pinned) maps hold, and the
// maps' contents are read back once, so writing the same services again after
// a restart changes nothing in the kernel.
std::unique_ptr<ServiceMap> NewBpfServiceMap(const LbMapFds& fds);

// Checks one frontend before it is written: a port, TCP or UDP, at most
// WEFT_LB4_BACKENDS_PER_SVC backends with ports of the frontend's protocol;
// a pass-through frontend in socket scope without backends.
absl::Status ValidateLbService(const LbService& service);

}  // namespace weft::datapath

#endif  // WEFT_AGENT_DATAPATH_SERVICES_H_
