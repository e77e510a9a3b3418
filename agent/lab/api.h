// The lab's few calls to the Kubernetes API (create, status patches, lists for
// the EndpointSlice controller, updates, delete),
// over the kubeprism client with the lab's admin kubeconfig.
#ifndef WEFT_AGENT_LAB_API_H_
#define WEFT_AGENT_LAB_API_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kubeprism/client.h"
#include "kubeprism/resource_types.h"
#include "nlohmann/json.hpp"

namespace weft::lab {

class LabApi {
 public:
  // Credentials and server from `kubeconfig`; every request gives up after
  // `request_timeout`.
  static absl::StatusOr<std::unique_ptr<LabApi>> Open(const std::string& kubeconfig,
                                                      absl::Duration request_timeout);

  // Creates the object. A Pod refused only because the namespace's default
  // ServiceAccount does not exist yet (a fresh namespace in a real cluster) is
  // retried for a while.
  absl::StatusOr<nlohmann::json> Create(const kubeprism::ResourceType& type, const std::string& ns,
                                        const nlohmann::json& object);
  // JSON merge patch of the status subresource (what kubelet and the
  // controllers write; a patch of the object itself ignores status).
  absl::Status PatchStatus(const kubeprism::ResourceType& type, const std::string& ns,
                           const std::string& name, const nlohmann::json& patch);
  absl::StatusOr<nlohmann::json> Get(const kubeprism::ResourceType& type, const std::string& ns,
                                     const std::string& name);
  // The items of a list in `ns`, optionally by label selector ("a=b,c=d").
  absl::StatusOr<std::vector<nlohmann::json>> List(const kubeprism::ResourceType& type,
                                                   const std::string& ns,
                                                   const std::string& label_selector = "");
  // Replaces the object (conditional on its metadata.resourceVersion).
  absl::StatusOr<nlohmann::json> Update(const kubeprism::ResourceType& type, const std::string& ns,
                                        const nlohmann::json& object);
  // An object that is already gone is not an error.
  absl::Status Delete(const kubeprism::ResourceType& type, const std::string& ns,
                      const std::string& name);

  std::string server() const { return client_->transport().server(); }

 private:
  explicit LabApi(std::shared_ptr<kubeprism::Transport> transport)
      : client_(new kubeprism::Client(transport)) {}
  std::unique_ptr<kubeprism::Client> client_;
};

}  // namespace weft::lab

#endif  // WEFT_AGENT_LAB_API_H_
