// Kubernetes `Status` error objects as kube-apiserver writes them (metav1.Status),
// with the exact reasons and message shapes client libraries look at.
#ifndef WEFT_KUBEPRISM_TESTING_KUBE_STATUS_H_
#define WEFT_KUBEPRISM_TESTING_KUBE_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "kubeprism/testing/lab_apiserver.h"

namespace weft::kubeprism::testing {

struct ApiError {
  int code = 500;
  std::string reason;  // "NotFound", "Conflict", ...
  std::string message;
  std::string name;  // details.name, if any
  std::string group;
  std::string kind;  // details.kind: the resource plural, as the apiserver writes it
};

// {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",...}
std::string StatusJson(const ApiError& error);

// "services", or "endpointslices.discovery.k8s.io" for named groups.
std::string QualifiedResource(const LabResource& resource);

ApiError NotFoundError(const LabResource& resource, const std::string& name);
ApiError AlreadyExistsError(const LabResource& resource, const std::string& name);
ApiError ConflictError(const LabResource& resource, const std::string& name);
ApiError ForbiddenError(const std::string& user, const std::string& verb,
                        const LabResource& resource, const std::string& ns,
                        const std::string& name);
ApiError UnauthorizedError();
ApiError ExpiredError(const std::string& message);  // 410 Gone, reason Expired
ApiError BadRequestError(const std::string& message);
ApiError InvalidError(const LabResource& resource, const std::string& name,
                      const std::string& field_error);  // 422
ApiError MethodNotAllowedError();
ApiError UnsupportedMediaTypeError(const std::string& content_type);
ApiError PathNotFoundError();  // 404 for an unknown path or a hidden resource

// Maps an ObjectStore status (codes documented in object_store.h) to its ApiError.
ApiError FromStoreStatus(const absl::Status& status, const LabResource& resource,
                         const std::string& name);

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_KUBE_STATUS_H_
