// `weft kube probe`: can this node reach the API through KubePrism with these
// credentials? Lists each resource the agent uses (count, resourceVersion, RBAC
// for list and watch) and optionally prints watch events until stopped.
#ifndef WEFT_KUBEPRISM_PROBE_H_
#define WEFT_KUBEPRISM_PROBE_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "kubeprism/resource_types.h"
#include "kubeprism/transport.h"

namespace weft::kubeprism {

struct ProbeRow {
  const ResourceType* type = nullptr;
  int64_t count = -1;  // -1 when the list failed
  std::string resource_version;
  // ok, absent, forbidden(list), forbidden(watch), unauthorized, error
  std::string rbac;
  absl::Status error;  // OK for ok and absent
};

struct ProbeReport {
  std::string server;
  std::vector<ProbeRow> rows;
  bool ok() const;  // every row ok or absent
};

// Probes all `types` concurrently; order of rows follows `types`.
ProbeReport RunProbe(Transport& transport, const std::vector<const ResourceType*>& types);

// The table and, below it, one line per failing resource with its full error.
std::string RenderProbeReport(const ProbeReport& report);

// Starts an informer per type and writes one line per event to `out`
// ("ADDED default/frontend Service rv=123") until `stop` is notified.
void WatchAndPrint(std::shared_ptr<Transport> transport,
                   const std::vector<const ResourceType*>& types, std::ostream& out,
                   absl::Notification& stop);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_PROBE_H_
