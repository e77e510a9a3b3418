// Transparent encryption on one node: its key pair, its WireGuard device and
// the device's peers, kept in line with the cluster.
//
//   Node annotations --PlanPeers--> peers --Device::Apply--> weft_wg0
//   key file (0600) --------------> private key; public key --> own Node annotation
//
// The key pair is made once and kept in the agent's state folder, so a restart
// reuses it (and the running device keeps its sessions). Rotation replaces it,
// applies it and republishes the public key; the other nodes' agents see the
// annotation change and update their peer entry in place.
//
// Thread-safe: the reconcile thread calls Reconcile, API threads Rotate and
// FillStatus.
#ifndef WEFT_AGENT_ENCRYPTION_MANAGER_H_
#define WEFT_AGENT_ENCRYPTION_MANAGER_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/api/agent.pb.h"
#include "agent/config/config.h"
#include "agent/encryption/peers.h"
#include "agent/routing/planner.h"
#include "agent/wireguard/device.h"

namespace weft::encryption {

// WireGuard's own overhead on a packet: outer IPv6 (40) + UDP (8) + WireGuard
// header (16) + authentication tag (16). Pods get the device MTU minus this,
// so they never send what the tunnel would have to fragment.
inline constexpr int kWireGuardOverhead = 80;

struct ManagerOptions {
  agent::EncryptionConfig config;
  std::string node_name;
  std::string key_path;  // the private key file (created 0600)
  int mtu = 1420;        // of the WireGuard device
  // Opens the device again when it stopped answering (wireguard-go killed, the
  // link deleted); unset: problems are reported until the agent restarts.
  std::function<absl::StatusOr<std::unique_ptr<wireguard::Device>>()> reopen;
};

// Puts this node's public key (base64) on its Node object.
using PublishKeyFn = std::function<absl::Status(const std::string& public_key)>;

class Manager {
 public:
  // Loads (or creates) the key pair. `device` is open and up.
  static absl::StatusOr<std::unique_ptr<Manager>> Create(ManagerOptions options,
                                                         std::unique_ptr<wireguard::Device> device,
                                                         PublishKeyFn publish);

  struct Pass {
    PeerPlan plan;
    std::vector<std::string> problems;  // bad input and failures, one line each
  };
  // One pass: rotates the key when the configured period is over, publishes
  // the public key when the Node does not carry it, and makes the device's
  // peers match the cluster. The plan tells the routes which nodes are peers.
  Pass Reconcile(const std::vector<routing::NodeInfo>& nodes,
                 const std::map<std::string, std::string>& keys);

  // A new key pair, stored, applied with the current peers, and published.
  // Returns the new public key (base64).
  absl::StatusOr<std::string> Rotate();

  void FillStatus(weft::agent::v1::EncryptionStatus* status, uint64_t strict_drops);
  // "WireGuard (userspace, strict)" for `weft status`.
  std::string Summary() const;
  const std::string& device_name() const { return device_name_; }

 private:
  Manager(ManagerOptions options, std::unique_ptr<wireguard::Device> device, PublishKeyFn publish,
          wireguard::Key private_key, absl::Time key_created);
  absl::Status ApplyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes the new key too; *published says whether that worked.
  absl::Status RotateLocked(bool* published) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ManagerOptions options_;
  const std::string device_name_;
  const std::string backend_;
  const PublishKeyFn publish_;

  mutable absl::Mutex mu_;
  std::unique_ptr<wireguard::Device> device_ ABSL_GUARDED_BY(mu_);
  wireguard::Key private_key_ ABSL_GUARDED_BY(mu_);  // secret
  wireguard::Key public_key_ ABSL_GUARDED_BY(mu_);
  absl::Time key_created_ ABSL_GUARDED_BY(mu_);
  PeerPlan plan_ ABSL_GUARDED_BY(mu_);  // of the last pass
  // The last invalid key annotation of each node (bounded by the node count),
  // and how many distinct ones were seen.
  std::map<std::string, std::string> rejected_ ABSL_GUARDED_BY(mu_);
  int64_t rejected_total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace weft::encryption

#endif  // WEFT_AGENT_ENCRYPTION_MANAGER_H_
