#include "kubeprism/testing/lab_auth.h"

#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace weft::kubeprism::testing {
namespace {

constexpr char kAuthenticated[] = "system:authenticated";

UserInfo WithAuthenticatedGroup(UserInfo user) {
  bool has = false;
  for (const std::string& g : user.groups) has = has || g == kAuthenticated;
  if (!has) user.groups.push_back(kAuthenticated);
  return user;
}

bool Matches(const std::string& pattern, const std::string& value) {
  return pattern == "*" || pattern == value;
}

}  // namespace

void Authenticator::AddToken(const std::string& token, const std::string& user,
                             const std::vector<std::string>& groups) {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_[token] = WithAuthenticatedGroup(UserInfo{user, groups});
}

std::optional<UserInfo> Authenticator::Authenticate(const HttpRequest& request) const {
  if (request.client_cert != nullptr &&
      pki::VerifyCertificate(ca_.get(), request.client_cert.get(), /*client_auth=*/true,
                             static_cast<int64_t>(std::time(nullptr)))
          .ok()) {
    const std::string cn = pki::SubjectCommonName(request.client_cert.get());
    if (!cn.empty()) {
      return WithAuthenticatedGroup(
          UserInfo{cn, pki::SubjectOrganizations(request.client_cert.get())});
    }
  }
  const std::string authorization = request.Header("authorization");
  if (authorization.size() > 7 &&
      absl::AsciiStrToLower(authorization.substr(0, 7)) == "bearer ") {
    const std::string token(absl::StripAsciiWhitespace(authorization.substr(7)));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tokens_.find(token);
    if (it != tokens_.end()) return it->second;
  }
  return std::nullopt;
}

void Authorizer::SetRules(std::vector<LabRule> rules) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_ = std::move(rules);
}

bool Authorizer::Allowed(const UserInfo& user, const std::string& verb, const std::string& group,
                         const std::string& resource) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (rules_.empty()) return true;
  for (const LabRule& rule : rules_) {
    bool subject = rule.subject == "*" || rule.subject == user.name;
    if (!subject && absl::StartsWith(rule.subject, "group:")) {
      const std::string wanted = rule.subject.substr(6);
      for (const std::string& g : user.groups) subject = subject || g == wanted;
    }
    if (subject && Matches(rule.verb, verb) && Matches(rule.group, group) &&
        Matches(rule.resource, resource)) {
      return true;
    }
  }
  return false;
}

}  // namespace weft::kubeprism::testing
