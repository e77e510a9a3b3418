// kube-proxy's iptables mode, reconstructed for services_bench: the
// iptables-restore input (nat table) kube-proxy writes for ClusterIP Services,
// so that Weft's socket load balancing can be measured against the real shape
// of rules, chains and restores, not a simplification of it.
//
// What is reproduced (kube-proxy 1.26+, pkg/proxy/iptables/proxier.go):
//   - chain names: "KUBE-SVC-" + base32(sha256(svcPortName + protocol))[:16],
//     "KUBE-SEP-" + base32(sha256(svcPortName + protocol + "ip:port"))[:16],
//     with svcPortName "namespace/name:portName" and protocol lowercase;
//   - the top-level chains KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING,
//     KUBE-MARK-MASQ and their static rules (mark 0x4000, MASQUERADE
//     --random-fully);
//   - per Service port: the "cluster IP" rule in KUBE-SERVICES, the
//     masquerade rule for traffic from outside the cluster CIDR in its
//     KUBE-SVC chain, one rule per endpoint with `-m statistic --mode random
//     --probability 1/(E-i)` ("%0.10f", the last without), and per endpoint a
//     KUBE-SEP chain (hairpin masquerade, DNAT);
//   - the KUBE-NODEPORTS tail rule (`-m addrtype --dst-type LOCAL`) last;
//   - "large cluster mode": above 1000 endpoints in total kube-proxy leaves the
//     comments off the endpoint rules and KUBE-SEP chains (not off the
//     "cluster IP" rules);
//   - full restores (every chain) and, since 1.26 (MinimizeIPTablesRestore,
//     on by default from 1.27), partial restores: the top-level chains in full
//     plus only the chains of the Services that changed.
// Rules are written in iptables-save's canonical argument order (kube-proxy
// writes the same matches in another order; the kernel holds identical rules).
// Not reproduced: the filter table (for Services with endpoints it holds only
// static rules), NodePort/LoadBalancer/external IPs, session affinity,
// traffic policies, IPv6. Pure: no kernel, no processes.
#ifndef WEFT_INTEGRATION_BENCH_KUBE_PROXY_IPTABLES_H_
#define WEFT_INTEGRATION_BENCH_KUBE_PROXY_IPTABLES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace weft::bench::kubeproxy {

// One port of a ClusterIP Service with its ready endpoints.
struct ServicePort {
  std::string namespace_name;  // "default"
  std::string name;            // "kubernetes"
  std::string port_name;       // "https"; "" for an unnamed port
  std::string protocol = "tcp";  // lowercase, as kube-proxy hashes and matches it
  std::string cluster_ip;      // "10.96.0.1"
  uint16_t port = 0;
  uint16_t target_port = 0;              // the endpoints' port
  std::vector<std::string> endpoint_ips;  // in EndpointSlice order
};

struct Options {
  // kube-proxy's --cluster-cidr: Service traffic from outside it is marked
  // for masquerade (KUBE-MARK-MASQ in the KUBE-SVC chain).
  std::string cluster_cidr = "10.244.0.0/16";
  // The jumps into kube-proxy's chains from the built-in chains (PREROUTING,
  // OUTPUT -> KUBE-SERVICES; POSTROUTING -> KUBE-POSTROUTING). kube-proxy
  // ensures these with separate `iptables -C/-I` calls before a restore; with
  // this set, a restore from scratch carries them (`-A`) instead. Only for a
  // nat table that does not have them yet (full restores).
  bool jumps = false;
};

// "namespace/name:port" (":port" omitted for an unnamed port): kube-proxy's
// ServicePortName.String(), used in chain hashes and comments.
std::string ServicePortName(const ServicePort& svc);

// RFC 4648 base32, standard alphabet, with padding (Go's base32.StdEncoding).
std::string Base32(const uint8_t* data, size_t len);

// "KUBE-SVC-XXXXXXXXXXXXXXXX" for a service port ("default/kubernetes:https",
// "tcp" -> KUBE-SVC-NPX46M4PTMTKRN6Y, as on every cluster).
std::string ServiceChain(const std::string& service_port_name, const std::string& protocol);
// "KUBE-SEP-XXXXXXXXXXXXXXXX" for one endpoint ("10.244.1.5:8080") of it.
std::string EndpointChain(const std::string& service_port_name, const std::string& protocol,
                          const std::string& endpoint);

// kube-proxy's probability for the i-th of n remaining endpoints: 1/n, "%0.10f".
std::string Probability(int n);

// kube-proxy's largeClusterMode: more than 1000 endpoints over all Services.
bool LargeClusterMode(const std::vector<ServicePort>& services);

// Sizes of a rendered restore, for reports.
struct RestoreStats {
  size_t chains = 0;  // chain lines (`:CHAIN`)
  size_t rules = 0;   // `-A` lines
  size_t deleted_chains = 0;  // `-X` lines
  size_t bytes = 0;
};
RestoreStats CountRestore(const std::string& restore);

// Everything, as kube-proxy's full sync writes it for `iptables-restore
// --noflush --counters`: every chain declared (which flushes it), every rule.
std::string RenderFullRestore(const std::vector<ServicePort>& services, const Options& options);

// A partial sync after the Services `changed` (indices into `services`, which
// already holds their new state) changed: KUBE-SERVICES, KUBE-NODEPORTS,
// KUBE-POSTROUTING and KUBE-MARK-MASQ in full (every Service's "cluster IP"
// rule), the KUBE-SVC and KUBE-SEP chains of the changed Services only, and
// `stale_chains` (chains no longer used, e.g. the KUBE-SEP chain of a removed
// endpoint) flushed and deleted (`-X`). kube-proxy finds stale chains with an
// iptables-save, which in large cluster mode it does at most once per
// --iptables-sync-period; pass none to model a sync without that cleanup.
// `options.jumps` is ignored (partial restores never carry them).
std::string RenderPartialRestore(const std::vector<ServicePort>& services,
                                 const std::vector<size_t>& changed,
                                 const std::vector<std::string>& stale_chains,
                                 const Options& options);

}  // namespace weft::bench::kubeproxy

#endif  // WEFT_INTEGRATION_BENCH_KUBE_PROXY_IPTABLES_H_
