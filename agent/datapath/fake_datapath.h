// In-memory Datapath for unit tests of the code that drives it.
#ifndef WEFT_AGENT_DATAPATH_FAKE_DATAPATH_H_
#define WEFT_AGENT_DATAPATH_FAKE_DATAPATH_H_

#include <map>
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
    netdevs.erase(ifindex);
    return absl::OkStatus();
  }
  EndpointMap& endpoints() override { return map; }

  FakeEndpointMap map;
  std::set<int> from_container;
  std::map<int, NetdevOptions> netdevs;  // by ifindex
  std::vector<net::IpPrefix> non_masquerade_cidrs;
  std::vector<net::IpPrefix> strict_cidrs;
  uint64_t strict_drops = 0;
};

}  // namespace weft::datapath

#endif  // WEFT_AGENT_DATAPATH_FAKE_DATAPATH_H_
