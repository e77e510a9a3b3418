#include "agent/endpoints/manager.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/net/mac.h"
#include "nlohmann/json.hpp"

namespace weft::endpoints {
namespace {

using nlohmann::json;

constexpr char kStateFile[] = "endpoints.json";

bool Same(const EndpointRecord& r, const std::string& container_id, const std::string& ifname) {
  return r.owner.container_id == container_id && r.owner.ifname == ifname;
}

json ToJson(const EndpointRecord& r) {
  json addrs = json::array();
  for (const auto& a : r.addresses) addrs.push_back(a.ToString());
  return {{"containerID", r.owner.container_id}, {"ifname", r.owner.ifname},
          {"podNamespace", r.owner.pod_namespace}, {"podName", r.owner.pod_name},
          {"addresses", addrs}, {"hostIfname", r.host_ifname},
          {"hostIfindex", r.host_ifindex}, {"podMAC", net::MacToString(r.pod_mac)},
          {"hostMAC", net::MacToString(r.host_mac)}, {"netns", r.netns}};
}

absl::StatusOr<EndpointRecord> FromJson(const json& j) {
  EndpointRecord r;
  try {
    r.owner = {j.at("containerID").get<std::string>(), j.at("ifname").get<std::string>(),
               j.value("podNamespace", ""), j.value("podName", "")};
    for (const auto& a : j.at("addresses")) {
      auto ip = net::IpAddress::Parse(a.get<std::string>());
      if (!ip.ok()) return ip.status();
      r.addresses.push_back(*ip);
    }
    r.host_ifname = j.value("hostIfname", "");
    r.host_ifindex = j.value("hostIfindex", 0);
    r.netns = j.value("netns", "");
    if (!net::MacFromString(j.value("podMAC", ""), &r.pod_mac) ||
        !net::MacFromString(j.value("hostMAC", ""), &r.host_mac)) {
      return absl::DataLossError("bad MAC address");
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(e.what());
  }
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EndpointManager>> EndpointManager::Create(
    const std::string& state_dir, std::vector<net::IpPrefix> pod_cidrs,
    datapath::Datapath* datapath, std::vector<std::string>* problems) {
  std::string path = absl::StrCat(state_dir, "/", kStateFile);
  auto text = ReadFile(path);
  std::vector<EndpointRecord> records;
  absl::StatusOr<ipam::Allocator> allocator = absl::UnknownError("");
  if (absl::IsNotFound(text.status())) {
    allocator = ipam::Allocator::Create(pod_cidrs);
  } else if (!text.ok()) {
    return text.status();
  } else {
    json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("ipam") || !j.contains("endpoints")) {
      return absl::DataLossError(absl::StrCat(path, ": not a Weft endpoint state file"));
    }
    std::vector<ipam::Allocation> dropped;
    allocator = ipam::Allocator::LoadState(pod_cidrs, j["ipam"].dump(), &dropped);
    if (!allocator.ok()) return absl::DataLossError(absl::StrCat(path, ": ", allocator.status().message()));
    for (const auto& d : dropped) {
      problems->push_back(absl::StrCat("endpoint ", d.owner.pod_namespace, "/", d.owner.pod_name,
                                       ": address ", d.address.ToString(),
                                       " is outside this node's pod CIDRs now; released"));
    }
    // Addresses the allocator still holds, by endpoint (ID/interface).
    std::map<std::string, std::vector<net::IpAddress>> held;
    for (const auto& alloc : allocator->List()) {
      held[alloc.owner.container_id + "/" + alloc.owner.ifname].push_back(alloc.address);
    }
    for (const auto& e : j["endpoints"]) {
      auto r = FromJson(e);
      if (!r.ok()) {
        problems->push_back(absl::StrCat(path, ": skipped a malformed endpoint: ", r.status().message()));
        continue;
      }
      // Keep only addresses the allocator still holds for this endpoint.
      auto kept = held.find(r->owner.container_id + "/" + r->owner.ifname);
      if (kept == held.end()) continue;
      r->addresses = kept->second;
      records.push_back(*std::move(r));
    }
  }
  if (!allocator.ok()) return allocator.status();
  std::unique_ptr<EndpointManager> m(
      new EndpointManager(state_dir, std::move(pod_cidrs), *std::move(allocator), datapath));
  absl::MutexLock l(&m->mu_);
  m->records_ = std::move(records);
  return m;
}

absl::Status EndpointManager::PersistLocked() {
  json endpoints = json::array();
  for (const auto& r : records_) endpoints.push_back(ToJson(r));
  json state = {{"version", 1},
                {"ipam", json::parse(allocator_.SaveState())},
                {"endpoints", endpoints}};
  return WriteFileAtomically(absl::StrCat(state_dir_, "/", kStateFile), state.dump(1), 0600);
}

absl::StatusOr<std::vector<net::IpAddress>> EndpointManager::Allocate(const ipam::Owner& owner) {
  absl::MutexLock l(&mu_);
  for (const auto& r : records_) {
    if (Same(r, owner.container_id, owner.ifname)) return r.addresses;
  }
  EndpointRecord r;
  r.owner = owner;
  for (const auto& cidr : pod_cidrs_) {
    auto a = allocator_.Allocate(owner, cidr.family());
    if (!a.ok()) {
      allocator_.Release(owner.container_id, owner.ifname);  // nothing half-allocated
      return a.status();
    }
    r.addresses.push_back(a->address);
  }
  if (r.addresses.empty()) {
    return absl::FailedPreconditionError("this node has no pod CIDR yet (Node.spec.podCIDRs is empty)");
  }
  records_.push_back(r);
  if (auto s = PersistLocked(); !s.ok()) {
    records_.pop_back();
    allocator_.Release(owner.container_id, owner.ifname);
    return s;
  }
  return r.addresses;
}

absl::Status EndpointManager::ProgramLocked(EndpointRecord& r) {
  for (const auto& ip : r.addresses) {
    datapath::Endpoint ep{ip, r.host_ifindex, r.pod_mac, r.host_mac};
    if (auto s = datapath_->endpoints().Upsert(ep); !s.ok()) return s;
  }
  if (auto s = datapath_->AttachFromContainer(r.host_ifindex); !s.ok()) return s;
  r.programmed = true;
  return absl::OkStatus();
}

void EndpointManager::UnprogramLocked(const EndpointRecord& r) {
  for (const auto& ip : r.addresses) datapath_->endpoints().Delete(ip).IgnoreError();
}

absl::Status EndpointManager::Register(const std::string& container_id, const std::string& ifname,
                                       const std::string& host_ifname, int host_ifindex,
                                       const std::array<uint8_t, 6>& pod_mac,
                                       const std::array<uint8_t, 6>& host_mac,
                                       const std::string& netns) {
  absl::MutexLock l(&mu_);
  auto it = std::find_if(records_.begin(), records_.end(),
                         [&](const EndpointRecord& r) { return Same(r, container_id, ifname); });
  if (it == records_.end()) {
    return absl::NotFoundError(absl::StrCat("endpoint ", container_id, "/", ifname,
                                            " has no addresses: allocate first"));
  }
  it->host_ifname = host_ifname;
  it->host_ifindex = host_ifindex;
  it->pod_mac = pod_mac;
  it->host_mac = host_mac;
  it->netns = netns;
  if (auto s = ProgramLocked(*it); !s.ok()) {
    UnprogramLocked(*it);
    it->programmed = false;
    return s;
  }
  return PersistLocked();
}

absl::StatusOr<std::optional<EndpointRecord>> EndpointManager::Release(const std::string& container_id,
                                                                       const std::string& ifname) {
  absl::MutexLock l(&mu_);
  auto it = std::find_if(records_.begin(), records_.end(),
                         [&](const EndpointRecord& r) { return Same(r, container_id, ifname); });
  allocator_.Release(container_id, ifname);
  if (it == records_.end()) {
    if (auto s = PersistLocked(); !s.ok()) return s;
    return std::optional<EndpointRecord>();
  }
  EndpointRecord released = *it;
  UnprogramLocked(released);
  records_.erase(it);
  if (auto s = PersistLocked(); !s.ok()) return s;
  return std::optional<EndpointRecord>(released);
}

std::optional<EndpointRecord> EndpointManager::Get(const std::string& container_id,
                                                   const std::string& ifname) {
  absl::MutexLock l(&mu_);
  for (const auto& r : records_) {
    if (Same(r, container_id, ifname)) return r;
  }
  return std::nullopt;
}

std::vector<EndpointRecord> EndpointManager::List() {
  absl::MutexLock l(&mu_);
  return records_;
}

std::vector<std::string> EndpointManager::Reprogram() {
  absl::MutexLock l(&mu_);
  std::vector<std::string> problems;
  for (auto& r : records_) {
    if (r.host_ifindex == 0) continue;  // allocated, never registered
    if (auto s = ProgramLocked(r); !s.ok()) {
      problems.push_back(absl::StrCat("endpoint ", r.owner.pod_namespace, "/", r.owner.pod_name,
                                      ": ", s.message()));
    }
  }
  return problems;
}

}  // namespace weft::endpoints
