// The Kubernetes resources the agent reads and writes, and their REST paths.
#ifndef WEFT_KUBEPRISM_RESOURCE_TYPES_H_
#define WEFT_KUBEPRISM_RESOURCE_TYPES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace weft::kubeprism {

struct ResourceType {
  absl::string_view group;  // "" for the core group
  absl::string_view version;
  absl::string_view plural;
  absl::string_view kind;
  bool namespaced;
  // Installed by a CRD, so it may legitimately be missing from a cluster.
  bool custom;

  // "v1" or "discovery.k8s.io/v1".
  std::string GroupVersion() const;
  // "services" or "endpointslices.discovery.k8s.io" (as kubectl and RBAC errors name it).
  std::string QualifiedName() const;
  // /api/v1/namespaces/<ns>/services, or cluster-wide when `ns` is empty.
  std::string CollectionPath(absl::string_view ns) const;
  // /api/v1/namespaces/<ns>/services/<name>.
  std::string ObjectPath(absl::string_view ns, absl::string_view name) const;
};

inline constexpr ResourceType kNodes{"", "v1", "nodes", "Node", false, false};
inline constexpr ResourceType kPods{"", "v1", "pods", "Pod", true, false};
inline constexpr ResourceType kNamespaces{"", "v1", "namespaces", "Namespace", false, false};
inline constexpr ResourceType kServices{"", "v1", "services", "Service", true, false};
inline constexpr ResourceType kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices",
                                              "EndpointSlice", true, false};
inline constexpr ResourceType kNetworkPolicies{"networking.k8s.io", "v1", "networkpolicies",
                                               "NetworkPolicy", true, false};
inline constexpr ResourceType kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true,
                                      false};
inline constexpr ResourceType kCiliumNetworkPolicies{
    "cilium.io", "v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy", true, true};
inline constexpr ResourceType kCiliumClusterwideNetworkPolicies{
    "cilium.io", "v2", "ciliumclusterwidenetworkpolicies", "CiliumClusterwideNetworkPolicy", false,
    true};

// The resources the agent watches (Leases are written, not watched).
const std::vector<const ResourceType*>& WatchedResourceTypes();

// Finds a resource by plural, singular, kind (any case) or kubectl short name
// ("svc", "po", "no", "ns", "netpol", "cnp", "ccnp"); nullptr when unknown.
const ResourceType* FindResourceType(absl::string_view name);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_RESOURCE_TYPES_H_
