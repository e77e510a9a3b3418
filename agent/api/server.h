// The agent's local gRPC API (agent.proto) over a root-only UNIX socket.
#ifndef WEFT_AGENT_API_SERVER_H_
#define WEFT_AGENT_API_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "agent/api/agent.grpc.pb.h"
#include "agent/endpoints/manager.h"

namespace weft::api {

struct ApiOptions {
  std::string node_name;
  int pod_mtu = 1500;
  // Fills the parts of `weft status` the endpoint manager does not know.
  std::function<void(weft::agent::v1::AgentStatus*)> status;
  // `weft encrypt status|rotate`; unset while encryption is off.
  std::function<grpc::Status(weft::agent::v1::EncryptionStatus*)> encryption_status;
  std::function<grpc::Status(weft::agent::v1::RotateEncryptionKeyResponse*)> rotate_key;
  // `weft service list`; unset while the kube-proxy replacement is off.
  std::function<grpc::Status(weft::agent::v1::ListServicesResponse*)> list_services;
};

class AgentService final : public weft::agent::v1::Agent::Service {
 public:
  AgentService(endpoints::EndpointManager* endpoints, ApiOptions options)
      : endpoints_(endpoints), options_(std::move(options)) {}

  grpc::Status AllocateAddresses(grpc::ServerContext*,
                                 const weft::agent::v1::AllocateAddressesRequest* req,
                                 weft::agent::v1::AllocateAddressesResponse* resp) override;
  grpc::Status RegisterEndpoint(grpc::ServerContext*,
                                const weft::agent::v1::RegisterEndpointRequest* req,
                                weft::agent::v1::RegisterEndpointResponse* resp) override;
  grpc::Status ReleaseEndpoint(grpc::ServerContext*,
                               const weft::agent::v1::ReleaseEndpointRequest* req,
                               weft::agent::v1::ReleaseEndpointResponse* resp) override;
  grpc::Status GetEndpoint(grpc::ServerContext*, const weft::agent::v1::GetEndpointRequest* req,
                           weft::agent::v1::Endpoint* resp) override;
  grpc::Status ListEndpoints(grpc::ServerContext*,
                             const weft::agent::v1::ListEndpointsRequest* req,
                             weft::agent::v1::ListEndpointsResponse* resp) override;
  grpc::Status GetStatus(grpc::ServerContext*, const weft::agent::v1::GetStatusRequest* req,
                         weft::agent::v1::AgentStatus* resp) override;
  grpc::Status GetEncryptionStatus(grpc::ServerContext*,
                                   const weft::agent::v1::GetEncryptionStatusRequest* req,
                                   weft::agent::v1::EncryptionStatus* resp) override;
  grpc::Status RotateEncryptionKey(grpc::ServerContext*,
                                   const weft::agent::v1::RotateEncryptionKeyRequest* req,
                                   weft::agent::v1::RotateEncryptionKeyResponse* resp) override;
  grpc::Status ListServices(grpc::ServerContext*, const weft::agent::v1::ListServicesRequest* req,
                            weft::agent::v1::ListServicesResponse* resp) override;

 private:
  endpoints::EndpointManager* endpoints_;
  ApiOptions options_;
};

// Serves `service` on unix:`socket_path`. The socket's folder (and missing
// parents) is created with mode 0700 and the socket is made 0600: only root may talk to the agent.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartLocalApi(const std::string& socket_path,
                                                            grpc::Service* service);

// The gateway every pod routes through: link-local, never on the wire.
inline constexpr char kPodGatewayIpv4[] = "169.254.1.1";

}  // namespace weft::api

#endif  // WEFT_AGENT_API_SERVER_H_
