// `weft status`, `weft endpoint list`, `weft service list` and `weft encrypt
// status|rotate`: the node agent's view, read over its local API socket (root
// only). Text for people, `-o json` for scripts.
#ifndef WEFT_AGENT_CLI_AGENT_COMMANDS_H_
#define WEFT_AGENT_CLI_AGENT_COMMANDS_H_

#include <ostream>
#include <string>
#include <vector>

#include "agent/api/agent.pb.h"

namespace weft::cli {

int StatusCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int EndpointListCommand(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err);
// `weft service list`: the Service frontends and backends in the datapath.
int ServiceListCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// `weft encrypt status` and `weft encrypt rotate`.
int EncryptStatusCommand(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err);
int EncryptRotateCommand(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err);

// Pure renderers (tested on their own).
std::string RenderStatus(const weft::agent::v1::AgentStatus& status);
std::string RenderEndpoints(const weft::agent::v1::ListEndpointsResponse& list);
// One row per frontend, sorted by Service; the skipped lines after the table.
std::string RenderServices(const weft::agent::v1::ListServicesResponse& list);
std::string RenderEncryption(const weft::agent::v1::EncryptionStatus& status, int64_t now_unix);
// Proto JSON with every field present (zeros and empty lists included).
std::string ToJson(const google::protobuf::Message& message);

}  // namespace weft::cli

#endif  // WEFT_AGENT_CLI_AGENT_COMMANDS_H_
