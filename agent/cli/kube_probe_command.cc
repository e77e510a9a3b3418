#include "agent/cli/kube_probe_command.h"

#include <csignal>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <thread>

#include <cxxopts.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "agent/cli/command.h"
#include "kubeprism/http_transport.h"
#include "kubeprism/kubeconfig.h"
#include "kubeprism/logging.h"
#include "kubeprism/probe.h"
#include "kubeprism/resource_types.h"

namespace weft::cli {
namespace {

using kubeprism::ResourceType;

std::string Flag(const cxxopts::ParseResult& r, const char* name) {
  return r.count(name) ? r[name].as<std::string>() : std::string();
}

std::string KnownResources() {
  std::vector<std::string> names;
  for (const ResourceType* t : kubeprism::WatchedResourceTypes()) names.emplace_back(t->plural);
  return absl::StrJoin(names, ", ");
}

}  // namespace

int KubeProbeCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options(
      "weft kube probe",
      "Can this node reach the Kubernetes API through KubePrism with these credentials?\n"
      "Lists every resource the agent uses (count, resourceVersion, RBAC); with --watch,\n"
      "then prints one line per event of the named resources until interrupted.\n"
      "Exit codes: 0 all fine (absent CRDs are fine), 1 any resource failing, 2 usage.");
  options.custom_help("[flags] [--watch RESOURCE...]");
  options.add_options()
      ("kubeconfig", "kubeconfig file (default: $KUBECONFIG, else flags and defaults)",
       cxxopts::value<std::string>())
      ("context", "kubeconfig context (default: current-context)", cxxopts::value<std::string>())
      ("server", "API server URL (default https://127.0.0.1:7445, KubePrism)",
       cxxopts::value<std::string>())
      ("fallback-server", "tried when the server does not answer (repeatable)",
       cxxopts::value<std::vector<std::string>>())
      ("ca-file", "CA bundle (default /etc/kubernetes/pki/ca.crt)", cxxopts::value<std::string>())
      ("client-cert", "client certificate PEM file", cxxopts::value<std::string>())
      ("client-key", "client key PEM file", cxxopts::value<std::string>())
      ("token-file", "bearer token file", cxxopts::value<std::string>())
      ("tls-server-name", "name for SNI and the certificate check", cxxopts::value<std::string>())
      ("watch", "after the table, print events of the named resources")
      ("resources", "resources to watch", cxxopts::value<std::vector<std::string>>())
      ("h,help", "show this help");
  options.parse_positional({"resources"});

  std::vector<std::string> storage = {"weft kube probe"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const std::string& s : storage) argv.push_back(s.c_str());
  std::optional<cxxopts::ParseResult> parsed;
  try {
    parsed = options.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const std::exception& e) {
    err << "weft kube probe: " << e.what() << "\n";
    return kExitUsage;
  }
  const cxxopts::ParseResult& flags = *parsed;
  if (flags.count("help")) {
    out << options.help();
    return kExitOk;
  }
  std::vector<std::string> names;
  if (flags.count("resources")) names = flags["resources"].as<std::vector<std::string>>();
  const bool watch = flags.count("watch") > 0;
  if (!names.empty() && !watch) {
    err << "weft kube probe: unexpected argument \"" << names[0] << "\" (use --watch RESOURCE...)\n";
    return kExitUsage;
  }
  if (watch && names.empty()) {
    err << "weft kube probe: --watch needs at least one resource (" << KnownResources() << ")\n";
    return kExitUsage;
  }
  std::vector<const ResourceType*> watch_types;
  for (const std::string& name : names) {
    const ResourceType* type = kubeprism::FindResourceType(name);
    if (type == nullptr) {
      err << "weft kube probe: unknown resource \"" << name << "\" (known: " << KnownResources()
          << ")\n";
      return kExitUsage;
    }
    watch_types.push_back(type);
  }

  kubeprism::ConfigFlags config_flags;
  config_flags.kubeconfig = Flag(flags, "kubeconfig");
  if (config_flags.kubeconfig.empty() && std::getenv("KUBECONFIG") != nullptr) {
    config_flags.kubeconfig = std::getenv("KUBECONFIG");
  }
  config_flags.context = Flag(flags, "context");
  config_flags.server = Flag(flags, "server");
  if (flags.count("fallback-server")) {
    config_flags.fallback_servers = flags["fallback-server"].as<std::vector<std::string>>();
  }
  config_flags.ca_file = Flag(flags, "ca-file");
  config_flags.client_cert_file = Flag(flags, "client-cert");
  config_flags.client_key_file = Flag(flags, "client-key");
  config_flags.token_file = Flag(flags, "token-file");
  config_flags.tls_server_name = Flag(flags, "tls-server-name");

  absl::StatusOr<kubeprism::ClientConfig> config = kubeprism::ResolveClientConfig(config_flags);
  if (!config.ok()) {
    err << "weft kube probe: " << config.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<std::unique_ptr<kubeprism::HttpTransport>> created =
      kubeprism::HttpTransport::Create(*config);
  if (!created.ok()) {
    err << "weft kube probe: " << created.status().message() << "\n";
    return kExitFailure;
  }
  std::shared_ptr<kubeprism::Transport> transport = *std::move(created);

  // Block the stop signals before any thread exists; this thread waits for them.
  sigset_t stop_signals;
  if (watch) {
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  }

  out << "server: " << config->server << " (" << config->source << ")\n";
  kubeprism::ProbeReport report =
      kubeprism::RunProbe(*transport, kubeprism::WatchedResourceTypes());
  out << kubeprism::RenderProbeReport(report);
  out << (report.ok() ? "result: ok\n" : "result: FAILING\n");
  out.flush();
  if (!watch) return report.ok() ? kExitOk : kExitFailure;

  kubeprism::SetLogSink([&err](kubeprism::LogLevel, absl::string_view message) {
    err << "weft: " << message << std::endl;
  });
  absl::Notification stop;
  std::thread watcher(
      [&] { kubeprism::WatchAndPrint(transport, watch_types, out, stop); });
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  stop.Notify();
  watcher.join();
  kubeprism::SetLogSink(nullptr);
  return report.ok() ? kExitOk : kExitFailure;
}

}  // namespace weft::cli
