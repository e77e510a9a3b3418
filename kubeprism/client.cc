#include "kubeprism/client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kubeprism/api_errors.h"
#include "kubeprism/decode.h"
#include "kubeprism/json_fields.h"

namespace weft::kubeprism {

using nlohmann::json;

Client::Client(std::shared_ptr<Transport> transport) : transport_(std::move(transport)) {}

absl::StatusOr<json> Client::Call(Request request, absl::string_view verb,
                                  const ResourceType& type, const std::string& ns,
                                  const std::string& name) {
  RequestContext context{verb, &type, ns, name};
  ASSIGN_OR_RETURN(Response response, transport_->Do(request));
  RETURN_IF_ERROR(HttpError(response.status, response.body, context));
  if (response.body.empty()) return json();
  return json_fields::Parse(
      response.body, absl::StrCat("response to ", verb, " ", type.QualifiedName(), " ", name));
}

absl::StatusOr<json> Client::Get(const ResourceType& type, const std::string& ns,
                                 const std::string& name) {
  Request request;
  request.path = type.ObjectPath(ns, name);
  return Call(std::move(request), "get", type, ns, name);
}

absl::StatusOr<std::string> Client::ListPage(const ResourceType& type, const std::string& ns,
                                             const ListOptions& options) {
  Request request;
  request.path = type.CollectionPath(ns);
  if (options.limit > 0) request.query.emplace_back("limit", absl::StrCat(options.limit));
  if (!options.continue_token.empty()) request.query.emplace_back("continue", options.continue_token);
  if (!options.label_selector.empty()) {
    request.query.emplace_back("labelSelector", options.label_selector);
  }
  if (!options.field_selector.empty()) {
    request.query.emplace_back("fieldSelector", options.field_selector);
  }
  request.timeout = absl::Seconds(60);
  request.cancel = options.cancel;
  ASSIGN_OR_RETURN(Response response, transport_->Do(request));
  RETURN_IF_ERROR(HttpError(response.status, response.body, RequestContext{"list", &type, ns, ""}));
  return std::move(response.body);
}

absl::StatusOr<json> Client::Create(const ResourceType& type, const std::string& ns,
                                    const json& object) {
  Request request;
  request.verb = "POST";
  request.path = type.CollectionPath(ns);
  request.body = object.dump();
  std::string name;
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object()) {
    name = object["metadata"].value("name", "");
  }
  return Call(std::move(request), "create", type, ns, name);
}

absl::StatusOr<json> Client::Update(const ResourceType& type, const std::string& ns,
                                    const std::string& name, const json& object) {
  Request request;
  request.verb = "PUT";
  request.path = type.ObjectPath(ns, name);
  request.body = object.dump();
  return Call(std::move(request), "update", type, ns, name);
}

absl::StatusOr<json> Client::Patch(const ResourceType& type, const std::string& ns,
                                   const std::string& name, PatchType patch_type,
                                   const json& patch) {
  Request request;
  request.verb = "PATCH";
  request.path = type.ObjectPath(ns, name);
  request.body = patch.dump();
  switch (patch_type) {
    case PatchType::kMerge:
      request.content_type = "application/merge-patch+json";
      break;
    case PatchType::kStrategicMerge:
      request.content_type = "application/strategic-merge-patch+json";
      break;
    case PatchType::kJsonPatch:
      request.content_type = "application/json-patch+json";
      break;
  }
  return Call(std::move(request), "patch", type, ns, name);
}

absl::Status Client::Delete(const ResourceType& type, const std::string& ns,
                            const std::string& name) {
  Request request;
  request.verb = "DELETE";
  request.path = type.ObjectPath(ns, name);
  return Call(std::move(request), "delete", type, ns, name).status();
}

absl::Status Client::AnnotateNode(const std::string& node, const std::string& key,
                                  const std::string& value) {
  json patch = {{"metadata", {{"annotations", {{key, value.empty() ? json() : json(value)}}}}}};
  return Patch(kNodes, "", node, PatchType::kMerge, patch).status();
}

absl::StatusOr<Lease> Client::GetLease(const std::string& ns, const std::string& name) {
  ASSIGN_OR_RETURN(json object, Get(kLeases, ns, name));
  return DecodeLease(object);
}

absl::StatusOr<Lease> Client::CreateLease(const Lease& lease) {
  Lease fresh = lease;
  fresh.meta.resource_version.clear();
  ASSIGN_OR_RETURN(json object, Create(kLeases, lease.meta.namespace_, EncodeLease(fresh)));
  return DecodeLease(object);
}

absl::StatusOr<Lease> Client::UpdateLease(const Lease& lease) {
  ASSIGN_OR_RETURN(json object,
                   Update(kLeases, lease.meta.namespace_, lease.meta.name, EncodeLease(lease)));
  return DecodeLease(object);
}

std::string FormatMicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

}  // namespace weft::kubeprism
