#include "agent/daemon/leak_tracker.h"

namespace weft::daemon {

absl::flat_hash_set<std::string> LeakTracker::Pass(
    const std::vector<EndpointRef>& endpoints, const absl::flat_hash_set<std::string>& live_pods,
    absl::Time now) {
  absl::flat_hash_set<std::string> keep;
  absl::flat_hash_map<std::string, absl::Time> missing;
  for (const auto& ep : endpoints) {
    if (live_pods.contains(ep.pod)) {
      keep.insert(ep.container_id);
      continue;
    }
    auto it = missing_since_.find(ep.container_id);
    absl::Time since = it == missing_since_.end() ? now : it->second;
    if (now - since < grace_) {
      keep.insert(ep.container_id);
      missing[ep.container_id] = since;
    }
  }
  missing_since_.swap(missing);  // endpoints that came back or were released are forgotten
  return keep;
}

}  // namespace weft::daemon
