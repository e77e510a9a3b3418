#include "kubeprism/api_errors.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace weft::kubeprism {
namespace {

constexpr char kHttpStatusPayload[] = "weft.kubeprism/http-status";

std::string Target(const RequestContext& c) {
  std::string out = c.type == nullptr ? "?" : c.type->QualifiedName();
  if (!c.name.empty()) absl::StrAppend(&out, " ", c.name);
  if (!c.ns.empty()) absl::StrAppend(&out, " in namespace ", c.ns);
  return out;
}

}  // namespace

std::string StatusMessage(absl::string_view body) {
  nlohmann::json parsed = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object()) {
    auto it = parsed.find("message");
    if (it != parsed.end() && it->is_string()) return it->get<std::string>();
  }
  std::string text(absl::StripAsciiWhitespace(body.substr(0, 200)));
  return text;
}

absl::Status HttpError(int http_status, absl::string_view body, const RequestContext& c) {
  if (http_status >= 200 && http_status < 300) return absl::OkStatus();
  const std::string server_says = StatusMessage(body);
  const std::string suffix = server_says.empty() ? "" : absl::StrCat(" (server: ", server_says, ")");
  absl::Status status;
  switch (http_status) {
    case 401:
      status = absl::UnauthenticatedError(absl::StrCat(
          "unauthorized: the API server rejected the client credentials (expired or unknown "
          "client certificate or token) for ",
          c.verb, " ", Target(c), suffix));
      break;
    case 403:
      status = absl::PermissionDeniedError(absl::StrCat(
          "forbidden: RBAC refused ", c.verb, " ", c.type == nullptr ? "?" : c.type->plural,
          " in group ", c.type == nullptr || c.type->group.empty() ? "\"\" (core)"
                                                                    : std::string(c.type->group),
          c.ns.empty() ? "" : absl::StrCat(" in namespace ", c.ns),
          ": grant it in the ClusterRole", suffix));
      break;
    case 404:
      status = absl::NotFoundError(absl::StrCat("not found: ", c.verb, " ", Target(c), suffix));
      break;
    case 409:
      status = absl::AbortedError(absl::StrCat("conflict: ", c.verb, " ", Target(c), suffix));
      break;
    case 410:
      status = absl::FailedPreconditionError(
          absl::StrCat("gone: resourceVersion expired for ", c.verb, " ", Target(c), suffix));
      break;
    case 422:
    case 400:
      status = absl::InvalidArgumentError(
          absl::StrCat("rejected (HTTP ", http_status, "): ", c.verb, " ", Target(c), suffix));
      break;
    case 429:
      status = absl::UnavailableError(
          absl::StrCat("throttled (HTTP 429): ", c.verb, " ", Target(c), suffix));
      break;
    default:
      if (http_status >= 500) {
        status = absl::UnavailableError(absl::StrCat("server error (HTTP ", http_status, "): ",
                                                     c.verb, " ", Target(c), suffix));
      } else {
        status = absl::UnknownError(absl::StrCat("unexpected HTTP ", http_status, ": ", c.verb,
                                                 " ", Target(c), suffix));
      }
  }
  status.SetPayload(kHttpStatusPayload, absl::Cord(absl::StrCat(http_status)));
  return status;
}

int HttpStatusOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kHttpStatusPayload);
  int code = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &code)) return 0;
  return code;
}

}  // namespace weft::kubeprism
