#include "generator/config_doc.h"

#include "absl/strings/str_cat.h"

namespace weft::generator {

namespace {

YAML::Node Child(const YAML::Node& node, const char* key) {
  if (!node.IsDefined() || !node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& kv : node) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string ScalarOrEmpty(const YAML::Node& node) {
  return node.IsDefined() && node.IsScalar() ? node.Scalar() : std::string();
}

}  // namespace

YAML::Node NodeAt(const YAML::Node& node, std::initializer_list<const char*> path) {
  // reset() rebinds the handle; operator= would overwrite the node it points at.
  YAML::Node cur;
  cur.reset(node);
  for (const char* key : path) {
    cur.reset(Child(cur, key));
    if (!cur.IsDefined()) break;
  }
  return cur;
}

bool ScalarAt(const YAML::Node& node, std::initializer_list<const char*> path, std::string* out) {
  YAML::Node n = NodeAt(node, path);
  if (!n.IsDefined() || !n.IsScalar()) return false;
  *out = n.Scalar();
  return true;
}

bool IsV1Alpha1(const YAML::Node& doc) {
  // Talos' decoder treats a document without `kind` as v1alpha1; patches usually omit
  // `version` too (`cluster: {proxy: {disabled: true}}` is a complete v1alpha1 patch).
  return doc.IsMap() && !Child(doc, "kind").IsDefined();
}

std::string DocKind(const YAML::Node& doc) { return ScalarOrEmpty(Child(doc, "kind")); }

std::string DocName(const YAML::Node& doc) {
  if (IsV1Alpha1(doc)) return "";
  return ScalarOrEmpty(Child(doc, "name"));
}

std::string DocIdentity(const YAML::Node& doc) {
  if (IsV1Alpha1(doc)) return "v1alpha1";
  std::string id = absl::StrCat(ScalarOrEmpty(Child(doc, "apiVersion")), "/", DocKind(doc));
  std::string name = DocName(doc);
  if (!name.empty()) absl::StrAppend(&id, "/", name);
  return id;
}

std::string DocLabel(const YAML::Node& doc) {
  if (IsV1Alpha1(doc)) return "v1alpha1";
  std::string label = DocKind(doc);
  if (label.empty()) label = "(document without kind)";
  std::string name = DocName(doc);
  if (!name.empty()) absl::StrAppend(&label, "/", name);
  return label;
}

bool IsDeleteSelector(const YAML::Node& doc) {
  return ScalarOrEmpty(Child(doc, "$patch")) == "delete";
}

}  // namespace weft::generator
