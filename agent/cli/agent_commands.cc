#include "agent/cli/agent_commands.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>

#include <cxxopts.hpp>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/api/agent.grpc.pb.h"
#include "agent/cli/command.h"
#include "common/text_table.h"

namespace weft::cli {
namespace {

namespace v1 = weft::agent::v1;

constexpr char kDefaultSocket[] = "/var/run/weft/weft.sock";

struct Common {
  std::string socket;
  bool json = false;
};

// Parses --socket and -o; returns an exit code when the command is done
// (help or a usage error).
std::optional<int> ParseCommon(const char* name, const char* about,
                               const std::vector<std::string>& args, std::ostream& out,
                               std::ostream& err, Common* common) {
  cxxopts::Options options(name, about);
  options.add_options()("socket", "the agent's API socket",
                        cxxopts::value<std::string>()->default_value(kDefaultSocket))(
      "o,output", "text or json", cxxopts::value<std::string>()->default_value("text"))(
      "h,help", "show this help");
  std::vector<std::string> storage = {name};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const std::string& s : storage) argv.push_back(s.c_str());
  try {
    auto parsed = options.parse(static_cast<int>(argv.size()), argv.data());
    if (parsed.count("help")) {
      out << options.help();
      return kExitOk;
    }
    if (!parsed.unmatched().empty()) {
      err << name << ": unexpected argument \"" << parsed.unmatched()[0] << "\"\n";
      return kExitUsage;
    }
    common->socket = parsed["socket"].as<std::string>();
    std::string output = parsed["output"].as<std::string>();
    if (output != "text" && output != "json") {
      err << name << ": -o must be text or json, not \"" << output << "\"\n";
      return kExitUsage;
    }
    common->json = output == "json";
  } catch (const std::exception& e) {
    err << name << ": " << e.what() << "\n";
    return kExitUsage;
  }
  return std::nullopt;
}

std::unique_ptr<v1::Agent::Stub> Connect(const std::string& socket) {
  return v1::Agent::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
}

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

// A failed call as one line a person can act on.
std::string CallError(const char* name, const std::string& socket, const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::StrCat(name, ": the agent is not answering on ", socket,
                        " (is weft-agent running? are you root?)\n");
  }
  return absl::StrCat(name, ": ", s.error_message(), "\n");
}

std::string Bytes(uint64_t n) {
  if (n >= (1ull << 30)) return absl::StrFormat("%.1f GiB", n / double(1ull << 30));
  if (n >= (1ull << 20)) return absl::StrFormat("%.1f MiB", n / double(1ull << 20));
  if (n >= (1ull << 10)) return absl::StrFormat("%.1f KiB", n / double(1ull << 10));
  return absl::StrCat(n, " B");
}

std::string Uptime(int64_t seconds) {
  if (seconds >= 86400) return absl::StrFormat("%dd%dh", seconds / 86400, seconds % 86400 / 3600);
  if (seconds >= 3600) return absl::StrFormat("%dh%dm", seconds / 3600, seconds % 3600 / 60);
  if (seconds >= 60) return absl::StrFormat("%dm%ds", seconds / 60, seconds % 60);
  return absl::StrFormat("%ds", seconds);
}

// "True (ClusterIP, NodePort, ...)": the state and, when on, what is active.
std::string KubeProxyReplacement(const v1::AgentStatus& s) {
  const std::string state =
      s.kube_proxy_replacement().empty() ? "False" : s.kube_proxy_replacement();
  if (s.kube_proxy_replacement_features().empty()) return state;
  return absl::StrCat(state, " (", absl::StrJoin(s.kube_proxy_replacement_features(), ", "), ")");
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string RenderStatus(const v1::AgentStatus& s) {
  std::string out;
  auto row = [&](const char* key, const std::string& value) {
    absl::StrAppend(&out, absl::StrFormat("%-22s%s\n", key, value));
  };
  row("Node:", s.node());
  row("Health:", s.healthy() ? "OK" : absl::StrCat("Degraded (", s.problems_size(), " problems)"));
  row("API server:", absl::StrCat(s.api_server(), s.api_connected() ? " (connected)"
                                                                    : " (not connected)"));
  row("Datapath:", s.datapath_mode());
  row("Routing:", s.routing_mode());
  row("KubeProxyReplacement:", KubeProxyReplacement(s));
  if (s.kube_proxy_replacement() == "True") {
    row("Services:", absl::StrCat(s.service_frontend_count(),
                                  s.service_frontend_count() == 1 ? " frontend" : " frontends"));
  }
  row("Encryption:", s.encryption().empty() ? "Disabled" : s.encryption());
  row("Pod CIDRs:", absl::StrJoin(s.pod_cidrs(), ", "));
  row("Nodes:", absl::StrCat(s.node_count()));
  row("Endpoints:", absl::StrCat(s.endpoint_count()));
  row("Version:", absl::StrCat(s.version(), " (up ", Uptime(s.uptime_seconds()), ")"));
  for (const auto& p : s.problems()) absl::StrAppend(&out, "  problem: ", p, "\n");
  return out;
}

std::string RenderEndpoints(const v1::ListEndpointsResponse& list) {
  std::vector<const v1::Endpoint*> eps;
  for (const auto& e : list.endpoints()) eps.push_back(&e);
  std::sort(eps.begin(), eps.end(), [](const v1::Endpoint* a, const v1::Endpoint* b) {
    return std::tie(a->pod_namespace(), a->pod_name()) < std::tie(b->pod_namespace(), b->pod_name());
  });
  std::vector<std::vector<std::string>> rows = {{"NAMESPACE", "POD", "IP", "INTERFACE", "NODE"}};
  for (const v1::Endpoint* e : eps) {
    rows.push_back({e->pod_namespace(), e->pod_name(), absl::StrJoin(e->addresses(), ","),
                    e->host_ifname().empty() ? "-" : e->host_ifname(),
                    e->node() + (e->programmed() ? "" : " (not programmed)")});
  }
  return RenderTable(rows);
}

std::string RenderServices(const v1::ListServicesResponse& list) {
  std::vector<const v1::ServiceFrontend*> frontends;
  for (const auto& f : list.frontends()) frontends.push_back(&f);
  std::sort(frontends.begin(), frontends.end(),
            [](const v1::ServiceFrontend* a, const v1::ServiceFrontend* b) {
              return std::make_tuple(a->service(), a->port_name(), a->kind(), a->address(),
                                     a->port(), a->protocol(), a->scope()) <
                     std::make_tuple(b->service(), b->port_name(), b->kind(), b->address(),
                                     b->port(), b->protocol(), b->scope());
            });
  std::vector<std::vector<std::string>> rows = {
      {"SERVICE", "KIND", "FRONTEND", "SCOPE", "ALGORITHM", "BACKENDS", "NOTES"}};
  for (const v1::ServiceFrontend* f : frontends) {
    std::string service = f->service().empty() ? "(unknown)" : f->service();
    if (!f->port_name().empty()) absl::StrAppend(&service, ":", f->port_name());
    std::vector<std::string> backends;
    for (const auto& b : f->backends())
      backends.push_back(absl::StrCat(b.address(), ":", b.port()));
    std::vector<std::string> notes;
    if (f->affinity_timeout_seconds() > 0)
      notes.push_back(absl::StrCat("affinity ", Uptime(f->affinity_timeout_seconds())));
    if (f->source_nat()) notes.push_back("SNAT");
    rows.push_back({service, f->kind(),
                    absl::StrCat(f->address(), ":", f->port(), "/", f->protocol()), f->scope(),
                    f->algorithm(),
                    f->pass()            ? "(none: passed to another proxy)"
                    : backends.empty() ? "(none: refused)"
                                       : absl::StrJoin(backends, ","),
                    notes.empty() ? "-" : absl::StrJoin(notes, ", ")});
  }
  std::string out = RenderTable(rows);
  for (const auto& s : list.skipped()) absl::StrAppend(&out, "  skipped: ", s, "\n");
  return out;
}

std::string RenderEncryption(const v1::EncryptionStatus& e, int64_t now_unix) {
  std::string out;
  auto row = [&](const char* key, const std::string& value) {
    absl::StrAppend(&out, absl::StrFormat("%-16s%s\n", key, value));
  };
  row("Encryption:", absl::StrCat(e.mode(), " (", e.backend(), e.strict_mode() ? ", strict" : "", ")"));
  row("Interface:", absl::StrCat(e.interface(), " (MTU ", e.mtu(), ", port ", e.listen_port(), ")"));
  row("Public key:", e.public_key());
  std::string rotation = e.rotation_period_seconds() > 0
                             ? absl::StrCat("rotated every ", Uptime(e.rotation_period_seconds()))
                             : "rotated by `weft encrypt rotate`";
  row("Key age:", absl::StrCat(Uptime(std::max<int64_t>(0, now_unix - e.key_created_unix())), " (",
                               rotation, ")"));
  if (e.strict_mode()) row("Strict drops:", absl::StrCat(e.strict_mode_drops()));
  row("Rejected keys:", absl::StrCat(e.rejected_keys_total()));
  row("Peers:", absl::StrCat(e.peers_size()));
  if (e.peers_size() > 0) {
    std::vector<std::vector<std::string>> rows = {
        {"  NODE", "ENDPOINT", "ALLOWED IPS", "LAST HANDSHAKE", "RX", "TX"}};
    for (const auto& p : e.peers()) {
      rows.push_back({"  " + p.node(), p.endpoint().empty() ? "-" : p.endpoint(),
                      p.allowed_ips().empty() ? "-" : absl::StrJoin(p.allowed_ips(), ","),
                      p.last_handshake_unix() == 0
                          ? "never"
                          : absl::StrCat(Uptime(std::max<int64_t>(0, now_unix - p.last_handshake_unix())),
                                         " ago"),
                      Bytes(p.rx_bytes()), Bytes(p.tx_bytes())});
    }
    absl::StrAppend(&out, RenderTable(rows));
  }
  for (const auto& n : e.pending_nodes()) {
    absl::StrAppend(&out, "  pending: ", n, " (has not published a key yet)\n");
  }
  for (const auto& p : e.skipped()) absl::StrAppend(&out, "  skipped: ", p, "\n");
  return out;
}

int StatusCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Common c;
  if (auto done = ParseCommon("weft status",
                              "The node agent's health, API connection, datapath and counts.\n"
                              "Exit codes: 0 healthy, 1 degraded or not answering, 2 usage.",
                              args, out, err, &c)) {
    return *done;
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::AgentStatus status;
  grpc::Status s = Connect(c.socket)->GetStatus(&ctx, v1::GetStatusRequest(), &status);
  if (!s.ok()) {
    err << CallError("weft status", c.socket, s);
    return kExitFailure;
  }
  out << (c.json ? ToJson(status) : RenderStatus(status));
  return status.healthy() ? kExitOk : kExitFailure;
}

int EndpointListCommand(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  Common c;
  if (auto done = ParseCommon("weft endpoint list", "The pods on this node as the agent knows them.",
                              args, out, err, &c)) {
    return *done;
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ListEndpointsResponse list;
  grpc::Status s = Connect(c.socket)->ListEndpoints(&ctx, v1::ListEndpointsRequest(), &list);
  if (!s.ok()) {
    err << CallError("weft endpoint list", c.socket, s);
    return kExitFailure;
  }
  out << (c.json ? ToJson(list) : RenderEndpoints(list));
  return kExitOk;
}

int ServiceListCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Common c;
  if (auto done = ParseCommon("weft service list",
                              "The Kubernetes Services as this node's datapath holds them: one\n"
                              "row per frontend (address, port, protocol, scope) with its\n"
                              "backends, then the objects or fields the agent skipped.\n"
                              "Exit codes: 0 listed, 1 kube-proxy replacement off / not\n"
                              "answering, 2 usage.",
                              args, out, err, &c)) {
    return *done;
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ListServicesResponse list;
  grpc::Status s = Connect(c.socket)->ListServices(&ctx, v1::ListServicesRequest(), &list);
  if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    err << "weft service list: this agent does not handle Services (kube-proxy replacement is "
           "off: kubeProxyReplacement.enabled in its config): "
        << s.error_message() << "\n";
    return kExitFailure;
  }
  if (!s.ok()) {
    err << CallError("weft service list", c.socket, s);
    return kExitFailure;
  }
  out << (c.json ? ToJson(list) : RenderServices(list));
  return kExitOk;
}

int EncryptStatusCommand(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err) {
  Common c;
  if (auto done = ParseCommon("weft encrypt status",
                              "Transparent encryption on this node: mode, interface, public key,\n"
                              "and per peer its endpoint, allowed IPs, last handshake and bytes.\n"
                              "Exit codes: 0 every node a peer, 1 skipped peers / off / not\n"
                              "answering, 2 usage.",
                              args, out, err, &c)) {
    return *done;
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::EncryptionStatus status;
  grpc::Status s =
      Connect(c.socket)->GetEncryptionStatus(&ctx, v1::GetEncryptionStatusRequest(), &status);
  if (!s.ok()) {
    err << CallError("weft encrypt status", c.socket, s);
    return kExitFailure;
  }
  out << (c.json ? ToJson(status) : RenderEncryption(status, absl::ToUnixSeconds(absl::Now())));
  return status.skipped_size() == 0 ? kExitOk : kExitFailure;
}

int EncryptRotateCommand(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err) {
  Common c;
  if (auto done = ParseCommon("weft encrypt rotate",
                              "Replaces this node's WireGuard key pair and publishes the new\n"
                              "public key; the other nodes update their peer without dropping\n"
                              "established connections. Prints the new public key.",
                              args, out, err, &c)) {
    return *done;
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::RotateEncryptionKeyResponse resp;
  grpc::Status s =
      Connect(c.socket)->RotateEncryptionKey(&ctx, v1::RotateEncryptionKeyRequest(), &resp);
  if (!s.ok()) {
    err << CallError("weft encrypt rotate", c.socket, s);
    return kExitFailure;
  }
  out << (c.json ? ToJson(resp) : absl::StrCat("new public key ", resp.public_key(), "\n"));
  return kExitOk;
}

}  // namespace weft::cli
