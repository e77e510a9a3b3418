// What a relist changed: the pure core behind an informer's resync after 410 Gone
// or a reconnect, so consumers see only real differences (no delete-all/add-all).
#ifndef WEFT_KUBEPRISM_RELIST_DIFF_H_
#define WEFT_KUBEPRISM_RELIST_DIFF_H_

#include <cstddef>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace weft::kubeprism {

struct KeyVersion {
  absl::string_view ns;
  absl::string_view name;
  absl::string_view resource_version;
};

struct RelistDiff {
  std::vector<size_t> added;                     // indexes into the new list
  std::vector<std::pair<size_t, size_t>> updated;  // (old index, new index)
  std::vector<size_t> deleted;                   // indexes into the old cache
};

// An object is updated only when its resourceVersion changed. Keys are unique
// within each side; outputs follow the order of their inputs.
RelistDiff DiffRelist(const std::vector<KeyVersion>& old_items,
                      const std::vector<KeyVersion>& new_items);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_RELIST_DIFF_H_
