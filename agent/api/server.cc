#include "agent/api/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/net/mac.h"

namespace weft::api {
namespace {

namespace v1 = weft::agent::v1;

// absl and gRPC share the canonical status code numbering.
grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

void Fill(const endpoints::EndpointRecord& r, const std::string& node, v1::Endpoint* out) {
  out->mutable_id()->set_container_id(r.owner.container_id);
  out->mutable_id()->set_ifname(r.owner.ifname);
  out->set_pod_namespace(r.owner.pod_namespace);
  out->set_pod_name(r.owner.pod_name);
  for (const auto& a : r.addresses) out->add_addresses(a.ToString());
  out->set_host_ifname(r.host_ifname);
  out->set_host_ifindex(r.host_ifindex);
  out->set_node(node);
  out->set_programmed(r.programmed);
  out->set_netns(r.netns);
}

bool ToMac(const std::string& bytes, net::Mac* mac) {
  if (bytes.size() != 6) return false;
  memcpy(mac->data(), bytes.data(), 6);
  return true;
}

}  // namespace

grpc::Status AgentService::AllocateAddresses(grpc::ServerContext*,
                                             const v1::AllocateAddressesRequest* req,
                                             v1::AllocateAddressesResponse* resp) {
  auto addrs = endpoints_->Allocate(
      {req->id().container_id(), req->id().ifname(), req->pod_namespace(), req->pod_name()});
  if (!addrs.ok()) return ToGrpc(addrs.status());
  for (const auto& a : *addrs) resp->add_addresses(absl::StrCat(a.ToString(), "/", a.bits()));
  resp->set_gateway_ipv4(kPodGatewayIpv4);
  resp->set_mtu(options_.pod_mtu);
  return grpc::Status::OK;
}

grpc::Status AgentService::RegisterEndpoint(grpc::ServerContext*,
                                            const v1::RegisterEndpointRequest* req,
                                            v1::RegisterEndpointResponse*) {
  net::Mac pod_mac, host_mac;
  if (!ToMac(req->pod_mac(), &pod_mac) || !ToMac(req->host_mac(), &host_mac)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "MAC addresses must be 6 bytes");
  }
  return ToGrpc(endpoints_->Register(req->id().container_id(), req->id().ifname(),
                                     req->host_ifname(), req->host_ifindex(), pod_mac, host_mac,
                                     req->netns()));
}

grpc::Status AgentService::ReleaseEndpoint(grpc::ServerContext*,
                                           const v1::ReleaseEndpointRequest* req,
                                           v1::ReleaseEndpointResponse* resp) {
  auto r = endpoints_->Release(req->id().container_id(), req->id().ifname());
  if (!r.ok()) return ToGrpc(r.status());
  if (r->has_value()) {
    for (const auto& a : (*r)->addresses) resp->add_released(a.ToString());
    resp->set_host_ifname((*r)->host_ifname);
  }
  return grpc::Status::OK;
}

grpc::Status AgentService::GetEndpoint(grpc::ServerContext*, const v1::GetEndpointRequest* req,
                                       v1::Endpoint* resp) {
  auto r = endpoints_->Get(req->id().container_id(), req->id().ifname());
  if (!r) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("no endpoint ", req->id().container_id(), "/", req->id().ifname()));
  }
  Fill(*r, options_.node_name, resp);
  return grpc::Status::OK;
}

grpc::Status AgentService::ListEndpoints(grpc::ServerContext*, const v1::ListEndpointsRequest*,
                                         v1::ListEndpointsResponse* resp) {
  for (const auto& r : endpoints_->List()) Fill(r, options_.node_name, resp->add_endpoints());
  return grpc::Status::OK;
}

grpc::Status AgentService::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                                     v1::AgentStatus* resp) {
  resp->set_node(options_.node_name);
  resp->set_datapath_mode("ebpf");
  resp->set_endpoint_count(static_cast<int32_t>(endpoints_->List().size()));
  for (const auto& c : endpoints_->pod_cidrs()) resp->add_pod_cidrs(c.ToString());
  resp->set_kube_proxy_replacement("False");
  resp->set_encryption("Disabled");
  resp->set_healthy(true);
  if (options_.status) options_.status(resp);
  return grpc::Status::OK;
}

grpc::Status AgentService::ListServices(grpc::ServerContext*, const v1::ListServicesRequest*,
                                        v1::ListServicesResponse* resp) {
  if (!options_.list_services) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "the kube-proxy replacement is off on this node (agent config: "
                        "kubeProxyReplacement.enabled)");
  }
  return options_.list_services(resp);
}

grpc::Status AgentService::GetEncryptionStatus(grpc::ServerContext*,
                                               const v1::GetEncryptionStatusRequest*,
                                               v1::EncryptionStatus* resp) {
  if (!options_.encryption_status) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "encryption is off on this node (agent config: encryption.type)");
  }
  return options_.encryption_status(resp);
}

grpc::Status AgentService::RotateEncryptionKey(grpc::ServerContext*,
                                               const v1::RotateEncryptionKeyRequest*,
                                               v1::RotateEncryptionKeyResponse* resp) {
  if (!options_.rotate_key) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "encryption is off on this node (agent config: encryption.type)");
  }
  return options_.rotate_key(resp);
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartLocalApi(const std::string& socket_path,
                                                            grpc::Service* service) {
  std::string dir = socket_path.substr(0, socket_path.rfind('/'));
  if (!dir.empty()) {
    if (auto s = MakeDirs(dir, 0700); !s.ok()) return s;
    chmod(dir.c_str(), 0700);  // also when it existed
  }
  unlink(socket_path.c_str());  // a stale socket of a previous run
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return absl::InternalError(absl::StrCat("listen on ", socket_path));
  if (chmod(socket_path.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat("chmod 0600 ", socket_path, ": ", strerror(errno)));
  }
  return server;
}

}  // namespace weft::api
