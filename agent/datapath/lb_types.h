// Service load balancing as the datapath holds it: frontends (an address, port
// and protocol in one scope) with the backends they translate to. Pure data;
// the planner (agent/services) produces it, the datapath (services.cc) writes
// it to the BPF maps of bpf/maps/lb.h and reads it back.
#ifndef WEFT_AGENT_DATAPATH_LB_TYPES_H_
#define WEFT_AGENT_DATAPATH_LB_TYPES_H_

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "common/net/ip.h"

namespace weft::datapath {

// Protocol numbers as in the IP header.
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
const char* LbProtoName(uint8_t proto);  // "TCP", "UDP", "?"

enum class LbScope : uint8_t {
  kSocket = 0,    // connections made on this node: pods and host (cgroup programs)
  kExternal = 1,  // packets arriving from outside the node (tc on native devices)
};
const char* LbScopeName(LbScope scope);  // "socket", "external"

enum class LbAlgorithm : uint8_t { kRandom, kMaglev };
const char* LbAlgorithmName(LbAlgorithm a);  // "random", "maglev"

struct LbBackend {
  net::Ipv4Address ip;
  uint16_t port = 0;
  uint8_t proto = kProtoTcp;

  std::string ToString() const;  // "10.244.1.5:8080"
  friend bool operator==(const LbBackend& a, const LbBackend& b) {
    return a.ip == b.ip && a.port == b.port && a.proto == b.proto;
  }
  friend bool operator!=(const LbBackend& a, const LbBackend& b) { return !(a == b); }
  friend bool operator<(const LbBackend& a, const LbBackend& b) {
    return std::tie(a.ip, a.port, a.proto) < std::tie(b.ip, b.port, b.proto);
  }
  template <typename H>
  friend H AbslHashValue(H h, const LbBackend& b) {
    return H::combine(std::move(h), b.ip, b.port, b.proto);
  }
};

struct LbFrontendKey {
  net::Ipv4Address ip;
  uint16_t port = 0;
  uint8_t proto = kProtoTcp;
  LbScope scope = LbScope::kSocket;

  std::string ToString() const;  // "10.96.0.10:53/UDP (socket)"
  friend bool operator==(const LbFrontendKey& a, const LbFrontendKey& b) {
    return a.ip == b.ip && a.port == b.port && a.proto == b.proto && a.scope == b.scope;
  }
  friend bool operator!=(const LbFrontendKey& a, const LbFrontendKey& b) { return !(a == b); }
  friend bool operator<(const LbFrontendKey& a, const LbFrontendKey& b) {
    return std::tie(a.ip, a.port, a.proto, a.scope) < std::tie(b.ip, b.port, b.proto, b.scope);
  }
  template <typename H>
  friend H AbslHashValue(H h, const LbFrontendKey& k) {
    return H::combine(std::move(h), k.ip, k.port, k.proto, k.scope);
  }
};

struct LbService {
  LbFrontendKey key;
  // The backends new connections are spread over (already filtered by
  // endpoint conditions and traffic policy). Empty: connections are refused.
  std::vector<LbBackend> backends;
  uint32_t affinity_timeout_s = 0;  // sessionAffinity: ClientIP; 0: none
  // External scope only: rewrite the client's source to this node's address
  // (externalTrafficPolicy: Cluster).
  bool snat = false;
  // Maglev applies to frontends of up to 102 backends (ten table entries
  // each); larger ones are picked from at random (List says so).
  LbAlgorithm algorithm = LbAlgorithm::kRandom;
  // Socket scope only, no backends: another proxy's Service. Connections are
  // neither translated nor refused as the Service ranges would be.
  bool pass = false;
  uint32_t id = 0;  // set by the datapath (List); ignored on writes

  // Same translation (id ignored).
  friend bool operator==(const LbService& a, const LbService& b) {
    return a.key == b.key && a.backends == b.backends &&
           a.affinity_timeout_s == b.affinity_timeout_s && a.snat == b.snat &&
           a.algorithm == b.algorithm && a.pass == b.pass;
  }
  friend bool operator!=(const LbService& a, const LbService& b) { return !(a == b); }
};

}  // namespace weft::datapath

#endif  // WEFT_AGENT_DATAPATH_LB_TYPES_H_
