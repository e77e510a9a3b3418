#include "kubeprism/decode.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace weft::kubeprism {
namespace {

using nlohmann::json;
using json_fields::Index;
using json_fields::Join;
using json_fields::ReadArray;
using json_fields::ReadBool;
using json_fields::ReadInt32;
using json_fields::ReadObject;
using json_fields::ReadString;
using json_fields::ReadStringList;
using json_fields::ReadStringMap;

constexpr absl::string_view kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

std::string Describe(absl::string_view kind, const ObjectMeta& meta) {
  if (meta.name.empty()) return absl::StrCat(kind, " <unnamed>");
  return absl::StrCat(kind, " ", meta.Key());
}

// Prefixes a field error with the object it belongs to.
absl::Status InObject(absl::string_view kind, const ObjectMeta& meta, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(Describe(kind, meta), ": ", s.message()));
}

absl::Status DecodeMetaInto(const json& object, absl::string_view kind, bool namespaced,
                            ObjectMeta* meta) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("expected a JSON object, got ",
                                                   json_fields::TypeName(object)));
  }
  std::string got_kind;
  RETURN_IF_ERROR(ReadString(object, "kind", "", &got_kind));
  ASSIGN_OR_RETURN(const json* m, ReadObject(object, "metadata", ""));
  if (m == nullptr) return absl::InvalidArgumentError("metadata: missing");
  RETURN_IF_ERROR(ReadString(*m, "namespace", "metadata", &meta->namespace_));
  RETURN_IF_ERROR(ReadString(*m, "name", "metadata", &meta->name));
  if (!got_kind.empty() && got_kind != kind) {
    return absl::InvalidArgumentError(absl::StrCat("kind: expected ", kind, ", got ", got_kind));
  }
  if (meta->name.empty()) return absl::InvalidArgumentError("metadata.name: missing");
  if (namespaced && meta->namespace_.empty()) {
    return absl::InvalidArgumentError("metadata.namespace: missing for a namespaced object");
  }
  if (!namespaced) meta->namespace_.clear();
  RETURN_IF_ERROR(ReadString(*m, "uid", "metadata", &meta->uid));
  RETURN_IF_ERROR(ReadString(*m, "resourceVersion", "metadata", &meta->resource_version));
  RETURN_IF_ERROR(ReadStringMap(*m, "labels", "metadata", &meta->labels));
  RETURN_IF_ERROR(
      ReadStringMap(*m, "annotations", "metadata", &meta->annotations, {kLastApplied}));
  std::string deletion;
  RETURN_IF_ERROR(ReadString(*m, "deletionTimestamp", "metadata", &deletion));
  meta->deleting = !deletion.empty();
  return absl::OkStatus();
}

// Runs `body` after decoding metadata, catching anything nlohmann might throw, and
// names the object in every error.
template <typename T, typename Body>
absl::StatusOr<T> DecodeWith(const json& object, absl::string_view kind, bool namespaced,
                             Body body) {
  T out;
  try {
    absl::Status s = DecodeMetaInto(object, kind, namespaced, &out.meta);
    if (s.ok()) s = body(object, &out);
    if (!s.ok()) return InObject(kind, out.meta, s);
  } catch (const std::exception& e) {
    return InObject(kind, out.meta,
                    absl::InvalidArgumentError(absl::StrCat("unexpected JSON: ", e.what())));
  }
  return out;
}

absl::Status ReadProtocol(const json& parent, absl::string_view where, Protocol* out) {
  std::string p;
  RETURN_IF_ERROR(ReadString(parent, "protocol", where, &p));
  if (p.empty() || p == "TCP") {
    *out = Protocol::kTCP;
  } else if (p == "UDP") {
    *out = Protocol::kUDP;
  } else if (p == "SCTP") {
    *out = Protocol::kSCTP;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(Join(where, "protocol"), ": unknown protocol \"", p, "\""));
  }
  return absl::OkStatus();
}

absl::Status ReadTrafficPolicy(const json& parent, const char* key, absl::string_view where,
                               TrafficPolicy* out) {
  std::string p;
  RETURN_IF_ERROR(ReadString(parent, key, where, &p));
  if (p.empty() || p == "Cluster") {
    *out = TrafficPolicy::kCluster;
  } else if (p == "Local") {
    *out = TrafficPolicy::kLocal;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(Join(where, key), ": unknown traffic policy \"", p, "\""));
  }
  return absl::OkStatus();
}

// `parent[key]` as an array of objects, calling fn(item, path) for each.
template <typename Fn>
absl::Status ForEachObject(const json& parent, const char* key, absl::string_view where, Fn fn) {
  ASSIGN_OR_RETURN(const json* items, ReadArray(parent, key, where));
  if (items == nullptr) return absl::OkStatus();
  const std::string base = Join(where, key);
  for (size_t i = 0; i < items->size(); ++i) {
    const json& item = (*items)[i];
    const std::string path = Index(base, i);
    if (!item.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": expected object, got ", json_fields::TypeName(item)));
    }
    RETURN_IF_ERROR(fn(item, path));
  }
  return absl::OkStatus();
}

const json& EmptyObject() {
  static const json* empty = new json(json::object());
  return *empty;
}

// object[key] as an object, or an empty object when absent.
absl::StatusOr<const json*> Section(const json& object, const char* key) {
  ASSIGN_OR_RETURN(const json* s, ReadObject(object, key, ""));
  return s == nullptr ? &EmptyObject() : s;
}

absl::StatusOr<CiliumPolicy> DecodeCilium(const json& object, absl::string_view kind,
                                          bool namespaced) {
  return DecodeWith<CiliumPolicy>(object, kind, namespaced, [](const json& o, CiliumPolicy* p) {
    ASSIGN_OR_RETURN(const json* spec, ReadObject(o, "spec", ""));
    ASSIGN_OR_RETURN(const json* specs, ReadArray(o, "specs", ""));
    if (spec == nullptr && specs == nullptr) {
      return absl::InvalidArgumentError("spec: missing (neither spec nor specs is set)");
    }
    if (spec != nullptr) p->spec = *spec;
    if (specs != nullptr) p->specs = *specs;
    return absl::OkStatus();
  });
}

}  // namespace

const char* ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kTCP:
      return "TCP";
    case Protocol::kUDP:
      return "UDP";
    case Protocol::kSCTP:
      return "SCTP";
  }
  return "?";
}

const char* ServiceTypeName(ServiceType t) {
  switch (t) {
    case ServiceType::kClusterIP:
      return "ClusterIP";
    case ServiceType::kNodePort:
      return "NodePort";
    case ServiceType::kLoadBalancer:
      return "LoadBalancer";
    case ServiceType::kExternalName:
      return "ExternalName";
  }
  return "?";
}

absl::StatusOr<ObjectMeta> DecodeObjectMeta(const json& object, absl::string_view kind,
                                            bool namespaced) {
  ObjectMeta meta;
  try {
    absl::Status s = DecodeMetaInto(object, kind, namespaced, &meta);
    if (!s.ok()) return InObject(kind, meta, s);
  } catch (const std::exception& e) {
    return InObject(kind, meta, absl::InvalidArgumentError(e.what()));
  }
  return meta;
}

absl::StatusOr<Node> DecodeNode(const json& object) {
  return DecodeWith<Node>(object, "Node", false, [](const json& o, Node* n) {
    ASSIGN_OR_RETURN(const json* spec, Section(o, "spec"));
    RETURN_IF_ERROR(ReadStringList(*spec, "podCIDRs", "spec", &n->pod_cidrs));
    if (n->pod_cidrs.empty()) {
      std::string cidr;
      RETURN_IF_ERROR(ReadString(*spec, "podCIDR", "spec", &cidr));
      if (!cidr.empty()) n->pod_cidrs.push_back(cidr);
    }
    ASSIGN_OR_RETURN(const json* status, Section(o, "status"));
    return ForEachObject(*status, "addresses", "status", [n](const json& a, const std::string& w) {
      NodeAddress addr;
      RETURN_IF_ERROR(ReadString(a, "type", w, &addr.type));
      RETURN_IF_ERROR(ReadString(a, "address", w, &addr.address));
      n->addresses.push_back(std::move(addr));
      return absl::OkStatus();
    });
  });
}

absl::StatusOr<Pod> DecodePod(const json& object) {
  return DecodeWith<Pod>(object, "Pod", true, [](const json& o, Pod* p) {
    ASSIGN_OR_RETURN(const json* spec, Section(o, "spec"));
    RETURN_IF_ERROR(ReadString(*spec, "nodeName", "spec", &p->node_name));
    RETURN_IF_ERROR(ReadBool(*spec, "hostNetwork", "spec", &p->host_network));
    RETURN_IF_ERROR(ReadString(*spec, "serviceAccountName", "spec", &p->service_account_name));
    ASSIGN_OR_RETURN(const json* status, Section(o, "status"));
    RETURN_IF_ERROR(ReadString(*status, "phase", "status", &p->phase));
    RETURN_IF_ERROR(ForEachObject(*status, "podIPs", "status", [p](const json& a, const std::string& w) {
      std::string ip;
      RETURN_IF_ERROR(ReadString(a, "ip", w, &ip));
      if (!ip.empty()) p->pod_ips.push_back(std::move(ip));
      return absl::OkStatus();
    }));
    if (p->pod_ips.empty()) {
      std::string ip;
      RETURN_IF_ERROR(ReadString(*status, "podIP", "status", &ip));
      if (!ip.empty()) p->pod_ips.push_back(std::move(ip));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Namespace> DecodeNamespace(const json& object) {
  return DecodeWith<Namespace>(object, "Namespace", false,
                               [](const json&, Namespace*) { return absl::OkStatus(); });
}

absl::StatusOr<Service> DecodeService(const json& object) {
  return DecodeWith<Service>(object, "Service", true, [](const json& o, Service* s) {
    ASSIGN_OR_RETURN(const json* spec, Section(o, "spec"));
    std::string type;
    RETURN_IF_ERROR(ReadString(*spec, "type", "spec", &type));
    if (type.empty() || type == "ClusterIP") {
      s->type = ServiceType::kClusterIP;
    } else if (type == "NodePort") {
      s->type = ServiceType::kNodePort;
    } else if (type == "LoadBalancer") {
      s->type = ServiceType::kLoadBalancer;
    } else if (type == "ExternalName") {
      s->type = ServiceType::kExternalName;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("spec.type: unknown type \"", type, "\""));
    }
    RETURN_IF_ERROR(ReadStringList(*spec, "clusterIPs", "spec", &s->cluster_ips));
    if (s->cluster_ips.empty()) {
      std::string ip;
      RETURN_IF_ERROR(ReadString(*spec, "clusterIP", "spec", &ip));
      if (!ip.empty()) s->cluster_ips.push_back(std::move(ip));
    }
    RETURN_IF_ERROR(ForEachObject(*spec, "ports", "spec", [s](const json& p, const std::string& w) {
      ServicePort port;
      RETURN_IF_ERROR(ReadString(p, "name", w, &port.name));
      RETURN_IF_ERROR(ReadProtocol(p, w, &port.protocol));
      RETURN_IF_ERROR(ReadInt32(p, "port", w, &port.port));
      if (port.port <= 0 || port.port > 65535) {
        return absl::InvalidArgumentError(
            absl::StrCat(Join(w, "port"), ": ", port.port, " is not a valid port"));
      }
      auto tp = p.find("targetPort");
      if (tp == p.end() || tp->is_null()) {
        port.target_port.int_value = port.port;
      } else if (tp->is_string()) {
        port.target_port.is_string = true;
        port.target_port.string_value = tp->get_ref<const std::string&>();
      } else {
        RETURN_IF_ERROR(ReadInt32(p, "targetPort", w, &port.target_port.int_value));
      }
      RETURN_IF_ERROR(ReadInt32(p, "nodePort", w, &port.node_port));
      s->ports.push_back(std::move(port));
      return absl::OkStatus();
    }));
    RETURN_IF_ERROR(ReadStringMap(*spec, "selector", "spec", &s->selector));
    std::string affinity;
    RETURN_IF_ERROR(ReadString(*spec, "sessionAffinity", "spec", &affinity));
    if (affinity == "ClientIP") {
      s->session_affinity_client_ip = true;
      s->session_affinity_timeout_seconds = 10800;  // the API default
      ASSIGN_OR_RETURN(const json* cfg, ReadObject(*spec, "sessionAffinityConfig", "spec"));
      if (cfg != nullptr) {
        ASSIGN_OR_RETURN(const json* cip,
                         ReadObject(*cfg, "clientIP", "spec.sessionAffinityConfig"));
        if (cip != nullptr) {
          RETURN_IF_ERROR(ReadInt32(*cip, "timeoutSeconds", "spec.sessionAffinityConfig.clientIP",
                                    &s->session_affinity_timeout_seconds));
        }
      }
    } else if (!affinity.empty() && affinity != "None") {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.sessionAffinity: unknown value \"", affinity, "\""));
    }
    RETURN_IF_ERROR(ReadTrafficPolicy(*spec, "externalTrafficPolicy", "spec",
                                      &s->external_traffic_policy));
    RETURN_IF_ERROR(ReadTrafficPolicy(*spec, "internalTrafficPolicy", "spec",
                                      &s->internal_traffic_policy));
    RETURN_IF_ERROR(ReadStringList(*spec, "externalIPs", "spec", &s->external_ips));
    ASSIGN_OR_RETURN(const json* status, Section(o, "status"));
    ASSIGN_OR_RETURN(const json* lb, ReadObject(*status, "loadBalancer", "status"));
    if (lb != nullptr) {
      RETURN_IF_ERROR(ForEachObject(*lb, "ingress", "status.loadBalancer",
                                    [s](const json& in, const std::string& w) {
                                      std::string ip;
                                      RETURN_IF_ERROR(ReadString(in, "ip", w, &ip));
                                      if (!ip.empty()) s->load_balancer_ips.push_back(ip);
                                      return absl::OkStatus();
                                    }));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<EndpointSlice> DecodeEndpointSlice(const json& object) {
  return DecodeWith<EndpointSlice>(object, "EndpointSlice", true, [](const json& o,
                                                                     EndpointSlice* e) {
    if (const std::string* svc = FindKey(e->meta.labels, "kubernetes.io/service-name")) {
      e->service_name = *svc;
    }
    std::string type;
    RETURN_IF_ERROR(ReadString(o, "addressType", "", &type));
    if (type == "IPv4") {
      e->address_type = AddressType::kIPv4;
    } else if (type == "IPv6") {
      e->address_type = AddressType::kIPv6;
    } else if (type == "FQDN") {
      e->address_type = AddressType::kFQDN;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("addressType: ", type.empty() ? "missing" : "unknown value \"" + type + "\""));
    }
    if (auto it = o.find("endpoints"); it != o.end() && it->is_array()) {
      e->endpoints.reserve(it->size());  // exactly: thousands of slices are cached
    }
    RETURN_IF_ERROR(ForEachObject(o, "endpoints", "", [e](const json& ep, const std::string& w) {
      Endpoint out;
      std::vector<std::string> addresses;
      RETURN_IF_ERROR(ReadStringList(ep, "addresses", w, &addresses));
      if (!addresses.empty()) out.address = std::move(addresses[0]);
      ASSIGN_OR_RETURN(const json* cond, ReadObject(ep, "conditions", w));
      if (cond != nullptr) {
        const std::string cw = Join(w, "conditions");
        RETURN_IF_ERROR(ReadBool(*cond, "ready", cw, &out.ready));
        out.serving = out.ready;
        RETURN_IF_ERROR(ReadBool(*cond, "serving", cw, &out.serving));
        RETURN_IF_ERROR(ReadBool(*cond, "terminating", cw, &out.terminating));
      }
      RETURN_IF_ERROR(ReadString(ep, "nodeName", w, &out.node_name));
      e->endpoints.push_back(std::move(out));
      return absl::OkStatus();
    }));
    return ForEachObject(o, "ports", "", [e](const json& p, const std::string& w) {
      EndpointPort port;
      RETURN_IF_ERROR(ReadString(p, "name", w, &port.name));
      RETURN_IF_ERROR(ReadProtocol(p, w, &port.protocol));
      auto it = p.find("port");
      if (it != p.end() && !it->is_null()) {
        int32_t value = 0;
        RETURN_IF_ERROR(ReadInt32(p, "port", w, &value));
        port.port = value;
      }
      e->ports.push_back(std::move(port));
      return absl::OkStatus();
    });
  });
}

absl::StatusOr<NetworkPolicy> DecodeNetworkPolicy(const json& object) {
  return DecodeWith<NetworkPolicy>(object, "NetworkPolicy", true,
                                   [](const json& o, NetworkPolicy* p) {
                                     ASSIGN_OR_RETURN(const json* spec, ReadObject(o, "spec", ""));
                                     if (spec == nullptr) {
                                       return absl::InvalidArgumentError("spec: missing");
                                     }
                                     p->spec = *spec;
                                     return absl::OkStatus();
                                   });
}

absl::StatusOr<CiliumPolicy> DecodeCiliumNetworkPolicy(const json& object) {
  return DecodeCilium(object, "CiliumNetworkPolicy", true);
}

absl::StatusOr<CiliumPolicy> DecodeCiliumClusterwideNetworkPolicy(const json& object) {
  return DecodeCilium(object, "CiliumClusterwideNetworkPolicy", false);
}

absl::StatusOr<Lease> DecodeLease(const json& object) {
  return DecodeWith<Lease>(object, "Lease", true, [](const json& o, Lease* l) {
    ASSIGN_OR_RETURN(const json* spec, Section(o, "spec"));
    RETURN_IF_ERROR(ReadString(*spec, "holderIdentity", "spec", &l->holder_identity));
    RETURN_IF_ERROR(
        ReadInt32(*spec, "leaseDurationSeconds", "spec", &l->lease_duration_seconds));
    RETURN_IF_ERROR(ReadString(*spec, "acquireTime", "spec", &l->acquire_time));
    RETURN_IF_ERROR(ReadString(*spec, "renewTime", "spec", &l->renew_time));
    RETURN_IF_ERROR(ReadInt32(*spec, "leaseTransitions", "spec", &l->lease_transitions));
    return absl::OkStatus();
  });
}

absl::StatusOr<GenericObject> DecodeGeneric(const json& object, const ResourceType& type) {
  return DecodeWith<GenericObject>(object, type.kind, type.namespaced,
                                   [&type](const json&, GenericObject* g) {
                                     g->kind = std::string(type.kind);
                                     return absl::OkStatus();
                                   });
}

json EncodeLease(const Lease& lease) {
  json metadata = {{"name", lease.meta.name}, {"namespace", lease.meta.namespace_}};
  if (!lease.meta.resource_version.empty()) {
    metadata["resourceVersion"] = lease.meta.resource_version;
  }
  if (!lease.meta.labels.empty()) {
    json labels = json::object();
    for (const auto& [k, v] : lease.meta.labels) labels[k] = v;
    metadata["labels"] = std::move(labels);
  }
  json spec = json::object();
  if (!lease.holder_identity.empty()) spec["holderIdentity"] = lease.holder_identity;
  if (lease.lease_duration_seconds > 0) {
    spec["leaseDurationSeconds"] = lease.lease_duration_seconds;
  }
  if (!lease.acquire_time.empty()) spec["acquireTime"] = lease.acquire_time;
  if (!lease.renew_time.empty()) spec["renewTime"] = lease.renew_time;
  spec["leaseTransitions"] = lease.lease_transitions;
  return json{{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata", std::move(metadata)},
              {"spec", std::move(spec)}};
}

}  // namespace weft::kubeprism
