#include "agent/lab/api.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "kubeprism/api_errors.h"
#include "kubeprism/http_transport.h"
#include "kubeprism/kubeconfig.h"

namespace weft::lab {

using nlohmann::json;

absl::StatusOr<std::unique_ptr<LabApi>> LabApi::Open(const std::string& kubeconfig,
                                                     absl::Duration request_timeout) {
  ASSIGN_OR_RETURN(kubeprism::ClientConfig config, kubeprism::LoadKubeconfig(kubeconfig));
  config.connect_timeout = std::min(config.connect_timeout, request_timeout);
  config.request_timeout = request_timeout;
  ASSIGN_OR_RETURN(std::unique_ptr<kubeprism::HttpTransport> transport,
                   kubeprism::HttpTransport::Create(config));
  return std::unique_ptr<LabApi>(new LabApi(std::move(transport)));
}

absl::StatusOr<json> LabApi::Create(const kubeprism::ResourceType& type, const std::string& ns,
                                    const json& object) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    auto created = client_->Create(type, ns, object);
    const bool no_service_account =
        absl::IsPermissionDenied(created.status()) &&
        absl::StrContains(created.status().message(), "service account");
    if (created.ok() || !no_service_account || absl::Now() > deadline) return created;
    absl::SleepFor(absl::Milliseconds(500));
  }
}

absl::Status LabApi::PatchStatus(const kubeprism::ResourceType& type, const std::string& ns,
                                 const std::string& name, const json& patch) {
  kubeprism::Request request;
  request.verb = "PATCH";
  request.path = absl::StrCat(type.ObjectPath(ns, name), "/status");
  request.body = patch.dump();
  request.content_type = "application/merge-patch+json";
  ASSIGN_OR_RETURN(kubeprism::Response response, client_->transport().Do(request));
  return kubeprism::HttpError(response.status, response.body,
                              kubeprism::RequestContext{"patch", &type, ns, name + "/status"});
}

absl::StatusOr<json> LabApi::Get(const kubeprism::ResourceType& type, const std::string& ns,
                                 const std::string& name) {
  return client_->Get(type, ns, name);
}

absl::StatusOr<std::vector<json>> LabApi::List(const kubeprism::ResourceType& type,
                                               const std::string& ns,
                                               const std::string& label_selector) {
  std::vector<json> items;
  kubeprism::ListOptions options;
  options.label_selector = label_selector;
  options.limit = 500;
  for (;;) {
    ASSIGN_OR_RETURN(std::string body, client_->ListPage(type, ns, options));
    json page = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!page.is_object()) {
      return absl::DataLossError(
          absl::StrCat("list ", type.plural, " in ", ns, ": the answer is not a JSON object"));
    }
    const json& list = page.contains("items") ? page["items"] : json();
    if (list.is_array()) {
      for (const json& item : list) items.push_back(item);
    }
    const json& meta = page.contains("metadata") ? page["metadata"] : json();
    const std::string next = meta.is_object() ? meta.value("continue", "") : "";
    if (next.empty()) return items;
    options.continue_token = next;
  }
}

absl::StatusOr<json> LabApi::Update(const kubeprism::ResourceType& type, const std::string& ns,
                                    const json& object) {
  return client_->Update(type, ns, object.at("metadata").at("name").get<std::string>(), object);
}

absl::Status LabApi::Delete(const kubeprism::ResourceType& type, const std::string& ns,
                            const std::string& name) {
  absl::Status s = client_->Delete(type, ns, name);
  if (kubeprism::IsNotFoundHttp(s)) return absl::OkStatus();
  return s;
}

}  // namespace weft::lab
