#include "kubeprism/testing/lab_apiserver.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/pki.h"
#include "common/status_macros.h"
#include "kubeprism/testing/api_handler.h"
#include "kubeprism/testing/https_server.h"
#include "kubeprism/testing/lab_auth.h"
#include "kubeprism/testing/object_store.h"

namespace weft::kubeprism::testing {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("read ", path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads the CA from the state directory, or creates and saves one, so a restarted
// lab (or a second process on the same directory) keeps trusting old credentials.
absl::StatusOr<pki::CertificateAndKey> LoadOrCreateCa(const std::string& dir) {
  const std::string cert_path = dir + "/ca.crt";
  const std::string key_path = dir + "/ca.key";
  std::error_code ec;
  if (std::filesystem::exists(cert_path, ec) && std::filesystem::exists(key_path, ec)) {
    return pki::LoadCertificateAndKey(cert_path, key_path);
  }
  pki::CaOptions options;
  options.common_name = "weft-lab-ca";
  ASSIGN_OR_RETURN(pki::CertificateAndKey ca, pki::GenerateCa(options));
  ASSIGN_OR_RETURN(std::string cert_pem, pki::CertificateToPem(ca.cert.get()));
  ASSIGN_OR_RETURN(std::string key_pem, pki::PrivateKeyToPem(ca.key.get()));
  RETURN_IF_ERROR(weft::WriteFileAtomically(key_path, key_pem, 0600));
  RETURN_IF_ERROR(weft::WriteFileAtomically(cert_path, cert_pem, 0644));
  return ca;
}

std::string FileSafe(const std::string& name) {
  std::string out;
  for (char c : name) out += (isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  return out;
}

class LabApiServerImpl : public LabApiServer {
 public:
  explicit LabApiServerImpl(LabApiServerOptions options) : options_(std::move(options)) {}
  ~LabApiServerImpl() override { Stop(); }

  absl::Status Init() {
    if (options_.state_dir.empty()) {
      return absl::InvalidArgumentError("lab apiserver: state_dir is required");
    }
    std::error_code ec;
    std::filesystem::create_directories(options_.state_dir, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("lab apiserver: create ", options_.state_dir, ": ", ec.message()));
    }
    ASSIGN_OR_RETURN(ca_, LoadOrCreateCa(options_.state_dir));
    ASSIGN_OR_RETURN(ca_pem_, ReadFile(ca_file()));

    pki::ServerCertOptions server;
    server.common_name = "weft-lab-apiserver";
    server.sans = {"localhost", "127.0.0.1"};
    server.sans.insert(server.sans.end(), options_.extra_sans.begin(), options_.extra_sans.end());
    ASSIGN_OR_RETURN(pki::CertificateAndKey cert, pki::IssueServerCert(ca_, server));
    ASSIGN_OR_RETURN(server_cert_pem_, pki::CertificateToPem(cert.cert.get()));
    ASSIGN_OR_RETURN(server_key_pem_, pki::PrivateKeyToPem(cert.key.get()));
    RETURN_IF_ERROR(weft::WriteFileAtomically(options_.state_dir + "/apiserver.key",
                                             server_key_pem_, 0600));
    RETURN_IF_ERROR(weft::WriteFileAtomically(options_.state_dir + "/apiserver.crt",
                                             server_cert_pem_, 0644));

    ASSIGN_OR_RETURN(pki::X509Ptr ca_copy, pki::ParseCertificatePem(ca_pem_));
    store_ = std::make_unique<ObjectStore>(options_.resources, options_.watch_history);
    authenticator_ = std::make_unique<Authenticator>(std::move(ca_copy));
    authorizer_ = std::make_unique<Authorizer>(options_.rules);
    handler_ = std::make_unique<ApiHandler>(store_.get(), authenticator_.get(),
                                            authorizer_.get(), options_.bookmark_interval_ms);
    port_ = options_.port;
    return Listen();
  }

  int port() const override { return port_; }
  std::string url() const override { return absl::StrCat("https://127.0.0.1:", port_); }
  std::string ca_pem() const override { return ca_pem_; }
  std::string ca_file() const override { return options_.state_dir + "/ca.crt"; }

  absl::StatusOr<LabCredentials> IssueClientCert(const std::string& user,
                                                 const std::vector<std::string>& groups,
                                                 int64_t valid_seconds) override {
    pki::ClientCertOptions options;
    options.common_name = user;
    options.organizations = groups;
    options.valid_seconds = valid_seconds;
    ASSIGN_OR_RETURN(pki::CertificateAndKey cert, pki::IssueClientCert(ca_, options));
    LabCredentials out;
    ASSIGN_OR_RETURN(out.cert_pem, pki::CertificateToPem(cert.cert.get()));
    ASSIGN_OR_RETURN(out.key_pem, pki::PrivateKeyToPem(cert.key.get()));
    std::lock_guard<std::mutex> lock(mu_);
    const std::string base = absl::StrCat(options_.state_dir, "/client-", ++issued_, "-",
                                          FileSafe(user));
    RETURN_IF_ERROR(weft::WriteFileAtomically(base + ".key", out.key_pem, 0600));
    RETURN_IF_ERROR(weft::WriteFileAtomically(base + ".crt", out.cert_pem, 0644));
    return out;
  }

  void AddToken(const std::string& token, const std::string& user,
                const std::vector<std::string>& groups) override {
    authenticator_->AddToken(token, user, groups);
  }

  void SetRules(std::vector<LabRule> rules) override { authorizer_->SetRules(std::move(rules)); }

  void SetResourceHidden(const LabResource& resource, bool hidden) override {
    const int index = store_->FindResource(resource.group, resource.plural);
    if (index >= 0) handler_->SetHidden(index, hidden);
  }

  absl::StatusOr<std::string> Put(const LabResource& resource,
                                  const std::string& object_json) override {
    ASSIGN_OR_RETURN(int index, Find(resource));
    nlohmann::json object = nlohmann::json::parse(object_json, nullptr, false);
    if (object.is_discarded() || !object.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("put ", resource.plural, ": the object is not a JSON object"));
    }
    auto stored = store_->Upsert(index, std::move(object));
    if (!stored.ok()) {
      return absl::Status(stored.status().code(),
                          absl::StrCat("put ", resource.plural, ": ", stored.status().message()));
    }
    return (*stored)->full;
  }

  absl::Status Remove(const LabResource& resource, const std::string& ns,
                      const std::string& name) override {
    ASSIGN_OR_RETURN(int index, Find(resource));
    auto deleted = store_->Delete(index, resource.namespaced ? ns : "", name, "");
    if (!deleted.ok()) {
      return absl::Status(deleted.status().code(),
                          absl::StrCat("remove ", resource.plural, " ", ns, "/", name, ": ",
                                       deleted.status().message()));
    }
    return absl::OkStatus();
  }

  absl::Status PutRaw(const LabResource& resource, const std::string& ns,
                      const std::string& name, const std::string& raw_json) override {
    ASSIGN_OR_RETURN(int index, Find(resource));
    return store_->PutRaw(index, ns, name, raw_json).status();
  }

  void Compact() override { store_->Compact(); }
  void DropWatches() override { store_->DropWatches(); }
  int64_t resource_version() const override { return store_->resource_version(); }

  void Stop() override {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (server_ == nullptr) return;
    store_->DropWatches();
    server_->Stop();
    server_.reset();
  }

  absl::Status Restart() override {
    Stop();
    return Listen();
  }

 private:
  absl::Status Listen() {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    HttpsServerOptions options;
    options.port = port_;
    options.cert_pem = server_cert_pem_;
    options.key_pem = server_key_pem_;
    options.client_ca_pem = ca_pem_;
    ASSIGN_OR_RETURN(server_, HttpsServer::Start(options, [this](const HttpRequest& request,
                                                                 HttpResponder& responder) {
                       handler_->Handle(request, responder);
                     }));
    port_ = server_->port();
    handler_->set_port(port_);
    return absl::OkStatus();
  }

  absl::StatusOr<int> Find(const LabResource& resource) const {
    const int index = store_->FindResource(resource.group, resource.plural);
    if (index < 0) {
      return absl::NotFoundError(absl::StrCat("resource ", resource.plural, ".", resource.group,
                                              " is not served by this lab apiserver"));
    }
    return index;
  }

  LabApiServerOptions options_;
  pki::CertificateAndKey ca_;
  std::string ca_pem_;
  std::string server_cert_pem_;
  std::string server_key_pem_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<ApiHandler> handler_;
  std::mutex lifecycle_mu_;
  std::unique_ptr<HttpsServer> server_;
  int port_ = 0;
  std::mutex mu_;
  int issued_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LabApiServer>> LabApiServer::Start(LabApiServerOptions options) {
  auto server = std::make_unique<LabApiServerImpl>(std::move(options));
  RETURN_IF_ERROR(server->Init());
  return std::unique_ptr<LabApiServer>(std::move(server));
}

absl::StatusOr<std::vector<LabRule>> ParseLabRulesYaml(const std::string& text,
                                                      const std::string& source) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsSequence()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": expected a list of rules"));
    }
    std::vector<LabRule> rules;
    for (const YAML::Node& node : root) {
      rules.push_back({node["subject"].as<std::string>("*"), node["verb"].as<std::string>("*"),
                       node["group"].as<std::string>(""), node["resource"].as<std::string>("*")});
    }
    return rules;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", e.what()));
  }
}

}  // namespace weft::kubeprism::testing
