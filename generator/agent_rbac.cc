#include "generator/agent_rbac.h"

#include "absl/strings/str_cat.h"
#include "generator/yaml_text.h"

namespace weft::generator {

std::vector<AgentPermission> AgentPermissions(bool wireguard) {
  // One entry per informer in agent/daemon/agent.cc. Informers list and watch; the
  // agent reads single objects from its informer cache, so it never needs `get`.
  // Not granted until the agent uses them (each is one entry here then):
  //   namespaces, networkpolicies.networking.k8s.io,
  //   ciliumnetworkpolicies.cilium.io, ciliumclusterwidenetworkpolicies.cilium.io
  //                                               list, watch (network policy)
  std::vector<AgentPermission> permissions = {
      {"",
       {"nodes"},
       {"list", "watch"},
       "Node informer: every node's pod CIDRs and InternalIPs (routes, tunnel\n"
       "endpoints, and this node's own pod CIDR for the datapath)."},
      {"",
       {"pods"},
       {"list", "watch"},
       "Pod informer, cluster-scoped with the field selector spec.nodeName=<node>:\n"
       "this node's pods, to free the addresses of pods that are gone."},
      {"",
       {"services"},
       {"list", "watch"},
       "Service informer: the kube-proxy replacement's frontends (cluster IPs,\n"
       "NodePorts, external and LoadBalancer addresses, traffic policies)."},
      {"discovery.k8s.io",
       {"endpointslices"},
       {"list", "watch"},
       "EndpointSlice informer: the backends of every Service and their\n"
       "conditions (ready, serving, terminating) and nodes."},
  };
  if (wireguard) {
    // RBAC cannot narrow this to the agent's own Node (NodeRestriction admission
    // applies to kubelet identities only); the agent patches nothing but its
    // own Node's key annotation (agent/encryption/manager.cc).
    permissions.push_back({"",
                           {"nodes"},
                           {"patch"},
                           "WireGuard encryption: each agent publishes its node's public key\n"
                           "(annotation weft.dev/wireguard-public-key) on its own Node."});
  }
  return permissions;
}

namespace {

void Labels(YamlText* y) {
  y->Line(2, "labels:");
  y->Line(4, "app.kubernetes.io/name: weft");
  y->Line(4, "app.kubernetes.io/component: agent");
}

}  // namespace

std::string AgentRbacManifest(bool wireguard) {
  YamlText y;
  y.Comment(0,
            absl::StrCat("What weft-agent may do in the API server, and nothing more. It\n"
                         "authenticates with the client certificate from `talosgen "
                         "credentials`\n(CN=",
                         kAgentUser, ", O=", kAgentGroup,
                         "); the binding names the group."));
  y.Line(0, "apiVersion: rbac.authorization.k8s.io/v1");
  y.Line(0, "kind: ClusterRole");
  y.Line(0, "metadata:");
  y.Scalar(2, "name", kAgentRbacName);
  Labels(&y);
  y.Line(0, "rules:");
  for (const AgentPermission& p : AgentPermissions(wireguard)) {
    y.Comment(2, p.why);
    y.Line(2, "- apiGroups:");
    y.Line(6, absl::StrCat("- ", p.api_group.empty() ? "\"\"" : p.api_group));
    y.List(4, "resources", p.resources);
    y.List(4, "verbs", p.verbs);
  }
  y.DocumentSeparator();
  y.Line(0, "apiVersion: rbac.authorization.k8s.io/v1");
  y.Line(0, "kind: ClusterRoleBinding");
  y.Line(0, "metadata:");
  y.Scalar(2, "name", kAgentRbacName);
  Labels(&y);
  y.Line(0, "roleRef:");
  y.Line(2, "apiGroup: rbac.authorization.k8s.io");
  y.Line(2, "kind: ClusterRole");
  y.Scalar(2, "name", kAgentRbacName);
  y.Line(0, "subjects:");
  y.Line(2, "- apiGroup: rbac.authorization.k8s.io");
  y.Line(4, "kind: Group");
  y.Scalar(4, "name", kAgentGroup);
  return y.str();
}

}  // namespace weft::generator
