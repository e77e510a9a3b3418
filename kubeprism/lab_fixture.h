// Test helpers around the lab API server: client configs for issued credentials,
// kubeconfig files, and realistic Service / EndpointSlice objects.
#ifndef WEFT_KUBEPRISM_LAB_FIXTURE_H_
#define WEFT_KUBEPRISM_LAB_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kubeprism/kubeconfig.h"
#include "kubeprism/resource_types.h"
#include "kubeprism/testing/lab_apiserver.h"
#include "kubeprism/transport.h"
#include "nlohmann/json.hpp"

namespace weft::kubeprism {

testing::LabResource ToLab(const ResourceType& type);

// A ClusterIP Service with two ports (http 80->8080, metrics 9090), like most.
nlohmann::json ServiceObject(const std::string& ns, const std::string& name, int generation = 0);
// Its EndpointSlice: three ready endpoints on three nodes, two ports.
nlohmann::json EndpointSliceObject(const std::string& ns, const std::string& service, int index,
                                   int generation = 0);

class LabFixture {
 public:
  // Starts a server in a fresh state folder under `root` (default: the test tmpdir).
  static absl::StatusOr<std::unique_ptr<LabFixture>> Start(
      testing::LabApiServerOptions options = {}, const std::string& root = "");

  // Stops the server and removes the state folder (keys included).
  ~LabFixture();

  testing::LabApiServer& server() { return *server_; }
  const std::string& state_dir() const { return state_dir_; }

  // Server URL + CA + a client certificate for `user` in `groups`.
  absl::StatusOr<ClientConfig> ConfigFor(const std::string& user,
                                         const std::vector<std::string>& groups,
                                         int64_t valid_seconds = 86400);
  absl::StatusOr<ClientConfig> AdminConfig() { return ConfigFor("admin", {"system:masters"}); }
  absl::StatusOr<std::shared_ptr<Transport>> AdminTransport();

  // Writes a kubeconfig with inline data for `config`; returns its path.
  absl::StatusOr<std::string> WriteKubeconfig(const ClientConfig& config, const std::string& name);

  absl::Status Put(const ResourceType& type, const nlohmann::json& object);

 private:
  std::unique_ptr<testing::LabApiServer> server_;
  std::string state_dir_;
};

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_LAB_FIXTURE_H_
