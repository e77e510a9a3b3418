#include "kubeprism/informer_stats.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace weft::kubeprism {

const char* SyncStateName(SyncState state) {
  switch (state) {
    case SyncState::kSyncing:
      return "syncing";
    case SyncState::kSynced:
      return "synced";
    case SyncState::kAbsent:
      return "absent";
    case SyncState::kFailing:
      return "failing";
  }
  return "?";
}

std::string RenderStatsText(const std::vector<InformerStats>& stats, absl::Time now) {
  std::string out = absl::StrFormat("%-42s %-8s %8s %10s %8s %10s %7s %9s  %s\n", "RESOURCE",
                                    "STATE", "OBJECTS", "RV", "RELISTS", "RECONNECTS",
                                    "DECODE", "LAST-EVT", "ERROR");
  for (const InformerStats& s : stats) {
    std::string age = "-";
    if (s.last_event_time != absl::InfinitePast()) {
      age = absl::StrCat(absl::ToInt64Seconds(now - s.last_event_time), "s");
    }
    absl::StrAppendFormat(&out, "%-42s %-8s %8d %10s %8d %10d %7d %9s  %s\n", s.resource,
                          SyncStateName(s.state), s.objects,
                          s.resource_version.empty() ? "-" : s.resource_version, s.relists,
                          s.reconnects, s.decode_errors, age, s.last_error);
  }
  return out;
}

nlohmann::json StatsToJson(const std::vector<InformerStats>& stats) {
  nlohmann::json out = nlohmann::json::array();
  for (const InformerStats& s : stats) {
    nlohmann::json j = {
        {"resource", s.resource},
        {"state", SyncStateName(s.state)},
        {"hasSynced", s.has_synced},
        {"resourceVersion", s.resource_version},
        {"objects", s.objects},
        {"events", s.events},
        {"relists", s.relists},
        {"reconnects", s.reconnects},
        {"decodeErrors", s.decode_errors},
    };
    if (s.last_event_time != absl::InfinitePast()) {
      j["lastEventTime"] = absl::FormatTime(absl::RFC3339_sec, s.last_event_time, absl::UTCTimeZone());
    }
    if (!s.last_error.empty()) j["lastError"] = s.last_error;
    if (!s.last_decode_error.empty()) j["lastDecodeError"] = s.last_decode_error;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace weft::kubeprism
