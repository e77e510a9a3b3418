#include "generator/merge.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "generator/config_doc.h"
#include "generator/yaml_util.h"

namespace weft::generator {

namespace {

bool IsDeleteMarker(const YAML::Node& value) {
  return value.IsMap() && NodeAt(value, {"$patch"}).IsDefined() &&
         NodeAt(value, {"$patch"}).IsScalar() && NodeAt(value, {"$patch"}).Scalar() == "delete";
}

// Fields whose value a patch replaces instead of merging (`merge:"replace"` in Talos).
bool IsReplaceField(const std::string& kind, const std::string& key) {
  if (key == "podSubnets" || key == "serviceSubnets" || key == "auditPolicy") return true;
  if (key == "configuration") {
    return kind == "KubeAuditPolicyConfig" || kind == "KubeAuthenticationConfig" ||
           kind == "KubeCredentialProviderConfig";
  }
  return key == "pod" && kind == "KubeStaticPodConfig";
}

// Go zero values: merge.go skips them, since an unset field and a zero field look alike.
// A quoted "0" is a string, not a number, so it still overwrites.
bool IsZeroScalar(const YAML::Node& value) {
  if (value.IsNull()) return true;
  if (!value.IsScalar()) return false;
  if (value.Scalar().empty()) return true;
  return value.Tag() != "!" && value.Scalar() == "0";
}

// A deep copy without `$patch` markers (they are instructions, not config).
YAML::Node CleanClone(const YAML::Node& node) {
  if (node.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : node) {
      if (kv.first.Scalar() == "$patch" || IsDeleteMarker(kv.second)) continue;
      out[kv.first.Scalar()] = CleanClone(kv.second);
    }
    return out;
  }
  if (node.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& item : node) out.push_back(CleanClone(item));
    return out;
  }
  return YAML::Clone(node);
}

void MergeMap(YAML::Node base, const YAML::Node& patch, const std::string& kind) {
  for (const auto& kv : patch) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& value = kv.second;
    if (key == "$patch") continue;
    if (IsDeleteMarker(value)) {
      base.remove(key);
      continue;
    }
    YAML::Node existing = NodeAt(base, {key.c_str()});
    if (!existing.IsDefined() || existing.IsNull()) {
      if (!value.IsNull()) base[key] = CleanClone(value);
      continue;
    }
    if (IsReplaceField(kind, key)) {
      base[key] = CleanClone(value);
    } else if (value.IsMap() && existing.IsMap()) {
      MergeMap(base[key], value, kind);
    } else if (value.IsSequence() && existing.IsSequence()) {
      YAML::Node seq = base[key];
      for (const auto& item : value) seq.push_back(CleanClone(item));
    } else if (!IsZeroScalar(value)) {
      base[key] = CleanClone(value);
    }
  }
}

absl::Status PatchError(absl::string_view patch_name, const YAML::Node& doc,
                        absl::string_view msg) {
  return absl::InvalidArgumentError(
      absl::StrCat(patch_name, ":", SourceLine(doc), ": ", DocLabel(doc), ": ", msg));
}

}  // namespace

absl::StatusOr<std::vector<YAML::Node>> StrategicMerge(const std::vector<YAML::Node>& base,
                                                       const std::vector<YAML::Node>& patch,
                                                       absl::string_view patch_name) {
  std::vector<YAML::Node> out;
  out.reserve(base.size() + patch.size());
  for (const YAML::Node& doc : base) out.push_back(YAML::Clone(doc));

  std::set<std::string> touched;
  for (const YAML::Node& doc : patch) {
    if (!doc.IsMap()) return PatchError(patch_name, doc, "a patch document must be a mapping");
    if (!IsV1Alpha1(doc) && DocKind(doc).empty()) {
      return PatchError(patch_name, doc, "`kind` must be a string");
    }
    const std::string id = DocIdentity(doc);
    if (!touched.insert(id).second) {
      return PatchError(patch_name, doc,
                        "a single patch cannot modify the same document more than once");
    }
    if (IsDeleteSelector(doc)) {
      if (IsV1Alpha1(doc)) {
        return PatchError(patch_name, doc, "the v1alpha1 document cannot be deleted");
      }
      std::vector<YAML::Node> kept;
      for (YAML::Node& d : out) {
        if (DocIdentity(d) != id) kept.push_back(d);
      }
      out.swap(kept);  // a selector for a missing document is skipped (Talos 1.14)
      continue;
    }
    bool merged = false;
    for (YAML::Node& d : out) {
      if (DocIdentity(d) == id) {
        MergeMap(d, doc, DocKind(doc));
        merged = true;
        break;
      }
    }
    if (!merged) out.push_back(CleanClone(doc));
  }
  return out;
}

}  // namespace weft::generator
