// Decoding of Kubernetes JSON into the typed structs of objects.h. Unknown fields
// are ignored; a malformed field yields InvalidArgument naming the object and the
// field ("Service default/web: spec.ports[0].port: expected integer, got string").
// Never throws.
#ifndef WEFT_KUBEPRISM_DECODE_H_
#define WEFT_KUBEPRISM_DECODE_H_

#include "absl/status/statusor.h"
#include "kubeprism/objects.h"
#include "kubeprism/resource_types.h"
#include "nlohmann/json.hpp"

namespace weft::kubeprism {

// metadata only; `kind` names the object in errors. List items carry no
// kind/apiVersion; when an object does carry a kind it must be `kind`.
absl::StatusOr<ObjectMeta> DecodeObjectMeta(const nlohmann::json& object, absl::string_view kind,
                                            bool namespaced);

absl::StatusOr<Node> DecodeNode(const nlohmann::json& object);
absl::StatusOr<Pod> DecodePod(const nlohmann::json& object);
absl::StatusOr<Namespace> DecodeNamespace(const nlohmann::json& object);
absl::StatusOr<Service> DecodeService(const nlohmann::json& object);
absl::StatusOr<EndpointSlice> DecodeEndpointSlice(const nlohmann::json& object);
absl::StatusOr<NetworkPolicy> DecodeNetworkPolicy(const nlohmann::json& object);
absl::StatusOr<CiliumPolicy> DecodeCiliumNetworkPolicy(const nlohmann::json& object);
absl::StatusOr<CiliumPolicy> DecodeCiliumClusterwideNetworkPolicy(const nlohmann::json& object);
absl::StatusOr<Lease> DecodeLease(const nlohmann::json& object);
absl::StatusOr<GenericObject> DecodeGeneric(const nlohmann::json& object, const ResourceType& type);

// The JSON body for creating or updating a Lease (metadata.resourceVersion included
// when set, for optimistic concurrency).
nlohmann::json EncodeLease(const Lease& lease);

// Maps a typed struct to its resource and decoder; used by Informer<T>.
template <typename T>
struct ObjectTraits;

#define WEFT_KUBEPRISM_OBJECT_TRAITS_(T, type_const, decode_fn)                   \
  template <>                                                                     \
  struct ObjectTraits<T> {                                                        \
    static const ResourceType& Type() { return type_const; }                      \
    static absl::StatusOr<T> Decode(const nlohmann::json& o) { return decode_fn(o); } \
  }

WEFT_KUBEPRISM_OBJECT_TRAITS_(Node, kNodes, DecodeNode);
WEFT_KUBEPRISM_OBJECT_TRAITS_(Pod, kPods, DecodePod);
WEFT_KUBEPRISM_OBJECT_TRAITS_(Namespace, kNamespaces, DecodeNamespace);
WEFT_KUBEPRISM_OBJECT_TRAITS_(Service, kServices, DecodeService);
WEFT_KUBEPRISM_OBJECT_TRAITS_(EndpointSlice, kEndpointSlices, DecodeEndpointSlice);
WEFT_KUBEPRISM_OBJECT_TRAITS_(NetworkPolicy, kNetworkPolicies, DecodeNetworkPolicy);
WEFT_KUBEPRISM_OBJECT_TRAITS_(Lease, kLeases, DecodeLease);

#undef WEFT_KUBEPRISM_OBJECT_TRAITS_

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_DECODE_H_
