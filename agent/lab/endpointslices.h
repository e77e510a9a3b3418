// The lab's EndpointSlice controller, pure: Services, Pods and the existing
// EndpointSlices of one namespace (API objects as JSON) -> the slices to
// create, update and delete so that every Service with a selector lists the
// pods it selects, as Kubernetes' endpointslice controller would. The lab
// controller (controller.cc) feeds it its own Services and writes the result;
// on a real cluster kube-controller-manager does this part.
//
// Kubernetes' rules, kept:
//   - a pod is an endpoint when the selector matches its labels, it has an
//     IPv4 address (status.podIP / podIPs) and it has not finished (phase
//     Succeeded or Failed);
//   - conditions: serving = the pod is Ready (or publishNotReadyAddresses),
//     terminating = it has a deletionTimestamp, ready = serving and not
//     terminating;
//   - ports: one per Service port, named as the Service port, its number the
//     targetPort resolved against the pod: a name -> the pod's containerPort of
//     that name and protocol (the port is left out for a pod that has none), a
//     number -> that number, absent -> the Service port;
//   - pods whose ports resolve differently go into different slices; a
//     Service that selects nothing has one empty slice;
//   - Services without a selector (and ExternalName ones) get none.
// Slices are named "<service>-lab-<n>" and labelled kubernetes.io/service-name,
// endpointslice.kubernetes.io/managed-by=weft-lab.weft.dev and weft.dev/lab=<prefix>.
// A slice without both of the last two labels is someone else's: never updated
// or deleted, even when it is for one of the Services.
#ifndef WEFT_AGENT_LAB_ENDPOINTSLICES_H_
#define WEFT_AGENT_LAB_ENDPOINTSLICES_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace weft::lab {

inline constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
inline constexpr char kManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
inline constexpr char kSliceManager[] = "weft-lab.weft.dev";

// The slices `service` should have, given the pods of its namespace; objects
// without resourceVersion. `lab_prefix` goes into the weft.dev/lab label.
std::vector<nlohmann::json> DesiredSlices(const nlohmann::json& service,
                                          const std::vector<nlohmann::json>& pods,
                                          const std::string& lab_prefix);

struct SliceChanges {
  std::vector<nlohmann::json> create;
  // Whole objects carrying the existing slice's metadata.resourceVersion (a
  // conditional replace).
  std::vector<nlohmann::json> update;
  std::vector<std::string> remove;  // names of slices this lab manages
  // A slice this lab would write whose name someone else's slice already has.
  std::vector<std::string> problems;

  bool empty() const { return create.empty() && update.empty() && remove.empty(); }
};

// What to change in one namespace so that `slices` (all of that namespace's)
// become the desired slices of `services`.
SliceChanges PlanSlices(const std::vector<nlohmann::json>& services,
                        const std::vector<nlohmann::json>& pods,
                        const std::vector<nlohmann::json>& slices, const std::string& lab_prefix);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_ENDPOINTSLICES_H_
