#include "kubeprism/relist_diff.h"

#include "absl/container/flat_hash_map.h"

namespace weft::kubeprism {

RelistDiff DiffRelist(const std::vector<KeyVersion>& old_items,
                      const std::vector<KeyVersion>& new_items) {
  using Key = std::pair<absl::string_view, absl::string_view>;
  absl::flat_hash_map<Key, size_t> old_index;
  old_index.reserve(old_items.size());
  for (size_t i = 0; i < old_items.size(); ++i) {
    old_index.emplace(Key(old_items[i].ns, old_items[i].name), i);
  }
  RelistDiff diff;
  std::vector<bool> seen(old_items.size(), false);
  for (size_t i = 0; i < new_items.size(); ++i) {
    auto it = old_index.find(Key(new_items[i].ns, new_items[i].name));
    if (it == old_index.end()) {
      diff.added.push_back(i);
      continue;
    }
    seen[it->second] = true;
    if (old_items[it->second].resource_version != new_items[i].resource_version) {
      diff.updated.emplace_back(it->second, i);
    }
  }
  for (size_t i = 0; i < old_items.size(); ++i) {
    if (!seen[i]) diff.deleted.push_back(i);
  }
  return diff;
}

}  // namespace weft::kubeprism
