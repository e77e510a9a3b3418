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
