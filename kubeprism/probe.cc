#include "kubeprism/probe.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "kubeprism/api_errors.h"
#include "kubeprism/client.h"
#include "kubeprism/decode.h"
#include "kubeprism/informer.h"
#include "kubeprism/json_fields.h"

namespace weft::kubeprism {
namespace {

std::string RbacLabel(const absl::Status& error, absl::string_view verb) {
  switch (HttpStatusOf(error)) {
    case 401:
      return "unauthorized";
    case 403:
      return absl::StrCat("forbidden(", verb, ")");
    default:
      return error.code() == absl::StatusCode::kUnauthenticated ? "unauthorized" : "error";
  }
}

// Lists every page, counting items without decoding them.
absl::Status CountAll(Client& client, const ResourceType& type, ProbeRow* row) {
  ListOptions options;
  options.limit = 500;
  int64_t count = 0;
  while (true) {
    absl::StatusOr<std::string> body = client.ListPage(type, "", options);
    if (!body.ok()) return body.status();
    absl::StatusOr<nlohmann::json> page =
        json_fields::Parse(*body, absl::StrCat("list of ", type.QualifiedName()));
    if (!page.ok()) return page.status();
    if (page->is_object() && page->contains("items") && (*page)["items"].is_array()) {
      count += static_cast<int64_t>((*page)["items"].size());
    }
    std::string next;
    if (page->is_object() && page->contains("metadata") && (*page)["metadata"].is_object()) {
      const nlohmann::json& meta = (*page)["metadata"];
      if (meta.contains("resourceVersion") && meta["resourceVersion"].is_string()) {
        row->resource_version = meta["resourceVersion"].get<std::string>();
      }
      if (meta.contains("continue") && meta["continue"].is_string()) {
        next = meta["continue"].get<std::string>();
      }
    }
    if (next.empty()) break;
    options.continue_token = std::move(next);
  }
  row->count = count;
  return absl::OkStatus();
}

// Opens a watch and closes it as soon as the server answers.
absl::Status CheckWatch(Transport& transport, const ResourceType& type,
                        const std::string& resource_version) {
  Request request;
  request.path = type.CollectionPath("");
  request.query = {{"watch", "true"},
                   {"resourceVersion", resource_version},
                   {"allowWatchBookmarks", "true"},
                   {"timeoutSeconds", "1"}};
  request.timeout = absl::Seconds(10);
  StreamHandlers handlers;
  handlers.on_status = [](int status) { return status < 200 || status >= 300; };
  handlers.on_line = [](absl::string_view) { return false; };
  CancelToken cancel;
  absl::StatusOr<StreamResult> result = transport.Stream(request, handlers, &cancel);
  if (!result.ok()) return result.status();
  return HttpError(result->status == 0 ? 200 : result->status, result->error_body,
                   RequestContext{"watch", &type, "", ""});
}

void ProbeOne(Transport& transport, ProbeRow* row) {
  // Client only borrows the transport here.
  Client client(std::shared_ptr<Transport>(&transport, [](Transport*) {}));
  absl::Status listed = CountAll(client, *row->type, row);
  if (!listed.ok()) {
    if (row->type->custom && IsNotFoundHttp(listed)) {
      row->rbac = "absent";
      return;
    }
    row->rbac = RbacLabel(listed, "list");
    row->error = listed;
    return;
  }
  absl::Status watched = CheckWatch(transport, *row->type, row->resource_version);
  if (!watched.ok()) {
    row->rbac = RbacLabel(watched, "watch");
    row->error = watched;
    return;
  }
  row->rbac = "ok";
}

}  // namespace

bool ProbeReport::ok() const {
  for (const ProbeRow& row : rows) {
    if (!row.error.ok()) return false;
  }
  return true;
}

ProbeReport RunProbe(Transport& transport, const std::vector<const ResourceType*>& types) {
  ProbeReport report;
  report.rows.resize(types.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < types.size(); ++i) {
    report.rows[i].type = types[i];
    threads.emplace_back([&transport, row = &report.rows[i]] { ProbeOne(transport, row); });
  }
  for (std::thread& t : threads) t.join();
  report.server = transport.server();
  return report;
}

std::string RenderProbeReport(const ProbeReport& report) {
  std::string out = absl::StrFormat("%-34s %-20s %7s %16s  %s\n", "RESOURCE", "GROUP", "COUNT",
                                    "RESOURCEVERSION", "RBAC");
  for (const ProbeRow& row : report.rows) {
    absl::StrAppendFormat(&out, "%-34s %-20s %7s %16s  %s\n", row.type->plural,
                          row.type->group.empty() ? "core" : row.type->group,
                          row.count < 0 ? "-" : absl::StrCat(row.count),
                          row.resource_version.empty() ? "-" : row.resource_version, row.rbac);
  }
  // The same cause (KubePrism down, bad credentials) is printed once.
  std::vector<std::pair<std::string, std::vector<std::string>>> causes;
  for (const ProbeRow& row : report.rows) {
    if (row.error.ok()) continue;
    std::string message(row.error.message());
    auto it = std::find_if(causes.begin(), causes.end(),
                           [&message](const auto& c) { return c.first == message; });
    if (it == causes.end()) {
      causes.push_back({message, {}});
      it = causes.end() - 1;
    }
    it->second.push_back(row.type->QualifiedName());
  }
  if (!causes.empty()) absl::StrAppend(&out, "\nerrors:\n");
  for (const auto& [message, resources] : causes) {
    const std::string who = resources.size() == report.rows.size() && resources.size() > 1
                                ? "all resources"
                                : absl::StrJoin(resources, ", ");
    absl::StrAppend(&out, "  ", who, ": ", message, "\n");
  }
  return out;
}

void WatchAndPrint(std::shared_ptr<Transport> transport,
                   const std::vector<const ResourceType*>& types, std::ostream& out,
                   absl::Notification& stop) {
  absl::Mutex out_mu;
  auto print = [&out, &out_mu](absl::string_view event, const GenericObject& o) {
    absl::MutexLock lock(&out_mu);
    out << event << " " << o.meta.Key() << " " << o.kind << " rv=" << o.meta.resource_version
        << std::endl;
  };
  std::vector<std::unique_ptr<Informer<GenericObject>>> informers;
  for (const ResourceType* type : types) {
    auto informer = std::make_unique<Informer<GenericObject>>(
        transport, *type, [type](const nlohmann::json& o) { return DecodeGeneric(o, *type); });
    informer->AddHandlers({[&print](const GenericObject& o) { print("ADDED", o); },
                           [&print](const GenericObject&, const GenericObject& o) {
                             print("MODIFIED", o);
                           },
                           [&print](const GenericObject& o) { print("DELETED", o); }});
    informer->Start();
    informers.push_back(std::move(informer));
  }
  stop.WaitForNotification();
  for (auto& informer : informers) informer->Stop();
}

}  // namespace weft::kubeprism
