#include "generator/cli.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <optional>
#include <sstream>

#include <cxxopts.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/file_util.h"
#include "generator/credentials.h"
#include "generator/layout.h"
#include "generator/patch.h"
#include "generator/pins.h"
#include "generator/schematic.h"
#include "generator/spec.h"
#include "generator/validate.h"
#include "generator/values.h"
#include "generator/yaml_util.h"

namespace weft::generator {

namespace {

constexpr int kExitProblem = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "Usage: talosgen <command> [flags]\n"
    "\n"
    "Generates what a Talos cluster needs to run Weft or Cilium instead of Flannel and\n"
    "kube-proxy. Every command works without flags (embedded defaults) and takes\n"
    "--spec FILE (a cluster spec from `talosgen init`).\n"
    "\n"
    "Commands:\n"
    "  patch       Talos machine-config patch (strategic merge) for a role and Talos version\n"
    "  values      Helm values for Cilium on Talos\n"
    "  schematic   Image Factory schematic, plus the imager command for Weft's extension\n"
    "  credentials the weft extension's ExtensionServiceConfig for one node: agent config\n"
    "              and a client certificate signed by the cluster's Kubernetes CA\n"
    "  versions    pinned versions (pins.yaml, embedded at build time)\n"
    "  validate    check a machine config plus patches for what breaks this setup\n"
    "  init        write the commented default cluster spec\n"
    "\n"
    "Run `talosgen <command> --help` for the flags of one command.\n";

CliResult Usage(absl::string_view command, absl::string_view problem) {
  CliResult r;
  r.exit_code = kExitUsage;
  r.err = absl::StrCat("talosgen: ", command.empty() ? "" : absl::StrCat(command, ": "), problem,
                       " (see `talosgen ", command.empty() ? "" : absl::StrCat(command, " "),
                       "--help`)\n");
  return r;
}

CliResult Failure(absl::string_view message) {
  CliResult r;
  r.exit_code = kExitProblem;
  r.err = absl::StrCat("talosgen: ", message, "\n");
  return r;
}

CliResult Success(std::string out) {
  CliResult r;
  r.out = std::move(out);
  return r;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Parsed flags of one subcommand, or the CliResult to return (help text, usage error).
struct Parsed {
  std::optional<cxxopts::ParseResult> result;
  std::optional<CliResult> done;
};

Parsed ParseFlags(cxxopts::Options& options, const std::string& command,
                  const std::vector<std::string>& args, bool positional_files) {
  options.add_options()("spec", "cluster spec file (default: embedded defaults)",
                        cxxopts::value<std::string>())("h,help", "show this help");
  if (positional_files) {
    options.add_options()("files", "files", cxxopts::value<std::vector<std::string>>());
    options.parse_positional({"files"});
  }
  std::vector<std::string> storage = {"talosgen " + command};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const std::string& s : storage) argv.push_back(s.c_str());
  Parsed p;
  try {
    cxxopts::ParseResult result = options.parse(static_cast<int>(argv.size()), argv.data());
    if (result.count("help")) {
      p.done = Success(options.help());
      return p;
    }
    if (!result.unmatched().empty()) {
      p.done = Usage(command, absl::StrCat("unexpected argument \"", result.unmatched()[0], "\""));
      return p;
    }
    p.result = std::move(result);
  } catch (const std::exception& e) {
    p.done = Usage(command, e.what());
  }
  return p;
}

// The spec named by --spec, or the embedded defaults.
absl::StatusOr<Spec> LoadSpec(const cxxopts::ParseResult& flags, const Pins& pins) {
  if (!flags.count("spec")) return DefaultSpec(pins);
  const std::string path = flags["spec"].as<std::string>();
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseSpec(*text, path, pins);
}

std::string FlagString(const cxxopts::ParseResult& flags, const char* name) {
  return flags.count(name) ? flags[name].as<std::string>() : std::string();
}

CliResult Patch(const std::vector<std::string>& args, const Pins& pins) {
  cxxopts::Options options("talosgen patch",
                           "Talos machine-config patch (strategic merge) that turns off Flannel "
                           "and kube-proxy and enables KubePrism.");
  options.add_options()("role", "controlplane or worker (default: from --base, else controlplane)",
                        cxxopts::value<std::string>())(
      "talos-version", "Talos version, v1.11 to v1.14 (default: spec, then pins)",
      cxxopts::value<std::string>())("cni", "weft or cilium (default: spec)",
                                     cxxopts::value<std::string>())(
      "base", "existing machine config: take layout and role from it",
      cxxopts::value<std::string>());
  Parsed p = ParseFlags(options, "patch", args, false);
  if (p.done) return *p.done;
  const cxxopts::ParseResult& flags = *p.result;

  std::optional<Role> role;
  if (flags.count("role")) {
    std::string text = FlagString(flags, "role");
    role = ParseRole(text);
    if (!role || text == "init") {
      return Usage("patch", absl::StrCat("--role: expected controlplane or worker, got \"", text,
                                         "\""));
    }
  }
  std::optional<Cni> cni;
  if (flags.count("cni")) {
    cni = ParseCni(FlagString(flags, "cni"));
    if (!cni) {
      return Usage("patch", absl::StrCat("--cni: expected weft or cilium, got \"",
                                         FlagString(flags, "cni"), "\""));
    }
  }
  absl::StatusOr<Spec> spec = LoadSpec(flags, pins);
  if (!spec.ok()) return Failure(spec.status().message());
  if (cni) spec->cni = *cni;

  PatchOptions opts;
  if (flags.count("talos-version")) {
    std::string v = FlagString(flags, "talos-version");
    absl::StatusOr<TalosVersion> tv = ParseTalosVersion(v);
    if (!tv.ok()) return Failure(absl::StrCat("--talos-version: ", tv.status().message()));
    spec->talos_version = v;
  }
  absl::StatusOr<TalosVersion> tv = ParseTalosVersion(spec->talos_version);
  if (!tv.ok()) return Failure(tv.status().message());
  opts.layout = LayoutFor(*tv);
  opts.layout_source = absl::StrCat("Talos ", spec->talos_version);

  if (flags.count("base")) {
    // The base config decides: a 1.14 talosctl can still write the legacy layout
    // (--talos-version v1.13), and a patch in the wrong layout is rejected.
    const std::string base = FlagString(flags, "base");
    absl::StatusOr<std::string> text = ReadFile(base);
    if (!text.ok()) return Failure(text.status().message());
    absl::StatusOr<std::vector<YAML::Node>> docs = LoadYamlDocuments(*text, base);
    if (!docs.ok()) return Failure(docs.status().message());
    ConfigShape shape = DetectShape(*docs);
    opts.layout = shape.layout;
    opts.layout_source = absl::StrCat("detected in ", base);
    opts.base_file = base;
    if (role && shape.role && *role != *shape.role) {
      return Failure(absl::StrCat("--role ", RoleName(*role), " does not match machine.type ",
                                  RoleName(*shape.role), " in ", base));
    }
    if (!role) role = shape.role;
  }
  opts.role = role.value_or(Role::kControlPlane);
  return Success(GeneratePatch(*spec, opts));
}

CliResult Values(const std::vector<std::string>& args, const Pins& pins) {
  cxxopts::Options options("talosgen values", "Helm values for installing Cilium on Talos.");
  options.add_options()("chart-version", "Cilium chart: 1.16.x, 1.19.x or 1.20.x (default: pins)",
                        cxxopts::value<std::string>());
  Parsed p = ParseFlags(options, "values", args, false);
  if (p.done) return *p.done;
  absl::StatusOr<Spec> spec = LoadSpec(*p.result, pins);
  if (!spec.ok()) return Failure(spec.status().message());
  absl::StatusOr<ChartVersion> chart;
  if (p.result->count("chart-version")) {
    chart = ParseChartVersion(FlagString(*p.result, "chart-version"));
    if (!chart.ok()) return Failure(absl::StrCat("--chart-version: ", chart.status().message()));
  } else {
    chart = ParseChartVersion(pins.cilium());
    if (!chart.ok()) return Failure(absl::StrCat("pins.yaml: cilium: ", chart.status().message()));
  }
  return Success(GenerateValues(*spec, *chart));
}

CliResult Schematic(const std::vector<std::string>& args, const Pins& pins) {
  cxxopts::Options options("talosgen schematic",
                           "Image Factory schematic and the imager command for Weft's extension.");
  options.add_options()("talos-version", "Talos version for imager (default: spec, then pins)",
                        cxxopts::value<std::string>());
  Parsed p = ParseFlags(options, "schematic", args, false);
  if (p.done) return *p.done;
  absl::StatusOr<Spec> spec = LoadSpec(*p.result, pins);
  if (!spec.ok()) return Failure(spec.status().message());
  if (p.result->count("talos-version")) {
    std::string v = FlagString(*p.result, "talos-version");
    absl::StatusOr<TalosVersion> tv = ParseTalosVersion(v);
    if (!tv.ok()) return Failure(absl::StrCat("--talos-version: ", tv.status().message()));
    spec->talos_version = v;
  }
  return Success(GenerateSchematic(*spec, pins));
}

CliResult Credentials(const std::vector<std::string>& args, const Pins& pins) {
  cxxopts::Options options(
      "talosgen credentials",
      "The ExtensionServiceConfig for Weft's extension service on one node: weft-agent's\n"
      "config and a kubeconfig for KubePrism with a client certificate (CN=weft:agent,\n"
      "O=weft:agents) signed by the Kubernetes CA of a `talosctl gen secrets` bundle.\n"
      "The output holds the certificate's private key: write it with --out (mode 0600).");
  options.add_options()("secrets", "secrets bundle from `talosctl gen secrets` (required)",
                        cxxopts::value<std::string>())(
      "node-name", "the node's Kubernetes name, as `kubectl get nodes` shows it (required)",
      cxxopts::value<std::string>())(
      "lifetime", "certificate lifetime (Go duration, or days: 90d)",
      cxxopts::value<std::string>()->default_value("8760h"))(
      "out", "write to FILE (mode 0600) instead of stdout", cxxopts::value<std::string>());
  Parsed p = ParseFlags(options, "credentials", args, false);
  if (p.done) return *p.done;
  const cxxopts::ParseResult& flags = *p.result;
  if (!flags.count("secrets")) return Usage("credentials", "--secrets FILE is required");
  if (!flags.count("node-name")) return Usage("credentials", "--node-name NAME is required");
  const std::string node = FlagString(flags, "node-name");
  if (absl::Status s = CheckNodeName(node); !s.ok()) {
    return Usage("credentials", absl::StrCat("--node-name: ", s.message()));
  }
  const std::string lifetime_text = flags["lifetime"].as<std::string>();
  absl::StatusOr<int64_t> lifetime = ParseLifetime(lifetime_text);
  if (!lifetime.ok()) {
    return Usage("credentials", absl::StrCat("--lifetime: ", lifetime.status().message()));
  }
  absl::StatusOr<Spec> spec = LoadSpec(flags, pins);
  if (!spec.ok()) return Failure(spec.status().message());

  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const std::string secrets_path = FlagString(flags, "secrets");
  absl::StatusOr<std::string> secrets = ReadFile(secrets_path);
  if (!secrets.ok()) return Failure(secrets.status().message());
  absl::StatusOr<pki::CertificateAndKey> ca = ParseSecretsKubernetesCa(*secrets, secrets_path, now);
  if (!ca.ok()) return Failure(ca.status().message());
  absl::StatusOr<AgentCredentials> creds = MintAgentCredentials(*ca, *lifetime, now);
  if (!creds.ok()) {
    return Failure(absl::StrCat("--lifetime ", lifetime_text, ": ", creds.status().message()));
  }
  std::string text = ExtensionServiceConfigYaml(*spec, node, *creds);
  if (!flags.count("out")) return Success(std::move(text));
  const std::string out = FlagString(flags, "out");
  if (absl::Status s = WriteFileAtomically(out, text, 0600); !s.ok()) {
    return Failure(absl::StrCat(out, ": cannot write: ", s.message()));
  }
  CliResult r;
  r.err = absl::StrCat("talosgen: wrote ", out, " (mode 0600): ExtensionServiceConfig for node ",
                       node, ", certificate valid until ",
                       absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                        absl::FromUnixSeconds(creds->not_after_unix),
                                        absl::UTCTimeZone()),
                       "\n");
  return r;
}

CliResult Versions(const std::vector<std::string>& args, const Pins& pins) {
  cxxopts::Options options("talosgen versions",
                           "The pinned versions from pins.yaml (embedded at build time).");
  Parsed p = ParseFlags(options, "versions", args, false);
  if (p.done) return *p.done;
  // The spec does not change the pins, but a broken spec file is still reported.
  absl::StatusOr<Spec> spec = LoadSpec(*p.result, pins);
  if (!spec.ok()) return Failure(spec.status().message());
  return Success(VersionsYaml(pins));
}

CliResult ValidateCommand(const std::vector<std::string>& args, const Pins& pins) {
  cxxopts::Options options("talosgen validate",
                           "Check a machine config plus patches (applied in order, strategic "
                           "merge) for what breaks a Flannel- and kube-proxy-free setup.");
  options.positional_help("BASE [PATCH...]");
  Parsed p = ParseFlags(options, "validate", args, true);
  if (p.done) return *p.done;
  if (!p.result->count("files")) return Usage("validate", "expected BASE [PATCH...]");
  absl::StatusOr<Spec> spec = LoadSpec(*p.result, pins);
  if (!spec.ok()) return Failure(spec.status().message());
  std::vector<NamedText> files;
  for (const std::string& path : (*p.result)["files"].as<std::vector<std::string>>()) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) return Failure(text.status().message());
    files.push_back({path, *text});
  }
  absl::StatusOr<ValidateReport> report = Validate(files, *spec);
  if (!report.ok()) return Failure(report.status().message());
  CliResult r = Success(report->output);
  r.exit_code = report->clean ? 0 : kExitProblem;
  return r;
}

CliResult Init(const std::vector<std::string>& args, const Pins& pins) {
  cxxopts::Options options("talosgen init", "Write the commented default cluster spec.");
  options.add_options()("o,output", "write to FILE instead of stdout",
                        cxxopts::value<std::string>());
  Parsed p = ParseFlags(options, "init", args, false);
  if (p.done) return *p.done;
  if (p.result->count("spec")) {
    absl::StatusOr<Spec> spec = LoadSpec(*p.result, pins);
    if (!spec.ok()) return Failure(spec.status().message());
  }
  std::string text = InitSpecYaml(pins);
  if (!p.result->count("output")) return Success(text);
  const std::string path = FlagString(*p.result, "output");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !(out << text) || !out.flush()) {
    return Failure(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
  }
  return Success("");
}

}  // namespace

namespace {

CliResult Dispatch(const std::vector<std::string>& args) {
  if (args.empty()) {
    CliResult r;
    r.exit_code = kExitUsage;
    r.err = kUsage;
    return r;
  }
  const std::string& command = args[0];
  if (command == "-h" || command == "--help" || command == "help") return Success(kUsage);
  std::vector<std::string> rest(args.begin() + 1, args.end());
  absl::StatusOr<Pins> pins = EmbeddedPins();
  if (!pins.ok()) return Failure(pins.status().message());
  if (command == "patch") return Patch(rest, *pins);
  if (command == "values") return Values(rest, *pins);
  if (command == "schematic") return Schematic(rest, *pins);
  if (command == "versions") return Versions(rest, *pins);
  if (command == "credentials") return Credentials(rest, *pins);
  if (command == "validate") return ValidateCommand(rest, *pins);
  if (command == "init") return Init(rest, *pins);
  return Usage("", absl::StrCat("unknown command \"", command, "\""));
}

}  // namespace

CliResult RunCli(const std::vector<std::string>& args) {
  // Last line of defence: yaml-cpp and cxxopts throw; nothing may escape main().
  try {
    return Dispatch(args);
  } catch (const std::exception& e) {
    return Failure(absl::StrCat("internal error: ", e.what()));
  }
}

}  // namespace weft::generator
