// Applies planned native routes to the kernel: the thin netlink edge of the
// route planner. Only routes carrying Weft's route protocol are ever touched.
#ifndef WEFT_AGENT_ROUTING_RECONCILER_H_
#define WEFT_AGENT_ROUTING_RECONCILER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/netlink/netlink.h"
#include "agent/routing/planner.h"

namespace weft::routing {

// The subnets of the addresses on `devices` (every device when empty).
absl::StatusOr<std::vector<LocalSubnet>> LocalSubnets(netlink::Netlink& nl,
                                                      const std::vector<std::string>& devices);

struct ApplyResult {
  int added = 0;    // installed or replaced
  int removed = 0;
  std::vector<std::string> problems;  // one line per route that failed
};

// Makes the kernel's Weft routes equal `desired`: installs or replaces what is
// missing or different, removes Weft routes no longer wanted. A failing route is
// reported and the others are still applied.
//
// With `devices` set, only Weft routes out of those devices count as installed
// (the others belong to another reconciler, e.g. the tunnel's); empty: every
// gatewayed Weft route.
ApplyResult ApplyRoutes(netlink::Netlink& nl, const std::vector<Route>& desired,
                        const std::vector<std::string>& devices = {});

}  // namespace weft::routing

#endif  // WEFT_AGENT_ROUTING_RECONCILER_H_
