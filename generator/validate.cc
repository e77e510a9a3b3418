#include "generator/validate.h"

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "generator/config_doc.h"
#include "generator/layout.h"
#include "generator/merge.h"
#include "generator/yaml_util.h"

namespace weft::generator {

namespace {

constexpr char kWholeDocument[] = "(document)";
constexpr int kDefaultKubePrismPort = 7445;  // Talos' default when the port is 0/unset

class Checker {
 public:
  Checker(const std::vector<YAML::Node>& docs, const Spec& spec) : docs_(docs), spec_(spec) {
    ConfigShape shape = DetectShape(docs);
    multidoc_ = shape.layout == Layout::kMultidoc;
    worker_ = shape.role == Role::kWorker;
    for (const YAML::Node& d : docs) {
      if (IsV1Alpha1(d)) v1_.reset(d);  // reset: operator= would write into v1_'s node
    }
  }

  std::vector<Finding> Run() {
    if (worker_) ControlPlaneOnlyDocuments();
    if (multidoc_) MixedLayouts();
    Flannel();
    KubeProxy();
    KubePrism();
    Subnets();
    HostDns();
    Sysctls();
    return findings_;
  }

 private:
  void Add(std::string doc, std::string field, std::string message) {
    findings_.push_back({std::move(doc), std::move(field), std::move(message)});
  }

  YAML::Node Kind(absl::string_view kind) const {
    for (const YAML::Node& d : docs_) {
      if (DocKind(d) == kind) return d;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }

  bool V1Has(std::initializer_list<const char*> path) const {
    return NodeAt(v1_, path).IsDefined();
  }

  std::string V1Scalar(std::initializer_list<const char*> path) const {
    std::string out;
    ScalarAt(v1_, path, &out);
    return out;
  }

  void ControlPlaneOnlyDocuments() {
    for (const YAML::Node& d : docs_) {
      if (IsControlPlaneOnlyKind(DocKind(d))) {
        Add(DocLabel(d), kWholeDocument,
            "only allowed on control-plane machines; Talos rejects this worker config");
      }
    }
  }

  // Talos 1.14 rejects legacy fields next to the document that replaces them
  // (V1Alpha1ConflictValidate).
  void MixedLayouts() {
    struct Conflict {
      std::initializer_list<const char*> path;
      const char* field;
      const char* kind;
    };
    const Conflict conflicts[] = {
        {{"cluster", "network"}, "cluster.network", "KubeNetworkConfig"},
        {{"cluster", "network"}, "cluster.network", "KubeFlannelCNIConfig"},
        {{"cluster", "proxy"}, "cluster.proxy", "KubeProxyConfig"},
        {{"machine", "features", "kubePrism"}, "machine.features.kubePrism", "KubePrismConfig"},
        {{"cluster", "allowSchedulingOnControlPlanes"}, "cluster.allowSchedulingOnControlPlanes",
         "KubeNodeConfig"},
    };
    for (const Conflict& c : conflicts) {
      if (V1Has(c.path) && Kind(c.kind).IsDefined()) {
        Add("v1alpha1", c.field,
            absl::StrCat("legacy field mixed with the ", c.kind,
                         " document; Talos 1.14 rejects the config (use one layout)"));
      }
    }
  }

  void Flannel() {
    if (multidoc_) {
      YAML::Node flannel = Kind("KubeFlannelCNIConfig");
      if (flannel.IsDefined() && !worker_) {
        Add(DocLabel(flannel), kWholeDocument,
            "Flannel is still enabled; delete the document (`$patch: delete`)");
      }
      return;
    }
    std::string name = V1Scalar({"cluster", "network", "cni", "name"});
    YAML::Node urls = NodeAt(v1_, {"cluster", "network", "cni", "urls"});
    if (name == "none" && urls.IsSequence() && urls.size() > 0) {
      // Lists append in a merge, so a base with a custom CNI keeps its URLs.
      Add("v1alpha1", "cluster.network.cni.urls",
          "must be empty with cni name none (Talos rejects the config); delete it with "
          "`urls: {$patch: delete}`");
    }
    if (name.empty() || name == "flannel") {
      Add("v1alpha1", "cluster.network.cni.name",
          name.empty() ? "Flannel is still enabled (unset means flannel); set it to none"
                       : "Flannel is still enabled; set it to none");
    }
  }

  void KubeProxy() {
    if (multidoc_) {
      YAML::Node proxy = Kind("KubeProxyConfig");
      if (proxy.IsDefined()) {
        std::string enabled;
        ScalarAt(proxy, {"enabled"}, &enabled);
        if (enabled != "false" && !worker_) {
          Add(DocLabel(proxy), "enabled", "kube-proxy is still enabled; set enabled: false");
        }
      } else if (!worker_ && V1Scalar({"cluster", "proxy", "disabled"}) != "true") {
        Add("KubeProxyConfig", kWholeDocument,
            "missing: Talos falls back to the v1alpha1 default and deploys kube-proxy; add "
            "the document with enabled: false");
      }
      return;
    }
    if (V1Scalar({"cluster", "proxy", "disabled"}) != "true") {
      Add("v1alpha1", "cluster.proxy.disabled", "kube-proxy is still enabled");
    }
  }

  void CheckPort(const std::string& doc, const std::string& field, const std::string& value) {
    int port = kDefaultKubePrismPort;
    if (!value.empty() && value != "0" && !absl::SimpleAtoi(value, &port)) port = -1;
    if (port != spec_.kubeprism_port) {
      Add(doc, field,
          absl::StrCat("KubePrism listens on ", value.empty() ? "7445 (default)" : value,
                       " but the CNI is set up for ", spec_.kubeprism_port,
                       " (spec: kubePrismPort)"));
    }
  }

  void KubePrism() {
    YAML::Node prism = Kind("KubePrismConfig");
    if (prism.IsDefined()) {
      std::string port;
      ScalarAt(prism, {"port"}, &port);
      CheckPort(DocLabel(prism), "port", port);
      return;
    }
    if (V1Scalar({"machine", "features", "kubePrism", "enabled"}) == "true") {
      CheckPort("v1alpha1", "machine.features.kubePrism.port",
                V1Scalar({"machine", "features", "kubePrism", "port"}));
      return;
    }
    if (multidoc_) {
      Add("KubePrismConfig", kWholeDocument,
          "missing, so KubePrism is off; the CNI reaches the API server through it");
    } else {
      Add("v1alpha1", "machine.features.kubePrism.enabled",
          "KubePrism is off; the CNI reaches the API server through it");
    }
  }

  // Parses a subnet list, reporting invalid entries; `defaults` when the list is absent.
  std::vector<std::pair<std::string, net::IpPrefix>> SubnetList(const YAML::Node& list,
                                                                const std::string& doc,
                                                                const std::string& field,
                                                                const char* fallback) {
    std::vector<std::pair<std::string, net::IpPrefix>> out;
    if (!list.IsDefined() || !list.IsSequence()) {
      out.push_back({absl::StrCat(field, " (default)"), *net::IpPrefix::Parse(fallback)});
      return out;
    }
    for (size_t i = 0; i < list.size(); ++i) {
      std::string name = absl::StrCat(field, "[", i, "]");
      std::string text = list[i].IsScalar() ? list[i].Scalar() : "";
      absl::StatusOr<net::IpPrefix> p = net::IpPrefix::Parse(text);
      if (!p.ok()) {
        Add(doc, name, absl::StrCat("invalid CIDR \"", text, "\""));
        continue;
      }
      out.push_back({name, *p});
    }
    return out;
  }

  void Subnets() {
    YAML::Node net_doc = Kind("KubeNetworkConfig");
    std::string doc = "v1alpha1";
    std::string prefix = "cluster.network.";
    YAML::Node pods = NodeAt(v1_, {"cluster", "network", "podSubnets"});
    YAML::Node services = NodeAt(v1_, {"cluster", "network", "serviceSubnets"});
    if (net_doc.IsDefined()) {
      doc = DocLabel(net_doc);
      prefix = "";
      pods.reset(NodeAt(net_doc, {"podSubnets"}));  // rebind, not overwrite
      services.reset(NodeAt(net_doc, {"serviceSubnets"}));
    }
    auto pod_list = SubnetList(pods, doc, prefix + "podSubnets", "10.244.0.0/16");
    auto svc_list = SubnetList(services, doc, prefix + "serviceSubnets", "10.96.0.0/12");
    for (const auto& svc : svc_list) {
      for (const auto& pod : pod_list) {
        if (svc.second.Overlaps(pod.second)) {
          Add(doc, svc.first,
              absl::StrCat(svc.second.ToString(), " overlaps ", pod.first, " ",
                           pod.second.ToString()));
        }
      }
    }
    if (spec_.routing_mode != RoutingMode::kNative || !spec_.native_routing_cidr) return;
    const net::IpPrefix& native = *spec_.native_routing_cidr;
    for (const auto& svc : svc_list) {
      if (svc.second.Overlaps(native)) {
        Add(doc, svc.first,
            absl::StrCat(svc.second.ToString(), " overlaps the native-routing CIDR ",
                         native.ToString(), " (spec: nativeRoutingCIDR)"));
      }
    }
    for (const auto& pod : pod_list) {
      if (pod.second.address().is_v4() && !native.Contains(pod.second)) {
        Add(doc, pod.first,
            absl::StrCat(pod.second.ToString(), " is outside the native-routing CIDR ",
                         native.ToString(), "; pod traffic between nodes would be masqueraded"));
      }
    }
  }

  void HostDns() {
    if (!spec_.bpf_masquerade) return;
    const char* kWhy = "host DNS forwarding breaks CoreDNS with BPF masquerade (spec: "
                       "bpfMasquerade: true); set it to false";
    YAML::Node resolver = Kind("ResolverConfig");
    std::string value;
    if (ScalarAt(resolver, {"hostDNS", "forwardKubeDNSToHost"}, &value) && value == "true") {
      Add(DocLabel(resolver), "hostDNS.forwardKubeDNSToHost", kWhy);
    }
    if (V1Scalar({"machine", "features", "hostDNS", "forwardKubeDNSToHost"}) == "true") {
      Add("v1alpha1", "machine.features.hostDNS.forwardKubeDNSToHost", kWhy);
    }
  }

  void Sysctls() {
    struct Bad {
      const char* key;
      const char* bad_value;
      const char* why;
    };
    const Bad bad[] = {
        {"net.ipv4.ip_forward", "0", "forwarding is off; no pod traffic leaves its node"},
        {"net.ipv4.conf.all.rp_filter", "1",
         "strict reverse-path filtering drops packets the eBPF datapath redirects"},
    };
    YAML::Node sysctl_doc = Kind("SysctlConfig");
    for (const Bad& b : bad) {
      std::string value;
      if (ScalarAt(NodeAt(sysctl_doc, {"params"}), {b.key}, &value) && value == b.bad_value) {
        Add(DocLabel(sysctl_doc), absl::StrCat("params.", b.key), b.why);
      }
      if (ScalarAt(NodeAt(v1_, {"machine", "sysctls"}), {b.key}, &value) &&
          value == b.bad_value) {
        Add("v1alpha1", absl::StrCat("machine.sysctls.", b.key), b.why);
      }
    }
  }

  const std::vector<YAML::Node>& docs_;
  const Spec& spec_;
  YAML::Node v1_ = YAML::Node(YAML::NodeType::Undefined);
  bool multidoc_ = false;
  bool worker_ = false;
  std::vector<Finding> findings_;
};

}  // namespace

std::string FormatFinding(absl::string_view file, const Finding& f) {
  return absl::StrCat(file, ": ", f.document, ": ", f.field, ": ", f.message);
}

absl::StatusOr<std::vector<YAML::Node>> MergeFiles(const std::vector<NamedText>& files) {
  if (files.empty()) return absl::InvalidArgumentError("validate: no config file given");
  absl::StatusOr<std::vector<YAML::Node>> merged =
      LoadYamlDocuments(files[0].text, files[0].name);
  if (!merged.ok()) return merged.status();
  for (size_t i = 1; i < files.size(); ++i) {
    absl::StatusOr<std::vector<YAML::Node>> patch =
        LoadYamlDocuments(files[i].text, files[i].name);
    if (!patch.ok()) return patch.status();
    absl::StatusOr<std::vector<YAML::Node>> next = StrategicMerge(*merged, *patch, files[i].name);
    if (!next.ok()) return next.status();
    // Move, never copy-assign: YAML::Node::operator= writes through to the old node.
    merged = std::move(next);
  }
  return merged;
}

std::vector<Finding> CheckConfig(const std::vector<YAML::Node>& docs, const Spec& spec) {
  return Checker(docs, spec).Run();
}

absl::StatusOr<ValidateReport> Validate(const std::vector<NamedText>& files, const Spec& spec) {
  absl::StatusOr<std::vector<YAML::Node>> docs = MergeFiles(files);
  if (!docs.ok()) return docs.status();
  ValidateReport report;
  std::vector<Finding> findings = CheckConfig(*docs, spec);
  report.clean = findings.empty();
  for (const Finding& f : findings) {
    absl::StrAppend(&report.output, FormatFinding(files[0].name, f), "\n");
  }
  if (report.clean) {
    ConfigShape shape = DetectShape(*docs);
    absl::StrAppend(&report.output, files[0].name, ": OK (", LayoutName(shape.layout),
                    " layout, ", shape.role ? RoleName(*shape.role) : "unknown role", ", ",
                    files.size() - 1, files.size() == 2 ? " patch" : " patches", " applied)\n");
  }
  return report;
}

}  // namespace weft::generator
