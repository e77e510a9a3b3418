// In-memory Datapath for unit tests of the code that drives it.
#ifndef WEFT_AGENT_DATAPATH_FAKE_DATAPATH_H_
#define WEFT_AGENT_DATAPATH_FAKE_DATAPATH_H_

#include <map>
#include <optional>
#include <string>
#include <vector>
#include <set>

#include "agent/datapath/datapath.h"

namespace weft::datapath {

class FakeEndpointMap : public EndpointMap {
 public:
  absl::Status Upsert(const Endpoint& ep) override {
    if (fail_next) {
      fail_next = false;
      return absl::InternalError("fake: update endpoints map failed");
    }
    entries[ep.ip] = ep;
    return absl::OkStatus();
  }
  absl::Status Delete(const net::IpAddress& ip) override {
    entries.erase(ip);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<Endpoint>> List() override {
    std::vector<Endpoint> out;
    for (const auto& [ip, ep] : entries) out.push_back(ep);
    return out;
  }
  std::map<net::IpAddress, Endpoint> entries;
  bool fail_next = false;
};

class FakeServiceMap : public ServiceMap {
 public:
  absl::Status Replace(const std::vector<LbService>& services) override {
    if (fail_next) {
      fail_next = false;
      return absl::InternalError("fake: replace services failed");
    }
    entries.clear();
    for (const LbService& s : services) entries[s.key] = s;
    ++replaces;
    return absl::OkStatus();
  }
  absl::Status Upsert(const LbService& service) override {
    entries[service.key] = service;
    return absl::OkStatus();
  }
  absl::Status Delete(const LbFrontendKey& key) override {
    entries.erase(key);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<LbService>> List() override {
    std::vector<LbService> out;
    uint32_t id = 1;
    for (const auto& [key, s] : entries) {
      out.push_back(s);
      out.back().id = id++;
    }
    return out;
  }
  absl::Status SetSnatAddress(const net::IpAddress& ipv4) override {
    snat_address = ipv4;
    return absl::OkStatus();
  }
  absl::Status SetServiceRanges(const std::vector<net::IpPrefix>& ranges) override {
    service_ranges = ranges;
    return absl::OkStatus();
  }
  std::map<LbFrontendKey, LbService> entries;
  std::optional<net::IpAddress> snat_address;
  std::vector<net::IpPrefix> service_ranges;
  int replaces = 0;
  bool fail_next = false;
};

class FakeDatapath : public Datapath {
 public:
  absl::Status AttachFromContainer(int ifindex) override {
    from_container.insert(ifindex);
    return absl::OkStatus();
  }
  absl::Status AttachNetdev(int ifindex, const NetdevOptions& options) override {
    if (auto s = ValidateNetdevOptions(options); !s.ok()) return s;
    netdevs[ifindex] = options;
    return absl::OkStatus();
  }
  absl::Status AttachL3Ingress(int ifindex) override {
    l3_ingress.insert(ifindex);
    return absl::OkStatus();
  }
  absl::Status SetNonMasqueradeCidrs(const std::vector<net::IpPrefix>& cidrs) override {
    non_masquerade_cidrs = cidrs;
    return absl::OkStatus();
  }
  absl::Status SetStrictEncryptionCidrs(const std::vector<net::IpPrefix>& cidrs) override {
    strict_cidrs = cidrs;
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> StrictEncryptionDrops() override { return strict_drops; }
  absl::Status Detach(int ifindex) override {
    from_container.erase(ifindex);
    l3_ingress.erase(ifindex);
    netdevs.erase(ifindex);
    return absl::OkStatus();
  }
  EndpointMap& endpoints() override { return map; }
  ServiceMap& services() override { return service_map; }
  absl::Status AttachSocketLb(const std::string& cgroup_path) override {
    socket_lb_cgroup = cgroup_path;
    return absl::OkStatus();
  }
  absl::Status DetachSocketLb() override {
    socket_lb_cgroup.clear();
    return absl::OkStatus();
  }

  std::set<int> l3_ingress;
  FakeEndpointMap map;
  FakeServiceMap service_map;
  std::string socket_lb_cgroup;
  std::set<int> from_container;
  std::map<int, NetdevOptions> netdevs;  // by ifindex
  std::vector<net::IpPrefix> non_masquerade_cidrs;
  std::vector<net::IpPrefix> strict_cidrs;
  uint64_t strict_drops = 0;
};

}  // namespace weft::datapath

#endif  // WEFT_AGENT_DATAPATH_FAKE_DATAPATH_H_
