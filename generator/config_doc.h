// Reading Talos machine-config documents: which document a YAML node is, and safe
// (non-throwing, non-creating) lookups of nested fields.
#ifndef WEFT_GENERATOR_CONFIG_DOC_H_
#define WEFT_GENERATOR_CONFIG_DOC_H_

#include <initializer_list>
#include <string>

#include <yaml-cpp/yaml.h>

namespace weft::generator {

// The v1alpha1 document is the one without `kind:` (in patches often without `version:`).
bool IsV1Alpha1(const YAML::Node& doc);

// `kind`, or "" for the v1alpha1 document and for malformed documents.
std::string DocKind(const YAML::Node& doc);

// `name` for named documents (KubeAuthorizerConfig, ExtensionServiceConfig, ...), else "".
std::string DocName(const YAML::Node& doc);

// Identity for strategic merge: apiVersion/kind[/name], or "v1alpha1".
std::string DocIdentity(const YAML::Node& doc);

// For messages: "v1alpha1", "KubeProxyConfig", "KubeAuthorizerConfig/node".
std::string DocLabel(const YAML::Node& doc);

// True when the document is a `$patch: delete` selector.
bool IsDeleteSelector(const YAML::Node& doc);

// The node at `path` below `node`, or an undefined node; never creates or throws.
YAML::Node NodeAt(const YAML::Node& node, std::initializer_list<const char*> path);

// The scalar at `path` as text; false when absent or not a scalar.
bool ScalarAt(const YAML::Node& node, std::initializer_list<const char*> path, std::string* out);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_CONFIG_DOC_H_
