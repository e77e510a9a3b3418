// weft-agent: the node daemon. It wires the pure cores to their kernel edges:
//
//   API server (KubePrism) --informers--> cluster view --planner--> routes (netlink)
//                                                    \--> non-masquerade CIDRs (BPF)
//   weft-cni --local gRPC--> endpoint manager (IPAM, state files) --> BPF maps
//   API server --Service/EndpointSlice informers--> services::Controller --> LB maps
//
// Start-up order: kubeconfig, Node informer, wait for this node's pod CIDRs,
// load the datapath reusing pinned maps (a restart changes no forwarding
// state), reprogram known endpoints, attach the native devices, serve the local
// API, install the CNI plugin, then reconcile routes and leaked addresses on
// every Node/Pod change and periodically. Cluster input never stops the agent:
// a bad field is reported in `weft status` and the last good state stays.
#ifndef WEFT_AGENT_DAEMON_AGENT_H_
#define WEFT_AGENT_DAEMON_AGENT_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/api/server.h"
#include "agent/config/config.h"
#include "agent/daemon/cluster.h"
#include "agent/daemon/leak_tracker.h"
#include "agent/datapath/datapath.h"
#include "agent/encryption/manager.h"
#include "agent/endpoints/manager.h"
#include "agent/netlink/netlink.h"
#include "agent/services/controller.h"
#include "kubeprism/informer.h"
#include "kubeprism/objects.h"

namespace weft::daemon {

struct AgentOptions {
  // How often routes and endpoints are reconciled without a change event.
  absl::Duration resync = absl::Seconds(30);
  // How long a pod must be missing from the API before its addresses are freed.
  absl::Duration leak_grace = absl::Seconds(10);
  std::string version = "dev";
};

// A native device the datapath is attached to.
struct NativeDevice {
  std::string name;
  int index = 0;
  int mtu = 0;
  std::optional<net::IpAddress> ipv4;  // the masquerade address
};

class Agent {
 public:
  Agent(agent::AgentConfig config, AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs until `stop` is notified. An error means start-up failed (the message
  // names the cause); once running, problems are reported, not fatal.
  absl::Status Run(absl::Notification* stop);

 private:
  absl::StatusOr<routing::NodeInfo> WaitForLocalNode(absl::Notification* stop);
  absl::Status StartDatapath(const routing::NodeInfo& self);
  absl::Status StartEncryption(int device_mtu);
  absl::Status StartServices(const routing::NodeInfo& self);
  absl::Status StartApi();
  void ReconcileLoop();
  void ReconcileOnce();
  std::vector<std::string> SyncRoutes(const ClusterView& view,
                                      const encryption::PeerPlan* peers);
  std::vector<std::string> SyncEncryption(const ClusterView& view, encryption::PeerPlan* peers);
  std::vector<std::string> ReclaimLeaks();
  void FillStatus(weft::agent::v1::AgentStatus* status);
  void Wake();
  ClusterView CurrentView() const;

  const agent::AgentConfig config_;
  const AgentOptions options_;
  const absl::Time started_ = absl::Now();

  std::shared_ptr<kubeprism::Transport> transport_;
  std::unique_ptr<kubeprism::Informer<kubeprism::Node>> nodes_;
  std::unique_ptr<kubeprism::Informer<kubeprism::Pod>> pods_;
  std::unique_ptr<netlink::Netlink> nl_;  // reconcile thread (and start-up) only
  std::unique_ptr<datapath::Datapath> datapath_;
  std::unique_ptr<endpoints::EndpointManager> endpoints_;
  std::unique_ptr<encryption::Manager> encryption_;  // when encryption is on
  std::unique_ptr<services::Controller> services_;    // kube-proxy replacement, when on
  std::optional<net::IpAddress> router_address_;     // on the WireGuard device
  std::unique_ptr<api::AgentService> api_service_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<NativeDevice> devices_;
  int tunnel_index_ = 0;  // weft_vxlan as last attached (tunnel mode)
  int wireguard_index_ = 0;  // the WireGuard device as last attached (encryption)
  LeakTracker leaks_;  // reconcile thread only
  std::thread reconciler_;

  absl::Mutex mu_;
  bool dirty_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);  // of the last pass
  std::vector<std::string> start_problems_ ABSL_GUARDED_BY(mu_);
  int pod_mtu_ = 1500;
};

// The devices named in the config, or when none are, the device that carries
// one of `internal_ips` (the node's InternalIP).
absl::StatusOr<std::vector<NativeDevice>> ResolveDevices(
    netlink::Netlink& nl, const std::vector<std::string>& names,
    const std::vector<net::IpAddress>& internal_ips);

}  // namespace weft::daemon

#endif  // WEFT_AGENT_DAEMON_AGENT_H_
