// The pods on this node as the agent knows them: their addresses (IPAM), their
// veths, and their place in the datapath. Every change is persisted before it is
// acknowledged, so a restart of the agent or the node loses nothing and never
// hands out an address twice. Thread-safe.
#ifndef WEFT_AGENT_ENDPOINTS_MANAGER_H_
#define WEFT_AGENT_ENDPOINTS_MANAGER_H_

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/datapath/datapath.h"
#include "agent/ipam/allocator.h"

namespace weft::endpoints {

struct EndpointRecord {
  ipam::Owner owner;  // container ID, interface, pod namespace and name
  std::vector<net::IpAddress> addresses;
  std::string host_ifname;  // empty until registered
  int host_ifindex = 0;
  std::array<uint8_t, 6> pod_mac{};
  std::array<uint8_t, 6> host_mac{};
  std::string netns;
  bool programmed = false;  // in the endpoints map, program attached
};

class EndpointManager {
 public:
  // Restores ipam.json and endpoints.json from `state_dir` (missing files: a
  // fresh node). `pod_cidrs` are this node's (Node.spec.podCIDRs). Records whose
  // addresses fell outside changed pod CIDRs are dropped and reported through
  // `problems`.
  static absl::StatusOr<std::unique_ptr<EndpointManager>> Create(
      const std::string& state_dir, std::vector<net::IpPrefix> pod_cidrs,
      datapath::Datapath* datapath, std::vector<std::string>* problems);

  // CNI ADD step 1. Idempotent: the same endpoint gets the same addresses.
  absl::StatusOr<std::vector<net::IpAddress>> Allocate(const ipam::Owner& owner);
  // CNI ADD step 2: writes the datapath and attaches the pod program.
  absl::Status Register(const std::string& container_id, const std::string& ifname,
                        const std::string& host_ifname, int host_ifindex,
                        const std::array<uint8_t, 6>& pod_mac,
                        const std::array<uint8_t, 6>& host_mac, const std::string& netns);
  // CNI DEL. Returns the released record (nullopt when unknown: DEL is idempotent).
  absl::StatusOr<std::optional<EndpointRecord>> Release(const std::string& container_id,
                                                        const std::string& ifname);
  std::optional<EndpointRecord> Get(const std::string& container_id, const std::string& ifname);
  std::vector<EndpointRecord> List();

  // Writes every registered endpoint into the datapath again (after a restart or
  // an upgrade of the programs). Returns one line per endpoint that failed.
  std::vector<std::string> Reprogram();

  const std::vector<net::IpPrefix>& pod_cidrs() const { return pod_cidrs_; }

 private:
  EndpointManager(std::string state_dir, std::vector<net::IpPrefix> pod_cidrs,
                  ipam::Allocator allocator, datapath::Datapath* datapath)
      : state_dir_(std::move(state_dir)),
        pod_cidrs_(std::move(pod_cidrs)),
        allocator_(std::move(allocator)),
        datapath_(datapath) {}
  absl::Status PersistLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ProgramLocked(EndpointRecord& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnprogramLocked(const EndpointRecord& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string state_dir_;
  const std::vector<net::IpPrefix> pod_cidrs_;
  absl::Mutex mu_;
  ipam::Allocator allocator_ ABSL_GUARDED_BY(mu_);
  std::vector<EndpointRecord> records_ ABSL_GUARDED_BY(mu_);
  datapath::Datapath* datapath_;
};

}  // namespace weft::endpoints

#endif  // WEFT_AGENT_ENDPOINTS_MANAGER_H_
