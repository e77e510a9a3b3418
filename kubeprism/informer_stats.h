// What each informer is doing, for `weft status` and `weft kube probe`.
#ifndef WEFT_KUBEPRISM_INFORMER_STATS_H_
#define WEFT_KUBEPRISM_INFORMER_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace weft::kubeprism {

enum class SyncState {
  kSyncing,  // the first list has not completed
  kSynced,   // cache complete, watch healthy
  kAbsent,   // the CRD is not installed: nothing to watch
  kFailing,  // cannot reach or list/watch; the cache keeps the last state
};
const char* SyncStateName(SyncState state);

struct InformerStats {
  std::string resource;  // "services", "endpointslices.discovery.k8s.io"
  SyncState state = SyncState::kSyncing;
  bool has_synced = false;
  std::string last_error;
  std::string last_decode_error;
  absl::Time last_event_time = absl::InfinitePast();
  std::string resource_version;
  int64_t objects = 0;
  int64_t events = 0;
  int64_t relists = 0;     // lists after the first one (410 Gone, resync)
  int64_t reconnects = 0;  // watches re-opened after ending or dropping
  int64_t decode_errors = 0;
};

// One line per informer, aligned columns.
std::string RenderStatsText(const std::vector<InformerStats>& stats, absl::Time now);
nlohmann::json StatsToJson(const std::vector<InformerStats>& stats);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_INFORMER_STATS_H_
