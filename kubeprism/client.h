// REST calls on Kubernetes objects (get, create, update, patch, delete) with JSON
// bodies, plus typed Lease helpers for leader election. Errors come from
// api_errors.h and name the verb, resource and object.
#ifndef WEFT_KUBEPRISM_CLIENT_H_
#define WEFT_KUBEPRISM_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kubeprism/objects.h"
#include "kubeprism/resource_types.h"
#include "kubeprism/transport.h"
#include "nlohmann/json.hpp"

namespace weft::kubeprism {

enum class PatchType {
  kMerge,           // application/merge-patch+json
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in types only)
  kJsonPatch,       // application/json-patch+json
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int limit = 0;  // 0 = no paging
  std::string continue_token;
  CancelToken* cancel = nullptr;  // aborts the request when cancelled
};

class Client {
 public:
  explicit Client(std::shared_ptr<Transport> transport);

  absl::StatusOr<nlohmann::json> Get(const ResourceType& type, const std::string& ns,
                                     const std::string& name);
  // One page of a list, as the raw body (callers parse it page by page).
  absl::StatusOr<std::string> ListPage(const ResourceType& type, const std::string& ns,
                                       const ListOptions& options);
  absl::StatusOr<nlohmann::json> Create(const ResourceType& type, const std::string& ns,
                                        const nlohmann::json& object);
  // Replaces the object; metadata.resourceVersion in `object` makes it conditional
  // (a stale one fails with Aborted / HTTP 409).
  absl::StatusOr<nlohmann::json> Update(const ResourceType& type, const std::string& ns,
                                        const std::string& name, const nlohmann::json& object);
  absl::StatusOr<nlohmann::json> Patch(const ResourceType& type, const std::string& ns,
                                       const std::string& name, PatchType patch_type,
                                       const nlohmann::json& patch);
  absl::Status Delete(const ResourceType& type, const std::string& ns, const std::string& name);

  // Sets one annotation on a Node with a merge patch (empty value removes it).
  absl::Status AnnotateNode(const std::string& node, const std::string& key,
                            const std::string& value);

  absl::StatusOr<Lease> GetLease(const std::string& ns, const std::string& name);
  absl::StatusOr<Lease> CreateLease(const Lease& lease);
  // Conditional on lease.meta.resource_version.
  absl::StatusOr<Lease> UpdateLease(const Lease& lease);

  Transport& transport() { return *transport_; }

 private:
  absl::StatusOr<nlohmann::json> Call(Request request, absl::string_view verb,
                                      const ResourceType& type, const std::string& ns,
                                      const std::string& name);

  std::shared_ptr<Transport> transport_;
};

// RFC 3339 with microseconds in UTC, as metav1.MicroTime ("2024-01-02T03:04:05.000006Z").
std::string FormatMicroTime(absl::Time t);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_CLIENT_H_
