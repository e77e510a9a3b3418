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

#include <utility>

#include "agent/routing/planner.h"
#include "agent/wireguard/device.h"
#include "agent/wireguard/keys.h"
#include "common/net/ip.h"

namespace weft::encryption {

// The annotation on which each node publishes its WireGuard public key
// (base64, as `wg` prints it).
inline constexpr char kWireGuardKeyAnnotation[] = "weft.dev/wireguard-public-key";

// Every peer gets a persistent keepalive. Besides keeping NAT and conntrack
// entries alive, it makes a device send a keepalive — and so a handshake — as
// soon as a peer is added: after a node rotates its key, each other node
// handshakes with the new key the moment it learns it, instead of waiting for
// the rotating node's next retry (5 s, plus TCP's backoff).
inline constexpr int kPersistentKeepaliveSeconds = 25;

struct Peer {
  std::string node;
  wireguard::PeerConfig config;  // endpoint: the node's IPv4 InternalIP
};

struct PeerPlan {
  std::vector<Peer> peers;  // by node name
  // Nodes without a key annotation yet (their agent has not started).
  std::vector<std::string> pending;
  // One line per node skipped because of bad input.
  std::vector<std::string> problems;
  // (node, annotation value) of each annotation that is not a valid key.
  std::vector<std::pair<std::string, std::string>> rejected;
};

// `keys` maps node name -> the raw annotation value (ClusterView::wireguard_keys).
PeerPlan PlanPeers(const std::string& local_node, const wireguard::Key& local_public_key,
                   const std::vector<routing::NodeInfo>& nodes,
                   const std::map<std::string, std::string>& keys, uint16_t port);

// Every peer's IPv4 pod CIDRs through the WireGuard device `device`, with the
// peer's InternalIP as (onlink) gateway and `src` as the source of this node's
// own packets: the peer accepts only sources inside our pod CIDRs, so host
// traffic to remote pods leaves with RouterAddress(), not the node address.
// Sorted like the other route plans.
std::vector<routing::Route> PeerRoutes(const PeerPlan& plan, const std::string& device,
                                       const std::optional<net::IpAddress>& src);

// The address this node's own traffic to remote pods carries through the
// tunnel: the first address of its first IPv4 pod CIDR (as Flannel's and the
// VXLAN mode's device address; IPAM never hands it out). It sits on the
// WireGuard device as a /32.
std::optional<net::IpAddress> RouterAddress(const std::vector<net::IpPrefix>& own_pod_cidrs);

// `nodes` without the peers: what the plain route planners still handle.
std::vector<routing::NodeInfo> WithoutPeers(const std::vector<routing::NodeInfo>& nodes,
                                            const PeerPlan& plan);

// Every IPv4 pod CIDR of the cluster (and `cluster_cidr`, the native-routing
// CIDR, when set): the destinations strict mode keeps encrypted.
std::vector<net::IpPrefix> StrictCidrs(const std::vector<routing::NodeInfo>& nodes,
                                       const std::optional<net::IpPrefix>& cluster_cidr);

}  // namespace weft::encryption

#endif  // WEFT_AGENT_ENCRYPTION_PEERS_H_
