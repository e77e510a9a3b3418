// Turns Kubernetes API responses into absl::Status errors an operator can act on.
#ifndef WEFT_KUBEPRISM_API_ERRORS_H_
#define WEFT_KUBEPRISM_API_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kubeprism/resource_types.h"

namespace weft::kubeprism {

// What a request was doing, to name it in errors.
struct RequestContext {
  absl::string_view verb;  // Kubernetes verb: get, list, watch, create, update, patch, delete
  const ResourceType* type = nullptr;
  std::string ns;
  std::string name;
};

// OK for 2xx; otherwise an error whose message says what was refused and why:
// 401 Unauthenticated (credentials), 403 PermissionDenied (the RBAC verb/resource),
// 404 NotFound, 409 Aborted (conflict), 410 FailedPrecondition (expired
// resourceVersion), 5xx/429 Unavailable. The HTTP status is attached as a payload.
absl::Status HttpError(int http_status, absl::string_view body, const RequestContext& context);

// The HTTP status attached by HttpError, or 0.
int HttpStatusOf(const absl::Status& status);
inline bool IsGone(const absl::Status& s) { return HttpStatusOf(s) == 410; }
inline bool IsNotFoundHttp(const absl::Status& s) { return HttpStatusOf(s) == 404; }
inline bool IsConflict(const absl::Status& s) { return HttpStatusOf(s) == 409; }

// The "message" of a metav1.Status body, or a trimmed prefix of a non-Status body.
std::string StatusMessage(absl::string_view body);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_API_ERRORS_H_
