#include "kubeprism/lab_fixture.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "kubeprism/http_transport.h"

namespace weft::kubeprism {

using nlohmann::json;

testing::LabResource ToLab(const ResourceType& type) {
  return {std::string(type.group), std::string(type.version), std::string(type.plural),
          std::string(type.kind), type.namespaced};
}

json ServiceObject(const std::string& ns, const std::string& name, int generation) {
  const int n = static_cast<int>(std::hash<std::string>()(name) % 60000);
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"namespace", ns},
        {"name", name},
        {"labels", {{"app", name}, {"tier", "backend"}}},
        {"annotations", {{"weft.dev/generation", absl::StrCat(generation)}}}}},
      {"spec",
       {{"type", "ClusterIP"},
        {"clusterIP", absl::StrCat("10.96.", n / 250, ".", n % 250 + 1)},
        {"clusterIPs", {absl::StrCat("10.96.", n / 250, ".", n % 250 + 1)}},
        {"ipFamilies", {"IPv4"}},
        {"ipFamilyPolicy", "SingleStack"},
        {"internalTrafficPolicy", "Cluster"},
        {"sessionAffinity", "None"},
        {"selector", {{"app", name}}},
        {"ports",
         {{{"name", "http"}, {"protocol", "TCP"}, {"port", 80}, {"targetPort", 8080}},
          {{"name", "metrics"}, {"protocol", "TCP"}, {"port", 9090}, {"targetPort", "metrics"}}}}}},
      {"status", {{"loadBalancer", json::object()}}},
  };
}

json EndpointSliceObject(const std::string& ns, const std::string& service, int index,
                         int generation) {
  json endpoints = json::array();
  for (int e = 0; e < 3; ++e) {
    const int host = (index * 3 + e) % 65000;
    endpoints.push_back(
        {{"addresses", {absl::StrCat("10.244.", host / 250, ".", host % 250 + 1)}},
         {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}},
         {"nodeName", absl::StrCat("node-", e)},
         {"targetRef",
          {{"kind", "Pod"}, {"namespace", ns}, {"name", absl::StrCat(service, "-pod-", e)}}},
         {"zone", "zone-a"}});
  }
  return {
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata",
       {{"namespace", ns},
        {"name", absl::StrCat(service, "-abcde")},
        {"labels",
         {{"kubernetes.io/service-name", service},
          {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}}},
        {"annotations", {{"weft.dev/generation", absl::StrCat(generation)}}}}},
      {"addressType", "IPv4"},
      {"endpoints", endpoints},
      {"ports",
       {{{"name", "http"}, {"protocol", "TCP"}, {"port", 8080}},
        {{"name", "metrics"}, {"protocol", "TCP"}, {"port", 9090}}}},
  };
}

absl::StatusOr<std::unique_ptr<LabFixture>> LabFixture::Start(testing::LabApiServerOptions options,
                                                               const std::string& root) {
  static std::atomic<int> counter{0};
  auto fixture = std::unique_ptr<LabFixture>(new LabFixture());
  std::string base = root;
  if (base.empty()) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base = tmp != nullptr ? tmp : "/tmp";
  }
  fixture->state_dir_ = absl::StrCat(base, "/weft-lab-", getpid(), "-", ++counter);
  options.state_dir = fixture->state_dir_;
  options.port = 0;
  ASSIGN_OR_RETURN(fixture->server_, testing::LabApiServer::Start(options));
  return fixture;
}

LabFixture::~LabFixture() {
  if (server_) server_->Stop();
  server_.reset();
  std::error_code ignored;
  if (!state_dir_.empty()) std::filesystem::remove_all(state_dir_, ignored);
}

absl::StatusOr<ClientConfig> LabFixture::ConfigFor(const std::string& user,
                                                   const std::vector<std::string>& groups,
                                                   int64_t valid_seconds) {
  ASSIGN_OR_RETURN(testing::LabCredentials creds,
                   server_->IssueClientCert(user, groups, valid_seconds));
  ClientConfig config;
  config.server = server_->url();
  config.ca_pem = server_->ca_pem();
  config.client_cert_pem = creds.cert_pem;
  config.client_key_pem = creds.key_pem;
  config.source = absl::StrCat("lab user ", user);
  return config;
}

absl::StatusOr<std::shared_ptr<Transport>> LabFixture::AdminTransport() {
  ASSIGN_OR_RETURN(ClientConfig config, AdminConfig());
  ASSIGN_OR_RETURN(std::unique_ptr<HttpTransport> transport, HttpTransport::Create(config));
  return std::shared_ptr<Transport>(std::move(transport));
}

absl::StatusOr<std::string> LabFixture::WriteKubeconfig(const ClientConfig& config,
                                                        const std::string& name) {
  const std::string path = absl::StrCat(state_dir_, "/", name);
  std::ostringstream out;
  out << "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
      << "clusters:\n- name: lab\n  cluster:\n    server: " << config.server
      << "\n    certificate-authority-data: " << absl::Base64Escape(config.ca_pem) << "\n"
      << "contexts:\n- name: lab\n  context: {cluster: lab, user: agent}\n"
      << "users:\n- name: agent\n  user:\n"
      << "    client-certificate-data: " << absl::Base64Escape(config.client_cert_pem) << "\n"
      << "    client-key-data: " << absl::Base64Escape(config.client_key_pem) << "\n";
  // It holds a client key: 0600 like every secret.
  RETURN_IF_ERROR(WriteFileAtomically(path, out.str(), 0600));
  return path;
}

absl::Status LabFixture::Put(const ResourceType& type, const json& object) {
  return server_->Put(ToLab(type), object.dump()).status();
}

}  // namespace weft::kubeprism
