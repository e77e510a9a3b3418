// Authentication (client certificate or bearer token) and allow-list
// authorization for the lab API server.
#ifndef WEFT_KUBEPRISM_TESTING_LAB_AUTH_H_
#define WEFT_KUBEPRISM_TESTING_LAB_AUTH_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/pki.h"
#include "kubeprism/testing/https_server.h"
#include "kubeprism/testing/lab_apiserver.h"

namespace weft::kubeprism::testing {

struct UserInfo {
  std::string name;
  std::vector<std::string> groups;  // includes "system:authenticated"
};

class Authenticator {
 public:
  explicit Authenticator(pki::X509Ptr ca) : ca_(std::move(ca)) {}

  void AddToken(const std::string& token, const std::string& user,
                const std::vector<std::string>& groups);

  // A client certificate that verifies against the CA (CN = user, O = groups)
  // wins; otherwise "Authorization: Bearer <token>". An invalid, expired or
  // foreign certificate counts as no certificate, as in kube-apiserver.
  std::optional<UserInfo> Authenticate(const HttpRequest& request) const;

 private:
  pki::X509Ptr ca_;
  mutable std::mutex mu_;
  std::map<std::string, UserInfo> tokens_;
};

class Authorizer {
 public:
  explicit Authorizer(std::vector<LabRule> rules) : rules_(std::move(rules)) {}
  void SetRules(std::vector<LabRule> rules);
  // No rules: everything is allowed. Otherwise a rule must match the user (or
  // "group:<g>" one of its groups), the verb, the API group and the resource.
  bool Allowed(const UserInfo& user, const std::string& verb, const std::string& group,
               const std::string& resource) const;

 private:
  mutable std::mutex mu_;
  std::vector<LabRule> rules_;
};

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_LAB_AUTH_H_
