// A small kube-apiserver look-alike for tests and the lab (never for production).
//
// JSON over HTTPS with a generated CA; client-certificate (CN = user, O = groups)
// and bearer-token authentication; an allow-list authorizer that can refuse a
// verb/resource; list with paging (limit/continue); watch with bookmarks
// (allowWatchBookmarks) from a resourceVersion; one cluster-wide, monotonically
// increasing resourceVersion; 410 Gone (Status reason "Expired") for versions
// older than the compaction point; create/update/patch (merge and strategic merge
// treated as JSON merge patch)/delete with optimistic concurrency (409 Conflict on
// a stale metadata.resourceVersion); Stop() and Restart() mid-test on the same port
// with the same data, as an apiserver restart looks to a client.
#ifndef WEFT_KUBEPRISM_TESTING_LAB_APISERVER_H_
#define WEFT_KUBEPRISM_TESTING_LAB_APISERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace weft::kubeprism::testing {

// A resource the server serves, e.g. {"", "v1", "services", "Service", true} or
// {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true}.
struct LabResource {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = true;
};

// The resources the agent uses (Nodes, Pods, Namespaces, Services, EndpointSlices,
// NetworkPolicies, Leases, CiliumNetworkPolicies, CiliumClusterwideNetworkPolicies).
std::vector<LabResource> DefaultLabResources();

// One allow rule. "*" matches anything. Verbs are Kubernetes verbs: get, list,
// watch, create, update, patch, delete. `resource` is the plural ("services").
struct LabRule {
  std::string subject;  // user name, or "group:<name>"
  std::string verb;
  std::string group;  // API group ("" core, "discovery.k8s.io", ...)
  std::string resource;
};

// The allow rules of a `lab-apiserver --rules` file: a YAML list of
// {subject, verb, group, resource}; a missing key means "*" (group: core "").
// `source` names the file in errors.
absl::StatusOr<std::vector<LabRule>> ParseLabRulesYaml(const std::string& text,
                                                      const std::string& source);

struct LabApiServerOptions {
  // Where the generated CA, server certificate and issued client credentials go.
  std::string state_dir;
  // 127.0.0.1:<port>; 0 picks a free port (kept across Restart()).
  int port = 0;
  // Server certificate SANs: always localhost and 127.0.0.1, plus these.
  std::vector<std::string> extra_sans;
  std::vector<LabResource> resources = DefaultLabResources();
  // Allow rules. Empty = everything is allowed for every authenticated subject.
  std::vector<LabRule> rules;
  // Events kept for watch resumption; older resourceVersions get 410 Gone.
  int watch_history = 10000;
  // Interval between BOOKMARK events on open watches.
  int bookmark_interval_ms = 1000;
};

struct LabCredentials {
  std::string cert_pem;
  std::string key_pem;
};

class LabApiServer {
 public:
  static absl::StatusOr<std::unique_ptr<LabApiServer>> Start(LabApiServerOptions options);
  virtual ~LabApiServer() = default;

  virtual int port() const = 0;
  virtual std::string url() const = 0;  // "https://127.0.0.1:<port>"
  virtual std::string ca_pem() const = 0;
  virtual std::string ca_file() const = 0;  // PEM on disk, for kubeconfigs

  // Client credentials signed by the server's CA (CN = user, O = groups).
  // `valid_seconds` < 0 mints an already expired certificate.
  virtual absl::StatusOr<LabCredentials> IssueClientCert(const std::string& user,
                                                         const std::vector<std::string>& groups,
                                                         int64_t valid_seconds = 86400) = 0;
  virtual void AddToken(const std::string& token, const std::string& user,
                        const std::vector<std::string>& groups) = 0;
  virtual void SetRules(std::vector<LabRule> rules) = 0;
  // Hides (or shows again) one of the served resources: while hidden, its paths
  // and its group/version in discovery answer 404, as for a CRD that is not
  // installed. Its objects are kept.
  virtual void SetResourceHidden(const LabResource& resource, bool hidden) = 0;

  // Direct store access for tests (bypasses authn/authz, emits watch events).
  // `object_json` is a full object; metadata.resourceVersion/uid are assigned.
  virtual absl::StatusOr<std::string> Put(const LabResource& resource,
                                          const std::string& object_json) = 0;
  virtual absl::Status Remove(const LabResource& resource, const std::string& ns,
                              const std::string& name) = 0;
  // Stores raw bytes as an item of the next list responses (to test decoders).
  virtual absl::Status PutRaw(const LabResource& resource, const std::string& ns,
                              const std::string& name, const std::string& raw_json) = 0;
  // Forget watch history up to now: older resourceVersions get 410 Gone.
  virtual void Compact() = 0;
  // Close all open watch connections (as a load balancer dropping them would).
  virtual void DropWatches() = 0;
  virtual int64_t resource_version() const = 0;

  // Stop listening and close every connection; Restart() listens on the same port
  // with the same objects and resourceVersions.
  virtual void Stop() = 0;
  virtual absl::Status Restart() = 0;
};

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_LAB_APISERVER_H_
