// `weft lab up|status|down`: a multi-node Weft cluster on this machine (see
// agent/lab/lab.h), and the hidden `weft lab serve` that runs its controller.
#ifndef WEFT_AGENT_CLI_LAB_COMMAND_H_
#define WEFT_AGENT_CLI_LAB_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace weft::cli {

// Exit 0 when the lab is up and every connection passes; 1 when start-up
// failed (nothing is left behind) or the lab is up but failing (left up for
// inspection); 2 on a usage error.
int LabUpCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// Exit 0 when the controller runs, every agent is healthy and every cell of the
// connectivity matrix passes; 1 otherwise (also when there is no lab).
int LabStatusCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// Exit 0 when the lab is gone (also when there was none).
int LabDownCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// The controller process; started by `weft lab up`, not by people.
int LabServeCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace weft::cli

#endif  // WEFT_AGENT_CLI_LAB_COMMAND_H_
