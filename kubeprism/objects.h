// Typed views of Kubernetes objects holding only the fields the datapath uses.
// Service and EndpointSlice are compact structs (thousands of them are cached);
// policies keep their spec as parsed JSON for the policy compiler.
#ifndef WEFT_KUBEPRISM_OBJECTS_H_
#define WEFT_KUBEPRISM_OBJECTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kubeprism/json_fields.h"
#include "nlohmann/json.hpp"

namespace weft::kubeprism {

struct ObjectMeta {
  std::string namespace_;  // empty for cluster-scoped objects
  std::string name;
  std::string uid;
  std::string resource_version;
  StringMap labels;
  // Without kubectl.kubernetes.io/last-applied-configuration (large, never read).
  StringMap annotations;
  bool deleting = false;  // metadata.deletionTimestamp is set

  // "ns/name" or "name": the cache key.
  std::string Key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }
};

enum class Protocol : uint8_t { kTCP, kUDP, kSCTP };
const char* ProtocolName(Protocol p);

struct NodeAddress {
  std::string type;  // InternalIP, ExternalIP, Hostname, ...
  std::string address;
};

struct Node {
  ObjectMeta meta;
  std::vector<std::string> pod_cidrs;  // spec.podCIDRs, else [spec.podCIDR]
  std::vector<NodeAddress> addresses;
};

struct Pod {
  ObjectMeta meta;
  std::string node_name;
  bool host_network = false;
  std::vector<std::string> pod_ips;  // status.podIPs, else [status.podIP]
  std::string phase;
  std::string service_account_name;
};

struct Namespace {
  ObjectMeta meta;
};

struct IntOrString {
  bool is_string = false;
  int32_t int_value = 0;
  std::string string_value;
};

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::kTCP;
  int32_t port = 0;
  IntOrString target_port;  // defaults to `port` when absent
  int32_t node_port = 0;
};

enum class ServiceType : uint8_t { kClusterIP, kNodePort, kLoadBalancer, kExternalName };
enum class TrafficPolicy : uint8_t { kCluster, kLocal };
const char* ServiceTypeName(ServiceType t);

struct Service {
  ObjectMeta meta;
  ServiceType type = ServiceType::kClusterIP;
  std::vector<std::string> cluster_ips;  // spec.clusterIPs, else [spec.clusterIP]; "None" = headless
  std::vector<ServicePort> ports;
  StringMap selector;
  bool session_affinity_client_ip = false;
  int32_t session_affinity_timeout_seconds = 0;  // 0 when affinity is off
  TrafficPolicy external_traffic_policy = TrafficPolicy::kCluster;
  TrafficPolicy internal_traffic_policy = TrafficPolicy::kCluster;
  std::vector<std::string> external_ips;
  std::vector<std::string> load_balancer_ips;  // status.loadBalancer.ingress[].ip
};

enum class AddressType : uint8_t { kIPv4, kIPv6, kFQDN };

struct Endpoint {
  // addresses[0]; "" when the list is empty. The API calls the addresses
  // fungible and lets consumers use only the first, as kube-proxy does; not
  // keeping the rest saves a vector per endpoint (tens of thousands cached).
  std::string address;
  // Conditions with the API's defaults for nil: ready true, serving = ready,
  // terminating false.
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::string node_name;
};

struct EndpointPort {
  std::string name;
  Protocol protocol = Protocol::kTCP;
  std::optional<int32_t> port;  // nil = all ports
};

struct EndpointSlice {
  ObjectMeta meta;
  std::string service_name;  // label kubernetes.io/service-name
  AddressType address_type = AddressType::kIPv4;
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
};

// networking.k8s.io/v1 NetworkPolicy; compiled by the policy engine later.
struct NetworkPolicy {
  ObjectMeta meta;
  nlohmann::json spec;
};

// cilium.io/v2 CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy: `spec` and/or
// `specs` (at least one is present).
struct CiliumPolicy {
  ObjectMeta meta;
  nlohmann::json spec;   // null when absent
  nlohmann::json specs;  // null when absent
};

// coordination.k8s.io/v1 Lease, for leader election.
struct Lease {
  ObjectMeta meta;
  std::string holder_identity;
  int32_t lease_duration_seconds = 0;
  std::string acquire_time;  // RFC 3339 MicroTime as sent by the server
  std::string renew_time;
  int32_t lease_transitions = 0;
};

// Any object, when only identity matters (`weft kube probe --watch`).
struct GenericObject {
  ObjectMeta meta;
  std::string kind;
};

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_OBJECTS_H_
