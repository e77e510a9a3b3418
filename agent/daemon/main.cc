// weft-agent: Weft's node daemon (see agent.h).
//   weft-agent --config /etc/weft/agent.yaml
// Exit codes: 0 stopped by SIGTERM/SIGINT, 1 start-up failed (the message says
// why), 2 bad flags or config.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include <cxxopts.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/config/config.h"
#include "agent/daemon/agent.h"
#include "agent/daemon/version.h"
#include "kubeprism/logging.h"

namespace {

void LogLine(weft::kubeprism::LogLevel level, absl::string_view message) {
  const char* tag = level == weft::kubeprism::LogLevel::kError     ? "E"
                    : level == weft::kubeprism::LogLevel::kWarning ? "W"
                                                                   : "I";
  std::string line = absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                                   absl::UTCTimeZone()),
                                  " ", tag, " ", message, "\n");
  fputs(line.c_str(), stderr);
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options opts("weft-agent", "Weft's node daemon: eBPF pod networking for Talos");
  opts.add_options()("config", "agent config file (YAML)",
                     cxxopts::value<std::string>()->default_value("/etc/weft/agent.yaml"))(
      "resync-seconds", "reconcile routes and endpoints at least this often",
      cxxopts::value<int>()->default_value("30"))("version", "print the version")("h,help",
                                                                                  "this help");
  std::string config_path;
  int resync = 30;
  try {
    auto parsed = opts.parse(argc, argv);
    if (parsed.count("help")) {
      std::cout << opts.help();
      return 0;
    }
    if (parsed.count("version")) {
      std::cout << "weft-agent " << WEFT_VERSION << "\n";
      return 0;
    }
    if (!parsed.unmatched().empty()) {
      std::cerr << "weft-agent: unexpected argument \"" << parsed.unmatched()[0] << "\"\n";
      return 2;
    }
    config_path = parsed["config"].as<std::string>();
    resync = parsed["resync-seconds"].as<int>();
  } catch (const std::exception& e) {
    std::cerr << "weft-agent: " << e.what() << "\n";
    return 2;
  }
  if (resync < 1) {
    std::cerr << "weft-agent: --resync-seconds must be at least 1\n";
    return 2;
  }
  auto config = weft::agent::LoadAgentConfig(config_path);
  if (!config.ok()) {
    std::cerr << "weft-agent: " << config.status().message() << "\n";
    return 2;
  }
  weft::kubeprism::SetLogSink(LogLine);

  // Signals are taken by one thread with sigwait; every other thread blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  absl::Notification stop;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (!stop.HasBeenNotified()) stop.Notify();
  });

  weft::daemon::AgentOptions options;
  options.resync = absl::Seconds(resync);
  options.version = WEFT_VERSION;
  weft::daemon::Agent agent(*std::move(config), options);
  absl::Status status = agent.Run(&stop);
  if (!stop.HasBeenNotified()) {
    // Start-up failed: wake the signal thread so the process can exit.
    stop.Notify();
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  if (!status.ok()) {
    LogLine(weft::kubeprism::LogLevel::kError, absl::StrCat("weft-agent: ", status.message()));
    return 1;
  }
  return 0;
}
