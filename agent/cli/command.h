// One `weft` subcommand: a path ("kube probe"), a summary for `weft help`, and a
// function from its arguments to an exit code.
#ifndef WEFT_AGENT_CLI_COMMAND_H_
#define WEFT_AGENT_CLI_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace weft::cli {

using CommandFn = int (*)(const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err);

struct Command {
  const char* path;  // words after `weft`, space separated
  const char* summary;
  CommandFn run;
  bool hidden = false;  // not listed by `weft help` (internal commands)
};

// Exit codes shared by all commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

}  // namespace weft::cli

#endif  // WEFT_AGENT_CLI_COMMAND_H_
