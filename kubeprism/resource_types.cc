#include "kubeprism/resource_types.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace weft::kubeprism {

std::string ResourceType::GroupVersion() const {
  if (group.empty()) return std::string(version);
  return absl::StrCat(group, "/", version);
}

std::string ResourceType::QualifiedName() const {
  if (group.empty()) return std::string(plural);
  return absl::StrCat(plural, ".", group);
}

std::string ResourceType::CollectionPath(absl::string_view ns) const {
  std::string path = group.empty() ? absl::StrCat("/api/", version)
                                   : absl::StrCat("/apis/", group, "/", version);
  if (namespaced && !ns.empty()) absl::StrAppend(&path, "/namespaces/", ns);
  absl::StrAppend(&path, "/", plural);
  return path;
}

std::string ResourceType::ObjectPath(absl::string_view ns, absl::string_view name) const {
  return absl::StrCat(CollectionPath(ns), "/", name);
}

const std::vector<const ResourceType*>& WatchedResourceTypes() {
  static const auto* types = new std::vector<const ResourceType*>{
      &kNodes,           &kPods,
      &kNamespaces,      &kServices,
      &kEndpointSlices,  &kNetworkPolicies,
      &kCiliumNetworkPolicies, &kCiliumClusterwideNetworkPolicies,
  };
  return *types;
}

const ResourceType* FindResourceType(absl::string_view name) {
  struct ShortName {
    absl::string_view name;
    const ResourceType* type;
  };
  static constexpr ShortName kShortNames[] = {
      {"no", &kNodes},          {"po", &kPods},
      {"ns", &kNamespaces},     {"svc", &kServices},
      {"netpol", &kNetworkPolicies}, {"cnp", &kCiliumNetworkPolicies},
      {"ccnp", &kCiliumClusterwideNetworkPolicies},
  };
  static constexpr const ResourceType* kAll[] = {
      &kNodes,           &kPods,      &kNamespaces, &kServices, &kEndpointSlices,
      &kNetworkPolicies, &kLeases,    &kCiliumNetworkPolicies,
      &kCiliumClusterwideNetworkPolicies,
  };
  for (const ShortName& s : kShortNames) {
    if (absl::EqualsIgnoreCase(s.name, name)) return s.type;
  }
  for (const ResourceType* t : kAll) {
    if (absl::EqualsIgnoreCase(t->plural, name) || absl::EqualsIgnoreCase(t->kind, name) ||
        absl::EqualsIgnoreCase(t->QualifiedName(), name)) {
      return t;
    }
  }
  return nullptr;
}

}  // namespace weft::kubeprism
