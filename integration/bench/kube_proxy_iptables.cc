#include "integration/bench/kube_proxy_iptables.h"

#include <openssl/sha.h>

#include <cstdio>
#include <unordered_set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace weft::bench::kubeproxy {
namespace {

constexpr char kServicesChain[] = "KUBE-SERVICES";
constexpr char kNodePortsChain[] = "KUBE-NODEPORTS";
constexpr char kPostroutingChain[] = "KUBE-POSTROUTING";
constexpr char kMarkMasqChain[] = "KUBE-MARK-MASQ";
// kube-proxy's largeClusterEndpointsThreshold.
constexpr size_t kLargeClusterEndpoints = 1000;

// Go's base32.StdEncoding of sha256(text), first 16 characters.
std::string HashPrefix16(const std::string& text) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(text.data()), text.size(), digest);
  return Base32(digest, sizeof(digest)).substr(0, 16);
}

std::string Endpoint(const ServicePort& svc, const std::string& ip) {
  return absl::StrCat(ip, ":", svc.target_port);
}

void ChainLine(std::string* out, const std::string& chain) { absl::StrAppend(out, ":", chain, " - [0:0]\n"); }

// The static rules of the top-level chains (kube-proxy writes them on every sync).
void StaticRules(std::string* out) {
  absl::StrAppend(out, "-A ", kPostroutingChain, " -m mark ! --mark 0x4000/0x4000 -j RETURN\n");
  absl::StrAppend(out, "-A ", kPostroutingChain, " -j MARK --xor-mark 0x4000\n");
  absl::StrAppend(out, "-A ", kPostroutingChain,
                  " -m comment --comment \"kubernetes service traffic requiring SNAT\""
                  " -j MASQUERADE --random-fully\n");
  absl::StrAppend(out, "-A ", kMarkMasqChain, " -j MARK --or-mark 0x4000\n");
}

void Jumps(std::string* out) {
  absl::StrAppend(out, "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j ",
                  kServicesChain, "\n");
  absl::StrAppend(out, "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j ",
                  kServicesChain, "\n");
  absl::StrAppend(out, "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j ",
                  kPostroutingChain, "\n");
}

std::string ClusterIpMatch(const ServicePort& svc, const std::string& name) {
  return absl::StrCat("-d ", svc.cluster_ip, "/32 -p ", svc.protocol, " -m comment --comment \"", name,
                      " cluster IP\" -m ", svc.protocol, " --dport ", svc.port);
}

// The Service's "cluster IP" rule in KUBE-SERVICES.
void ServicesRule(std::string* out, const ServicePort& svc) {
  std::string name = ServicePortName(svc);
  absl::StrAppend(out, "-A ", kServicesChain, " ", ClusterIpMatch(svc, name), " -j ",
                  ServiceChain(name, svc.protocol), "\n");
}

void ServiceChainLines(std::string* out, const ServicePort& svc) {
  std::string name = ServicePortName(svc);
  ChainLine(out, ServiceChain(name, svc.protocol));
  for (const std::string& ip : svc.endpoint_ips) {
    ChainLine(out, EndpointChain(name, svc.protocol, Endpoint(svc, ip)));
  }
}

// The Service's KUBE-SVC chain and its endpoints' KUBE-SEP chains.
void ServiceChainRules(std::string* out, const ServicePort& svc, const Options& options, bool large) {
  std::string name = ServicePortName(svc);
  std::string svc_chain = ServiceChain(name, svc.protocol);
  // Off-cluster traffic to the ClusterIP is masqueraded (it may have been
  // routed here from outside and must come back through this node).
  absl::StrAppend(out, "-A ", svc_chain, " ! -s ", options.cluster_cidr, " ", ClusterIpMatch(svc, name),
                  " -j ", kMarkMasqChain, "\n");
  const int n = static_cast<int>(svc.endpoint_ips.size());
  for (int i = 0; i < n; ++i) {
    std::string ep = Endpoint(svc, svc.endpoint_ips[i]);
    absl::StrAppend(out, "-A ", svc_chain);
    if (!large) absl::StrAppend(out, " -m comment --comment \"", name, " -> ", ep, "\"");
    if (i < n - 1) {
      absl::StrAppend(out, " -m statistic --mode random --probability ", Probability(n - i));
    }
    absl::StrAppend(out, " -j ", EndpointChain(name, svc.protocol, ep), "\n");
  }
  std::string comment = large ? "" : absl::StrCat(" -m comment --comment \"", name, "\"");
  for (const std::string& ip : svc.endpoint_ips) {
    std::string ep = Endpoint(svc, ip);
    std::string sep_chain = EndpointChain(name, svc.protocol, ep);
    // Hairpin: an endpoint reaching its own Service is masqueraded.
    absl::StrAppend(out, "-A ", sep_chain, " -s ", ip, "/32", comment, " -j ", kMarkMasqChain, "\n");
    absl::StrAppend(out, "-A ", sep_chain, " -p ", svc.protocol, comment, " -m ", svc.protocol,
                    " -j DNAT --to-destination ", ep, "\n");
  }
}

void TopLevelChainLines(std::string* out) {
  for (const char* chain : {kServicesChain, kNodePortsChain, kPostroutingChain, kMarkMasqChain}) {
    ChainLine(out, chain);
  }
}

// Must be the last rule of KUBE-SERVICES.
void NodePortsTail(std::string* out) {
  absl::StrAppend(out, "-A ", kServicesChain,
                  " -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last "
                  "rule in this chain\" -m addrtype --dst-type LOCAL -j ",
                  kNodePortsChain, "\n");
}

}  // namespace

std::string ServicePortName(const ServicePort& svc) {
  std::string s = absl::StrCat(svc.namespace_name, "/", svc.name);
  if (!svc.port_name.empty()) absl::StrAppend(&s, ":", svc.port_name);
  return s;
}

std::string Base32(const uint8_t* data, size_t len) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  out.reserve((len + 4) / 5 * 8);
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < len; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  while (out.size() % 8 != 0) out.push_back('=');
  return out;
}

std::string ServiceChain(const std::string& service_port_name, const std::string& protocol) {
  return "KUBE-SVC-" + HashPrefix16(service_port_name + protocol);
}

std::string EndpointChain(const std::string& service_port_name, const std::string& protocol,
                          const std::string& endpoint) {
  return "KUBE-SEP-" + HashPrefix16(service_port_name + protocol + endpoint);
}

std::string Probability(int n) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%0.10f", 1.0 / static_cast<double>(n));
  return buf;
}

bool LargeClusterMode(const std::vector<ServicePort>& services) {
  size_t endpoints = 0;
  for (const ServicePort& s : services) endpoints += s.endpoint_ips.size();
  return endpoints > kLargeClusterEndpoints;
}

RestoreStats CountRestore(const std::string& restore) {
  RestoreStats st;
  st.bytes = restore.size();
  for (absl::string_view line : absl::StrSplit(restore, '\n')) {
    if (absl::StartsWith(line, ":")) ++st.chains;
    if (absl::StartsWith(line, "-A ")) ++st.rules;
    if (absl::StartsWith(line, "-X ")) ++st.deleted_chains;
  }
  return st;
}

std::string RenderFullRestore(const std::vector<ServicePort>& services, const Options& options) {
  const bool large = LargeClusterMode(services);
  std::string out = "*nat\n";
  TopLevelChainLines(&out);
  for (const ServicePort& svc : services) ServiceChainLines(&out, svc);
  if (options.jumps) Jumps(&out);
  StaticRules(&out);
  for (const ServicePort& svc : services) {
    ServicesRule(&out, svc);
    ServiceChainRules(&out, svc, options, large);
  }
  NodePortsTail(&out);
  out += "COMMIT\n";
  return out;
}

std::string RenderPartialRestore(const std::vector<ServicePort>& services,
                                 const std::vector<size_t>& changed,
                                 const std::vector<std::string>& stale_chains,
                                 const Options& options) {
  const bool large = LargeClusterMode(services);
  std::unordered_set<size_t> changed_set(changed.begin(), changed.end());
  std::string out = "*nat\n";
  TopLevelChainLines(&out);
  for (size_t i = 0; i < services.size(); ++i) {
    if (changed_set.count(i) != 0) ServiceChainLines(&out, services[i]);
  }
  for (const std::string& chain : stale_chains) ChainLine(&out, chain);
  StaticRules(&out);
  for (size_t i = 0; i < services.size(); ++i) {
    ServicesRule(&out, services[i]);
    if (changed_set.count(i) != 0) ServiceChainRules(&out, services[i], options, large);
  }
  for (const std::string& chain : stale_chains) absl::StrAppend(&out, "-X ", chain, "\n");
  NodePortsTail(&out);
  out += "COMMIT\n";
  return out;
}

}  // namespace weft::bench::kubeproxy
