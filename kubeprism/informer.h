// Informers: a local, consistent cache of one resource kept current by list +
// watch, with change callbacks, as client-go's informers do it:
//   - initial list in pages (limit/continue), then a watch from the list's
//     resourceVersion with bookmarks;
//   - a dropped or ended watch resumes from the last seen resourceVersion;
//   - 410 Gone (HTTP or a watch ERROR event) relists and emits only the real
//     differences against the cache;
//   - failures back off exponentially with full jitter while the cache keeps the
//     last known state;
//   - a missing CRD (404 on a custom resource) is "absent", not an error, and is
//     looked for again slowly;
//   - malformed objects are counted and skipped.
// Handlers run on the informer's thread, in event order, outside the cache lock
// (so they may read the cache).
#ifndef WEFT_KUBEPRISM_INFORMER_H_
#define WEFT_KUBEPRISM_INFORMER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kubeprism/backoff.h"
#include "kubeprism/client.h"
#include "kubeprism/decode.h"
#include "kubeprism/informer_stats.h"
#include "kubeprism/relist_diff.h"
#include "kubeprism/resource_types.h"
#include "kubeprism/transport.h"
#include "nlohmann/json.hpp"

namespace weft::kubeprism {

struct InformerOptions {
  std::string namespace_;       // empty: all namespaces
  std::string label_selector;
  std::string field_selector;   // e.g. "spec.nodeName=node-1" for this node's Pods
  int page_size = 500;
  int watch_timeout_seconds = 300;
  BackoffOptions backoff;
  uint64_t seed = 0;            // backoff jitter; 0 = random
  absl::Duration absent_retry = absl::Seconds(60);  // how often to look for a missing CRD
};

enum class WatchEventType { kAdded, kModified, kDeleted };
const char* WatchEventTypeName(WatchEventType type);  // "ADDED", "MODIFIED", "DELETED"

// The list/watch protocol, independent of the object type.
class InformerBase {
 public:
  virtual ~InformerBase();
  InformerBase(const InformerBase&) = delete;
  InformerBase& operator=(const InformerBase&) = delete;

  // Starts the informer's thread. Register handlers first.
  void Start();
  // Stops and joins the thread; idempotent. The cache stays readable.
  void Stop();

  // True once the first list completed (or the resource is absent); false on timeout.
  bool WaitForSync(absl::Duration timeout) const;
  InformerStats Stats() const;
  const ResourceType& type() const { return type_; }

 protected:
  InformerBase(std::shared_ptr<Transport> transport, const ResourceType& type,
               InformerOptions options);

  // Hooks for the typed cache; called on the informer thread only.
  virtual void BeginRelist() = 0;
  virtual absl::Status AddListItem(const nlohmann::json& item) = 0;
  virtual void CommitRelist() = 0;
  virtual void AbortRelist() = 0;
  virtual absl::Status ApplyEvent(WatchEventType type, const nlohmann::json& object) = 0;
  virtual size_t CacheSize() const = 0;

 private:
  enum class WatchEnd { kStopped, kEnded, kDropped, kGone, kFailed };
  struct WatchOutcome;

  void Run();
  absl::Status ListAll();
  WatchEnd WatchOnce(absl::Status* error, bool* got_events);
  bool HandleLine(absl::string_view line, WatchOutcome* outcome);
  void CountDecodeError(const absl::Status& status);
  void SetState(SyncState state, const absl::Status& error) ABSL_LOCKS_EXCLUDED(mu_);
  // Sleeps unless stopped first; returns false when stopped.
  bool Sleep(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_);

  const ResourceType& type_;
  const InformerOptions options_;
  Client client_;
  CancelToken cancel_;
  Backoff backoff_;  // informer thread only
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  InformerStats stats_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
};

template <typename T>
class Informer final : public InformerBase {
 public:
  using Ptr = std::shared_ptr<const T>;
  using DecodeFn = std::function<absl::StatusOr<T>(const nlohmann::json&)>;
  struct Handlers {
    std::function<void(const T& added)> on_add;
    std::function<void(const T& old_object, const T& new_object)> on_update;
    std::function<void(const T& deleted)> on_delete;
  };

  explicit Informer(std::shared_ptr<Transport> transport, InformerOptions options = {})
      : Informer(std::move(transport), ObjectTraits<T>::Type(), &ObjectTraits<T>::Decode,
                 std::move(options)) {}
  Informer(std::shared_ptr<Transport> transport, const ResourceType& type, DecodeFn decode,
           InformerOptions options = {})
      : InformerBase(std::move(transport), type, std::move(options)), decode_(std::move(decode)) {}
  ~Informer() override { Stop(); }

  // Call before Start(). Handlers must not call AddHandlers.
  void AddHandlers(Handlers handlers) {
    absl::WriterMutexLock lock(&handlers_mu_);
    handlers_.push_back(std::move(handlers));
  }

  Ptr Get(absl::string_view ns, absl::string_view name) const {
    absl::ReaderMutexLock lock(&cache_mu_);
    auto it = cache_.find(Key(type().namespaced ? ns : absl::string_view(), name));
    return it == cache_.end() ? nullptr : it->second;
  }

  std::vector<Ptr> List() const {
    absl::ReaderMutexLock lock(&cache_mu_);
    std::vector<Ptr> out;
    out.reserve(cache_.size());
    for (const auto& [key, object] : cache_) out.push_back(object);
    return out;
  }

 private:
  // Views into the cached object's own metadata, which never changes.
  using Key = std::pair<absl::string_view, absl::string_view>;
  static Key KeyOf(const T& object) { return Key(object.meta.namespace_, object.meta.name); }

  void BeginRelist() override { staging_.clear(); }

  absl::Status AddListItem(const nlohmann::json& item) override {
    absl::StatusOr<T> decoded = decode_(item);
    if (!decoded.ok()) return decoded.status();
    staging_.push_back(std::make_shared<const T>(*std::move(decoded)));
    return absl::OkStatus();
  }

  void AbortRelist() override {
    staging_.clear();
    staging_.shrink_to_fit();
  }

  void CommitRelist() override {
    std::vector<Ptr> old_items = List();
    std::vector<KeyVersion> old_kv, new_kv;
    old_kv.reserve(old_items.size());
    new_kv.reserve(staging_.size());
    for (const Ptr& o : old_items) {
      old_kv.push_back({o->meta.namespace_, o->meta.name, o->meta.resource_version});
    }
    for (const Ptr& o : staging_) {
      new_kv.push_back({o->meta.namespace_, o->meta.name, o->meta.resource_version});
    }
    const RelistDiff diff = DiffRelist(old_kv, new_kv);
    // Unchanged objects keep their old instance (readers holding them see no
    // churn); changed and new ones come from the list.
    std::vector<bool> old_kept(old_items.size(), true);
    for (size_t i : diff.deleted) old_kept[i] = false;
    for (const auto& [o, n] : diff.updated) old_kept[o] = false;
    absl::flat_hash_map<Key, Ptr> fresh;
    fresh.reserve(staging_.size());
    for (size_t i = 0; i < old_items.size(); ++i) {
      if (old_kept[i]) fresh.emplace(KeyOf(*old_items[i]), old_items[i]);
    }
    for (const auto& [o, n] : diff.updated) fresh.emplace(KeyOf(*staging_[n]), staging_[n]);
    for (size_t i : diff.added) fresh.emplace(KeyOf(*staging_[i]), staging_[i]);
    {
      absl::WriterMutexLock lock(&cache_mu_);
      cache_.swap(fresh);
    }
    {
      absl::ReaderMutexLock lock(&handlers_mu_);
      for (const auto& [o, n] : diff.updated) NotifyUpdate(*old_items[o], *staging_[n]);
      for (size_t i : diff.added) NotifyAdd(*staging_[i]);
      for (size_t i : diff.deleted) NotifyDelete(*old_items[i]);
    }
    // Release the old map (and objects only it held) outside the lock.
    fresh = {};
    AbortRelist();
  }

  absl::Status ApplyEvent(WatchEventType event, const nlohmann::json& object) override {
    if (event == WatchEventType::kDeleted) {
      // Only the identity is needed to delete; a malformed body still removes it.
      absl::StatusOr<ObjectMeta> meta = DecodeObjectMeta(object, type().kind, type().namespaced);
      if (!meta.ok()) return meta.status();
      Ptr old;
      {
        absl::WriterMutexLock lock(&cache_mu_);
        auto it = cache_.find(Key(meta->namespace_, meta->name));
        if (it != cache_.end()) {
          old = it->second;
          cache_.erase(it);
        }
      }
      if (old != nullptr) {
        absl::ReaderMutexLock lock(&handlers_mu_);
        NotifyDelete(*old);
      }
      return absl::OkStatus();
    }
    absl::StatusOr<T> decoded = decode_(object);
    if (!decoded.ok()) return decoded.status();
    Ptr now = std::make_shared<const T>(*std::move(decoded));
    Ptr old;
    {
      absl::WriterMutexLock lock(&cache_mu_);
      auto it = cache_.find(KeyOf(*now));
      if (it != cache_.end()) {
        if (it->second->meta.resource_version == now->meta.resource_version) {
          return absl::OkStatus();  // already have exactly this version
        }
        old = it->second;
        cache_.erase(it);  // the key views point into `old`
      }
      cache_.emplace(KeyOf(*now), now);
    }
    absl::ReaderMutexLock lock(&handlers_mu_);
    if (old != nullptr) {
      NotifyUpdate(*old, *now);
    } else {
      NotifyAdd(*now);
    }
    return absl::OkStatus();
  }

  size_t CacheSize() const override {
    absl::ReaderMutexLock lock(&cache_mu_);
    return cache_.size();
  }

  void NotifyAdd(const T& o) ABSL_SHARED_LOCKS_REQUIRED(handlers_mu_) {
    for (const Handlers& h : handlers_) {
      if (h.on_add) h.on_add(o);
    }
  }
  void NotifyUpdate(const T& old_object, const T& new_object)
      ABSL_SHARED_LOCKS_REQUIRED(handlers_mu_) {
    for (const Handlers& h : handlers_) {
      if (h.on_update) h.on_update(old_object, new_object);
    }
  }
  void NotifyDelete(const T& o) ABSL_SHARED_LOCKS_REQUIRED(handlers_mu_) {
    for (const Handlers& h : handlers_) {
      if (h.on_delete) h.on_delete(o);
    }
  }

  const DecodeFn decode_;
  std::vector<Ptr> staging_;  // informer thread only: the list being assembled

  mutable absl::Mutex cache_mu_;
  absl::flat_hash_map<Key, Ptr> cache_ ABSL_GUARDED_BY(cache_mu_);

  mutable absl::Mutex handlers_mu_;
  std::vector<Handlers> handlers_ ABSL_GUARDED_BY(handlers_mu_);
};

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_INFORMER_H_
