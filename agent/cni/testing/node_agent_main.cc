// Test-only: the agent's endpoint side (real endpoint manager, real BPF
// datapath, real gRPC socket) with a fixed pod CIDR instead of one read from
// the Kubernetes API. Lets CNI tests run weft-cni exactly as a runtime would.
//   node_agent --socket S --state-dir D --pin-dir P --pod-cidr C
#include <csignal>
#include <iostream>
#include <string>

#include "absl/synchronization/notification.h"
#include "agent/api/server.h"
#include "agent/datapath/datapath.h"
#include "agent/endpoints/manager.h"

namespace {
absl::Notification* g_stop = nullptr;
void OnSignal(int) {
  if (g_stop && !g_stop->HasBeenNotified()) g_stop->Notify();
}
}  // namespace

int main(int argc, char** argv) {
  std::string socket, state_dir, pin_dir, cidr;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--socket") socket = v;
    if (k == "--state-dir") state_dir = v;
    if (k == "--pin-dir") pin_dir = v;
    if (k == "--pod-cidr") cidr = v;
  }
  auto prefix = weft::net::IpPrefix::Parse(cidr);
  auto dp = weft::datapath::Datapath::Load(pin_dir);
  if (!prefix.ok() || !dp.ok()) {
    std::cerr << "node_agent: " << (prefix.ok() ? dp.status() : prefix.status()) << std::endl;
    return 1;
  }
  std::vector<std::string> problems;
  auto mgr = weft::endpoints::EndpointManager::Create(state_dir, {*prefix}, dp->get(), &problems);
  if (!mgr.ok()) {
    std::cerr << "node_agent: " << mgr.status() << std::endl;
    return 1;
  }
  weft::api::AgentService service(mgr->get(), {"test-node", 1500, nullptr});
  auto server = weft::api::StartLocalApi(socket, &service);
  if (!server.ok()) {
    std::cerr << "node_agent: " << server.status() << std::endl;
    return 1;
  }
  absl::Notification stop;
  g_stop = &stop;
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  stop.WaitForNotification();
  (*server)->Shutdown();
  return 0;
}
