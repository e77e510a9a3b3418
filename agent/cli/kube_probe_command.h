// `weft kube probe [--kubeconfig FILE] [--server URL] [--watch RESOURCE...]`
#ifndef WEFT_AGENT_CLI_KUBE_PROBE_COMMAND_H_
#define WEFT_AGENT_CLI_KUBE_PROBE_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace weft::cli {

// Exit 0 when every resource lists and watches (absent CRDs are fine), 1 when any
// fails, 2 on a usage error. With --watch, prints events until SIGINT/SIGTERM.
int KubeProbeCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace weft::cli

#endif  // WEFT_AGENT_CLI_KUBE_PROBE_COMMAND_H_
