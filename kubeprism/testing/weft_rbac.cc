#include "kubeprism/testing/weft_rbac.h"

#include <yaml-cpp/yaml.h>

#include <exception>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "generator/agent_rbac.h"

namespace weft::kubeprism::testing {
namespace {

std::string Str(const YAML::Node& node) {
  return node.IsDefined() && node.IsScalar() ? node.Scalar() : std::string();
}

std::vector<std::string> Strings(const YAML::Node& node) {
  std::vector<std::string> out;
  if (node.IsDefined() && node.IsSequence()) {
    for (const YAML::Node& item : node) out.push_back(Str(item));
  }
  return out;
}

absl::StatusOr<std::vector<YAML::Node>> LoadAll(const std::string& yaml) {
  try {
    std::vector<YAML::Node> docs;
    for (const YAML::Node& doc : YAML::LoadAll(yaml)) {
      if (doc.IsDefined() && !doc.IsNull()) docs.push_back(doc);
    }
    return docs;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
}

bool IsRbacKind(const std::string& kind) {
  return kind == "ClusterRole" || kind == "ClusterRoleBinding" || kind == "Role" ||
         kind == "RoleBinding";
}

// One ClusterRole rule, expanded.
struct Grant {
  std::string group;
  std::string resource;
  std::string verb;
};

absl::StatusOr<std::vector<Grant>> RoleGrants(const YAML::Node& role, const std::string& name) {
  if (role["aggregationRule"].IsDefined()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ClusterRole ", name, ": aggregationRule: the lab cannot aggregate ClusterRoles"));
  }
  std::vector<Grant> grants;
  const YAML::Node rules = role["rules"];
  for (size_t i = 0; rules.IsSequence() && i < rules.size(); ++i) {
    const YAML::Node rule = rules[i];
    const std::string where = absl::StrCat("ClusterRole ", name, ": rules[", i, "]");
    if (rule["resourceNames"].IsDefined()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": resourceNames: the lab's rules cannot name objects"));
    }
    if (rule["nonResourceURLs"].IsDefined()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": nonResourceURLs: the lab's rules cover resources only"));
    }
    const std::vector<std::string> groups = Strings(rule["apiGroups"]);
    const std::vector<std::string> resources = Strings(rule["resources"]);
    const std::vector<std::string> verbs = Strings(rule["verbs"]);
    if (groups.empty() || resources.empty() || verbs.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": needs apiGroups, resources and verbs"));
    }
    for (const std::string& g : groups) {
      for (const std::string& r : resources) {
        for (const std::string& v : verbs) grants.push_back({g, r, v});
      }
    }
  }
  return grants;
}

absl::StatusOr<std::string> SubjectName(const YAML::Node& subject, const std::string& binding) {
  const std::string kind = Str(subject["kind"]);
  const std::string name = Str(subject["name"]);
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ClusterRoleBinding ", binding, ": a subject without a name"));
  }
  if (kind == "User") return name;
  if (kind == "Group") return absl::StrCat("group:", name);
  if (kind == "ServiceAccount") {
    return absl::StrCat("system:serviceaccount:", Str(subject["namespace"]), ":", name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("ClusterRoleBinding ", binding, ": unknown subject kind \"", kind, "\""));
}

}  // namespace

absl::StatusOr<std::vector<LabRule>> LabRulesFromRbacManifests(const std::string& yaml) {
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadAll(yaml);
  if (!docs.ok()) return docs.status();
  try {
    std::map<std::string, std::vector<Grant>> roles;
    std::vector<YAML::Node> bindings;
    for (const YAML::Node& doc : *docs) {
      const std::string kind = Str(doc["kind"]);
      const std::string name = Str(doc["metadata"]["name"]);
      if (kind == "Role" || kind == "RoleBinding") {
        return absl::InvalidArgumentError(absl::StrCat(
            kind, " ", name, ": namespaced RBAC; the lab's rules are cluster-wide"));
      }
      if (kind == "ClusterRole") {
        absl::StatusOr<std::vector<Grant>> grants = RoleGrants(doc, name);
        if (!grants.ok()) return grants.status();
        roles[name] = *std::move(grants);
      } else if (kind == "ClusterRoleBinding") {
        bindings.push_back(doc);
      }
    }
    std::vector<LabRule> out;
    std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
    for (const YAML::Node& binding : bindings) {
      const std::string name = Str(binding["metadata"]["name"]);
      const YAML::Node ref = binding["roleRef"];
      if (Str(ref["kind"]) != "ClusterRole") {
        return absl::InvalidArgumentError(absl::StrCat(
            "ClusterRoleBinding ", name, ": roleRef.kind must be ClusterRole"));
      }
      auto role = roles.find(Str(ref["name"]));
      if (role == roles.end()) {
        return absl::InvalidArgumentError(absl::StrCat("ClusterRoleBinding ", name,
                                                       ": no ClusterRole \"", Str(ref["name"]),
                                                       "\" in these manifests"));
      }
      const YAML::Node subjects = binding["subjects"];
      for (size_t i = 0; subjects.IsSequence() && i < subjects.size(); ++i) {
        absl::StatusOr<std::string> subject = SubjectName(subjects[i], name);
        if (!subject.ok()) return subject.status();
        for (const Grant& g : role->second) {
          if (seen.insert({*subject, g.verb, g.group, g.resource}).second) {
            out.push_back({*subject, g.verb, g.group, g.resource});
          }
        }
      }
    }
    return out;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("RBAC manifests: ", e.what()));
  }
}

absl::StatusOr<std::string> InlineManifestsOfTalosConfig(const std::string& yaml) {
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadAll(yaml);
  if (!docs.ok()) return docs.status();
  std::vector<std::string> manifests;
  try {
    for (const YAML::Node& doc : *docs) {
      if (!doc.IsMap()) continue;
      if (Str(doc["kind"]) == "KubeInlineManifestConfig") {
        manifests.push_back(Str(doc["manifest"]));
      } else if (!doc["kind"].IsDefined() && doc["cluster"].IsMap()) {
        const YAML::Node inline_manifests = doc["cluster"]["inlineManifests"];
        for (size_t i = 0; inline_manifests.IsSequence() && i < inline_manifests.size(); ++i) {
          manifests.push_back(Str(inline_manifests[i]["contents"]));
        }
      }
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("Talos config: ", e.what()));
  }
  return absl::StrJoin(manifests, "\n---\n");
}

absl::StatusOr<std::vector<LabRule>> LabRulesFromFile(const std::string& text) {
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadAll(text);
  if (!docs.ok()) return docs.status();
  for (const YAML::Node& doc : *docs) {
    if (doc.IsMap() && IsRbacKind(Str(doc["kind"]))) return LabRulesFromRbacManifests(text);
  }
  absl::StatusOr<std::string> manifests = InlineManifestsOfTalosConfig(text);
  if (!manifests.ok()) return manifests.status();
  if (manifests->empty()) {
    return absl::InvalidArgumentError(
        "neither RBAC manifests nor a Talos config with inline manifests");
  }
  return LabRulesFromRbacManifests(*manifests);
}

std::vector<LabRule> WeftAgentLabRules() {
  absl::StatusOr<std::vector<LabRule>> rules =
      LabRulesFromRbacManifests(generator::AgentRbacManifest());
  // The manifest is ours and weft_rbac_test parses it; an empty list would mean "allow
  // everything" to the lab, so a broken manifest must not come back as one.
  if (!rules.ok() || rules->empty()) return {{"nobody", "none", "none", "none"}};
  return *std::move(rules);
}

std::vector<LabRule> KubernetesBuiltinLabRules() {
  return {{"group:system:masters", "*", "*", "*"}};
}

std::string LabRulesYaml(const std::vector<LabRule>& rules) {
  auto quote = [](const std::string& s) {
    YAML::Emitter e;
    e << YAML::DoubleQuoted << s;
    return std::string(e.c_str());
  };
  std::string out = "# lab-apiserver --rules: allow rules (subject, verb, API group, resource).\n";
  for (const LabRule& r : rules) {
    absl::StrAppend(&out, "- {subject: ", quote(r.subject), ", verb: ", quote(r.verb),
                    ", group: ", quote(r.group), ", resource: ", quote(r.resource), "}\n");
  }
  return out;
}

}  // namespace weft::kubeprism::testing
