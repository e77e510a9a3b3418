// The lab API server enforcing the RBAC Weft ships. Kubernetes RBAC manifests (the
// ClusterRole and ClusterRoleBinding that `talosgen patch --cni weft` carries as an
// inline manifest) become LabRule allow entries, one per subject, API group, resource
// and verb, so the lab authorizes the agent exactly as a cluster with those manifests
// would: a rule missing from the manifest is a 403 in the lab too.
#ifndef WEFT_KUBEPRISM_TESTING_WEFT_RBAC_H_
#define WEFT_KUBEPRISM_TESTING_WEFT_RBAC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kubeprism/testing/lab_apiserver.h"

namespace weft::kubeprism::testing {

// Rules from a multi-document YAML stream of RBAC objects. Every ClusterRoleBinding
// grants its ClusterRole's rules to each subject: User "u" -> subject "u", Group "g" ->
// "group:g", ServiceAccount ns/n -> "system:serviceaccount:ns:n". Other kinds are
// ignored. What LabRule cannot express is an error, never a wider or narrower grant:
// resourceNames, nonResourceURLs, aggregated ClusterRoles, namespaced Roles and
// RoleBindings, a binding to a ClusterRole the stream does not define.
absl::StatusOr<std::vector<LabRule>> LabRulesFromRbacManifests(const std::string& yaml);

// The inline manifests of a Talos machine config or patch, as one YAML stream:
// cluster.inlineManifests[].contents (legacy v1alpha1) and KubeInlineManifestConfig
// .manifest (Talos 1.14). Empty when there are none.
absl::StatusOr<std::string> InlineManifestsOfTalosConfig(const std::string& yaml);

// LabRulesFromRbacManifests of a file that is either RBAC manifests or a Talos config /
// patch carrying them as inline manifests.
absl::StatusOr<std::vector<LabRule>> LabRulesFromFile(const std::string& text);

// The rules of the RBAC manifest talosgen ships for weft-agent
// (generator/agent_rbac.h), e.g. for LabApiServerOptions::rules. Never empty (an empty
// list lets the lab allow everything): if the manifest could not be read it is one rule
// that matches nobody (weft_rbac_test makes sure it can).
std::vector<LabRule> WeftAgentLabRules();

// What every Kubernetes cluster grants before any manifest: cluster-admin for the group
// system:masters (the admin kubeconfig of `talosctl kubeconfig`, and the lab's admin).
// Add it next to the agent's rules when the lab's admin must keep working over HTTP.
std::vector<LabRule> KubernetesBuiltinLabRules();

// The rules as the YAML list `lab-apiserver --rules FILE` reads.
std::string LabRulesYaml(const std::vector<LabRule>& rules);

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_WEFT_RBAC_H_
