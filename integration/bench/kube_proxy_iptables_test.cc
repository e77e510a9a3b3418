// kube-proxy's iptables-restore input, reconstructed: chain names as on every
// cluster, the rule shapes (golden), probabilities, large cluster mode and
// partial restores. No privileges: pure text.
#include "integration/bench/kube_proxy_iptables.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace weft::bench::kubeproxy {
namespace {

Options WithJumps() {
  Options o;
  o.jumps = true;
  return o;
}

ServicePort Web() {
  ServicePort s;
  s.namespace_name = "default";
  s.name = "web";
  s.port_name = "http";
  s.cluster_ip = "10.96.0.10";
  s.port = 80;
  s.target_port = 8080;
  s.endpoint_ips = {"10.244.0.1", "10.244.0.2", "10.244.0.3"};
  return s;
}

ServicePort Cart() {  // an unnamed port
  ServicePort s;
  s.namespace_name = "shop";
  s.name = "cart";
  s.cluster_ip = "10.96.0.11";
  s.port = 443;
  s.target_port = 8443;
  s.endpoint_ips = {"10.244.1.1", "10.244.1.2", "10.244.1.3"};
  return s;
}

// Two Services x three endpoints, from scratch (with the built-in chains'
// jumps). Loaded with iptables-nft-restore and iptables-legacy-restore, the
// matching iptables-save prints these rules back unchanged except for the
// MARK targets (--set-xmark) and the probabilities (11 decimals).
constexpr char kTwoByThree[] =
    "*nat\n"
    ":KUBE-SERVICES - [0:0]\n"
    ":KUBE-NODEPORTS - [0:0]\n"
    ":KUBE-POSTROUTING - [0:0]\n"
    ":KUBE-MARK-MASQ - [0:0]\n"
    ":KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]\n"
    ":KUBE-SEP-JRCXE4FRFHPHGFSU - [0:0]\n"
    ":KUBE-SEP-QA4PSDNF5R2OJOPA - [0:0]\n"
    ":KUBE-SEP-TCD3IFXQZW3ZEZQU - [0:0]\n"
    ":KUBE-SVC-N5W5PH5NLY2BP4HG - [0:0]\n"
    ":KUBE-SEP-SSZR4CAWRCFGPQ2R - [0:0]\n"
    ":KUBE-SEP-Q47VV4NW62KVIPQM - [0:0]\n"
    ":KUBE-SEP-JR25SFB776UHNJ7Z - [0:0]\n"
    "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
    "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
    "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
    "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
    "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
    "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"
    "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
    "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL\n"
    "-A KUBE-SVC-CDGGSHYLG3RE2FKL ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n"
    "-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment \"default/web:http -> 10.244.0.1:8080\" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-JRCXE4FRFHPHGFSU\n"
    "-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment \"default/web:http -> 10.244.0.2:8080\" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-QA4PSDNF5R2OJOPA\n"
    "-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment \"default/web:http -> 10.244.0.3:8080\" -j KUBE-SEP-TCD3IFXQZW3ZEZQU\n"
    "-A KUBE-SEP-JRCXE4FRFHPHGFSU -s 10.244.0.1/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ\n"
    "-A KUBE-SEP-JRCXE4FRFHPHGFSU -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination 10.244.0.1:8080\n"
    "-A KUBE-SEP-QA4PSDNF5R2OJOPA -s 10.244.0.2/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ\n"
    "-A KUBE-SEP-QA4PSDNF5R2OJOPA -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination 10.244.0.2:8080\n"
    "-A KUBE-SEP-TCD3IFXQZW3ZEZQU -s 10.244.0.3/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ\n"
    "-A KUBE-SEP-TCD3IFXQZW3ZEZQU -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination 10.244.0.3:8080\n"
    "-A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m comment --comment \"shop/cart cluster IP\" -m tcp --dport 443 -j KUBE-SVC-N5W5PH5NLY2BP4HG\n"
    "-A KUBE-SVC-N5W5PH5NLY2BP4HG ! -s 10.244.0.0/16 -d 10.96.0.11/32 -p tcp -m comment --comment \"shop/cart cluster IP\" -m tcp --dport 443 -j KUBE-MARK-MASQ\n"
    "-A KUBE-SVC-N5W5PH5NLY2BP4HG -m comment --comment \"shop/cart -> 10.244.1.1:8443\" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-SSZR4CAWRCFGPQ2R\n"
    "-A KUBE-SVC-N5W5PH5NLY2BP4HG -m comment --comment \"shop/cart -> 10.244.1.2:8443\" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-Q47VV4NW62KVIPQM\n"
    "-A KUBE-SVC-N5W5PH5NLY2BP4HG -m comment --comment \"shop/cart -> 10.244.1.3:8443\" -j KUBE-SEP-JR25SFB776UHNJ7Z\n"
    "-A KUBE-SEP-SSZR4CAWRCFGPQ2R -s 10.244.1.1/32 -m comment --comment \"shop/cart\" -j KUBE-MARK-MASQ\n"
    "-A KUBE-SEP-SSZR4CAWRCFGPQ2R -p tcp -m comment --comment \"shop/cart\" -m tcp -j DNAT --to-destination 10.244.1.1:8443\n"
    "-A KUBE-SEP-Q47VV4NW62KVIPQM -s 10.244.1.2/32 -m comment --comment \"shop/cart\" -j KUBE-MARK-MASQ\n"
    "-A KUBE-SEP-Q47VV4NW62KVIPQM -p tcp -m comment --comment \"shop/cart\" -m tcp -j DNAT --to-destination 10.244.1.2:8443\n"
    "-A KUBE-SEP-JR25SFB776UHNJ7Z -s 10.244.1.3/32 -m comment --comment \"shop/cart\" -j KUBE-MARK-MASQ\n"
    "-A KUBE-SEP-JR25SFB776UHNJ7Z -p tcp -m comment --comment \"shop/cart\" -m tcp -j DNAT --to-destination 10.244.1.3:8443\n"
    "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"
    "COMMIT\n";

TEST(KubeProxyIptablesTest, ChainNamesAreKubeProxys) {
  // As on every cluster (kubectl get svc kubernetes; iptables-save | grep KUBE-SVC).
  EXPECT_EQ(ServiceChain("default/kubernetes:https", "tcp"), "KUBE-SVC-NPX46M4PTMTKRN6Y");
  EXPECT_EQ(ServiceChain("kube-system/kube-dns:dns", "udp"), "KUBE-SVC-TCOU7JCQXEZGVUNU");
  EXPECT_EQ(ServiceChain("kube-system/kube-dns:dns-tcp", "tcp"), "KUBE-SVC-ERIFXISQEP7F7OF4");
  EXPECT_EQ(ServiceChain("kube-system/kube-dns:metrics", "tcp"), "KUBE-SVC-JD5MR3NA4I4DYORP");
  // Endpoint chains hash the endpoint in too (checked against Go's
  // base32.StdEncoding of crypto/sha256).
  EXPECT_EQ(EndpointChain("default/web:http", "tcp", "10.244.0.1:8080"), "KUBE-SEP-JRCXE4FRFHPHGFSU");
  EXPECT_NE(EndpointChain("default/web:http", "tcp", "10.244.0.1:8080"),
            EndpointChain("default/web:http", "tcp", "10.244.0.2:8080"));
}

TEST(KubeProxyIptablesTest, ServicePortName) {
  EXPECT_EQ(ServicePortName(Web()), "default/web:http");
  EXPECT_EQ(ServicePortName(Cart()), "shop/cart");
}

TEST(KubeProxyIptablesTest, Base32IsRfc4648WithPadding) {
  auto b32 = [](const std::string& s) {
    return Base32(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(b32(""), "");
  EXPECT_EQ(b32("f"), "MY======");
  EXPECT_EQ(b32("fo"), "MZXQ====");
  EXPECT_EQ(b32("foo"), "MZXW6===");
  EXPECT_EQ(b32("foob"), "MZXW6YQ=");
  EXPECT_EQ(b32("fooba"), "MZXW6YTB");
  EXPECT_EQ(b32("foobar"), "MZXW6YTBOI======");
}

TEST(KubeProxyIptablesTest, ProbabilitiesSpreadEvenly) {
  EXPECT_EQ(Probability(1), "1.0000000000");
  EXPECT_EQ(Probability(2), "0.5000000000");
  EXPECT_EQ(Probability(3), "0.3333333333");
  EXPECT_EQ(Probability(5), "0.2000000000");
  // Five endpoints: 1/5, 1/4, 1/3, 1/2, then the last one unconditionally.
  ServicePort s = Web();
  s.endpoint_ips = {"10.244.0.1", "10.244.0.2", "10.244.0.3", "10.244.0.4", "10.244.0.5"};
  std::string out = RenderFullRestore({s}, Options{});
  std::vector<std::string> probabilities;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    auto at = line.find("--probability ");
    if (at != absl::string_view::npos) {
      probabilities.push_back(std::string(line.substr(at + 14, 12)));
    }
  }
  EXPECT_EQ(probabilities, (std::vector<std::string>{"0.2000000000", "0.2500000000", "0.3333333333",
                                                     "0.5000000000"}));
}

TEST(KubeProxyIptablesTest, TwoServicesThreeEndpointsGolden) {
  EXPECT_EQ(RenderFullRestore({Web(), Cart()}, WithJumps()), kTwoByThree);
}

TEST(KubeProxyIptablesTest, WithoutJumpsOnlyTheBuiltInChainRulesGo) {
  std::string with_jumps = RenderFullRestore({Web(), Cart()}, WithJumps());
  std::string without = RenderFullRestore({Web(), Cart()}, Options{});
  EXPECT_FALSE(absl::StrContains(without, "-A PREROUTING"));
  EXPECT_FALSE(absl::StrContains(without, "-A OUTPUT"));
  EXPECT_FALSE(absl::StrContains(without, "-A POSTROUTING"));
  RestoreStats a = CountRestore(with_jumps), b = CountRestore(without);
  EXPECT_EQ(a.rules, b.rules + 3);
  EXPECT_EQ(a.chains, b.chains);
}

TEST(KubeProxyIptablesTest, Counts) {
  RestoreStats st = CountRestore(kTwoByThree);
  // 4 top-level chains + per Service 1 KUBE-SVC + 3 KUBE-SEP.
  EXPECT_EQ(st.chains, 4u + 2 * 4);
  // 3 jumps + 4 static + per Service (1 cluster IP + 1 masquerade + 3 + 3 * 2) + nodeports.
  EXPECT_EQ(st.rules, 3u + 4 + 2 * 11 + 1);
  EXPECT_EQ(st.deleted_chains, 0u);
}

// Above 1000 endpoints kube-proxy leaves comments off endpoint rules and
// KUBE-SEP chains, keeping them on the "cluster IP" rules.
TEST(KubeProxyIptablesTest, LargeClusterModeDropsEndpointComments) {
  std::vector<ServicePort> services;
  for (int i = 0; i < 334; ++i) services.push_back(Web());  // 1002 endpoints
  EXPECT_TRUE(LargeClusterMode(services));
  EXPECT_FALSE(LargeClusterMode({Web(), Cart()}));
  std::string out = RenderFullRestore({services[0]}, Options{});
  EXPECT_TRUE(absl::StrContains(out, "\"default/web:http -> 10.244.0.1:8080\""));
  services.resize(334);
  std::string large = RenderPartialRestore(services, {0}, {}, Options{});
  EXPECT_FALSE(absl::StrContains(large, " -> 10.244.0.1:8080"));
  EXPECT_TRUE(absl::StrContains(
      large, "-A KUBE-SVC-CDGGSHYLG3RE2FKL -m statistic --mode random --probability 0.3333333333 "
             "-j KUBE-SEP-JRCXE4FRFHPHGFSU\n"));
  EXPECT_TRUE(absl::StrContains(
      large, "-A KUBE-SEP-JRCXE4FRFHPHGFSU -p tcp -m tcp -j DNAT --to-destination 10.244.0.1:8080\n"));
  EXPECT_TRUE(absl::StrContains(large, "--comment \"default/web:http cluster IP\""));
}

TEST(KubeProxyIptablesTest, PartialRestoreRewritesKubeServicesAndOnlyTheChangedChains) {
  ServicePort cart = Cart();
  std::string old_sep = EndpointChain("shop/cart", "tcp", "10.244.1.3:8443");
  cart.endpoint_ips[2] = "10.244.1.9";
  std::vector<ServicePort> services = {Web(), cart};
  std::string out = RenderPartialRestore(services, {1}, {old_sep}, WithJumps());
  // Every Service's "cluster IP" rule, KUBE-SERVICES declared (flushed) and refilled.
  EXPECT_TRUE(absl::StrContains(out, ":KUBE-SERVICES - [0:0]\n"));
  EXPECT_TRUE(absl::StrContains(out, "-A KUBE-SERVICES -d 10.96.0.10/32 "));
  EXPECT_TRUE(absl::StrContains(out, "-A KUBE-SERVICES -d 10.96.0.11/32 "));
  // The unchanged Service's chains are neither declared nor written.
  EXPECT_FALSE(absl::StrContains(out, ":KUBE-SVC-CDGGSHYLG3RE2FKL"));
  EXPECT_FALSE(absl::StrContains(out, "-A KUBE-SVC-CDGGSHYLG3RE2FKL"));
  EXPECT_FALSE(absl::StrContains(out, "KUBE-SEP-JRCXE4FRFHPHGFSU"));
  // The changed one's are, with the new endpoint; the stale chain is flushed and deleted.
  EXPECT_TRUE(absl::StrContains(out, ":KUBE-SVC-N5W5PH5NLY2BP4HG - [0:0]\n"));
  EXPECT_TRUE(absl::StrContains(out, "--to-destination 10.244.1.9:8443\n"));
  EXPECT_FALSE(absl::StrContains(out, "--to-destination 10.244.1.3:8443"));
  EXPECT_TRUE(absl::StrContains(out, ":" + old_sep + " - [0:0]\n"));
  EXPECT_TRUE(absl::StrContains(out, "-X " + old_sep + "\n"));
  // Never the jumps; the nodeports rule stays last.
  EXPECT_FALSE(absl::StrContains(out, "-A OUTPUT"));
  EXPECT_TRUE(absl::EndsWith(out, "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n"));
  RestoreStats st = CountRestore(out);
  EXPECT_EQ(st.chains, 4u + 4 + 1);
  // 4 static + 2 cluster IP + the changed KUBE-SVC (1 + 3) and KUBE-SEP (3 * 2) + nodeports.
  EXPECT_EQ(st.rules, 4u + 2 + 4 + 6 + 1);
  EXPECT_EQ(st.deleted_chains, 1u);
}

TEST(KubeProxyIptablesTest, SameInputSameOutput) {
  EXPECT_EQ(RenderFullRestore({Web(), Cart()}, Options{}), RenderFullRestore({Web(), Cart()}, Options{}));
}

}  // namespace
}  // namespace weft::bench::kubeproxy
