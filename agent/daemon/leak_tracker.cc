#include "agent/daemon/leak_tracker.h"

namespace weft::daemon {

std::vector<EndpointRef> LeakTracker::Pass(const std::vector<EndpointRef>& endpoints,
                                           const absl::flat_hash_set<std::string>& live_pods,
                                           absl::Time now) {
  std::vector<EndpointRef> leaked;
  absl::flat_hash_map<std::string, absl::Time> missing;
  for (const auto& ep : endpoints) {
    if (live_pods.contains(ep.pod)) continue;
    const std::string key = ep.container_id + "/" + ep.ifname;
    auto it = missing_since_.find(key);
    absl::Time since = it == missing_since_.end() ? now : it->second;
    missing[key] = since;
    if (now - since >= grace_) leaked.push_back(ep);
  }
  missing_since_.swap(missing);  // endpoints that came back or were released are forgotten
  return leaked;
}

}  // namespace weft::daemon
