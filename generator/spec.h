// The cluster spec: the small set of choices talosgen's outputs derive from. It comes from
// the embedded defaults (plus pins), or from a spec file written by `talosgen init`;
// command-line flags override single fields afterwards.
#ifndef WEFT_GENERATOR_SPEC_H_
#define WEFT_GENERATOR_SPEC_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/net/ip.h"
#include "generator/pins.h"

namespace weft::generator {

enum class Cni { kWeft, kCilium };
enum class RoutingMode { kTunnel, kNative };
enum class Encryption { kNone, kWireGuard };

struct Spec {
  std::string source = "embedded defaults";  // the spec file, for comments and messages
  std::string cluster_name = "weft";
  std::string talos_version;       // default: pins
  std::string kubernetes_version;  // default: pins
  Cni cni = Cni::kWeft;
  std::vector<net::IpPrefix> pod_subnets;
  std::vector<net::IpPrefix> service_subnets;
  RoutingMode routing_mode = RoutingMode::kTunnel;
  // Set explicitly or derived from the first IPv4 pod subnet; absent without IPv4 pods.
  std::optional<net::IpPrefix> native_routing_cidr;
  bool allow_scheduling_on_control_planes = false;
  int kubeprism_port = 7445;
  Encryption encryption = Encryption::kNone;
  bool encryption_strict_mode = false;
  bool hubble_relay = false;
  bool hubble_ui = false;
  int operator_replicas = 1;
  bool l2_announcements = false;
  bool bandwidth_manager = false;
  bool bpf_masquerade = false;
  std::vector<std::string> extensions;  // official Image Factory extensions
  std::vector<std::string> kernel_args;
};

// The embedded defaults, with versions from `pins`.
Spec DefaultSpec(const Pins& pins);

// A spec file: defaults from `pins`, overridden by the fields present. Every error is one
// line, `<source>:<line>: <field>: <problem>`, e.g.
// `spec.yaml:7: podSubnets[0]: invalid CIDR "10.244.0.0/33"`.
absl::StatusOr<Spec> ParseSpec(const std::string& text, absl::string_view source,
                               const Pins& pins);

// `talosgen init`: the default spec with a comment on every field. ParseSpec of this text
// gives DefaultSpec(pins).
std::string InitSpecYaml(const Pins& pins);

absl::string_view CniName(Cni cni);
std::optional<Cni> ParseCni(absl::string_view text);

// Names for messages and comments: "10.244.0.0/16, fd00::/56".
std::string JoinPrefixes(const std::vector<net::IpPrefix>& prefixes);

}  // namespace weft::generator

#endif  // WEFT_GENERATOR_SPEC_H_
