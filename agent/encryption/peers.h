// Which WireGuard peers and routes this node needs: one peer per other node
// that has published a valid public key, reached at its InternalIP on the
// encryption port, allowed to send from (and receive for) its pod CIDRs. Pure:
// cluster state in, desired peers out; the manager applies them to the device.
//
// Bad input never breaks the other peers: a node whose annotation is not a
// WireGuard key, that claims this node's key or another node's, or whose pod
// CIDRs overlap someone else's is skipped and reported.
#ifndef WEFT_AGENT_ENCRYPTION_PEERS_H_
#define WEFT_AGENT_ENCRYPTION_PEERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/routing/planner.h"
#include "agent/wireguard/device.h"
#include "agent/wireguard/keys.h"
#include "common/net/ip.h"

namespace weft::encryption {

struct Peer {
  std::string node;
  net::IpAddress internal_ip;  // the endpoint's address (IPv4 InternalIP)
  wireguard::PeerConfig config;
};

struct PeerPlan {
  std::vector<Peer> peers;  // by node name
  // Nodes without a key annotation yet (their agent has not started).
  std::vector<std::string> pending;
  // One line per node skipped because of bad input.
  std::vector<std::string> problems;
  // "node\tvalue" of each annotation that is not a valid key, for counting.
  std::vector<std::string> rejected;
};

// `keys` maps node name -> the raw annotation value (ClusterView::wireguard_keys).
PeerPlan PlanPeers(const std::string& local_node, const wireguard::Key& local_public_key,
                   const std::vector<routing::NodeInfo>& nodes,
                   const std::map<std::string, std::string>& keys, uint16_t port);

// Every peer's IPv4 pod CIDRs through the WireGuard device `device`, with the
// peer's InternalIP as (onlink) gateway. Sorted like the other route plans.
std::vector<routing::Route> PeerRoutes(const PeerPlan& plan, const std::string& device);

// `nodes` without the peers: what the plain route planners still handle.
std::vector<routing::NodeInfo> WithoutPeers(const std::vector<routing::NodeInfo>& nodes,
                                            const PeerPlan& plan);

// Every IPv4 pod CIDR of the cluster (and `cluster_cidr`, the native-routing
// CIDR, when set): the destinations strict mode keeps encrypted.
std::vector<net::IpPrefix> StrictCidrs(const std::vector<routing::NodeInfo>& nodes,
                                       const std::optional<net::IpPrefix>& cluster_cidr);

}  // namespace weft::encryption

#endif  // WEFT_AGENT_ENCRYPTION_PEERS_H_
