// Which endpoints are leaked: their pod is gone from this node in the API but
// CNI DEL never came (the runtime crashed, the node rebooted, the pod was
// deleted while the agent was down). Pure: the clock is an argument.
//
// An endpoint counts as leaked only once its pod has been missing for `grace`:
// a pod the runtime is adding right now may not have reached our informer yet,
// and must not lose its address.
#ifndef WEFT_AGENT_DAEMON_LEAK_TRACKER_H_
#define WEFT_AGENT_DAEMON_LEAK_TRACKER_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"

namespace weft::daemon {

struct EndpointRef {
  std::string container_id;
  std::string ifname;
  std::string pod;  // "namespace/name"

  friend bool operator==(const EndpointRef& a, const EndpointRef& b) {
    return a.container_id == b.container_id && a.ifname == b.ifname && a.pod == b.pod;
  }
};

class LeakTracker {
 public:
  explicit LeakTracker(absl::Duration grace) : grace_(grace) {}

  // One pass at time `now`. `live_pods` are "namespace/name" of this node's
  // Pods in the API. Returns the leaked endpoints, for the caller to release
  // one by one. A leaked endpoint stays leaked on later passes until it is no
  // longer among `endpoints` (so a failed release is retried at once).
  std::vector<EndpointRef> Pass(const std::vector<EndpointRef>& endpoints,
                                const absl::flat_hash_set<std::string>& live_pods, absl::Time now);

  // True while some endpoint's pod is missing: the caller should pass again
  // soon rather than at its slow resync.
  bool pending() const { return !missing_since_.empty(); }

 private:
  const absl::Duration grace_;
  // By "container ID/ifname" (the CNI key of an endpoint).
  absl::flat_hash_map<std::string, absl::Time> missing_since_;
};

}  // namespace weft::daemon

#endif  // WEFT_AGENT_DAEMON_LEAK_TRACKER_H_
