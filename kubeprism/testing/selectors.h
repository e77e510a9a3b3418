// fieldSelector and labelSelector as kube-apiserver parses them (the subset the
// lab needs): "a=b", "a==b", "a!=b" terms joined by ","; label selectors also take
// "key", "!key", "key in (x,y)" and "key notin (x,y)".
#ifndef WEFT_KUBEPRISM_TESTING_SELECTORS_H_
#define WEFT_KUBEPRISM_TESTING_SELECTORS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kubeprism/testing/object_store.h"

namespace weft::kubeprism::testing {

class Selector {
 public:
  // Field paths are dotted JSON paths ("metadata.name", "spec.nodeName"); a
  // missing field reads as "".
  static absl::StatusOr<Selector> ParseFields(const std::string& text);
  static absl::StatusOr<Selector> ParseLabels(const std::string& text);

  bool empty() const { return terms_.empty(); }
  bool Matches(const StoredObject& object) const;

 private:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  struct Term {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  // "k!=v", "k==v", "k=v" (shared by field and label selectors); false if none.
  static bool ParseEqualityTerm(const std::string& term, Term* t);

  bool labels_ = false;
  std::vector<Term> terms_;
};

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_SELECTORS_H_
