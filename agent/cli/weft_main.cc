// `weft`: the operator's command-line tool. Subcommands are rows of kCommands;
// later issues add theirs (status, ...) the same way.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "agent/cli/agent_commands.h"
#include "agent/cli/command.h"
#include "agent/cli/kube_probe_command.h"
#include "agent/cli/lab_command.h"

namespace weft::cli {
namespace {

constexpr Command kCommands[] = {
    {"status", "the node agent's health, API connection, datapath and counts", StatusCommand},
    {"endpoint list", "the pods on this node: namespace, pod, IP, interface, node",
     EndpointListCommand},
    {"service list", "Services in the datapath: frontends, scope, algorithm, backends",
     ServiceListCommand},
    {"encrypt status", "WireGuard encryption: key, interface, peers, handshakes, bytes",
     EncryptStatusCommand},
    {"encrypt rotate", "replace this node's WireGuard key pair (peers follow)",
     EncryptRotateCommand},
    {"kube probe", "check access to the Kubernetes API through KubePrism", KubeProbeCommand},
    {"lab up", "start a multi-node Weft cluster on this machine (namespaces)", LabUpCommand},
    {"lab status", "the lab's nodes, pods, Services and connectivity", LabStatusCommand},
    {"lab down", "remove the lab and everything it created", LabDownCommand},
    {"lab serve", "the lab's controller process (started by lab up)", LabServeCommand, true},
};

void PrintUsage(std::ostream& out) {
  out << "usage: weft COMMAND [flags]\n\ncommands:\n";
  for (const Command& c : kCommands) {
    if (c.hidden) continue;
    out << "  " << c.path << std::string(20 - std::min<size_t>(19, std::strlen(c.path)), ' ')
        << c.summary << "\n";
  }
  out << "\n`weft COMMAND --help` describes a command's flags.\n";
}

// The command whose path is a prefix of `args`, and how many words it used.
const Command* Find(const std::vector<std::string>& args, size_t* words) {
  for (const Command& c : kCommands) {
    std::vector<std::string> path = absl::StrSplit(c.path, ' ');
    if (args.size() < path.size()) continue;
    bool match = true;
    for (size_t i = 0; i < path.size(); ++i) match = match && args[i] == path[i];
    if (match) {
      *words = path.size();
      return &c;
    }
  }
  return nullptr;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
    PrintUsage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  size_t words = 0;
  const Command* command = Find(args, &words);
  if (command == nullptr) {
    std::cerr << "weft: unknown command \"" << args[0] << (args.size() > 1 ? " " + args[1] : "")
              << "\"\n\n";
    PrintUsage(std::cerr);
    return kExitUsage;
  }
  return command->run(std::vector<std::string>(args.begin() + words, args.end()), std::cout,
                      std::cerr);
}

}  // namespace
}  // namespace weft::cli

int main(int argc, char** argv) { return weft::cli::Main(argc, argv); }
