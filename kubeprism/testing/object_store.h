// The lab API server's storage: etcd-like, in memory.
//
// One cluster-wide resourceVersion counter. Every object keeps the versions a
// consistent paged list may still need (those newer than the compaction point plus
// the one current at it), so a list continued at resourceVersion R sees exactly the
// state at R. Objects are serialised once per version, so a list page costs
// O(page) string copies. Every change is appended to a bounded event history that
// watches replay from; when the history overflows or Compact() is called, the
// compaction point moves and older resourceVersions get 410 Gone.
//
// Status codes returned (kube_status.h maps them to HTTP):
//   NotFound, AlreadyExists, Aborted (409 Conflict: stale resourceVersion),
//   OutOfRange (410 Expired), FailedPrecondition (422 Invalid), InvalidArgument (400).
#ifndef WEFT_KUBEPRISM_TESTING_OBJECT_STORE_H_
#define WEFT_KUBEPRISM_TESTING_OBJECT_STORE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kubeprism/testing/lab_apiserver.h"

namespace weft::kubeprism::testing {

// One version of one object. Immutable once stored; shared by the store, the
// history and in-flight responses.
struct StoredObject {
  int64_t resource_version = 0;
  bool deleted = false;  // a tombstone: the object's last state, at its deletion
  bool raw = false;      // PutRaw bytes: `json` is null, both forms are the bytes
  std::string ns;
  std::string name;
  std::string full;  // with kind/apiVersion: GET, watch and mutation responses
  std::string item;  // as a list item (built-in kinds omit kind/apiVersion)
  nlohmann::json json;
};
using ObjectPtr = std::shared_ptr<const StoredObject>;

enum class EventType { kAdded, kModified, kDeleted };
const char* EventTypeName(EventType type);

struct StoreEvent {
  int64_t resource_version = 0;
  int resource = 0;  // index into the store's resources
  EventType type = EventType::kAdded;
  ObjectPtr object;
  ObjectPtr previous;   // null for kAdded
  bool silent = false;  // PutRaw: recorded for bookkeeping, never sent to watches
};

struct ListPage {
  int64_t resource_version = 0;  // the snapshot the page was read at
  std::vector<ObjectPtr> items;
  std::string last_key;  // set when more keys follow: continue after it
};

struct EventBatch {
  std::vector<StoreEvent> events;  // for the requested resource, in RV order
  int64_t scanned_to = 0;          // every event up to here has been looked at
};

using ObjectFilter = std::function<bool(const StoredObject&)>;

class ObjectStore {
 public:
  ObjectStore(std::vector<LabResource> resources, int history_limit);

  const std::vector<LabResource>& resources() const { return resources_; }
  // Index of the resource served under group + plural, or -1.
  int FindResource(const std::string& group, const std::string& plural) const;

  // Mutations. `object` is the full object; namespace/name come from its metadata.
  absl::StatusOr<ObjectPtr> Create(int resource, nlohmann::json object);
  // PUT: an empty metadata.resourceVersion is unconditional; a stale one is
  // Aborted. An update that changes nothing keeps the old version (no event).
  absl::StatusOr<ObjectPtr> Update(int resource, nlohmann::json object);
  // Create or update, unconditionally (LabApiServer::Put).
  absl::StatusOr<ObjectPtr> Upsert(int resource, nlohmann::json object);
  // Applies `mutate` to the current object and stores the result (PATCH).
  absl::StatusOr<ObjectPtr> Mutate(
      int resource, const std::string& ns, const std::string& name,
      const std::function<absl::StatusOr<nlohmann::json>(const nlohmann::json&)>& mutate);
  // `precondition_rv` empty = unconditional. Returns the tombstone.
  absl::StatusOr<ObjectPtr> Delete(int resource, const std::string& ns, const std::string& name,
                                   const std::string& precondition_rv);
  absl::StatusOr<ObjectPtr> PutRaw(int resource, const std::string& ns, const std::string& name,
                                   const std::string& raw);

  absl::StatusOr<ObjectPtr> Get(int resource, const std::string& ns,
                                const std::string& name) const;

  // A page of objects at `at_rv` (0 = now) in key order, namespace `ns` only
  // unless empty, starting after `after_key`. `limit` <= 0 means no limit.
  // OutOfRange if `at_rv` is older than the compaction point.
  absl::StatusOr<ListPage> List(int resource, const std::string& ns, int64_t at_rv,
                                const std::string& after_key, int64_t limit,
                                const ObjectFilter& filter) const;

  // Events of `resource` newer than `after_rv`, at most `max_events`. OutOfRange
  // if events after `after_rv` were already compacted away.
  absl::StatusOr<EventBatch> EventsAfter(int resource, int64_t after_rv,
                                         size_t max_events) const;
  // Blocks until the resourceVersion passes `after_rv`, the watch epoch moves past
  // `epoch`, or `deadline`.
  void WaitForChange(int64_t after_rv, int64_t epoch,
                     std::chrono::steady_clock::time_point deadline) const;

  int64_t resource_version() const;
  int64_t compacted_resource_version() const;
  // Forgets history up to now.
  void Compact();
  // Ends every watch: bumps the epoch watches compare against and wakes them.
  void DropWatches();
  int64_t watch_epoch() const;

  // Storage key: "<ns>/<name>" or "<name>" (cluster-scoped); lists run in key order.
  static std::string Key(const std::string& ns, const std::string& name);

 private:
  using Versions = std::vector<ObjectPtr>;  // ascending resourceVersion
  using Table = std::map<std::string, Versions>;

  absl::StatusOr<ObjectPtr> Store(int resource, nlohmann::json object,
                                  const ObjectPtr& previous, bool deleted)
      /* requires mu_ */;
  void Append(int resource, const ObjectPtr& object, const ObjectPtr& previous,
              EventType type, bool silent) /* requires mu_ */;
  void Prune(int resource, const std::string& key) /* requires mu_ */;
  static ObjectPtr Latest(const Versions& versions);
  static ObjectPtr AtVersion(const Versions& versions, int64_t rv);
  ObjectPtr Current(int resource, const std::string& key) const /* requires mu_ */;
  std::string NewUid() /* requires mu_ */;

  const std::vector<LabResource> resources_;
  const size_t history_limit_;

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::vector<Table> tables_;
  std::deque<StoreEvent> history_;
  int64_t rv_ = 0;
  int64_t compacted_rv_ = 0;
  int64_t epoch_ = 0;
  std::mt19937_64 uid_random_;
};

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_OBJECT_STORE_H_
