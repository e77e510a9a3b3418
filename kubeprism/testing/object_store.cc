#include "kubeprism/testing/object_store.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace weft::kubeprism::testing {
namespace {

using nlohmann::json;

std::string Now3339() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string GroupVersion(const LabResource& r) {
  return r.group.empty() ? r.version : absl::StrCat(r.group, "/", r.version);
}

// kube-apiserver omits kind/apiVersion from list items of built-in types but
// keeps them for custom resources (which it serves as unstructured JSON).
bool IsBuiltIn(const LabResource& r) {
  return r.group.empty() || absl::EndsWith(r.group, ".k8s.io");
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string StringField(const json& object, const char* field) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto it = meta->find(field);
  if (it == meta->end() || !it->is_string()) return "";
  return it->get<std::string>();
}

}  // namespace

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "ERROR";
}

ObjectStore::ObjectStore(std::vector<LabResource> resources, int history_limit)
    : resources_(std::move(resources)),
      history_limit_(static_cast<size_t>(std::max(history_limit, 0))),
      tables_(resources_.size()),
      uid_random_(std::random_device{}()) {}

int ObjectStore::FindResource(const std::string& group, const std::string& plural) const {
  for (size_t i = 0; i < resources_.size(); ++i) {
    if (resources_[i].group == group && resources_[i].plural == plural) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::string ObjectStore::Key(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : absl::StrCat(ns, "/", name);
}

ObjectPtr ObjectStore::Latest(const Versions& versions) {
  return versions.empty() ? nullptr : versions.back();
}

ObjectPtr ObjectStore::AtVersion(const Versions& versions, int64_t rv) {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if ((*it)->resource_version <= rv) return *it;
  }
  return nullptr;
}

ObjectPtr ObjectStore::Current(int resource, const std::string& key) const {
  const Table& table = tables_[resource];
  auto it = table.find(key);
  if (it == table.end()) return nullptr;
  ObjectPtr latest = Latest(it->second);
  return latest && !latest->deleted ? latest : nullptr;
}

std::string ObjectStore::NewUid() {
  const uint64_t a = uid_random_();
  const uint64_t b = uid_random_();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx",
                static_cast<unsigned>(a >> 32), static_cast<unsigned>((a >> 16) & 0xffff),
                static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

absl::StatusOr<ObjectPtr> ObjectStore::Store(int resource, json object, const ObjectPtr& previous,
                                             bool deleted) {
  const LabResource& r = resources_[resource];
  json& meta = object["metadata"];
  if (previous != nullptr) {
    meta["uid"] = StringField(previous->json, "uid");
    const std::string created = StringField(previous->json, "creationTimestamp");
    if (!created.empty()) meta["creationTimestamp"] = created;
  }
  if (!meta.contains("uid") || !meta["uid"].is_string() || meta["uid"].get<std::string>().empty()) {
    meta["uid"] = NewUid();
  }
  if (!meta.contains("creationTimestamp") || !meta["creationTimestamp"].is_string()) {
    meta["creationTimestamp"] = Now3339();
  }
  object["kind"] = r.kind;
  object["apiVersion"] = GroupVersion(r);
  if (previous != nullptr && !deleted && !previous->raw) {
    // An update that changes nothing is not written (no new resourceVersion).
    meta["resourceVersion"] = std::to_string(previous->resource_version);
    if (object == previous->json) return previous;
  }
  const int64_t rv = ++rv_;
  meta["resourceVersion"] = std::to_string(rv);

  auto stored = std::make_shared<StoredObject>();
  stored->resource_version = rv;
  stored->deleted = deleted;
  stored->ns = StringField(object, "namespace");
  stored->name = StringField(object, "name");
  stored->full = Dump(object);
  if (IsBuiltIn(r)) {
    json item = object;
    item.erase("kind");
    item.erase("apiVersion");
    stored->item = Dump(item);
  } else {
    stored->item = stored->full;
  }
  stored->json = std::move(object);
  ObjectPtr out = stored;
  const EventType type = deleted ? EventType::kDeleted
                                 : (previous != nullptr ? EventType::kModified : EventType::kAdded);
  Append(resource, out, previous, type, /*silent=*/false);
  return out;
}

void ObjectStore::Append(int resource, const ObjectPtr& object, const ObjectPtr& previous,
                         EventType type, bool silent) {
  const std::string key = Key(object->ns, object->name);
  tables_[resource][key].push_back(object);
  StoreEvent event;
  event.resource_version = object->resource_version;
  event.resource = resource;
  event.type = type;
  event.object = object;
  event.previous = previous;
  event.silent = silent;
  history_.push_back(std::move(event));
  while (history_.size() > history_limit_) {
    StoreEvent old = std::move(history_.front());
    history_.pop_front();
    compacted_rv_ = old.resource_version;
    Prune(old.resource, Key(old.object->ns, old.object->name));
  }
  Prune(resource, key);
  changed_.notify_all();
}

void ObjectStore::Prune(int resource, const std::string& key) {
  Table& table = tables_[resource];
  auto it = table.find(key);
  if (it == table.end()) return;
  Versions& versions = it->second;
  // Keep the version current at the compaction point and everything newer.
  size_t keep_from = 0;
  for (size_t i = 0; i < versions.size(); ++i) {
    if (versions[i]->resource_version <= compacted_rv_) keep_from = i;
  }
  if (keep_from > 0) versions.erase(versions.begin(), versions.begin() + keep_from);
  if (versions.size() == 1 && versions[0]->deleted &&
      versions[0]->resource_version <= compacted_rv_) {
    table.erase(it);
  }
}

namespace {

absl::Status CheckIdentity(const LabResource& r, json& object, std::string* ns,
                           std::string* name) {
  if (!object.is_object()) return absl::InvalidArgumentError("the object is not a JSON object");
  json& meta = object["metadata"];
  if (!meta.is_object()) return absl::InvalidArgumentError("metadata is not an object");
  *name = StringField(object, "name");
  *ns = StringField(object, "namespace");
  if (!r.namespaced) {
    meta.erase("namespace");
    ns->clear();
  } else if (ns->empty()) {
    *ns = "default";
    meta["namespace"] = *ns;
  }
  return absl::OkStatus();
}

// CheckIdentity for writes that address an existing object by name.
absl::Status CheckNamedIdentity(const LabResource& r, json& object, std::string* ns,
                                std::string* name) {
  absl::Status status = CheckIdentity(r, object, ns, name);
  if (status.ok() && name->empty()) {
    return absl::FailedPreconditionError("metadata.name: Required value: name is required");
  }
  return status;
}

}  // namespace

absl::StatusOr<ObjectPtr> ObjectStore::Create(int resource, json object) {
  std::string ns, name;
  absl::Status status = CheckIdentity(resources_[resource], object, &ns, &name);
  if (!status.ok()) return status;
  std::lock_guard<std::mutex> lock(mu_);
  if (name.empty()) {
    const std::string generate = StringField(object, "generateName");
    if (generate.empty()) {
      return absl::FailedPreconditionError(
          "metadata.name: Required value: name or generateName is required");
    }
    static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    do {
      name = generate;
      for (int i = 0; i < 5; ++i) name += kAlphabet[uid_random_() % (sizeof(kAlphabet) - 1)];
    } while (Current(resource, Key(ns, name)) != nullptr);
    object["metadata"]["name"] = name;
  }
  if (Current(resource, Key(ns, name)) != nullptr) {
    return absl::AlreadyExistsError(name);
  }
  object["metadata"].erase("resourceVersion");
  object["metadata"].erase("uid");  // the server assigns it
  object["metadata"].erase("creationTimestamp");
  return Store(resource, std::move(object), nullptr, false);
}

absl::StatusOr<ObjectPtr> ObjectStore::Update(int resource, json object) {
  std::string ns, name;
  absl::Status status = CheckNamedIdentity(resources_[resource], object, &ns, &name);
  if (!status.ok()) return status;
  std::lock_guard<std::mutex> lock(mu_);
  ObjectPtr current = Current(resource, Key(ns, name));
  if (current == nullptr) return absl::NotFoundError(name);
  const std::string want = StringField(object, "resourceVersion");
  if (!want.empty() && want != std::to_string(current->resource_version)) {
    return absl::AbortedError(name);
  }
  return Store(resource, std::move(object), current, false);
}

absl::StatusOr<ObjectPtr> ObjectStore::Upsert(int resource, json object) {
  std::string ns, name;
  absl::Status status = CheckNamedIdentity(resources_[resource], object, &ns, &name);
  if (!status.ok()) return status;
  std::lock_guard<std::mutex> lock(mu_);
  ObjectPtr current = Current(resource, Key(ns, name));
  object["metadata"].erase("resourceVersion");
  return Store(resource, std::move(object), current, false);
}

absl::StatusOr<ObjectPtr> ObjectStore::Mutate(
    int resource, const std::string& ns, const std::string& name,
    const std::function<absl::StatusOr<json>(const json&)>& mutate) {
  std::lock_guard<std::mutex> lock(mu_);
  ObjectPtr current = Current(resource, Key(ns, name));
  if (current == nullptr || current->raw) return absl::NotFoundError(name);
  absl::StatusOr<json> changed = mutate(current->json);
  if (!changed.ok()) return changed.status();
  if (!changed->is_object() || !(*changed)["metadata"].is_object()) {
    return absl::InvalidArgumentError("the patched object has no metadata");
  }
  const std::string want = StringField(*changed, "resourceVersion");
  if (!want.empty() && want != std::to_string(current->resource_version)) {
    return absl::AbortedError(name);
  }
  json& meta = (*changed)["metadata"];
  meta["name"] = name;
  if (!ns.empty()) meta["namespace"] = ns;
  return Store(resource, std::move(*changed), current, false);
}

absl::StatusOr<ObjectPtr> ObjectStore::Delete(int resource, const std::string& ns,
                                              const std::string& name,
                                              const std::string& precondition_rv) {
  std::lock_guard<std::mutex> lock(mu_);
  ObjectPtr current = Current(resource, Key(ns, name));
  if (current == nullptr) return absl::NotFoundError(name);
  if (!precondition_rv.empty() &&
      precondition_rv != std::to_string(current->resource_version)) {
    return absl::AbortedError(name);
  }
  if (current->raw) {
    // No JSON to carry into the tombstone: record the raw bytes again.
    auto stored = std::make_shared<StoredObject>(*current);
    stored->resource_version = ++rv_;
    stored->deleted = true;
    Append(resource, stored, current, EventType::kDeleted, /*silent=*/true);
    return ObjectPtr(stored);
  }
  return Store(resource, current->json, current, /*deleted=*/true);
}

absl::StatusOr<ObjectPtr> ObjectStore::PutRaw(int resource, const std::string& ns,
                                              const std::string& name, const std::string& raw) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string effective_ns = resources_[resource].namespaced ? ns : "";
  ObjectPtr current = Current(resource, Key(effective_ns, name));
  auto stored = std::make_shared<StoredObject>();
  stored->resource_version = ++rv_;
  stored->raw = true;
  stored->ns = effective_ns;
  stored->name = name;
  stored->full = raw;
  stored->item = raw;
  ObjectPtr out = stored;
  Append(resource, out, current, current ? EventType::kModified : EventType::kAdded,
         /*silent=*/true);
  return out;
}

absl::StatusOr<ObjectPtr> ObjectStore::Get(int resource, const std::string& ns,
                                           const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  ObjectPtr current = Current(resource, Key(ns, name));
  if (current == nullptr) return absl::NotFoundError(name);
  return current;
}

absl::StatusOr<ListPage> ObjectStore::List(int resource, const std::string& ns, int64_t at_rv,
                                           const std::string& after_key, int64_t limit,
                                           const ObjectFilter& filter) const {
  std::lock_guard<std::mutex> lock(mu_);
  ListPage page;
  page.resource_version = at_rv > 0 ? std::min(at_rv, rv_) : rv_;
  if (page.resource_version < compacted_rv_) {
    return absl::OutOfRangeError(
        absl::StrCat("too old resource version: ", page.resource_version, " (", compacted_rv_,
                     ")"));
  }
  const Table& table = tables_[resource];
  const std::string prefix = ns.empty() ? "" : absl::StrCat(ns, "/");
  auto it = after_key.empty() ? table.lower_bound(prefix) : table.upper_bound(after_key);
  for (; it != table.end(); ++it) {
    if (!prefix.empty() && !absl::StartsWith(it->first, prefix)) break;
    if (limit > 0 && static_cast<int64_t>(page.items.size()) >= limit) {
      page.last_key = std::prev(it)->first;
      break;
    }
    ObjectPtr object = AtVersion(it->second, page.resource_version);
    if (object == nullptr || object->deleted) continue;
    if (filter && !filter(*object)) continue;
    page.items.push_back(std::move(object));
  }
  return page;
}

absl::StatusOr<EventBatch> ObjectStore::EventsAfter(int resource, int64_t after_rv,
                                                    size_t max_events) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (after_rv < compacted_rv_) {
    return absl::OutOfRangeError(
        absl::StrCat("too old resource version: ", after_rv, " (", compacted_rv_ + 1, ")"));
  }
  EventBatch batch;
  batch.scanned_to = std::max(after_rv, rv_);
  auto it = std::upper_bound(
      history_.begin(), history_.end(), after_rv,
      [](int64_t rv, const StoreEvent& event) { return rv < event.resource_version; });
  for (; it != history_.end(); ++it) {
    if (batch.events.size() >= max_events) {
      batch.scanned_to = std::prev(it)->resource_version;
      break;
    }
    if (it->resource != resource || it->silent) continue;
    batch.events.push_back(*it);
  }
  return batch;
}

void ObjectStore::WaitForChange(int64_t after_rv, int64_t epoch,
                                std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_until(lock, deadline, [&] { return rv_ > after_rv || epoch_ != epoch; });
}

int64_t ObjectStore::resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rv_;
}

int64_t ObjectStore::compacted_resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return compacted_rv_;
}

void ObjectStore::Compact() {
  std::lock_guard<std::mutex> lock(mu_);
  compacted_rv_ = rv_;
  std::deque<StoreEvent> old;
  old.swap(history_);
  for (const StoreEvent& event : old) {
    Prune(event.resource, Key(event.object->ns, event.object->name));
  }
  changed_.notify_all();
}

void ObjectStore::DropWatches() {
  std::lock_guard<std::mutex> lock(mu_);
  ++epoch_;
  changed_.notify_all();
}

int64_t ObjectStore::watch_epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return epoch_;
}

}  // namespace weft::kubeprism::testing
