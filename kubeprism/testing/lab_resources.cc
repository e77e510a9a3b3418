#include "kubeprism/testing/lab_apiserver.h"

namespace weft::kubeprism::testing {

std::vector<LabResource> DefaultLabResources() {
  return {
      {"", "v1", "nodes", "Node", false},
      {"", "v1", "pods", "Pod", true},
      {"", "v1", "namespaces", "Namespace", false},
      {"", "v1", "services", "Service", true},
      {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true},
      {"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true},
      {"coordination.k8s.io", "v1", "leases", "Lease", true},
      {"cilium.io", "v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy", true},
      {"cilium.io", "v2", "ciliumclusterwidenetworkpolicies", "CiliumClusterwideNetworkPolicy",
       false},
  };
}

}  // namespace weft::kubeprism::testing
