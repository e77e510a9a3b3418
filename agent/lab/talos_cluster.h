// The lab's Talos mode, cluster side: the secrets bundle, the cluster spec talosgen
// is given for the lab, and talosgen's own code (generator/) for what a Talos user
// applies: the control-plane patch of `talosgen patch --cni weft` (whose inline
// manifest carries the agent's RBAC) and each node's ExtensionServiceConfig from
// `talosgen credentials`. The lab API server then trusts the bundle's Kubernetes CA
// and enforces that RBAC (kubeprism/testing/weft_rbac.h).
#ifndef WEFT_AGENT_LAB_TALOS_CLUSTER_H_
#define WEFT_AGENT_LAB_TALOS_CLUSTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/lab/plan.h"
#include "common/pki.h"
#include "generator/spec.h"
#include "kubeprism/testing/lab_apiserver.h"

namespace weft::lab {

// A secrets bundle in the shape `talosctl gen secrets` writes: cluster id and secret,
// bootstrap token, secretbox secret, trustd token, CAs for etcd (ECDSA), Kubernetes
// (ECDSA), the aggregator (ECDSA) and the Talos API (Ed25519), the service-account
// key; every certificate and key the base64 of a PEM block with Talos's labels. Fresh
// keys each call. The lab uses certs.k8s only.
absl::StatusOr<std::string> GenerateSecretsBundle();

// The Kubernetes CA of a bundle file, checked as `talosgen credentials` checks it.
absl::StatusOr<pki::CertificateAndKey> LoadKubernetesCa(const std::string& secrets_path,
                                                        int64_t now_unix);

// The cluster spec for the lab, as a user would write it for a cluster of this
// shape: talosgen's defaults with the lab's pod subnet (its cluster CIDR, also the
// native-routing CIDR), the lab's routing mode and Weft as the CNI. KubePrism stays
// on 7445, where the lab's relays listen in every node namespace.
absl::StatusOr<generator::Spec> LabClusterSpec(const LabPlan& plan);

// `talosgen patch --cni weft` (control plane, the spec's Talos version).
std::string ControlPlanePatch(const generator::Spec& spec);

// `talosgen credentials --node-name <node>` with `ca` as the bundle's CA: the
// ExtensionServiceConfig document (holds the agent's private key).
absl::StatusOr<std::string> NodeExtensionServiceConfig(const generator::Spec& spec,
                                                       const pki::CertificateAndKey& ca,
                                                       const std::string& node_name,
                                                       int64_t now_unix);

// The lab API server's rules: the RBAC in `text` (RBAC manifests, or a Talos config
// or patch carrying them as inline manifests) plus what every cluster grants before
// any manifest (system:masters, the lab's admin). `source` names the text in errors.
absl::StatusOr<std::vector<kubeprism::testing::LabRule>> ApiServerRules(const std::string& text,
                                                                        const std::string& source);

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_TALOS_CLUSTER_H_
