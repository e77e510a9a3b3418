// weft-cni's commands. The plugin does the namespace work (veth, addresses,
// routes) because it runs where the runtime runs; the agent owns addresses and
// the datapath. ADD either completes or leaves nothing behind.
#ifndef WEFT_AGENT_CNI_PLUGIN_H_
#define WEFT_AGENT_CNI_PLUGIN_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/api/agent.pb.h"
#include "agent/cni/protocol.h"

namespace weft::cni {

// The agent as the plugin sees it. Errors carry gRPC-like codes
// (kUnavailable: the agent is not running).
class AgentClient {
 public:
  virtual ~AgentClient() = default;
  virtual absl::StatusOr<weft::agent::v1::AllocateAddressesResponse> Allocate(
      const weft::agent::v1::AllocateAddressesRequest& req) = 0;
  virtual absl::Status Register(const weft::agent::v1::RegisterEndpointRequest& req) = 0;
  virtual absl::StatusOr<weft::agent::v1::ReleaseEndpointResponse> Release(
      const weft::agent::v1::ReleaseEndpointRequest& req) = 0;
  virtual absl::StatusOr<weft::agent::v1::Endpoint> Get(
      const weft::agent::v1::GetEndpointRequest& req) = 0;
};

// A client over the agent's UNIX socket with a deadline per call.
std::unique_ptr<AgentClient> NewGrpcAgentClient(const std::string& socket_path);

// The host side of a pod's veth: "lxc" + 11 hex digits of a hash of the
// endpoint key, so DEL finds it without state and names never collide in practice.
std::string HostVethName(const std::string& container_id, const std::string& ifname);

// Runs one command. On success writes the stdout JSON (result or version, empty
// for DEL/CHECK); on failure fills `error`.
bool RunCommand(const Invocation& inv, const NetConf& conf, AgentClient* agent,
                std::string* out, Error* error);

}  // namespace weft::cni

#endif  // WEFT_AGENT_CNI_PLUGIN_H_
