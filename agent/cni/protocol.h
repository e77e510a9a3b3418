// The CNI 1.0.0 invocation protocol as plain values: what the runtime passes
// (environment variables and the network configuration on stdin) and what the
// plugin prints (a result, a version report or an error, all JSON on stdout).
// Pure: no I/O, so it is tested without a runtime.
#ifndef WEFT_AGENT_CNI_PROTOCOL_H_
#define WEFT_AGENT_CNI_PROTOCOL_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/net/ip.h"
#include "nlohmann/json.hpp"

namespace weft::cni {

inline constexpr char kSpecVersion[] = "1.0.0";
// Versions whose configuration we accept; results are written in the version the
// configuration asked for (0.3.x/0.4.0 results carry "version" on each IP).
const std::vector<std::string>& SupportedVersions();

// Well-known error codes of the CNI specification, and ours from 100 up.
enum ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kContainerUnknown = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidNetworkConfig = 7,
  kTryAgainLater = 11,
  // Plugin-specific.
  kAgentUnavailable = 100,
  kPoolExhausted = 101,
  kInternal = 102,
};

struct Error {
  int code = kInternal;
  std::string msg;      // short
  std::string details;  // what to do about it
};
std::string ErrorJson(const Error& e, absl::string_view cni_version);

enum class Command { kAdd, kDel, kCheck, kVersion };

// CNI_* environment variables.
struct Invocation {
  Command command = Command::kVersion;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::map<std::string, std::string> args;  // CNI_ARGS, e.g. K8S_POD_NAME
  std::string path;
};

// Validates the environment the way the spec requires; the Error names the
// variable. `getenv` is injectable for tests.
using GetEnv = std::optional<std::string> (*)(const char* name);
std::optional<std::string> ProcessEnv(const char* name);
absl::StatusOr<Invocation> ParseInvocation(GetEnv getenv, Error* error);

// Weft's network configuration (one plugin of the conflist, as the runtime
// passes it on stdin with name and cniVersion filled in).
struct NetConf {
  std::string cni_version;
  std::string name;
  std::string type;
  int mtu = 0;                // 0: the agent decides
  std::string agent_socket;   // the agent's local API
  std::string log_file;       // optional
  nlohmann::json prev_result; // null when absent
};
// Unknown top-level keys are allowed (runtimes add "runtimeConfig", "args", ...).
std::optional<NetConf> ParseNetConf(absl::string_view stdin_json, Error* error);

struct Interface {
  std::string name;
  std::string mac;
  std::string sandbox;  // netns path for the pod side; empty for the host side
};
struct IpConfig {
  net::IpAddress address;  // the pod's address...
  int prefix_length = 32;  // ...and its prefix (/32 or /128 for Weft pods)
  net::IpAddress gateway;
  int interface = -1;     // index into interfaces
};
struct Route {
  net::IpPrefix dst;
  std::optional<net::IpAddress> gw;
};
struct Result {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<Route> routes;
};
std::string ResultJson(const Result& r, absl::string_view cni_version);
std::string VersionJson();

// Parses a prevResult (for CHECK and DEL).
absl::StatusOr<Result> ParseResult(const nlohmann::json& j);

}  // namespace weft::cni

#endif  // WEFT_AGENT_CNI_PROTOCOL_H_
