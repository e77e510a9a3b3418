// Talos strategic-merge patching (FACTS §2, talos configpatcher/strategic.go and
// config/merge/merge.go), on YAML nodes so it works for every document kind without
// Talos' Go types:
//  - documents are matched by apiVersion/kind[/name] (the v1alpha1 document by itself);
//    matching documents are merged, unmatched patch documents are appended;
//  - a `$patch: delete` document removes the matching document; a selector for a missing
//    document is skipped (Talos 1.14 behaviour); the v1alpha1 document cannot be deleted;
//  - a patch may touch each document only once;
//  - maps merge key by key; `field: {$patch: delete}` removes the field;
//  - lists are appended, except the `merge:"replace"` fields (podSubnets, serviceSubnets)
//    and the replaced objects (auditPolicy, configuration of audit/authn/credential
//    provider documents, static pod `pod`);
//  - scalars overwrite, except Go zero values (null, "" and plain 0), which Talos cannot
//    tell apart from "not set"; `false` does overwrite.
// Not modelled (no talosgen patch needs them): merging network.interfaces by interface
// name, vlans by vlanId, ExtensionServiceConfig.configFiles by mountPath.
#ifndef WEFT_GENERATOR_MERGE_H_
#define WEFT_GENERATOR_MERGE_H_

#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::generator {

// `base` with `patch` applied. Neither input is modified. Errors name `patch_name` and the
// patch document's line.
absl::StatusOr<std::vector<YAML::Node>> StrategicMerge(const std::vector<YAML::Node>& base,
                                                       const std::vector<YAML::Node>& patch,
                                                       absl::string_view patch_name);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_MERGE_H_
