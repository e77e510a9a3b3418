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

std::string KubeProxyColumn(const NodeRow& n) {
  if (n.kube_proxy_replacement.empty()) return "-";
  if (n.kube_proxy_replacement != "True") return n.kube_proxy_replacement;
  return absl::StrCat("True, ", Plural(n.service_frontends, "frontend", "frontends"));
}

int Passed(const std::vector<Cell>& cells) {
  return static_cast<int>(
      std::count_if(cells.begin(), cells.end(), [](const Cell& c) { return c.ok; }));
}

// A matrix of ok/FAIL: `corner` heads the row labels.
std::string Matrix(const std::string& corner, const std::vector<std::string>& rows,
                   const std::vector<std::string>& columns, const std::vector<Cell>& cells) {
  std::vector<std::vector<std::string>> matrix;
  std::vector<std::string> header = {corner};
  header.insert(header.end(), columns.begin(), columns.end());
  matrix.push_back(header);
  for (size_t row = 0; row < rows.size(); ++row) {
    std::vector<std::string> line = {rows[row]};
    for (size_t col = 0; col < columns.size(); ++col) {
      const size_t i = row * columns.size() + col;
      line.push_back(i < cells.size() ? (cells[i].ok ? "ok" : "FAIL") : "?");
    }
    matrix.push_back(line);
  }
  return RenderTable(matrix);
}

std::string ServicePort(const ServiceRow& s) {
  return absl::StrCat(s.port, s.node_port != 0 ? absl::StrCat(":", s.node_port) : "", "/TCP -> ",
                      s.target_port);
}

json CellsJson(const std::vector<Cell>& cells) {
  json out = json::array();
  for (const Cell& c : cells) {
    out.push_back({{"from", c.from}, {"to", c.to}, {"ok", c.ok}, {"error", c.error}});
  }
  return out;
}

}  // namespace

int LabReport::passed() const { return Passed(cells); }

int LabReport::services_passed() const { return Passed(service_cells) + Passed(nodeport_cells); }

int LabReport::services_total() const {
  return static_cast<int>(service_cells.size() + nodeport_cells.size());
}

bool LabReport::ok() const {
  if (!controller_running || !problems.empty() || cells.empty()) return false;
  for (const NodeRow& n : nodes) {
    if (!n.agent_running || !n.agent_healthy) return false;
  }
  return passed() == static_cast<int>(cells.size()) && services_passed() == services_total();
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

  // The Services column once the lab has Services (labs made before had none).
  const bool services = !r.services.empty();
  std::vector<std::vector<std::string>> nodes = {{"NODE", "INTERNAL-IP", "POD-CIDR", "AGENT"}};
  if (services) nodes[0].push_back("KUBE-PROXY-REPLACEMENT");
  if (encrypted) nodes[0].push_back("ENCRYPTION");
  for (const NodeRow& n : r.nodes) {
    nodes.push_back({n.name, n.internal_ip, n.pod_cidr, AgentColumn(n)});
    if (services) nodes.back().push_back(KubeProxyColumn(n));
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
    absl::StrAppend(&out, "\nCONNECTIVITY (TCP connect + greeting, row -> column)\n",
                    Matrix("FROM", r.sources, r.targets, r.cells));
  }

  if (services) {
    std::vector<std::vector<std::string>> rows = {
        {"SERVICE", "TYPE", "CLUSTER-IP", "PORT", "ENDPOINTS"}};
    for (const ServiceRow& s : r.services) {
      rows.push_back({absl::StrCat(s.namespace_, "/", s.name), s.type,
                      s.cluster_ip.empty() ? "-" : s.cluster_ip, ServicePort(s),
                      !s.endpoints_known    ? "?"
                      : s.endpoints.empty() ? "(none ready)"
                                            : absl::StrJoin(s.endpoints, ",")});
    }
    absl::StrAppend(&out, "\n", RenderTable(rows));
    if (!r.service_cells.empty()) {
      absl::StrAppend(&out,
                      "\nSERVICES BY CLUSTER-IP (TCP connect + greeting, socket in the node's "
                      "cgroup, row -> column)\n",
                      Matrix("FROM", r.service_sources, r.service_targets, r.service_cells));
    }
    if (!r.nodeport_cells.empty()) {
      absl::StrAppend(&out,
                      "\nSERVICES BY NODEPORT (TCP connect + greeting from the lab namespace to "
                      "each node's InternalIP)\n",
                      Matrix("TO", r.nodeport_nodes, r.nodeport_targets, r.nodeport_cells));
    }
  }

  std::vector<std::string> failures;
  for (const Cell& c : r.cells) {
    if (!c.ok) failures.push_back(absl::StrCat("  ", c.from, " -> ", c.to, ": ", c.error));
  }
  if (!failures.empty()) {
    absl::StrAppend(&out, "\nfailed connections:\n", absl::StrJoin(failures, "\n"), "\n");
  }
  std::vector<std::string> service_failures;
  for (const std::vector<Cell>* cells : {&r.service_cells, &r.nodeport_cells}) {
    for (const Cell& c : *cells) {
      if (!c.ok)
        service_failures.push_back(absl::StrCat("  ", c.from, " -> ", c.to, ": ", c.error));
    }
  }
  if (!service_failures.empty()) {
    absl::StrAppend(&out, "\nfailed Service connections:\n", absl::StrJoin(service_failures, "\n"),
                    "\n");
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
                  r.cells.size(), " connections",
                  services ? absl::StrCat(", ", r.services_passed(), "/", r.services_total(),
                                          " through Services")
                           : "",
                  ")\n");
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
                       {"skipped", n.encryption_skipped}}},
                     {"kubeProxyReplacement",
                      {{"state", n.kube_proxy_replacement},
                       {"features", n.kube_proxy_replacement_features},
                       {"serviceFrontends", n.service_frontends}}}});
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
  json services = json::array();
  for (const ServiceRow& s : r.services) {
    services.push_back({{"namespace", s.namespace_},
                        {"name", s.name},
                        {"type", s.type},
                        {"clusterIP", s.cluster_ip},
                        {"port", s.port},
                        {"nodePort", s.node_port},
                        {"targetPort", s.target_port},
                        {"endpoints", s.endpoints_known ? json(s.endpoints) : json()}});
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
              {"cells", CellsJson(r.cells)},
              {"passed", r.passed()},
              {"total", r.cells.size()}}},
            {"services",
             {{"services", services},
              {"clusterIP",
               {{"sources", r.service_sources},
                {"targets", r.service_targets},
                {"cells", CellsJson(r.service_cells)}}},
              {"nodePort",
               {{"nodes", r.nodeport_nodes},
                {"targets", r.nodeport_targets},
                {"cells", CellsJson(r.nodeport_cells)}}},
              {"passed", r.services_passed()},
              {"total", r.services_total()}}},
            {"ok", r.ok()}};
  return j.dump(2) + "\n";
}

}  // namespace weft::lab
