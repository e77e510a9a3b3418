#include "generator/spec.h"

#include <functional>
#include <map>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "generator/layout.h"
#include "generator/yaml_util.h"

namespace weft::generator {

namespace {

constexpr absl::string_view kDefaultPodSubnet = "10.244.0.0/16";
constexpr absl::string_view kDefaultServiceSubnet = "10.96.0.0/12";

// Parses one spec file, keeping the file name for `<file>:<line>: <field>: ...` errors.
class SpecParser {
 public:
  SpecParser(absl::string_view source, Spec* spec) : source_(source), spec_(spec) {}

  absl::Status Parse(const YAML::Node& root) {
    if (!root.IsMap()) return Error(root, "", "expected a mapping of spec fields");
    for (const auto& kv : root) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      absl::Status s = Field(key, kv.first, kv.second);
      if (!s.ok()) return s;
    }
    return Check(root);
  }

 private:
  absl::Status Error(const YAML::Node& at, absl::string_view field, absl::string_view msg) {
    int line = SourceLine(at);
    std::string where = line > 0 ? absl::StrCat(source_, ":", line) : std::string(source_);
    if (field.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", msg));
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", field, ": ", msg));
  }

  absl::Status String(const YAML::Node& v, absl::string_view field, std::string* out) {
    if (!v.IsScalar() || v.Scalar().empty()) return Error(v, field, "expected a non-empty string");
    *out = v.Scalar();
    return absl::OkStatus();
  }

  absl::Status Bool(const YAML::Node& v, absl::string_view field, bool* out) {
    if (v.IsScalar() && v.Scalar() == "true") {
      *out = true;
    } else if (v.IsScalar() && v.Scalar() == "false") {
      *out = false;
    } else {
      return Error(v, field, absl::StrCat("expected true or false, got ", Shown(v)));
    }
    return absl::OkStatus();
  }

  absl::Status Int(const YAML::Node& v, absl::string_view field, int lo, int hi, int* out) {
    int n = 0;
    if (!v.IsScalar() || !absl::SimpleAtoi(v.Scalar(), &n) || n < lo || n > hi) {
      return Error(v, field, absl::StrCat("expected a number from ", lo, " to ", hi, ", got ",
                                          Shown(v)));
    }
    *out = n;
    return absl::OkStatus();
  }

  absl::Status StringList(const YAML::Node& v, absl::string_view field,
                          std::vector<std::string>* out) {
    if (v.IsNull()) {
      out->clear();
      return absl::OkStatus();
    }
    if (!v.IsSequence()) return Error(v, field, "expected a list");
    out->clear();
    int i = 0;
    for (const auto& item : v) {
      std::string elem = absl::StrCat(field, "[", i++, "]");
      if (!item.IsScalar() || item.Scalar().empty()) {
        return Error(item, elem, "expected a non-empty string");
      }
      out->push_back(item.Scalar());
    }
    return absl::OkStatus();
  }

  absl::Status Cidr(const YAML::Node& v, absl::string_view field, net::IpPrefix* out) {
    if (!v.IsScalar()) return Error(v, field, "expected a CIDR such as 10.244.0.0/16");
    absl::StatusOr<net::IpPrefix> p = net::IpPrefix::Parse(v.Scalar());
    if (!p.ok()) return Error(v, field, absl::StrCat("invalid CIDR \"", v.Scalar(), "\""));
    *out = *p;
    return absl::OkStatus();
  }

  // Talos allows one subnet or a dual-stack pair (one IPv4, one IPv6).
  absl::Status CidrList(const YAML::Node& v, absl::string_view field,
                        std::vector<net::IpPrefix>* out) {
    if (!v.IsSequence() || v.size() == 0) {
      return Error(v, field, "expected a list of one or two CIDRs (one per IP family)");
    }
    out->clear();
    int i = 0;
    for (const auto& item : v) {
      std::string elem = absl::StrCat(field, "[", i++, "]");
      net::IpPrefix p;
      absl::Status s = Cidr(item, elem, &p);
      if (!s.ok()) return s;
      for (const net::IpPrefix& seen : *out) {
        if (seen.family() == p.family()) {
          return Error(item, elem, "at most one CIDR per IP family (dual-stack: one IPv4, one IPv6)");
        }
      }
      out->push_back(p);
    }
    return absl::OkStatus();
  }

  static std::string Shown(const YAML::Node& v) {
    if (v.IsScalar()) return absl::StrCat("\"", v.Scalar(), "\"");
    if (v.IsSequence()) return "a list";
    if (v.IsMap()) return "a mapping";
    return "nothing";
  }

  absl::Status Field(const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
    Spec& s = *spec_;
    Remember(key, v);
    if (key == "clusterName") {
      RETURN_IF_ERROR(String(v, key, &s.cluster_name));
      static const std::regex kDns("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
      if (!std::regex_match(s.cluster_name, kDns)) {
        return Error(v, key, absl::StrCat("invalid cluster name \"", s.cluster_name,
                                          "\" (lower-case letters, digits and '-')"));
      }
    } else if (key == "talosVersion") {
      RETURN_IF_ERROR(String(v, key, &s.talos_version));
      absl::StatusOr<TalosVersion> tv = ParseTalosVersion(s.talos_version);
      if (!tv.ok()) return Error(v, key, tv.status().message());
    } else if (key == "kubernetesVersion") {
      RETURN_IF_ERROR(String(v, key, &s.kubernetes_version));
      static const std::regex kVersion("^v?1\\.[0-9]+\\.[0-9]+$");
      if (!std::regex_match(s.kubernetes_version, kVersion)) {
        return Error(v, key, absl::StrCat("invalid Kubernetes version \"", s.kubernetes_version,
                                          "\" (expected e.g. v1.36.3)"));
      }
    } else if (key == "cni") {
      std::string text;
      RETURN_IF_ERROR(String(v, key, &text));
      std::optional<Cni> cni = ParseCni(text);
      if (!cni) return Error(v, key, absl::StrCat("expected weft or cilium, got \"", text, "\""));
      s.cni = *cni;
    } else if (key == "podSubnets") {
      RETURN_IF_ERROR(CidrList(v, key, &s.pod_subnets));
    } else if (key == "serviceSubnets") {
      RETURN_IF_ERROR(CidrList(v, key, &s.service_subnets));
    } else if (key == "routingMode") {
      std::string text;
      RETURN_IF_ERROR(String(v, key, &text));
      if (text == "tunnel") {
        s.routing_mode = RoutingMode::kTunnel;
      } else if (text == "native") {
        s.routing_mode = RoutingMode::kNative;
      } else {
        return Error(v, key, absl::StrCat("expected tunnel or native, got \"", text, "\""));
      }
    } else if (key == "nativeRoutingCIDR") {
      net::IpPrefix p;
      RETURN_IF_ERROR(Cidr(v, key, &p));
      if (!p.address().is_v4()) {
        return Error(v, key, "must be an IPv4 CIDR (Cilium's ipv4NativeRoutingCIDR)");
      }
      s.native_routing_cidr = p;
      native_cidr_set_ = true;
    } else if (key == "allowSchedulingOnControlPlanes") {
      RETURN_IF_ERROR(Bool(v, key, &s.allow_scheduling_on_control_planes));
    } else if (key == "kubePrismPort") {
      RETURN_IF_ERROR(Int(v, key, 1, 65535, &s.kubeprism_port));
    } else if (key == "encryption") {
      std::string text;
      RETURN_IF_ERROR(String(v, key, &text));
      if (text == "none") {
        s.encryption = Encryption::kNone;
      } else if (text == "wireguard") {
        s.encryption = Encryption::kWireGuard;
      } else {
        return Error(v, key, absl::StrCat("expected none or wireguard, got \"", text, "\""));
      }
    } else if (key == "encryptionStrictMode") {
      RETURN_IF_ERROR(Bool(v, key, &s.encryption_strict_mode));
    } else if (key == "hubble") {
      if (!v.IsMap()) return Error(v, key, "expected a mapping with relay and ui");
      for (const auto& h : v) {
        const std::string sub = h.first.IsScalar() ? h.first.Scalar() : "";
        std::string field = absl::StrCat("hubble.", sub);
        Remember(field, h.second);
        if (sub == "relay") {
          RETURN_IF_ERROR(Bool(h.second, field, &s.hubble_relay));
        } else if (sub == "ui") {
          RETURN_IF_ERROR(Bool(h.second, field, &s.hubble_ui));
        } else {
          return Error(h.first, field, "unknown field (known: relay, ui)");
        }
      }
    } else if (key == "operatorReplicas") {
      RETURN_IF_ERROR(Int(v, key, 1, 10, &s.operator_replicas));
    } else if (key == "l2Announcements") {
      RETURN_IF_ERROR(Bool(v, key, &s.l2_announcements));
    } else if (key == "bandwidthManager") {
      RETURN_IF_ERROR(Bool(v, key, &s.bandwidth_manager));
    } else if (key == "bpfMasquerade") {
      RETURN_IF_ERROR(Bool(v, key, &s.bpf_masquerade));
    } else if (key == "extensions") {
      RETURN_IF_ERROR(StringList(v, key, &s.extensions));
      static const std::regex kOfficial("^siderolabs/[a-z0-9][a-z0-9._-]*$");
      for (size_t i = 0; i < s.extensions.size(); ++i) {
        if (!std::regex_match(s.extensions[i], kOfficial)) {
          return Error(v[i], absl::StrCat(key, "[", i, "]"),
                       absl::StrCat("\"", s.extensions[i],
                                    "\" is not an official extension name (siderolabs/<name>)"));
        }
      }
    } else if (key == "kernelArgs") {
      RETURN_IF_ERROR(StringList(v, key, &s.kernel_args));
      for (size_t i = 0; i < s.kernel_args.size(); ++i) {
        if (s.kernel_args[i].find_first_of(" \t\n") != std::string::npos) {
          return Error(v[i], absl::StrCat(key, "[", i, "]"),
                       "one kernel argument per list entry (no spaces)");
        }
      }
    } else {
      return Error(key_node, key.empty() ? "(key)" : key,
                   "unknown field (run `talosgen init` to see the fields)");
    }
    return absl::OkStatus();
  }

  // Rules across fields, reported at the field that has to change.
  absl::Status Check(const YAML::Node& root) {
    Spec& s = *spec_;
    if (s.service_subnets.size() != s.pod_subnets.size()) {
      return Error(At("serviceSubnets", root), "serviceSubnets",
                   "needs as many entries as podSubnets (one per IP family)");
    }
    for (size_t i = 0; i < s.service_subnets.size(); ++i) {
      for (size_t j = 0; j < s.pod_subnets.size(); ++j) {
        if (s.service_subnets[i].Overlaps(s.pod_subnets[j])) {
          return Error(At("serviceSubnets", root), absl::StrCat("serviceSubnets[", i, "]"),
                       absl::StrCat(s.service_subnets[i].ToString(), " overlaps podSubnets[", j,
                                    "] ", s.pod_subnets[j].ToString()));
        }
      }
    }
    if (!native_cidr_set_) s.native_routing_cidr = FirstV4(s.pod_subnets);
    if (s.native_routing_cidr) {
      for (size_t i = 0; i < s.service_subnets.size(); ++i) {
        if (s.native_routing_cidr->Overlaps(s.service_subnets[i])) {
          return Error(At("nativeRoutingCIDR", root), "nativeRoutingCIDR",
                       absl::StrCat(s.native_routing_cidr->ToString(), " overlaps serviceSubnets[",
                                    i, "] ", s.service_subnets[i].ToString(),
                                    " (Service traffic would bypass masquerading)"));
        }
      }
    }
    if (s.routing_mode == RoutingMode::kNative && !s.native_routing_cidr) {
      return Error(At("routingMode", root), "routingMode",
                   "native routing needs an IPv4 nativeRoutingCIDR (no IPv4 pod subnet to "
                   "derive it from)");
    }
    if (s.encryption_strict_mode && s.encryption != Encryption::kWireGuard) {
      return Error(At("encryptionStrictMode", root), "encryptionStrictMode",
                   "needs encryption: wireguard");
    }
    if (s.encryption_strict_mode && !s.native_routing_cidr) {
      return Error(At("encryptionStrictMode", root), "encryptionStrictMode",
                   "needs an IPv4 pod subnet (strict mode CIDR)");
    }
    if (s.hubble_ui && !s.hubble_relay) {
      // The chart fails to render ("Hubble UI requires .Values.hubble.relay.enabled=true").
      return Error(At("hubble.ui", root), "hubble.ui", "Hubble UI needs hubble.relay: true");
    }
    return absl::OkStatus();
  }

  // emplace, not operator[]=: YAML::Node::operator= writes through to the node it holds.
  void Remember(const std::string& field, const YAML::Node& v) {
    lines_.erase(field);
    lines_.emplace(field, v);
  }

  const YAML::Node& At(const std::string& field, const YAML::Node& root) {
    auto it = lines_.find(field);
    return it != lines_.end() ? it->second : root;
  }

  static std::optional<net::IpPrefix> FirstV4(const std::vector<net::IpPrefix>& prefixes) {
    for (const net::IpPrefix& p : prefixes) {
      if (p.address().is_v4()) return p;
    }
    return std::nullopt;
  }

  absl::string_view source_;
  Spec* spec_;
  std::map<std::string, YAML::Node> lines_;  // field -> value node, for cross-field errors
  bool native_cidr_set_ = false;
};

}  // namespace

absl::string_view CniName(Cni cni) { return cni == Cni::kWeft ? "weft" : "cilium"; }

std::optional<Cni> ParseCni(absl::string_view text) {
  if (text == "weft") return Cni::kWeft;
  if (text == "cilium") return Cni::kCilium;
  return std::nullopt;
}

std::string JoinPrefixes(const std::vector<net::IpPrefix>& prefixes) {
  return absl::StrJoin(prefixes, ", ", [](std::string* out, const net::IpPrefix& p) {
    out->append(p.ToString());
  });
}

Spec DefaultSpec(const Pins& pins) {
  Spec s;
  s.talos_version = pins.talos();
  s.kubernetes_version = pins.kubernetes();
  s.pod_subnets = {*net::IpPrefix::Parse(kDefaultPodSubnet)};
  s.service_subnets = {*net::IpPrefix::Parse(kDefaultServiceSubnet)};
  s.native_routing_cidr = s.pod_subnets[0];
  return s;
}

absl::StatusOr<Spec> ParseSpec(const std::string& text, absl::string_view source,
                               const Pins& pins) {
  Spec spec = DefaultSpec(pins);
  spec.source = std::string(source);
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadYamlDocuments(text, source);
  if (!docs.ok()) return docs.status();
  if (docs->size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", SourceLine((*docs)[1]), ": expected one YAML document"));
  }
  if (docs->empty()) return spec;  // an empty file means "all defaults"
  SpecParser parser(source, &spec);
  absl::Status s = parser.Parse((*docs)[0]);
  if (!s.ok()) return s;
  return spec;
}

std::string InitSpecYaml(const Pins& pins) {
  return absl::StrCat(
      "# talosgen cluster spec. Every talosgen subcommand reads it with --spec FILE;\n"
      "# flags (--talos-version, --cni, --chart-version) override single fields.\n"
      "# Fields left out keep the defaults shown here; unknown fields are an error.\n"
      "\n"
      "# Cluster name, used in the `talosctl gen config` command printed in patch headers.\n"
      "clusterName: weft\n"
      "# Talos release of the nodes: v1.11 to v1.13 use the legacy v1alpha1 layout,\n"
      "# v1.14 the multi-document layout. Default: the pinned release.\n"
      "talosVersion: ", QuoteScalar(pins.talos()), "\n",
      "# Kubernetes release (for the printed talosctl command). Default: the pinned release.\n"
      "kubernetesVersion: ", QuoteScalar(pins.kubernetes()), "\n",
      "# Who runs the pod network: weft (the Weft system extension) or cilium (Helm chart,\n"
      "# see `talosgen values`). Either way Flannel and kube-proxy are turned off.\n"
      "cni: weft\n"
      "# Pod and Service address ranges: one CIDR, or an IPv4 + IPv6 pair for dual-stack.\n"
      "# They must not overlap.\n"
      "podSubnets:\n"
      "  - ", kDefaultPodSubnet, "\n"
      "serviceSubnets:\n"
      "  - ", kDefaultServiceSubnet, "\n"
      "# tunnel (VXLAN between nodes, works on any network) or native (pod packets routed\n"
      "# as-is; nodes must share an L2 segment, or routes must be set up by BGP).\n"
      "routingMode: tunnel\n"
      "# With native routing: the range that is routed without masquerading.\n"
      "# Default: the IPv4 pod subnet.\n"
      "# nativeRoutingCIDR: 10.244.0.0/16\n"
      "# Let ordinary pods run on control-plane nodes (small clusters).\n"
      "allowSchedulingOnControlPlanes: false\n"
      "# KubePrism port: the CNI reaches the API server at localhost:<port> on every node.\n"
      "kubePrismPort: 7445\n"
      "# Pod traffic encryption between nodes: none or wireguard (built into Talos kernels).\n"
      "encryption: none\n"
      "# With wireguard: drop unencrypted pod-to-pod traffic between nodes (Cilium strict mode).\n"
      "encryptionStrictMode: false\n"
      "# Hubble flow visibility: the relay (cluster-wide API) and the UI (needs the relay).\n"
      "hubble:\n"
      "  relay: false\n"
      "  ui: false\n"
      "# Cilium operator replicas (1 suits small clusters; use 2 for HA).\n"
      "operatorReplicas: 1\n"
      "# Answer ARP for LoadBalancer IPs on the local network (Cilium L2 announcements).\n"
      "l2Announcements: false\n"
      "# EDT rate limiting of pod egress plus BBR congestion control.\n"
      "bandwidthManager: false\n"
      "# Masquerade in eBPF instead of iptables. When true, the Talos patch also turns off\n"
      "# hostDNS forwardKubeDNSToHost, which breaks CoreDNS together with BPF masquerade.\n"
      "bpfMasquerade: false\n"
      "# Official Image Factory extensions for `talosgen schematic`, e.g. siderolabs/iscsi-tools.\n"
      "extensions: []\n"
      "# Extra kernel arguments for the schematic and imager, e.g. console=ttyS0.\n"
      "kernelArgs: []\n");
}

}  // namespace weft::generator
