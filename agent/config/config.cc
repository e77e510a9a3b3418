#include "agent/config/config.h"

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace weft::agent {
namespace {

// Errors read "<file>:<line>: <field>: <problem>".
absl::Status FieldError(const std::string& source, const YAML::Node& node, const std::string& field,
                        const std::string& problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ":", node.Mark().line + 1, ": ", field, ": ", problem));
}

absl::Status GetString(const std::string& source, const YAML::Node& node, const std::string& field,
                       std::string* out) {
  if (!node.IsScalar()) return FieldError(source, node, field, "must be a string");
  *out = node.Scalar();
  return absl::OkStatus();
}

absl::Status GetBool(const std::string& source, const YAML::Node& node, const std::string& field,
                     bool* out) {
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, *out)) {
    return FieldError(source, node, field, "must be true or false");
  }
  return absl::OkStatus();
}

absl::Status GetInt(const std::string& source, const YAML::Node& node, const std::string& field,
                    int lo, int hi, int* out) {
  if (!node.IsScalar() || !YAML::convert<int>::decode(node, *out) || *out < lo || *out > hi) {
    return FieldError(source, node, field, absl::StrCat("must be an integer ", lo, "..", hi));
  }
  return absl::OkStatus();
}

absl::Status GetPath(const std::string& source, const YAML::Node& node, const std::string& field,
                     std::string* out) {
  if (auto s = GetString(source, node, field, out); !s.ok()) return s;
  if (!absl::StartsWith(*out, "/")) return FieldError(source, node, field, "must be an absolute path");
  return absl::OkStatus();
}

// "30s", "12h", "7d": a whole number of seconds, minutes, hours or days (0 is off).
absl::Status GetPeriod(const std::string& source, const YAML::Node& node, const std::string& field,
                       int64_t* seconds) {
  std::string v;
  if (auto s = GetString(source, node, field, &v); !s.ok()) return s;
  static const std::map<char, int64_t> kUnits = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
  auto bad = [&] {
    return FieldError(source, node, field,
                      absl::StrCat("\"", v, "\" is not a period like 0, 90s, 30m, 12h or 7d"));
  };
  if (v == "0") {
    *seconds = 0;
    return absl::OkStatus();
  }
  if (v.size() < 2 || v.size() > 8 || !kUnits.count(v.back())) return bad();
  int64_t n = 0;
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return bad();
    n = n * 10 + (v[i] - '0');
  }
  *seconds = n * kUnits.at(v.back());
  if (*seconds != 0 && *seconds < 60) {
    return FieldError(source, node, field, "must be 0 (off) or at least a minute");
  }
  return absl::OkStatus();
}

absl::Status ParseEncryption(const std::string& source, const YAML::Node& node,
                             EncryptionConfig* e) {
  if (!node.IsMap()) return FieldError(source, node, "encryption", "must be a map");
  using Handler = std::function<absl::Status(const YAML::Node&, const std::string&)>;
  auto one_of = [&](const YAML::Node& n, const std::string& field,
                    const std::map<std::string, int>& names, int* out) -> absl::Status {
    std::string v;
    if (auto s = GetString(source, n, field, &v); !s.ok()) return s;
    auto it = names.find(v);
    if (it == names.end()) {
      std::string all;
      for (const auto& kv : names) absl::StrAppend(&all, all.empty() ? "" : ", ", kv.first);
      return FieldError(source, n, field, absl::StrCat("\"", v, "\" is not one of ", all));
    }
    *out = it->second;
    return absl::OkStatus();
  };
  const std::map<std::string, Handler> fields = {
      {"type",
       [&](const YAML::Node& n, const std::string& f) -> absl::Status {
         int v = 0;
         if (auto s = one_of(n, f, {{"none", 0}, {"wireguard", 1}}, &v); !s.ok()) return s;
         e->type = v ? EncryptionType::kWireGuard : EncryptionType::kNone;
         return absl::OkStatus();
       }},
      {"backend",
       [&](const YAML::Node& n, const std::string& f) -> absl::Status {
         int v = 0;
         if (auto s = one_of(n, f, {{"auto", 0}, {"kernel", 1}, {"userspace", 2}}, &v); !s.ok()) {
           return s;
         }
         e->backend = static_cast<WireGuardBackend>(v);
         return absl::OkStatus();
       }},
      {"interface",
       [&](const YAML::Node& n, const std::string& f) -> absl::Status {
         if (auto s = GetString(source, n, f, &e->interface); !s.ok()) return s;
         if (e->interface.empty() || e->interface.size() > 15 ||
             e->interface.find_first_of("/ \t") != std::string::npos) {
           return FieldError(source, n, f, "is not an interface name (1-15 characters, no / or space)");
         }
         return absl::OkStatus();
       }},
      {"port", [&](const YAML::Node& n, const std::string& f) { return GetInt(source, n, f, 1, 65535, &e->port); }},
      {"strictMode", [&](const YAML::Node& n, const std::string& f) { return GetBool(source, n, f, &e->strict_mode); }},
      {"rotationPeriod",
       [&](const YAML::Node& n, const std::string& f) {
         return GetPeriod(source, n, f, &e->rotation_period_seconds);
       }},
      {"wireguardGo", [&](const YAML::Node& n, const std::string& f) { return GetPath(source, n, f, &e->wireguard_go); }},
  };
  for (const auto& kv : node) {
    std::string key = kv.first.as<std::string>();
    std::string field = "encryption." + key;
    auto it = fields.find(key);
    if (it == fields.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", kv.first.Mark().line + 1, ": ", field, ": unknown field"));
    }
    if (auto s = it->second(kv.second, field); !s.ok()) return s;
  }
  if (e->strict_mode && !e->enabled()) {
    return FieldError(source, node, "encryption.strictMode", "needs type: wireguard");
  }
  return absl::OkStatus();
}

absl::Status ParseKubeProxyReplacement(const std::string& source, const YAML::Node& node,
                                       KubeProxyReplacementConfig* k) {
  if (!node.IsMap()) return FieldError(source, node, "kubeProxyReplacement", "must be a map");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string field = "kubeProxyReplacement." + key;
    const YAML::Node& n = kv.second;
    if (key == "enabled") {
      if (auto s = GetBool(source, n, field, &k->enabled); !s.ok()) return s;
    } else if (key == "algorithm") {
      std::string v;
      if (auto s = GetString(source, n, field, &v); !s.ok()) return s;
      if (v == "random") {
        k->algorithm = datapath::LbAlgorithm::kRandom;
      } else if (v == "maglev") {
        k->algorithm = datapath::LbAlgorithm::kMaglev;
      } else {
        return FieldError(source, n, field,
                          absl::StrCat("\"", v, "\" is not one of maglev, random"));
      }
    } else if (key == "cgroupPath") {
      if (auto s = GetPath(source, n, field, &k->cgroup_path); !s.ok()) return s;
    } else if (key == "serviceCIDRs") {
      if (!n.IsSequence()) return FieldError(source, n, field, "must be a list of IPv4 CIDRs");
      k->service_cidrs.clear();
      for (size_t i = 0; i < n.size(); ++i) {
        const std::string item = absl::StrCat(field, "[", i, "]");
        std::string v;
        if (auto s = GetString(source, n[i], item, &v); !s.ok()) return s;
        auto p = net::IpPrefix::Parse(v);
        if (!p.ok()) return FieldError(source, n[i], item, std::string(p.status().message()));
        if (p->family() != net::Family::kV4) {
          return FieldError(source, n[i], item, "only IPv4 ranges (the Service datapath is IPv4)");
        }
        k->service_cidrs.push_back(*p);
      }
      if (k->service_cidrs.size() > 16) {
        return FieldError(source, n, field, "at most 16 ranges");
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", kv.first.Mark().line + 1, ": ", field, ": unknown field"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  AgentConfig c;
  if (root.IsNull()) return absl::InvalidArgumentError(absl::StrCat(source, ": empty config"));
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":1: the config must be a YAML map"));
  }
  using Handler = std::function<absl::Status(const YAML::Node&)>;
  const std::map<std::string, Handler> fields = {
      {"nodeName", [&](const YAML::Node& n) { return GetString(source, n, "nodeName", &c.node_name); }},
      {"kubeconfig", [&](const YAML::Node& n) { return GetPath(source, n, "kubeconfig", &c.kubeconfig); }},
      {"routing",
       [&](const YAML::Node& n) -> absl::Status {
         std::string v;
         if (auto s = GetString(source, n, "routing", &v); !s.ok()) return s;
         if (v == "native") {
           c.routing = RoutingMode::kNative;
         } else if (v == "tunnel") {
           c.routing = RoutingMode::kTunnel;
         } else {
           return FieldError(source, n, "routing", absl::StrCat("\"", v, "\" is not native or tunnel"));
         }
         return absl::OkStatus();
       }},
      {"directRoutes", [&](const YAML::Node& n) { return GetBool(source, n, "directRoutes", &c.direct_routes); }},
      {"devices",
       [&](const YAML::Node& n) -> absl::Status {
         if (!n.IsSequence()) return FieldError(source, n, "devices", "must be a list of interface names");
         for (size_t i = 0; i < n.size(); ++i) {
           std::string d;
           std::string field = absl::StrCat("devices[", i, "]");
           if (auto s = GetString(source, n[i], field, &d); !s.ok()) return s;
           if (d.empty() || d.size() > 15) return FieldError(source, n[i], field, "is not an interface name");
           c.devices.push_back(d);
         }
         return absl::OkStatus();
       }},
      {"podCIDRSource",
       [&](const YAML::Node& n) -> absl::Status {
         if (auto s = GetString(source, n, "podCIDRSource", &c.pod_cidr_source); !s.ok()) return s;
         if (c.pod_cidr_source != "node") {
           return FieldError(source, n, "podCIDRSource",
                             "only \"node\" (Node.spec.podCIDRs) is supported");
         }
         return absl::OkStatus();
       }},
      {"nativeRoutingCIDR",
       [&](const YAML::Node& n) -> absl::Status {
         std::string v;
         if (auto s = GetString(source, n, "nativeRoutingCIDR", &v); !s.ok()) return s;
         auto p = net::IpPrefix::Parse(v);
         if (!p.ok()) return FieldError(source, n, "nativeRoutingCIDR", std::string(p.status().message()));
         c.native_routing_cidr = *p;
         return absl::OkStatus();
       }},
      {"masquerade", [&](const YAML::Node& n) { return GetBool(source, n, "masquerade", &c.masquerade); }},
      {"mtu", [&](const YAML::Node& n) { return GetInt(source, n, "mtu", 0, 65535, &c.mtu); }},
      {"tunnelPort", [&](const YAML::Node& n) { return GetInt(source, n, "tunnelPort", 1, 65535, &c.tunnel_port); }},
      {"stateDir", [&](const YAML::Node& n) { return GetPath(source, n, "stateDir", &c.state_dir); }},
      {"runDir", [&](const YAML::Node& n) { return GetPath(source, n, "runDir", &c.run_dir); }},
      {"bpffsDir", [&](const YAML::Node& n) { return GetPath(source, n, "bpffsDir", &c.bpffs_dir); }},
      {"cniBinDir", [&](const YAML::Node& n) { return GetPath(source, n, "cniBinDir", &c.cni_bin_dir); }},
      {"cniConfDir", [&](const YAML::Node& n) { return GetPath(source, n, "cniConfDir", &c.cni_conf_dir); }},
      {"cniPlugin", [&](const YAML::Node& n) { return GetPath(source, n, "cniPlugin", &c.cni_plugin); }},
      {"encryption", [&](const YAML::Node& n) { return ParseEncryption(source, n, &c.encryption); }},
      {"kubeProxyReplacement",
       [&](const YAML::Node& n) {
         return ParseKubeProxyReplacement(source, n, &c.kube_proxy_replacement);
       }},
  };
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    auto it = fields.find(key);
    if (it == fields.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", kv.first.Mark().line + 1, ": ", key, ": unknown field"));
    }
    if (auto s = it->second(kv.second); !s.ok()) return s;
  }
  if (c.node_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": nodeName: required"));
  }
  if (c.mtu != 0 && c.mtu < 1280) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": mtu: ", c.mtu, " is below 1280 (0 picks it from the device)"));
  }
  return c;
}

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseAgentConfig(*text, path);
}

}  // namespace weft::agent
