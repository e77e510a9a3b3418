// lab-apiserver: the lab API server as a process, for the lab and the `weft` CLI.
//
//   lab-apiserver --state-dir /tmp/lab --port 6443
//       --admin-kubeconfig /tmp/lab/admin.kubeconfig --rules rules.yaml
//
// rules.yaml is a list of allow rules (no file = everything allowed):
//   - {subject: "group:weft:agents", verb: "list", group: "", resource: "services"}
// Runs until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <exception>
#include <yaml-cpp/yaml.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/pki.h"
#include "kubeprism/testing/lab_apiserver.h"

namespace {

using weft::kubeprism::testing::LabApiServer;
using weft::kubeprism::testing::LabApiServerOptions;
using weft::kubeprism::testing::LabRule;

absl::StatusOr<std::vector<LabRule>> LoadRules(const std::string& path) {
  auto text = weft::ReadFile(path);
  if (!text.ok()) return text.status();
  return weft::kubeprism::testing::ParseLabRulesYaml(*text, path);
}

absl::Status WriteAdminKubeconfig(LabApiServer& server, const std::string& path) {
  auto creds = server.IssueClientCert("lab-admin", {"system:masters"}, 365LL * 86400);
  if (!creds.ok()) return creds.status();
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "v1";
  out << YAML::Key << "kind" << YAML::Value << "Config";
  out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "lab";
  out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << server.url();
  out << YAML::Key << "certificate-authority-data" << YAML::Value
      << absl::Base64Escape(server.ca_pem());
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "lab-admin";
  out << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "client-certificate-data" << YAML::Value
      << absl::Base64Escape(creds->cert_pem);
  out << YAML::Key << "client-key-data" << YAML::Value << absl::Base64Escape(creds->key_pem);
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "lab";
  out << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cluster" << YAML::Value << "lab";
  out << YAML::Key << "user" << YAML::Value << "lab-admin";
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "current-context" << YAML::Value << "lab";
  out << YAML::EndMap;
  return weft::WriteFileAtomically(path, std::string(out.c_str()) + "\n", 0600);
}

int Run(int argc, char** argv) {
  cxxopts::Options options("lab-apiserver", "A kube-apiserver look-alike for the Weft lab");
  options.add_options()
      ("state-dir", "Directory for the CA, certificates and credentials",
       cxxopts::value<std::string>())
      ("port", "Port on 127.0.0.1 (0 = any free port)", cxxopts::value<int>()->default_value("0"))
      ("admin-kubeconfig", "Write a kubeconfig with an admin client certificate here",
       cxxopts::value<std::string>()->default_value(""))
      ("rules", "YAML list of allow rules (default: allow every authenticated user)",
       cxxopts::value<std::string>()->default_value(""))
      ("extra-san", "Extra server certificate SANs",
       cxxopts::value<std::vector<std::string>>()->default_value(""))
      ("watch-history", "Events kept for watch resumption",
       cxxopts::value<int>()->default_value("10000"))
      ("bookmark-interval-ms", "Interval between watch bookmarks",
       cxxopts::value<int>()->default_value("1000"))
      ("h,help", "Show help");
  LabApiServerOptions server_options;
  std::string kubeconfig;
  try {
    auto parsed = options.parse(argc, argv);
    if (parsed.count("help") || !parsed.count("state-dir")) {
      std::fprintf(stderr, "%s\n", options.help().c_str());
      return parsed.count("help") ? 0 : 2;
    }
    server_options.state_dir = parsed["state-dir"].as<std::string>();
    server_options.port = parsed["port"].as<int>();
    for (const std::string& san : parsed["extra-san"].as<std::vector<std::string>>()) {
      if (!san.empty()) server_options.extra_sans.push_back(san);
    }
    server_options.watch_history = parsed["watch-history"].as<int>();
    server_options.bookmark_interval_ms = parsed["bookmark-interval-ms"].as<int>();
    kubeconfig = parsed["admin-kubeconfig"].as<std::string>();
    const std::string rules_path = parsed["rules"].as<std::string>();
    if (!rules_path.empty()) {
      auto rules = LoadRules(rules_path);
      if (!rules.ok()) {
        std::fprintf(stderr, "lab-apiserver: %s\n", rules.status().ToString().c_str());
        return 2;
      }
      server_options.rules = *rules;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lab-apiserver: %s\n", e.what());
    return 2;
  }

  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = LabApiServer::Start(server_options);
  if (!server.ok()) {
    std::fprintf(stderr, "lab-apiserver: %s\n", server.status().ToString().c_str());
    return 1;
  }
  if (!kubeconfig.empty()) {
    absl::Status written = WriteAdminKubeconfig(**server, kubeconfig);
    if (!written.ok()) {
      std::fprintf(stderr, "lab-apiserver: %s\n", written.ToString().c_str());
      return 1;
    }
  }
  std::printf("listening on %s\n", (*server)->url().c_str());
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*server)->Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
