#include "agent/lab/report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/text_table.h"
#include "nlohmann/json.hpp"

namespace weft::lab {
namespace {

using nlohmann::json;

std::string Plural(int n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

std::string AgentColumn(const NodeRow& n) {
  const std::string process = n.container.empty() ? absl::StrCat("pid ", n.agent_pid)
                                                  : absl::StrCat("container ", n.container,
                                                                 " (runc pid ", n.agent_pid, ")");
  if (!n.agent_running) return absl::StrCat("NOT RUNNING (", process, ")");
  std::string s = absl::StrCat(process, ", ");
  if (!n.agent_error.empty()) return absl::StrCat(s, "NOT ANSWERING");
  if (!n.agent_healthy) {
    return absl::StrCat(s, "UNHEALTHY (",
                        Plural(static_cast<int>(n.agent_problems.size()), "problem", "problems"),
                        ")");
  }
  return absl::StrCat(s, "healthy, ", Plural(n.endpoints, "endpoint", "endpoints"));
}

std::string EncryptionColumn(const NodeRow& n) {
  if (n.encryption.empty()) return "-";
  return absl::StrCat(n.encryption, ", ", Plural(n.peers, "peer", "peers"), " (",
                      n.peers_with_handshake, " with handshake)",
                      n.encryption_skipped.empty()
                          ? ""
                          : absl::StrCat(", ", n.encryption_skipped.size(), " skipped"));
}

}  // namespace

int LabReport::passed() const {
  return static_cast<int>(
      std::count_if(cells.begin(), cells.end(), [](const Cell& c) { return c.ok; }));
}

bool LabReport::ok() const {
  if (!controller_running || !problems.empty() || cells.empty()) return false;
  for (const NodeRow& n : nodes) {
    if (!n.agent_running || !n.agent_healthy) return false;
  }
  return passed() == static_cast<int>(cells.size());
}

std::string RenderReport(const LabReport& r) {
  std::string out = absl::StrCat("lab ", r.prefix, " (", r.phase, "): API server ", r.api_server,
                                 " (", r.api_mode, "), controller pid ", r.controller_pid,
                                 r.controller_running ? "" : " NOT RUNNING", "\n");
  const bool encrypted = !r.encryption.empty() && r.encryption != "none";
  absl::StrAppend(&out, "node segment ", r.segment, ", ", r.routing, " routing, ",
                  encrypted ? r.encryption + " encryption, " : "", "outside ", r.outside,
                  ", state ", r.state_dir, "\n");
  if (!r.talos_extension.empty()) {
    absl::StrAppend(&out, "Talos mode: each agent in a runc container of the extension ",
                    r.talos_extension, "\n");
  }
  if (!r.phase_error.empty()) absl::StrAppend(&out, "start-up failed: ", r.phase_error, "\n");

  std::vector<std::vector<std::string>> nodes = {{"NODE", "INTERNAL-IP", "POD-CIDR", "AGENT"}};
  if (encrypted) nodes[0].push_back("ENCRYPTION");
  for (const NodeRow& n : r.nodes) {
    nodes.push_back({n.name, n.internal_ip, n.pod_cidr, AgentColumn(n)});
    if (encrypted) nodes.back().push_back(EncryptionColumn(n));
  }
  absl::StrAppend(&out, "\n", RenderTable(nodes));

  std::vector<std::vector<std::string>> pods = {{"POD", "NODE", "IP", "PORT", "PHASE"}};
  for (const PodRow& p : r.pods) {
    pods.push_back({absl::StrCat(p.namespace_, "/", p.name), p.node, p.ip.empty() ? "-" : p.ip,
                    absl::StrCat(p.port), p.phase.empty() ? "-" : p.phase});
  }
  absl::StrAppend(&out, "\n", RenderTable(pods));

  if (!r.cells.empty()) {
    absl::StrAppend(&out, "\nCONNECTIVITY (TCP connect + greeting, row -> column)\n");
    std::vector<std::vector<std::string>> matrix;
    std::vector<std::string> header = {"FROM"};
    header.insert(header.end(), r.targets.begin(), r.targets.end());
    matrix.push_back(header);
    for (size_t row = 0; row < r.sources.size(); ++row) {
      std::vector<std::string> line = {r.sources[row]};
      for (size_t col = 0; col < r.targets.size(); ++col) {
        const size_t i = row * r.targets.size() + col;
        line.push_back(i < r.cells.size() ? (r.cells[i].ok ? "ok" : "FAIL") : "?");
      }
      matrix.push_back(line);
    }
    absl::StrAppend(&out, RenderTable(matrix));
  }

  std::vector<std::string> failures;
  for (const Cell& c : r.cells) {
    if (!c.ok) failures.push_back(absl::StrCat("  ", c.from, " -> ", c.to, ": ", c.error));
  }
  if (!failures.empty()) {
    absl::StrAppend(&out, "\nfailed connections:\n", absl::StrJoin(failures, "\n"), "\n");
  }
  std::vector<std::string> problems;
  for (const std::string& p : r.problems) problems.push_back("  " + p);
  for (const NodeRow& n : r.nodes) {
    if (!n.agent_error.empty()) {
      problems.push_back(absl::StrCat("  agent on ", n.name, ": ", n.agent_error));
    }
    for (const std::string& p : n.agent_problems) {
      problems.push_back(absl::StrCat("  agent on ", n.name, ": ", p));
    }
  }
  if (!problems.empty()) {
    absl::StrAppend(&out, "\nproblems:\n", absl::StrJoin(problems, "\n"), "\n");
  }

  absl::StrAppend(&out, "\nresult: ", r.ok() ? "ok" : "FAILING", " (", r.passed(), "/",
                  r.cells.size(), " connections)\n");
  return out;
}

std::string ReportJson(const LabReport& r) {
  json nodes = json::array();
  for (const NodeRow& n : r.nodes) {
    nodes.push_back({{"name", n.name},
                     {"internalIP", n.internal_ip},
                     {"podCIDR", n.pod_cidr},
                     {"agent",
                      {{"pid", n.agent_pid},
                       {"container", n.container},
                       {"running", n.agent_running},
                       {"healthy", n.agent_healthy},
                       {"error", n.agent_error},
                       {"problems", n.agent_problems},
                       {"endpoints", n.endpoints}}},
                     {"encryption",
                      {{"mode", n.encryption},
                       {"peers", n.peers},
                       {"peersWithHandshake", n.peers_with_handshake},
                       {"skipped", n.encryption_skipped}}}});
  }
  json pods = json::array();
  for (const PodRow& p : r.pods) {
    pods.push_back({{"namespace", p.namespace_},
                    {"name", p.name},
                    {"node", p.node},
                    {"ip", p.ip},
                    {"port", p.port},
                    {"phase", p.phase}});
  }
  json cells = json::array();
  for (const Cell& c : r.cells) {
    cells.push_back({{"from", c.from}, {"to", c.to}, {"ok", c.ok}, {"error", c.error}});
  }
  json j = {{"prefix", r.prefix},
            {"stateDir", r.state_dir},
            {"phase", r.phase},
            {"phaseError", r.phase_error},
            {"apiMode", r.api_mode},
            {"apiServer", r.api_server},
            {"routing", r.routing},
            {"encryption", r.encryption},
            {"segment", r.segment},
            {"outside", r.outside},
            {"talosExtension", r.talos_extension},
            {"controller", {{"pid", r.controller_pid}, {"running", r.controller_running}}},
            {"problems", r.problems},
            {"nodes", nodes},
            {"pods", pods},
            {"connectivity",
             {{"sources", r.sources},
              {"targets", r.targets},
              {"cells", cells},
              {"passed", r.passed()},
              {"total", r.cells.size()}}},
            {"ok", r.ok()}};
  return j.dump(2) + "\n";
}

}  // namespace weft::lab
