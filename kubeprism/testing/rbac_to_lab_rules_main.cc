// rbac-to-lab-rules: the allow rules for `lab-apiserver --rules FILE`, from RBAC
// manifests or from a Talos config / patch carrying them as inline manifests (e.g.
// `talosgen patch --cni weft`). Without a file: the RBAC talosgen ships for weft-agent.
// Kubernetes' built-in cluster-admin binding for system:masters comes first, so the
// lab's admin kubeconfig keeps working as it would on a real cluster.
//
//   rbac-to-lab-rules [FILE] > rules.yaml
#include <cstdio>
#include <iostream>
#include <string>

#include "common/file_util.h"
#include "kubeprism/testing/weft_rbac.h"

int main(int argc, char** argv) {
  using weft::kubeprism::testing::LabRule;
  if (argc > 2 || (argc == 2 && std::string(argv[1]).rfind("-", 0) == 0)) {
    std::cerr << "usage: rbac-to-lab-rules [RBAC-MANIFESTS-OR-TALOS-CONFIG]\n";
    return 2;
  }
  std::vector<LabRule> rules;
  if (argc == 1) {
    rules = weft::kubeprism::testing::WeftAgentLabRules();
  } else {
    auto text = weft::ReadFile(argv[1]);
    if (!text.ok()) {
      std::cerr << "rbac-to-lab-rules: " << text.status().message() << "\n";
      return 1;
    }
    auto parsed = weft::kubeprism::testing::LabRulesFromFile(*text);
    if (!parsed.ok()) {
      std::cerr << "rbac-to-lab-rules: " << argv[1] << ": " << parsed.status().message() << "\n";
      return 1;
    }
    if (parsed->empty()) {
      std::cerr << "rbac-to-lab-rules: " << argv[1]
                << ": no rules (the lab would allow everything)\n";
      return 1;
    }
    rules = *std::move(parsed);
  }
  std::vector<LabRule> all = weft::kubeprism::testing::KubernetesBuiltinLabRules();
  all.insert(all.end(), rules.begin(), rules.end());
  std::cout << weft::kubeprism::testing::LabRulesYaml(all);
  return 0;
}
