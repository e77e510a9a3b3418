#include "kubeprism/informer.h"

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kubeprism/api_errors.h"
#include "kubeprism/json_fields.h"
#include "kubeprism/logging.h"

namespace weft::kubeprism {
namespace {

uint64_t SeedOrRandom(uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) | device();
}

// metadata.resourceVersion of an object, or "".
std::string ResourceVersionOf(const nlohmann::json& object) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string()) return "";
  return rv->get<std::string>();
}

}  // namespace

const char* WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
  }
  return "?";
}

struct InformerBase::WatchOutcome {
  WatchEnd end = WatchEnd::kEnded;
  absl::Status error;
  bool got_events = false;
};

InformerBase::InformerBase(std::shared_ptr<Transport> transport, const ResourceType& type,
                           InformerOptions options)
    : type_(type),
      options_(std::move(options)),
      client_(std::move(transport)),
      backoff_(options_.backoff, SeedOrRandom(options_.seed)) {
  stats_.resource = type_.QualifiedName();
}

InformerBase::~InformerBase() {
  // Derived classes stop in their destructors (the thread calls their hooks);
  // this only covers a base that was never started.
  Stop();
}

void InformerBase::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void InformerBase::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
}

bool InformerBase::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool InformerBase::Sleep(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

bool InformerBase::WaitForSync(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto synced = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stats_.has_synced || stats_.state == SyncState::kAbsent;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&synced), timeout);
}

InformerStats InformerBase::Stats() const {
  InformerStats out;
  {
    absl::MutexLock lock(&mu_);
    out = stats_;
    out.resource_version = resource_version_;
  }
  out.objects = static_cast<int64_t>(CacheSize());
  return out;
}

void InformerBase::SetState(SyncState state, const absl::Status& error) {
  absl::MutexLock lock(&mu_);
  if (state == SyncState::kFailing && stats_.state != SyncState::kFailing) {
    Log(LogLevel::kWarning, absl::StrCat(type_.QualifiedName(), ": ", error.message()));
  }
  if (state == SyncState::kSynced && stats_.state == SyncState::kFailing) {
    Log(LogLevel::kInfo, absl::StrCat(type_.QualifiedName(), ": recovered"));
  }
  stats_.state = state;
  if (state == SyncState::kSynced) stats_.has_synced = true;
  if (!error.ok()) stats_.last_error = std::string(error.message());
  if (state == SyncState::kSynced) stats_.last_error.clear();
}

void InformerBase::CountDecodeError(const absl::Status& status) {
  Log(LogLevel::kWarning, absl::StrCat("skipping malformed object: ", status.message()));
  absl::MutexLock lock(&mu_);
  ++stats_.decode_errors;
  stats_.last_decode_error = std::string(status.message());
}

void InformerBase::Run() {
  bool need_list = true;
  bool listed_once = false;
  while (!stopping()) {
    if (need_list) {
      absl::Status listed = ListAll();
      if (stopping()) break;
      if (!listed.ok()) {
        if (type_.custom && IsNotFoundHttp(listed)) {
          SetState(SyncState::kAbsent,
                   absl::NotFoundError(absl::StrCat(type_.QualifiedName(),
                                                    " is not installed (no CRD): nothing to watch")));
          Sleep(options_.absent_retry);
        } else {
          SetState(SyncState::kFailing, listed);
          Sleep(backoff_.Next());
        }
        continue;
      }
      if (listed_once) {
        absl::MutexLock lock(&mu_);
        ++stats_.relists;
      }
      listed_once = true;
      need_list = false;
      backoff_.Reset();
      SetState(SyncState::kSynced, absl::OkStatus());
    }

    absl::Status error;
    bool got_events = false;
    const WatchEnd end = WatchOnce(&error, &got_events);
    if (end == WatchEnd::kStopped || stopping()) break;
    switch (end) {
      case WatchEnd::kGone:
        Log(LogLevel::kInfo, absl::StrCat(type_.QualifiedName(),
                                          ": resourceVersion expired (410 Gone); relisting"));
        need_list = true;
        break;
      case WatchEnd::kEnded:
      case WatchEnd::kDropped: {
        {
          absl::MutexLock lock(&mu_);
          ++stats_.reconnects;
        }
        // A watch that closes at once without delivering anything must not spin.
        if (!got_events) Sleep(backoff_.Next());
        break;
      }
      case WatchEnd::kFailed:
        {
          absl::MutexLock lock(&mu_);
          ++stats_.reconnects;
        }
        SetState(SyncState::kFailing, error);
        Sleep(backoff_.Next());
        break;
      case WatchEnd::kStopped:
        break;
    }
  }
}

absl::Status InformerBase::ListAll() {
  BeginRelist();
  ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.field_selector = options_.field_selector;
  list_options.limit = options_.page_size;
  list_options.cancel = &cancel_;
  std::string resource_version;
  bool restarted = false;
  while (true) {
    absl::StatusOr<std::string> body = client_.ListPage(type_, options_.namespace_, list_options);
    if (!body.ok()) {
      // The continue token expired mid-list: start over once, from a fresh snapshot.
      if (IsGone(body.status()) && !list_options.continue_token.empty() && !restarted) {
        restarted = true;
        list_options.continue_token.clear();
        BeginRelist();
        continue;
      }
      AbortRelist();
      return body.status();
    }
    absl::StatusOr<nlohmann::json> page =
        json_fields::Parse(*body, absl::StrCat("list of ", type_.QualifiedName()));
    body = std::string();
    if (!page.ok()) {
      AbortRelist();
      return page.status();
    }
    if (page->is_object()) {
      auto items = page->find("items");
      if (items != page->end() && items->is_array()) {
        for (const nlohmann::json& item : *items) {
          absl::Status added = AddListItem(item);
          if (!added.ok()) CountDecodeError(added);
        }
      } else if (items != page->end() && !items->is_null()) {
        AbortRelist();
        return absl::InvalidArgumentError(
            absl::StrCat("list of ", type_.QualifiedName(), ": items is not an array"));
      }
    }
    std::string next;
    if (page->is_object() && page->contains("metadata") && (*page)["metadata"].is_object()) {
      const nlohmann::json& meta = (*page)["metadata"];
      if (meta.contains("resourceVersion") && meta["resourceVersion"].is_string()) {
        resource_version = meta["resourceVersion"].get<std::string>();
      }
      if (meta.contains("continue") && meta["continue"].is_string()) {
        next = meta["continue"].get<std::string>();
      }
    }
    if (next.empty()) break;
    if (stopping()) {
      AbortRelist();
      return absl::CancelledError("stopped");
    }
    list_options.continue_token = std::move(next);
  }
  CommitRelist();
  absl::MutexLock lock(&mu_);
  resource_version_ = resource_version;
  return absl::OkStatus();
}

InformerBase::WatchEnd InformerBase::WatchOnce(absl::Status* error, bool* got_events) {
  Request request;
  request.path = type_.CollectionPath(options_.namespace_);
  {
    absl::MutexLock lock(&mu_);
    request.query = {{"watch", "true"},
                     {"resourceVersion", resource_version_},
                     {"allowWatchBookmarks", "true"},
                     {"timeoutSeconds", absl::StrCat(options_.watch_timeout_seconds)}};
  }
  if (!options_.label_selector.empty()) {
    request.query.emplace_back("labelSelector", options_.label_selector);
  }
  if (!options_.field_selector.empty()) {
    request.query.emplace_back("fieldSelector", options_.field_selector);
  }
  // Silence longer than this means the connection is dead.
  request.timeout = absl::Seconds(options_.watch_timeout_seconds + 60);

  WatchOutcome outcome;
  bool established = false;
  StreamHandlers handlers;
  handlers.on_status = [this, &established](int status) {
    if (status >= 200 && status < 300) {
      established = true;
      SetState(SyncState::kSynced, absl::OkStatus());
    }
    return true;
  };
  handlers.on_line = [this, &outcome](absl::string_view line) { return HandleLine(line, &outcome); };
  absl::StatusOr<StreamResult> result = client_.transport().Stream(request, handlers, &cancel_);
  *got_events = outcome.got_events;
  if (stopping()) return WatchEnd::kStopped;
  if (!result.ok()) {
    *error = result.status();
    // Lost after the headers: a drop to resume from, not a failure to report.
    return established ? WatchEnd::kDropped : WatchEnd::kFailed;
  }
  if (result->status != 0 && (result->status < 200 || result->status >= 300)) {
    *error = HttpError(result->status, result->error_body,
                       RequestContext{"watch", &type_, options_.namespace_, ""});
    return IsGone(*error) ? WatchEnd::kGone : WatchEnd::kFailed;
  }
  if (result->cancelled) {  // a handler ended the stream (ERROR event)
    *error = outcome.error;
    return outcome.end;
  }
  return WatchEnd::kEnded;
}

bool InformerBase::HandleLine(absl::string_view line, WatchOutcome* outcome) {
  absl::StatusOr<nlohmann::json> event =
      json_fields::Parse(line, absl::StrCat("watch event for ", type_.QualifiedName()));
  if (!event.ok() || !event->is_object()) {
    CountDecodeError(event.ok() ? absl::InvalidArgumentError(absl::StrCat(
                                      "watch event for ", type_.QualifiedName(), ": not an object"))
                                : event.status());
    return true;
  }
  std::string type;
  auto t = event->find("type");
  if (t != event->end() && t->is_string()) type = t->get<std::string>();
  static const nlohmann::json kNull;
  auto o = event->find("object");
  const nlohmann::json& object = o == event->end() ? kNull : *o;

  if (type == "ERROR") {
    int code = 0;
    if (object.is_object() && object.contains("code") && object["code"].is_number_integer()) {
      code = object["code"].get<int>();
    }
    outcome->error = HttpError(code == 0 ? 500 : code, object.is_null() ? "" : object.dump(),
                               RequestContext{"watch", &type_, options_.namespace_, ""});
    outcome->end = code == 410 ? WatchEnd::kGone : WatchEnd::kFailed;
    return false;
  }

  const std::string rv = ResourceVersionOf(object);
  outcome->got_events = true;
  backoff_.Reset();
  if (type == "BOOKMARK") {
    if (!rv.empty()) {
      absl::MutexLock lock(&mu_);
      resource_version_ = rv;
    }
    return true;
  }
  WatchEventType event_type;
  if (type == "ADDED") {
    event_type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    event_type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    event_type = WatchEventType::kDeleted;
  } else {
    CountDecodeError(absl::InvalidArgumentError(
        absl::StrCat("watch event for ", type_.QualifiedName(), ": unknown type \"", type, "\"")));
    return true;
  }
  absl::Status applied = ApplyEvent(event_type, object);
  if (!applied.ok()) CountDecodeError(applied);
  absl::MutexLock lock(&mu_);
  if (!rv.empty()) resource_version_ = rv;
  ++stats_.events;
  stats_.last_event_time = absl::Now();
  return true;
}

}  // namespace weft::kubeprism
