#include "agent/lab/endpointslices.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "agent/lab/objects.h"

namespace weft::lab {
namespace {

using nlohmann::json;

// Field access that never throws on objects of unexpected shape (they come
// from an API server, and from whoever else writes to it).
const json& Field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Text(const json& j, const char* key) {
  const json& f = Field(j, key);
  return f.is_string() ? f.get<std::string>() : "";
}

std::string Label(const json& object, const char* key) {
  return Text(Field(Field(object, "metadata"), "labels"), key);
}

bool Matches(const json& selector, const json& pod) {
  const json& labels = Field(Field(pod, "metadata"), "labels");
  for (auto it = selector.begin(); it != selector.end(); ++it) {
    if (!it.value().is_string() ||
        Text(labels, it.key().c_str()) != it.value().get<std::string>()) {
      return false;
    }
  }
  return true;
}

// status.podIP, else the first IPv4 of status.podIPs.
std::string PodIpv4(const json& pod) {
  const json& status = Field(pod, "status");
  auto v4 = [](const std::string& ip) { return !ip.empty() && ip.find(':') == std::string::npos; };
  if (std::string ip = Text(status, "podIP"); v4(ip)) return ip;
  const json& ips = Field(status, "podIPs");
  if (ips.is_array()) {
    for (const json& entry : ips) {
      if (std::string ip = Text(entry, "ip"); v4(ip)) return ip;
    }
  }
  return "";
}

bool PodReady(const json& pod) {
  const json& conditions = Field(Field(pod, "status"), "conditions");
  if (!conditions.is_array()) return false;
  for (const json& c : conditions) {
    if (Text(c, "type") == "Ready") return Text(c, "status") == "True";
  }
  return false;
}

std::string Protocol(const json& port) {
  std::string p = Text(port, "protocol");
  return p.empty() ? "TCP" : p;
}

// The pod's containerPort named `name` with `protocol`; 0 when it has none.
int NamedPort(const json& pod, const std::string& name, const std::string& protocol) {
  const json& containers = Field(Field(pod, "spec"), "containers");
  if (!containers.is_array()) return 0;
  for (const json& c : containers) {
    const json& ports = Field(c, "ports");
    if (!ports.is_array()) continue;
    for (const json& p : ports) {
      const json& number = Field(p, "containerPort");
      if (Text(p, "name") == name && Protocol(p) == protocol && number.is_number_integer()) {
        return number.get<int>();
      }
    }
  }
  return 0;
}

// The slice ports of `pod` for the Service's ports (see the header).
json ResolvePorts(const json& service_ports, const json& pod) {
  json out = json::array();
  for (const json& sp : service_ports) {
    const json& port = Field(sp, "port");
    if (!port.is_number_integer()) continue;
    const std::string protocol = Protocol(sp);
    const json& target = Field(sp, "targetPort");
    int number = 0;
    if (target.is_number_integer()) {
      number = target.get<int>();
    } else if (target.is_string()) {
      number = NamedPort(pod, target.get<std::string>(), protocol);
    } else {
      number = port.get<int>();
    }
    if (number <= 0 || number > 65535) continue;
    out.push_back({{"name", Text(sp, "name")}, {"port", number}, {"protocol", protocol}});
  }
  return out;
}

json Endpoint(const json& pod, const std::string& ip, bool publish_not_ready) {
  const json& meta = Field(pod, "metadata");
  const bool terminating = !Field(meta, "deletionTimestamp").is_null();
  const bool serving = publish_not_ready || PodReady(pod);
  json e = {
      {"addresses", {ip}},
      {"conditions",
       {{"ready", serving && !terminating}, {"serving", serving}, {"terminating", terminating}}}};
  if (std::string node = Text(Field(pod, "spec"), "nodeName"); !node.empty()) {
    e["nodeName"] = node;
  }
  json ref = {
      {"kind", "Pod"}, {"namespace", Text(meta, "namespace")}, {"name", Text(meta, "name")}};
  if (std::string uid = Text(meta, "uid"); !uid.empty()) ref["uid"] = uid;
  e["targetRef"] = ref;
  return e;
}

json Slice(const json& service, const std::string& name, const json& endpoints, const json& ports,
           const std::string& lab_prefix) {
  const json& meta = Field(service, "metadata");
  json metadata = {{"name", name},
                   {"namespace", Text(meta, "namespace")},
                   {"labels",
                    {{kServiceNameLabel, Text(meta, "name")},
                     {kManagedByLabel, kSliceManager},
                     {kLabLabel, lab_prefix}}}};
  // Deleted with its Service by a real cluster's garbage collector.
  if (std::string uid = Text(meta, "uid"); !uid.empty()) {
    metadata["ownerReferences"] = {{{"apiVersion", "v1"},
                                    {"kind", "Service"},
                                    {"name", Text(meta, "name")},
                                    {"uid", uid},
                                    {"controller", true},
                                    {"blockOwnerDeletion", true}}};
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", metadata},
          {"addressType", "IPv4"},
          {"endpoints", endpoints},
          {"ports", ports}};
}

bool Ours(const json& slice, const std::string& lab_prefix) {
  return Label(slice, kManagedByLabel) == kSliceManager && Label(slice, kLabLabel) == lab_prefix;
}

json ListOrEmpty(const json& j) { return j.is_array() ? j : json::array(); }

// The existing slice already says what `desired` says.
bool Same(const json& existing, const json& desired) {
  const json& labels = Field(Field(existing, "metadata"), "labels");
  for (auto& [key, value] : desired["metadata"]["labels"].items()) {
    if (Text(labels, key.c_str()) != value.get<std::string>()) return false;
  }
  return Field(Field(existing, "metadata"), "ownerReferences") ==
             Field(desired["metadata"], "ownerReferences") &&
         Field(existing, "addressType") == desired["addressType"] &&
         ListOrEmpty(Field(existing, "endpoints")) == desired["endpoints"] &&
         ListOrEmpty(Field(existing, "ports")) == desired["ports"];
}

}  // namespace

std::vector<json> DesiredSlices(const json& service, const std::vector<json>& pods,
                                const std::string& lab_prefix) {
  const json& spec = Field(service, "spec");
  const json& selector = Field(spec, "selector");
  const std::string name = Text(Field(service, "metadata"), "name");
  if (name.empty() || !selector.is_object() || selector.empty() ||
      Text(spec, "type") == "ExternalName") {
    return {};
  }
  const std::string ns = Text(Field(service, "metadata"), "namespace");
  const json service_ports = ListOrEmpty(Field(spec, "ports"));
  const json& publish = Field(spec, "publishNotReadyAddresses");
  const bool publish_not_ready = publish.is_boolean() && publish.get<bool>();

  // Endpoints grouped by their resolved ports (one slice per group), each
  // group's endpoints in pod name order.
  std::map<std::string, std::pair<json, std::vector<std::pair<std::string, json>>>> groups;
  for (const json& pod : pods) {
    const json& meta = Field(pod, "metadata");
    if (Text(meta, "namespace") != ns || !Matches(selector, pod)) continue;
    const std::string phase = Text(Field(pod, "status"), "phase");
    if (phase == "Succeeded" || phase == "Failed") continue;
    const std::string ip = PodIpv4(pod);
    if (ip.empty()) continue;
    json ports = ResolvePorts(service_ports, pod);
    auto& group = groups[ports.dump()];
    group.first = ports;
    group.second.emplace_back(Text(meta, "name"), Endpoint(pod, ip, publish_not_ready));
  }
  std::vector<json> slices;
  if (groups.empty()) {
    slices.push_back(
        Slice(service, absl::StrCat(name, "-lab-1"), json::array(), json::array(), lab_prefix));
    return slices;
  }
  for (auto& [key, group] : groups) {
    std::sort(group.second.begin(), group.second.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    json endpoints = json::array();
    for (auto& [pod, endpoint] : group.second) endpoints.push_back(std::move(endpoint));
    slices.push_back(Slice(service, absl::StrCat(name, "-lab-", slices.size() + 1), endpoints,
                           group.first, lab_prefix));
  }
  return slices;
}

SliceChanges PlanSlices(const std::vector<json>& services, const std::vector<json>& pods,
                        const std::vector<json>& slices, const std::string& lab_prefix) {
  std::map<std::string, const json*> existing;
  for (const json& s : slices) existing[Text(Field(s, "metadata"), "name")] = &s;
  SliceChanges changes;
  std::set<std::string> wanted;
  for (const json& service : services) {
    for (json& desired : DesiredSlices(service, pods, lab_prefix)) {
      const std::string name = desired["metadata"]["name"].get<std::string>();
      wanted.insert(name);
      auto it = existing.find(name);
      if (it == existing.end()) {
        changes.create.push_back(std::move(desired));
      } else if (!Ours(*it->second, lab_prefix)) {
        changes.problems.push_back(
            absl::StrCat("EndpointSlice ", Text(desired["metadata"], "namespace"), "/", name,
                         " exists and is not managed by ", kSliceManager, " for lab ", lab_prefix,
                         ": left alone (Service ", Text(Field(service, "metadata"), "name"),
                         " has no slice of the lab's)"));
      } else if (!Same(*it->second, desired)) {
        desired["metadata"]["resourceVersion"] =
            Text(Field(*it->second, "metadata"), "resourceVersion");
        changes.update.push_back(std::move(desired));
      }
    }
  }
  for (const auto& [name, slice] : existing) {
    if (Ours(*slice, lab_prefix) && wanted.count(name) == 0) changes.remove.push_back(name);
  }
  return changes;
}

}  // namespace weft::lab
