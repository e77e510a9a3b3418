// Pod address allocation from this node's pod CIDR(s) (Node.spec.podCIDRs, IPAM
// mode "kubernetes"). Pure: the agent owns one Allocator, persists it with
// SaveState() after every change and restores it with LoadState() at start, so a
// restart of the agent or the node never hands out an address twice.
#ifndef WEFT_AGENT_IPAM_ALLOCATOR_H_
#define WEFT_AGENT_IPAM_ALLOCATOR_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/ip.h"

namespace weft::ipam {

// Who holds an address. The CNI spec keys plugin state by (network, container
// ID, interface name); Weft has one network.
struct Owner {
  std::string container_id;
  std::string ifname;
  std::string pod_namespace;
  std::string pod_name;
};

struct Allocation {
  net::IpAddress address;
  Owner owner;
};

class Allocator {
 public:
  // `pools` are this node's pod CIDRs (at most one per family). The network
  // address and, for IPv4, the broadcast address are never handed out.
  static absl::StatusOr<Allocator> Create(std::vector<net::IpPrefix> pools);

  // Returns the owner's existing address of that family, or a new one.
  // ResourceExhausted when the pool is full.
  absl::StatusOr<Allocation> Allocate(const Owner& owner, net::Family family);
  // Releases every address of (container_id, ifname); idempotent.
  std::vector<Allocation> Release(const std::string& container_id, const std::string& ifname);

  std::vector<Allocation> List() const;
  const std::vector<net::IpPrefix>& pools() const { return pools_; }
  size_t in_use() const { return by_address_.size(); }
  // Addresses that can be handed out in total for `family` (0 without a pool).
  uint64_t capacity(net::Family family) const;

  // JSON state. LoadState drops (and reports in `dropped`) allocations that fall
  // outside the current pools, e.g. after the node's pod CIDR changed.
  std::string SaveState() const;
  static absl::StatusOr<Allocator> LoadState(std::vector<net::IpPrefix> pools,
                                             const std::string& json,
                                             std::vector<Allocation>* dropped);

 private:
  explicit Allocator(std::vector<net::IpPrefix> pools) : pools_(std::move(pools)) {}
  const net::IpPrefix* PoolFor(net::Family family) const;
  bool Usable(const net::IpPrefix& pool, absl::uint128 offset) const;

  std::vector<net::IpPrefix> pools_;
  std::map<net::IpAddress, Owner> by_address_;
  // Next offset to try per family: allocation walks forward so a just-released
  // address is not reused at once (conntrack and ARP entries may still point to it).
  std::map<net::Family, absl::uint128> cursor_;
};

}  // namespace weft::ipam

#endif  // WEFT_AGENT_IPAM_ALLOCATOR_H_
