#include "kubeprism/testing/kube_status.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace weft::kubeprism::testing {
namespace {

ApiError Make(int code, const std::string& reason, const std::string& message) {
  ApiError e;
  e.code = code;
  e.reason = reason;
  e.message = message;
  return e;
}

ApiError WithDetails(ApiError e, const LabResource& resource, const std::string& name) {
  e.name = name;
  e.group = resource.group;
  e.kind = resource.plural;
  return e;
}

}  // namespace

std::string StatusJson(const ApiError& error) {
  nlohmann::json status = {
      {"kind", "Status"},         {"apiVersion", "v1"},       {"metadata", nlohmann::json::object()},
      {"status", "Failure"},      {"message", error.message}, {"reason", error.reason},
      {"code", error.code},
  };
  if (!error.name.empty() || !error.kind.empty()) {
    nlohmann::json details = nlohmann::json::object();
    if (!error.name.empty()) details["name"] = error.name;
    if (!error.group.empty()) details["group"] = error.group;
    if (!error.kind.empty()) details["kind"] = error.kind;
    status["details"] = details;
  }
  if (error.reason.empty()) status.erase("reason");
  return status.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string QualifiedResource(const LabResource& resource) {
  return resource.group.empty() ? resource.plural
                                : absl::StrCat(resource.plural, ".", resource.group);
}

ApiError NotFoundError(const LabResource& resource, const std::string& name) {
  return WithDetails(
      Make(404, "NotFound", absl::StrCat(QualifiedResource(resource), " \"", name, "\" not found")),
      resource, name);
}

ApiError AlreadyExistsError(const LabResource& resource, const std::string& name) {
  return WithDetails(Make(409, "AlreadyExists", absl::StrCat(QualifiedResource(resource), " \"",
                                                             name, "\" already exists")),
                     resource, name);
}

ApiError ConflictError(const LabResource& resource, const std::string& name) {
  return WithDetails(
      Make(409, "Conflict",
           absl::StrCat("Operation cannot be fulfilled on ", QualifiedResource(resource), " \"",
                        name,
                        "\": the object has been modified; please apply your changes to the "
                        "latest version and try again")),
      resource, name);
}

ApiError ForbiddenError(const std::string& user, const std::string& verb,
                        const LabResource& resource, const std::string& ns,
                        const std::string& name) {
  std::string subject = QualifiedResource(resource);
  if (!name.empty()) absl::StrAppend(&subject, " \"", name, "\"");
  std::string scope = ns.empty() ? "at the cluster scope" : absl::StrCat("in the namespace \"", ns, "\"");
  return WithDetails(
      Make(403, "Forbidden",
           absl::StrCat(subject, " is forbidden: User \"", user, "\" cannot ", verb,
                        " resource \"", resource.plural, "\" in API group \"", resource.group,
                        "\" ", scope)),
      resource, name);
}

ApiError UnauthorizedError() { return Make(401, "Unauthorized", "Unauthorized"); }

ApiError ExpiredError(const std::string& message) { return Make(410, "Expired", message); }

ApiError BadRequestError(const std::string& message) {
  return Make(400, "BadRequest", message);
}

ApiError InvalidError(const LabResource& resource, const std::string& name,
                      const std::string& field_error) {
  ApiError e = WithDetails(
      Make(422, "Invalid",
           absl::StrCat(resource.kind, " \"", name, "\" is invalid: ", field_error)),
      resource, name);
  e.kind = resource.kind;
  return e;
}

ApiError MethodNotAllowedError() {
  return Make(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
}

ApiError UnsupportedMediaTypeError(const std::string& content_type) {
  return Make(415, "UnsupportedMediaType",
              absl::StrCat("the body of the request was in an unknown format - accepted media "
                           "types include: application/json-patch+json, "
                           "application/merge-patch+json, "
                           "application/strategic-merge-patch+json (got \"",
                           content_type, "\")"));
}

ApiError PathNotFoundError() {
  return Make(404, "NotFound", "the server could not find the requested resource");
}

ApiError FromStoreStatus(const absl::Status& status, const LabResource& resource,
                         const std::string& name) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return NotFoundError(resource, name);
    case absl::StatusCode::kAlreadyExists:
      return AlreadyExistsError(resource, name);
    case absl::StatusCode::kAborted:
      return ConflictError(resource, name);
    case absl::StatusCode::kOutOfRange:
      return ExpiredError(std::string(status.message()));
    case absl::StatusCode::kFailedPrecondition:
      return InvalidError(resource, name, std::string(status.message()));
    case absl::StatusCode::kInvalidArgument:
      return BadRequestError(std::string(status.message()));
    default:
      return Make(500, "InternalError", std::string(status.message()));
  }
}

}  // namespace weft::kubeprism::testing
