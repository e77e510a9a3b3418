#include "agent/cni/protocol.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace weft::cni {
namespace {

using nlohmann::json;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Spec: starts alphanumeric, then alphanumerics, '_', '.', '-'.
bool ValidContainerId(const std::string& id) {
  if (id.empty() || !IsAlnum(id[0])) return false;
  for (char c : id) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// Spec: Linux interface name rules.
bool ValidIfName(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n') return false;
  }
  return true;
}

// Results before 1.0.0 carry the IP version ("4"/"6") on each address.
bool ResultHasIpVersion(absl::string_view v) { return v == "0.3.0" || v == "0.3.1" || v == "0.4.0"; }

absl::Status Fail(Error* error, int code, std::string msg, std::string details) {
  *error = Error{code, msg, details};
  return absl::InvalidArgumentError(msg);
}

}  // namespace

const std::vector<std::string>& SupportedVersions() {
  static const auto* v = new std::vector<std::string>{"0.3.0", "0.3.1", "0.4.0", "1.0.0"};
  return *v;
}

std::string ErrorJson(const Error& e, absl::string_view cni_version) {
  json j = {{"cniVersion", std::string(cni_version.empty() ? kSpecVersion : cni_version)},
            {"code", e.code},
            {"msg", e.msg}};
  if (!e.details.empty()) j["details"] = e.details;
  return j.dump();
}

std::optional<std::string> ProcessEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

absl::StatusOr<Invocation> ParseInvocation(GetEnv getenv, Error* error) {
  Invocation inv;
  auto command = getenv("CNI_COMMAND");
  if (!command) {
    return Fail(error, kInvalidEnvironment, "CNI_COMMAND is not set",
                "weft-cni is a CNI plugin: it is run by the container runtime with "
                "CNI_COMMAND=ADD|DEL|CHECK|VERSION and the network configuration on stdin");
  }
  if (*command == "ADD") {
    inv.command = Command::kAdd;
  } else if (*command == "DEL") {
    inv.command = Command::kDel;
  } else if (*command == "CHECK") {
    inv.command = Command::kCheck;
  } else if (*command == "VERSION") {
    inv.command = Command::kVersion;
    return inv;
  } else {
    return Fail(error, kInvalidEnvironment, absl::StrCat("CNI_COMMAND \"", *command, "\" is not supported"),
                "supported commands: ADD, DEL, CHECK, VERSION");
  }

  inv.container_id = getenv("CNI_CONTAINERID").value_or("");
  if (!ValidContainerId(inv.container_id)) {
    return Fail(error, kInvalidEnvironment, "CNI_CONTAINERID is missing or invalid",
                "it must start with a letter or digit and contain only letters, digits, "
                "'_', '.' and '-'");
  }
  inv.ifname = getenv("CNI_IFNAME").value_or("");
  if (!ValidIfName(inv.ifname)) {
    return Fail(error, kInvalidEnvironment, "CNI_IFNAME is missing or invalid",
                "it must be 1-15 characters without '/', ':' or whitespace");
  }
  // DEL may come without a namespace (the pod sandbox is already gone).
  inv.netns = getenv("CNI_NETNS").value_or("");
  if (inv.netns.empty() && inv.command != Command::kDel) {
    return Fail(error, kInvalidEnvironment, "CNI_NETNS is not set",
                "ADD and CHECK need the path of the pod's network namespace");
  }
  inv.path = getenv("CNI_PATH").value_or("");
  for (absl::string_view kv : absl::StrSplit(getenv("CNI_ARGS").value_or(""), ';', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.first.empty()) {
      return Fail(error, kInvalidEnvironment, "CNI_ARGS is malformed",
                  "expected KEY=VALUE pairs separated by ';'");
    }
    inv.args[p.first] = p.second;
  }
  return inv;
}

std::optional<NetConf> ParseNetConf(absl::string_view stdin_json, Error* error) {
  json j = json::parse(stdin_json.begin(), stdin_json.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = {kDecodeFailure, "network configuration on stdin is not a JSON object",
              "the runtime passes the plugin's entry of the conflist in /etc/cni/net.d"};
    return std::nullopt;
  }
  NetConf c;
  auto str = [&](const char* key, std::string* out, bool required) -> bool {
    auto it = j.find(key);
    if (it == j.end()) {
      if (!required) return true;
      *error = {kInvalidNetworkConfig, absl::StrCat("network configuration has no \"", key, "\""), ""};
      return false;
    }
    if (!it->is_string()) {
      *error = {kInvalidNetworkConfig, absl::StrCat("network configuration field \"", key, "\" must be a string"), ""};
      return false;
    }
    *out = it->get<std::string>();
    return true;
  };
  if (!str("cniVersion", &c.cni_version, true) || !str("name", &c.name, true) ||
      !str("type", &c.type, true) || !str("agentSocket", &c.agent_socket, false) ||
      !str("logFile", &c.log_file, false)) {
    return std::nullopt;
  }
  const auto& versions = SupportedVersions();
  if (std::find(versions.begin(), versions.end(), c.cni_version) == versions.end()) {
    *error = {kIncompatibleVersion, absl::StrCat("CNI version ", c.cni_version, " is not supported"),
              "weft-cni supports 0.3.0, 0.3.1, 0.4.0 and 1.0.0"};
    return std::nullopt;
  }
  if (auto it = j.find("mtu"); it != j.end()) {
    if (!it->is_number_integer() || it->get<int>() < 576 || it->get<int>() > 65535) {
      *error = {kInvalidNetworkConfig, "network configuration field \"mtu\" must be an integer 576..65535", ""};
      return std::nullopt;
    }
    c.mtu = it->get<int>();
  }
  if (auto it = j.find("prevResult"); it != j.end()) c.prev_result = *it;
  return c;
}

std::string ResultJson(const Result& r, absl::string_view cni_version) {
  json j;
  j["cniVersion"] = std::string(cni_version);
  json ifaces = json::array();
  for (const auto& i : r.interfaces) {
    json o = {{"name", i.name}};
    if (!i.mac.empty()) o["mac"] = i.mac;
    if (!i.sandbox.empty()) o["sandbox"] = i.sandbox;
    ifaces.push_back(o);
  }
  j["interfaces"] = ifaces;
  json ips = json::array();
  for (const auto& ip : r.ips) {
    json o = {{"address", absl::StrCat(ip.address.ToString(), "/", ip.prefix_length)},
              {"gateway", ip.gateway.ToString()}};
    if (ip.interface >= 0) o["interface"] = ip.interface;
    if (ResultHasIpVersion(cni_version)) {
      o["version"] = ip.address.is_v4() ? "4" : "6";
    }
    ips.push_back(o);
  }
  j["ips"] = ips;
  json routes = json::array();
  for (const auto& rt : r.routes) {
    json o = {{"dst", rt.dst.ToString()}};
    if (rt.gw) o["gw"] = rt.gw->ToString();
    routes.push_back(o);
  }
  j["routes"] = routes;
  j["dns"] = json::object();
  return j.dump();
}

std::string VersionJson() {
  return json{{"cniVersion", kSpecVersion}, {"supportedVersions", SupportedVersions()}}.dump();
}

absl::StatusOr<Result> ParseResult(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("prevResult is not an object");
  Result r;
  try {
    for (const auto& i : j.value("interfaces", json::array())) {
      r.interfaces.push_back({i.value("name", ""), i.value("mac", ""), i.value("sandbox", "")});
    }
    for (const auto& ip : j.value("ips", json::array())) {
      // "address" is an interface address: host bits may be set ("10.1.1.5/24").
      std::string text = ip.at("address").get<std::string>();
      auto slash = text.find('/');
      IpConfig c;
      auto addr = net::IpAddress::Parse(text.substr(0, slash));
      if (!addr.ok() || slash == std::string::npos ||
          !absl::SimpleAtoi(text.substr(slash + 1), &c.prefix_length) ||
          c.prefix_length < 0 || c.prefix_length > addr->bits()) {
        return absl::InvalidArgumentError(absl::StrCat("prevResult: invalid address \"", text, "\""));
      }
      c.address = *addr;
      if (ip.contains("gateway")) {
        auto gw = net::IpAddress::Parse(ip["gateway"].get<std::string>());
        if (!gw.ok()) return gw.status();
        c.gateway = *gw;
      }
      c.interface = ip.value("interface", -1);
      r.ips.push_back(c);
    }
    for (const auto& rt : j.value("routes", json::array())) {
      auto dst = net::IpPrefix::Parse(rt.at("dst").get<std::string>());
      if (!dst.ok()) return dst.status();
      Route route{*dst, std::nullopt};
      if (rt.contains("gw")) {
        auto gw = net::IpAddress::Parse(rt["gw"].get<std::string>());
        if (!gw.ok()) return gw.status();
        route.gw = *gw;
      }
      r.routes.push_back(route);
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("prevResult is malformed: ", e.what()));
  }
  return r;
}

}  // namespace weft::cni
