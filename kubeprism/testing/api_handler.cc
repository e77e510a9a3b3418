#include "kubeprism/testing/api_handler.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kubeprism/testing/selectors.h"

namespace weft::kubeprism::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kJson[] = "application/json";
constexpr size_t kWatchBatch = 512;
// How often an idle watch checks whether its client went away.
constexpr auto kWatchPoll = std::chrono::milliseconds(200);

std::string GroupVersion(const LabResource& r) {
  return r.group.empty() ? r.version : absl::StrCat(r.group, "/", r.version);
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Parses a request body without letting nlohmann's exceptions out.
absl::StatusOr<json> ParseBody(const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json");
  }
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError("the body of the request is not a JSON object");
  }
  return parsed;
}

std::string MetaString(const json& object, const char* field) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto it = meta->find(field);
  return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
}

// The continue token of kube-apiserver: base64url(JSON) of the snapshot RV and
// the key to resume after.
std::string EncodeContinue(int64_t rv, const std::string& last_key) {
  json token = {{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", last_key + '\0'}};
  return absl::WebSafeBase64Escape(Dump(token));
}

bool DecodeContinue(const std::string& text, int64_t* rv, std::string* after_key) {
  std::string decoded;
  if (!absl::WebSafeBase64Unescape(text, &decoded) && !absl::Base64Unescape(text, &decoded)) {
    return false;
  }
  json token = json::parse(decoded, nullptr, false);
  if (!token.is_object() || !token.contains("rv") || !token["rv"].is_number_integer() ||
      !token.contains("start") || !token["start"].is_string()) {
    return false;
  }
  *rv = token["rv"].get<int64_t>();
  *after_key = token["start"].get<std::string>();
  if (!after_key->empty() && after_key->back() == '\0') after_key->pop_back();
  return *rv > 0;
}

bool Truthy(const std::string& value) { return value == "true" || value == "1"; }

struct Filters {
  std::string ns;
  Selector fields;
  Selector labels;
  bool Matches(const ObjectPtr& object) const {
    if (object == nullptr) return false;
    if (!ns.empty() && object->ns != ns) return false;
    return fields.Matches(*object) && labels.Matches(*object);
  }
};

absl::StatusOr<Filters> ParseFilters(const std::string& ns, const HttpRequest& request) {
  Filters filters;
  filters.ns = ns;
  auto fields = Selector::ParseFields(request.Query("fieldSelector"));
  if (!fields.ok()) return fields.status();
  auto labels = Selector::ParseLabels(request.Query("labelSelector"));
  if (!labels.ok()) return labels.status();
  filters.fields = std::move(fields).value();
  filters.labels = std::move(labels).value();
  return filters;
}

std::string WatchLine(const char* type, absl::string_view object) {
  std::string line;
  line.reserve(object.size() + 32);
  absl::StrAppend(&line, "{\"type\":\"", type, "\",\"object\":", object, "}\n");
  return line;
}

}  // namespace

void SendError(HttpResponder& out, const ApiError& error) {
  out.Send(error.code, kJson, StatusJson(error));
}

void ApiHandler::SetHidden(int resource, bool hidden) {
  std::lock_guard<std::mutex> lock(hidden_mu_);
  if (hidden) {
    hidden_.insert(resource);
  } else {
    hidden_.erase(resource);
  }
}

bool ApiHandler::IsHidden(int resource) const {
  std::lock_guard<std::mutex> lock(hidden_mu_);
  return hidden_.count(resource) > 0;
}

std::vector<LabResource> ApiHandler::Visible() const {
  std::vector<LabResource> out;
  const auto& all = store_->resources();
  for (size_t i = 0; i < all.size(); ++i) {
    if (!IsHidden(static_cast<int>(i))) out.push_back(all[i]);
  }
  return out;
}

void ApiHandler::Handle(const HttpRequest& request, HttpResponder& out) const {
  std::vector<std::string> segments =
      absl::StrSplit(request.path, '/', absl::SkipEmpty());
  if (segments.size() == 1 && (segments[0] == "healthz" || segments[0] == "livez" ||
                               segments[0] == "readyz")) {
    out.Send(200, "text/plain; charset=utf-8", "ok");
    return;
  }
  if (segments.size() == 1 && segments[0] == "version") {
    out.Send(200, kJson,
             R"({"major":"1","minor":"30","gitVersion":"v1.30.0-weft-lab","platform":"linux/amd64"})");
    return;
  }
  std::optional<UserInfo> user = authenticator_->Authenticate(request);
  if (!user) {
    SendError(out, UnauthorizedError());
    return;
  }
  if (segments.empty() || (segments[0] != "api" && segments[0] != "apis")) {
    SendError(out, PathNotFoundError());
    return;
  }
  const bool core = segments[0] == "api";
  const size_t prefix = core ? 2 : 3;
  if (segments.size() < prefix) {
    ServeDiscovery(segments, out);
    return;
  }
  const std::string group = core ? "" : segments[1];
  const std::string version = segments[prefix - 1];
  std::vector<std::string> rest(segments.begin() + static_cast<long>(prefix), segments.end());
  if (rest.empty()) {
    ServeDiscovery(segments, out);
    return;
  }

  auto find = [&](const std::string& plural) {
    const int index = store_->FindResource(group, plural);
    if (index < 0 || store_->resources()[index].version != version || IsHidden(index)) return -1;
    return index;
  };
  Route route;
  if (rest[0] == "namespaces" && rest.size() >= 3 && find(rest[2]) >= 0 &&
      store_->resources()[find(rest[2])].namespaced) {
    route.resource = find(rest[2]);
    route.ns = rest[1];
    if (rest.size() > 3) route.name = rest[3];
    if (rest.size() > 4) route.subresource = rest[4];
    if (rest.size() > 5) route.resource = -1;
  } else {
    route.resource = find(rest[0]);
    if (rest.size() > 1) route.name = rest[1];
    if (rest.size() > 2) route.subresource = rest[2];
    if (rest.size() > 3) route.resource = -1;
    // A namespaced object is only addressable inside its namespace.
    if (route.resource >= 0 && resource(route).namespaced && !route.name.empty()) {
      route.resource = -1;
    }
  }
  if (route.resource < 0 || (!route.subresource.empty() && route.subresource != "status")) {
    SendError(out, PathNotFoundError());
    return;
  }

  const bool collection = route.name.empty();
  std::string verb;
  if (request.method == "GET") {
    verb = collection ? (Truthy(request.Query("watch")) ? "watch" : "list") : "get";
  } else if (request.method == "POST" && collection) {
    verb = "create";
  } else if (request.method == "PUT" && !collection) {
    verb = "update";
  } else if (request.method == "PATCH" && !collection) {
    verb = "patch";
  } else if (request.method == "DELETE" && !collection) {
    verb = "delete";
  } else {
    SendError(out, MethodNotAllowedError());
    return;
  }
  const LabResource& r = resource(route);
  const std::string authz_resource =
      route.subresource.empty() ? r.plural : absl::StrCat(r.plural, "/", route.subresource);
  if (!authorizer_->Allowed(*user, verb, r.group, authz_resource)) {
    LabResource shown = r;
    shown.plural = authz_resource;
    SendError(out, ForbiddenError(user->name, verb, shown, route.ns, route.name));
    return;
  }
  if (verb == "create" && r.namespaced && route.ns.empty()) {
    SendError(out, MethodNotAllowedError());
    return;
  }

  if (verb == "watch") {
    Watch(route, request, out);
  } else if (verb == "list") {
    List(route, request, out);
  } else if (verb == "get") {
    Get(route, out);
  } else if (verb == "create") {
    Create(route, request, out);
  } else if (verb == "update") {
    Update(route, request, out);
  } else if (verb == "patch") {
    Patch(route, request, out);
  } else {
    Delete(route, request, out);
  }
}

void ApiHandler::ServeDiscovery(const std::vector<std::string>& segments,
                                HttpResponder& out) const {
  const std::vector<LabResource> resources = Visible();
  auto group_json = [&](const std::string& group) {
    json versions = json::array();
    std::set<std::string> seen;
    for (const LabResource& r : resources) {
      if (r.group == group && seen.insert(r.version).second) {
        versions.push_back({{"groupVersion", GroupVersion(r)}, {"version", r.version}});
      }
    }
    json g = {{"name", group}, {"versions", versions}};
    if (!versions.empty()) g["preferredVersion"] = versions[0];
    return g;
  };
  auto resource_list = [&](const std::string& group, const std::string& version) {
    json list = json::array();
    for (const LabResource& r : resources) {
      if (r.group != group || r.version != version) continue;
      list.push_back({{"name", r.plural},
                      {"singularName", absl::AsciiStrToLower(r.kind)},
                      {"namespaced", r.namespaced},
                      {"kind", r.kind},
                      {"verbs", {"create", "delete", "get", "list", "patch", "update", "watch"}}});
      list.push_back({{"name", absl::StrCat(r.plural, "/status")},
                      {"singularName", ""},
                      {"namespaced", r.namespaced},
                      {"kind", r.kind},
                      {"verbs", {"get", "patch", "update"}}});
    }
    return list;
  };

  if (segments.size() == 1 && segments[0] == "api") {
    json body = {{"kind", "APIVersions"},
                 {"versions", {"v1"}},
                 {"serverAddressByClientCIDRs",
                  {{{"clientCIDR", "0.0.0.0/0"},
                    {"serverAddress", absl::StrCat("127.0.0.1:", port_.load())}}}}};
    out.Send(200, kJson, Dump(body));
    return;
  }
  if (segments.size() == 1 && segments[0] == "apis") {
    json groups = json::array();
    std::set<std::string> seen;
    for (const LabResource& r : resources) {
      if (!r.group.empty() && seen.insert(r.group).second) groups.push_back(group_json(r.group));
    }
    out.Send(200, kJson, Dump({{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}}));
    return;
  }
  if (segments.size() == 2 && segments[0] == "apis") {
    json g = group_json(segments[1]);
    if (g["versions"].empty()) {
      SendError(out, PathNotFoundError());
      return;
    }
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    out.Send(200, kJson, Dump(g));
    return;
  }
  const bool core = segments[0] == "api";
  const std::string group = core ? "" : segments[1];
  const std::string version = core ? segments[1] : segments[2];
  json list = resource_list(group, version);
  if (list.empty()) {
    SendError(out, PathNotFoundError());
    return;
  }
  out.Send(200, kJson,
           Dump({{"kind", "APIResourceList"},
                 {"apiVersion", "v1"},
                 {"groupVersion", group.empty() ? version : absl::StrCat(group, "/", version)},
                 {"resources", list}}));
}

void ApiHandler::List(const Route& route, const HttpRequest& request, HttpResponder& out) const {
  const LabResource& r = resource(route);
  auto filters = ParseFilters(route.ns, request);
  if (!filters.ok()) {
    SendError(out, BadRequestError(std::string(filters.status().message())));
    return;
  }
  int64_t limit = 0;
  const std::string limit_text = request.Query("limit");
  if (!limit_text.empty() && (!absl::SimpleAtoi(limit_text, &limit) || limit < 0)) {
    SendError(out, BadRequestError(absl::StrCat("invalid limit: ", limit_text)));
    return;
  }
  int64_t at_rv = 0;
  std::string after_key;
  const std::string continue_token = request.Query("continue");
  const std::string rv_text = request.Query("resourceVersion");
  if (!continue_token.empty()) {
    if (!DecodeContinue(continue_token, &at_rv, &after_key)) {
      SendError(out, BadRequestError("continue key is not valid: incorrect encoded start "
                                     "resourceVersion (version meta.k8s.io/v1)"));
      return;
    }
    if (at_rv < store_->compacted_resource_version()) {
      SendError(out, ExpiredError(
                         "The provided continue parameter is too old to display a consistent "
                         "list result. You can start a new list without the continue "
                         "parameter, or use the continue token in this response to retrieve "
                         "the remainder of the results. Continuing with the provided token "
                         "results in an inconsistent list - objects that were created, "
                         "modified, or deleted between the time the first chunk was returned "
                         "and now may show up in the list."));
      return;
    }
  } else if (!rv_text.empty() && rv_text != "0") {
    int64_t wanted = 0;
    if (!absl::SimpleAtoi(rv_text, &wanted) || wanted < 0) {
      SendError(out, BadRequestError(absl::StrCat("invalid resource version: ", rv_text)));
      return;
    }
    // Exact reads that version; NotOlderThan (the default) may serve the latest.
    if (request.Query("resourceVersionMatch") == "Exact") at_rv = wanted;
    if (wanted < store_->compacted_resource_version()) {
      SendError(out, ExpiredError(absl::StrCat("too old resource version: ", wanted, " (",
                                               store_->compacted_resource_version(), ")")));
      return;
    }
  }
  const Filters& f = *filters;
  auto page = store_->List(route.resource, route.ns, at_rv, after_key, limit,
                           [&f](const StoredObject& o) {
                             return f.fields.Matches(o) && f.labels.Matches(o);
                           });
  if (!page.ok()) {
    SendError(out, FromStoreStatus(page.status(), r, ""));
    return;
  }
  size_t size = 256;
  for (const ObjectPtr& item : page->items) size += item->item.size() + 1;
  std::string body;
  body.reserve(size);
  absl::StrAppend(&body, "{\"kind\":\"", r.kind, "List\",\"apiVersion\":\"", GroupVersion(r),
                  "\",\"metadata\":{\"resourceVersion\":\"", page->resource_version, "\"");
  if (!page->last_key.empty()) {
    absl::StrAppend(&body, ",\"continue\":\"",
                    EncodeContinue(page->resource_version, page->last_key), "\"");
  }
  body += "},\"items\":[";
  for (size_t i = 0; i < page->items.size(); ++i) {
    if (i > 0) body += ',';
    body += page->items[i]->item;
  }
  body += "]}";
  out.Send(200, kJson, body);
}

void ApiHandler::Watch(const Route& route, const HttpRequest& request, HttpResponder& out) const {
  const LabResource& r = resource(route);
  auto parsed = ParseFilters(route.ns, request);
  if (!parsed.ok()) {
    SendError(out, BadRequestError(std::string(parsed.status().message())));
    return;
  }
  Filters filters = std::move(parsed).value();
  if (!route.name.empty()) filters.ns = route.ns;
  const bool bookmarks = Truthy(request.Query("allowWatchBookmarks"));
  int64_t timeout_seconds = 0;
  const std::string timeout_text = request.Query("timeoutSeconds");
  if (!timeout_text.empty() && (!absl::SimpleAtoi(timeout_text, &timeout_seconds) ||
                                timeout_seconds < 0)) {
    SendError(out, BadRequestError(absl::StrCat("invalid timeoutSeconds: ", timeout_text)));
    return;
  }
  const std::string rv_text = request.Query("resourceVersion");
  int64_t from_rv = 0;
  const bool initial = rv_text.empty() || rv_text == "0";
  if (!initial && (!absl::SimpleAtoi(rv_text, &from_rv) || from_rv < 0)) {
    SendError(out, BadRequestError(absl::StrCat("invalid resource version: ", rv_text)));
    return;
  }

  const int64_t epoch = store_->watch_epoch();
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      timeout_seconds > 0 ? start + std::chrono::seconds(timeout_seconds) : Clock::time_point::max();
  const auto bookmark_every = std::chrono::milliseconds(std::max(bookmark_interval_ms_, 1));
  Clock::time_point next_bookmark = start + bookmark_every;

  if (!out.StartStream(200, kJson)) return;
  auto send_error = [&](const ApiError& error) {
    out.SendChunk(WatchLine("ERROR", StatusJson(error)));
    out.EndStream();
  };

  if (initial) {
    // Synthetic ADDED events for the state at the start, then changes after it.
    std::string after_key;
    do {
      auto page = store_->List(route.resource, route.ns, from_rv, after_key, 1000,
                               [&filters](const StoredObject& o) {
                                 return filters.fields.Matches(o) && filters.labels.Matches(o);
                               });
      if (!page.ok()) {
        send_error(FromStoreStatus(page.status(), r, ""));
        return;
      }
      from_rv = page->resource_version;
      std::string chunk;
      for (const ObjectPtr& o : page->items) chunk += WatchLine("ADDED", o->full);
      if (!out.SendChunk(chunk)) return;
      after_key = page->last_key;
    } while (!after_key.empty());
  }

  int64_t seen_rv = from_rv;
  while (true) {
    if (store_->watch_epoch() != epoch) {
      out.Abort();  // as if a load balancer cut the connection
      return;
    }
    if (out.PeerClosed()) {
      out.Abort();
      return;
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      out.EndStream();
      return;
    }
    auto batch = store_->EventsAfter(route.resource, seen_rv, kWatchBatch);
    if (!batch.ok()) {
      send_error(ExpiredError(std::string(batch.status().message())));
      return;
    }
    std::string chunk;
    for (const StoreEvent& event : batch->events) {
      const bool now_matches = filters.Matches(event.object);
      const char* type = nullptr;
      switch (event.type) {
        case EventType::kAdded:
          if (now_matches) type = "ADDED";
          break;
        case EventType::kDeleted:
          if (now_matches) type = "DELETED";
          break;
        case EventType::kModified: {
          const bool was = filters.Matches(event.previous);
          if (was && now_matches) type = "MODIFIED";
          if (!was && now_matches) type = "ADDED";
          if (was && !now_matches) type = "DELETED";
          break;
        }
      }
      if (type != nullptr) chunk += WatchLine(type, event.object->full);
    }
    const bool progressed = batch->scanned_to > seen_rv;
    seen_rv = batch->scanned_to;
    if (bookmarks && now >= next_bookmark) {
      json bookmark = {{"kind", r.kind},
                       {"apiVersion", GroupVersion(r)},
                       {"metadata", {{"resourceVersion", std::to_string(seen_rv)}}}};
      chunk += WatchLine("BOOKMARK", Dump(bookmark));
      next_bookmark = now + bookmark_every;
    }
    if (!chunk.empty() && !out.SendChunk(chunk)) return;
    if (!progressed) {
      Clock::time_point wake = std::min(now + kWatchPoll, deadline);
      if (bookmarks) wake = std::min(wake, next_bookmark);
      store_->WaitForChange(seen_rv, epoch, wake);
    }
  }
}

void ApiHandler::Get(const Route& route, HttpResponder& out) const {
  auto object = store_->Get(route.resource, route.ns, route.name);
  if (!object.ok()) {
    SendError(out, FromStoreStatus(object.status(), resource(route), route.name));
    return;
  }
  out.Send(200, kJson, (*object)->full);
}

void ApiHandler::Create(const Route& route, const HttpRequest& request, HttpResponder& out) const {
  const LabResource& r = resource(route);
  auto body = ParseBody(request.body);
  if (!body.ok()) {
    SendError(out, BadRequestError(std::string(body.status().message())));
    return;
  }
  const std::string body_ns = MetaString(*body, "namespace");
  if (r.namespaced && !body_ns.empty() && body_ns != route.ns) {
    SendError(out, BadRequestError("the namespace of the provided object does not match the "
                                   "namespace sent on the request"));
    return;
  }
  if (!(*body)["metadata"].is_object()) (*body)["metadata"] = json::object();
  if (r.namespaced) (*body)["metadata"]["namespace"] = route.ns;
  const std::string name = MetaString(*body, "name");
  auto stored = store_->Create(route.resource, std::move(body).value());
  if (!stored.ok()) {
    SendError(out, FromStoreStatus(stored.status(), r, name));
    return;
  }
  out.Send(201, kJson, (*stored)->full);
}

void ApiHandler::Update(const Route& route, const HttpRequest& request, HttpResponder& out) const {
  const LabResource& r = resource(route);
  auto body = ParseBody(request.body);
  if (!body.ok()) {
    SendError(out, BadRequestError(std::string(body.status().message())));
    return;
  }
  const std::string name = MetaString(*body, "name");
  if (name.empty()) {
    SendError(out, InvalidError(r, "", "metadata.name: Required value: name is required"));
    return;
  }
  if (name != route.name) {
    SendError(out, BadRequestError(absl::StrCat("the name of the object (", name,
                                                ") does not match the name on the URL (",
                                                route.name, ")")));
    return;
  }
  const std::string body_ns = MetaString(*body, "namespace");
  if (r.namespaced && !body_ns.empty() && body_ns != route.ns) {
    SendError(out, BadRequestError("the namespace of the provided object does not match the "
                                   "namespace sent on the request"));
    return;
  }
  if (r.namespaced) (*body)["metadata"]["namespace"] = route.ns;
  auto stored = store_->Update(route.resource, std::move(body).value());
  if (!stored.ok()) {
    SendError(out, FromStoreStatus(stored.status(), r, route.name));
    return;
  }
  out.Send(200, kJson, (*stored)->full);
}

void ApiHandler::Patch(const Route& route, const HttpRequest& request, HttpResponder& out) const {
  const LabResource& r = resource(route);
  std::string content_type = absl::AsciiStrToLower(request.Header("content-type"));
  content_type = content_type.substr(0, content_type.find(';'));
  const bool merge = content_type == "application/merge-patch+json" ||
                     content_type == "application/strategic-merge-patch+json";
  const bool json_patch = content_type == "application/json-patch+json";
  if (!merge && !json_patch) {
    SendError(out, UnsupportedMediaTypeError(content_type));
    return;
  }
  json patch = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded() || (merge && !patch.is_object()) || (json_patch && !patch.is_array())) {
    SendError(out, BadRequestError("the body of the request is not a valid patch"));
    return;
  }
  auto stored = store_->Mutate(
      route.resource, route.ns, route.name,
      [&](const json& current) -> absl::StatusOr<json> {
        try {
          if (json_patch) return current.patch(patch);
          json result = current;
          result.merge_patch(patch);
          return result;
        } catch (const std::exception& e) {
          return absl::InvalidArgumentError(absl::StrCat("the patch cannot be applied: ", e.what()));
        }
      });
  if (!stored.ok()) {
    SendError(out, FromStoreStatus(stored.status(), r, route.name));
    return;
  }
  out.Send(200, kJson, (*stored)->full);
}

void ApiHandler::Delete(const Route& route, const HttpRequest& request, HttpResponder& out) const {
  std::string precondition;
  if (!request.body.empty()) {
    json options = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (options.is_discarded() || !options.is_object()) {
      SendError(out, BadRequestError("the body of the request is not valid DeleteOptions"));
      return;
    }
    auto pre = options.find("preconditions");
    if (pre != options.end() && pre->is_object()) {
      auto rv = pre->find("resourceVersion");
      if (rv != pre->end() && rv->is_string()) precondition = rv->get<std::string>();
    }
  }
  auto stored = store_->Delete(route.resource, route.ns, route.name, precondition);
  if (!stored.ok()) {
    SendError(out, FromStoreStatus(stored.status(), resource(route), route.name));
    return;
  }
  out.Send(200, kJson, (*stored)->full);
}

}  // namespace weft::kubeprism::testing
