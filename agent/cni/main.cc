// weft-cni: the CNI plugin the container runtime runs for every pod.
// Statically linked: the Talos host has no C library of its own.
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <string>

#include "agent/cni/plugin.h"
#include "agent/cni/protocol.h"

namespace {
constexpr char kDefaultAgentSocket[] = "/var/run/weft/weft.sock";
}

int main() {
  using namespace weft::cni;
  Error error;
  auto inv = ParseInvocation(ProcessEnv, &error);
  if (!inv.ok()) {
    std::cout << ErrorJson(error, kSpecVersion) << std::endl;
    return 1;
  }
  if (inv->command == Command::kVersion) {
    std::cout << VersionJson() << std::endl;
    return 0;
  }
  std::string stdin_json((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  auto conf = ParseNetConf(stdin_json, &error);
  if (!conf) {
    std::cout << ErrorJson(error, kSpecVersion) << std::endl;
    return 1;
  }
  auto agent = NewGrpcAgentClient(conf->agent_socket.empty() ? kDefaultAgentSocket : conf->agent_socket);
  std::string out;
  if (!RunCommand(*inv, *conf, agent.get(), &out, &error)) {
    std::cerr << "weft-cni: " << error.msg << ": " << error.details << std::endl;
    std::cout << ErrorJson(error, conf->cni_version) << std::endl;
    return 1;
  }
  if (!out.empty()) std::cout << out << std::endl;
  return 0;
}
