// The lab's network: namespaces, the bridge that is the nodes' L2 segment, one
// veth per node, addresses, default routes and sysctls. The kernel edge of
// plan.h (iproute2 for the two bridge operations agent/netlink does not have,
// agent/netlink for the rest).
#ifndef WEFT_AGENT_LAB_NETWORK_H_
#define WEFT_AGENT_LAB_NETWORK_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "agent/lab/plan.h"

namespace weft::lab {

// Called with each namespace name just before it is created, so the caller can
// record it first (the state file is an intent log). An error stops creation.
using BeforeCreate = std::function<absl::Status(const std::string& netns)>;

// The lab namespace (bridge with the gateway address, the "outside" address)
// and every node namespace (eth0 on the bridge with the node's InternalIP,
// default route via the gateway, forwarding on, rp_filter off). Stops at the
// first error; what was made is left for the caller's teardown.
absl::Status CreateLabNetwork(const LabPlan& plan, const BeforeCreate& before_create);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_NETWORK_H_
