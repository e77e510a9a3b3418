// The talosgen command line: argument parsing and dispatch to the pure generators. Kept
// apart from main.cc so tests can run whole commands in-process and check exit codes.
//
// Exit codes: 0 success (validate: no problems), 1 bad input or validate found problems,
// 2 usage errors (unknown subcommand or flag, bad --role/--cni value).
// Nothing goes to stdout on error: output is built in memory and returned whole.
#ifndef WEFT_GENERATOR_CLI_H_
#define WEFT_GENERATOR_CLI_H_

#include <string>
#include <vector>

namespace weft::generator {

struct CliResult {
  int exit_code = 0;
  std::string out;  // for stdout
  std::string err;  // for stderr
};

// `args` excludes the program name.
CliResult RunCli(const std::vector<std::string>& args);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_CLI_H_
