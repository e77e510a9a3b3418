// Who the Weft agent is to the Kubernetes API server, and what it may do there: the one
// table the ClusterRole in `talosgen patch --cni weft` and the lab API server's rules
// (kubeprism/testing/rbac_rules.h) are both made from.
//
// Identity: `talosgen credentials` mints a client certificate with subject
// CN=weft:agent, O=weft:agents. The API server takes CN as the user name and each O as
// a group; the ClusterRoleBinding names the group, so a later per-node user name
// (CN=weft:agent:<node>) or a renewed certificate needs no RBAC change. Not under the
// "system:" prefix, which Kubernetes reserves for its own components.
#ifndef WEFT_GENERATOR_AGENT_RBAC_H_
#define WEFT_GENERATOR_AGENT_RBAC_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace weft::generator {

inline constexpr absl::string_view kAgentUser = "weft:agent";
inline constexpr absl::string_view kAgentGroup = "weft:agents";
// Name of the ClusterRole, the ClusterRoleBinding and the inline manifest carrying them.
inline constexpr absl::string_view kAgentRbacName = "weft-agent";

// One RBAC rule: verbs on resources of one API group, with the code that needs it.
struct AgentPermission {
  std::string api_group;  // "" for the core group
  std::vector<std::string> resources;
  std::vector<std::string> verbs;
  std::string why;  // for the manifest comment: what in the agent uses it
};

// Exactly what weft-agent does against the API server today, nothing it might do later.
// `wireguard`: the agents encrypt with WireGuard and publish their public keys on
// their Node objects (patch).
std::vector<AgentPermission> AgentPermissions(bool wireguard = false);

// The ClusterRole and ClusterRoleBinding as a commented multi-document YAML manifest
// (what Talos applies as the inline manifest "weft-agent").
std::string AgentRbacManifest(bool wireguard = false);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_AGENT_RBAC_H_
