// talosgen: generates what a Talos cluster needs to run Weft or Cilium instead of Flannel
// and kube-proxy. See the README (talosgen section); the work happens in cli.cc.
#include <cstdio>
#include <string>
#include <vector>

#include "generator/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  weft::generator::CliResult r = weft::generator::RunCli(args);
  std::fwrite(r.out.data(), 1, r.out.size(), stdout);
  std::fwrite(r.err.data(), 1, r.err.size(), stderr);
  return r.exit_code;
}
