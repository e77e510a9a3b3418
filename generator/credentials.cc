#include "generator/credentials.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "generator/agent_rbac.h"
#include "generator/yaml_text.h"
#include "generator/yaml_util.h"

namespace weft::generator {

namespace {

std::string FormatUnix(int64_t t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t), absl::UTCTimeZone());
}

int64_t AsnTimeToUnix(const ASN1_TIME* t) {
  struct tm tm = {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

// The subject as one RFC 2253 line ("O=kubernetes"): Talos's CAs have no CN.
std::string SubjectText(const X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    return "?";
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// "<source>:<line>: certs.k8s.<field>: <problem>"
absl::Status FieldError(absl::string_view source, const YAML::Node& node,
                        absl::string_view field, absl::string_view problem) {
  const int line = node.IsDefined() ? SourceLine(node) : 0;
  return absl::InvalidArgumentError(absl::StrCat(source, line > 0 ? absl::StrCat(":", line) : "",
                                                 ": certs.k8s.", field, ": ", problem));
}

// The PEM text stored base64-encoded in a secrets bundle field.
absl::StatusOr<std::string> DecodeField(absl::string_view source, const YAML::Node& node,
                                        absl::string_view field) {
  std::string text;
  if (!node.IsDefined() || node.IsNull()) {
    return FieldError(source, node, field, "missing");
  }
  if (!ScalarText(node, &text) || text.empty()) {
    return FieldError(source, node, field, "must be the base64 of a PEM block");
  }
  std::string compact;
  for (char c : text) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) compact += c;
  }
  std::string pem;
  if (!absl::Base64Unescape(compact, &pem)) return FieldError(source, node, field, "not base64");
  return pem;
}

// Any private key PEM Talos writes: "EC PRIVATE KEY" (SEC1), "RSA PRIVATE KEY"
// (PKCS#1), "ED25519 PRIVATE KEY" and "PRIVATE KEY" (PKCS#8). OpenSSL's PEM reader
// does not know the Ed25519 label, so the DER inside is decoded directly.
absl::StatusOr<pki::PrivateKeyPtr> ParseAnyPrivateKeyPem(absl::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (bio == nullptr || PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not a PEM block");
  }
  std::string label = name;
  OPENSSL_free(name);
  OPENSSL_free(header);
  const unsigned char* p = data;
  EVP_PKEY* key = nullptr;
  if (label == "EC PRIVATE KEY" || label == "RSA PRIVATE KEY" || label == "PRIVATE KEY" ||
      label == "ED25519 PRIVATE KEY") {
    key = d2i_AutoPrivateKey(nullptr, &p, len);
  }
  OPENSSL_clear_free(data, static_cast<size_t>(len));
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("not a private key OpenSSL can read (PEM \"", label,
                     "\"; expected EC, RSA, ED25519 or PKCS#8 PRIVATE KEY)"));
  }
  return pki::PrivateKeyPtr(key);
}

}  // namespace

absl::StatusOr<pki::CertificateAndKey> ParseSecretsKubernetesCa(const std::string& text,
                                                                absl::string_view source,
                                                                int64_t now_unix) {
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadYamlDocuments(text, source);
  if (!docs.ok()) return docs.status();
  if (docs->empty() || !(*docs)[0].IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a secrets bundle (expected the YAML map that "
                             "`talosctl gen secrets` writes)"));
  }
  const YAML::Node root = (*docs)[0];
  const YAML::Node certs = root["certs"];
  const YAML::Node k8s = certs.IsMap() ? certs["k8s"] : YAML::Node();
  if (!k8s.IsDefined() || !k8s.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": certs.k8s: missing: no Kubernetes CA in this file (expected "
                             "the output of `talosctl gen secrets`)"));
  }
  const YAML::Node crt_node = k8s["crt"];
  const YAML::Node key_node = k8s["key"];
  absl::StatusOr<std::string> crt_pem = DecodeField(source, crt_node, "crt");
  if (!crt_pem.ok()) return crt_pem.status();
  absl::StatusOr<std::string> key_pem = DecodeField(source, key_node, "key");
  if (!key_pem.ok()) return key_pem.status();

  pki::CertificateAndKey ca;
  absl::StatusOr<pki::X509Ptr> cert = pki::ParseCertificatePem(*crt_pem);
  if (!cert.ok()) {
    ERR_clear_error();
    return FieldError(source, crt_node, "crt", "not a PEM certificate");
  }
  ca.cert = *std::move(cert);
  absl::StatusOr<pki::PrivateKeyPtr> key = ParseAnyPrivateKeyPem(*key_pem);
  if (!key.ok()) return FieldError(source, key_node, "key", key.status().message());
  ca.key = *std::move(key);

  const std::string subject = SubjectText(ca.cert.get());
  if (!pki::CheckKeyMatchesCertificate(ca.cert.get(), ca.key.get()).ok()) {
    return FieldError(source, key_node, "key",
                      absl::StrCat("does not belong to certs.k8s.crt (", subject,
                                   "): the bundle mixes keys of different clusters"));
  }
  if (X509_check_ca(ca.cert.get()) < 1) {
    return FieldError(source, crt_node, "crt",
                      absl::StrCat(subject, " is not a CA certificate"));
  }
  const int64_t not_before = AsnTimeToUnix(X509_get0_notBefore(ca.cert.get()));
  const int64_t not_after = AsnTimeToUnix(X509_get0_notAfter(ca.cert.get()));
  if (now_unix > not_after) {
    return FieldError(source, crt_node, "crt",
                      absl::StrCat("the Kubernetes CA (", subject, ") expired on ",
                                   FormatUnix(not_after),
                                   "; the cluster needs a new CA before Weft can get a "
                                   "certificate"));
  }
  if (now_unix < not_before) {
    return FieldError(source, crt_node, "crt",
                      absl::StrCat("the Kubernetes CA (", subject, ") is not valid before ",
                                   FormatUnix(not_before), " (is this machine's clock right?)"));
  }
  return ca;
}

absl::StatusOr<int64_t> ParseLifetime(absl::string_view text) {
  // Go duration units (talosctl and Kubernetes use them), plus d for days.
  int64_t total = 0;
  absl::string_view rest = text;
  if (rest.empty()) return absl::InvalidArgumentError("empty duration");
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[digits]))) {
      ++digits;
    }
    int64_t value = 0;
    if (digits == 0 || digits == rest.size() || digits > 9 ||
        !absl::SimpleAtoi(rest.substr(0, digits), &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" is not a duration (e.g. 8760h, 90d, 1h30m)"));
    }
    const char unit = rest[digits];
    int64_t scale = 0;
    if (unit == 'd') scale = 86400;
    if (unit == 'h') scale = 3600;
    if (unit == 'm') scale = 60;
    if (unit == 's') scale = 1;
    if (scale == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" is not a duration (units: d, h, m, s)"));
    }
    total += value * scale;
    rest.remove_prefix(digits + 1);
  }
  if (total < 3600) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is shorter than 1h"));
  }
  return total;
}

absl::StatusOr<AgentCredentials> MintAgentCredentials(const pki::CertificateAndKey& ca,
                                                      int64_t lifetime_seconds,
                                                      int64_t now_unix) {
  const int64_t ca_not_after = AsnTimeToUnix(X509_get0_notAfter(ca.cert.get()));
  if (now_unix + lifetime_seconds > ca_not_after) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate would outlive the Kubernetes CA, which is valid until ",
        FormatUnix(ca_not_after), "; use at most --lifetime ",
        (ca_not_after - now_unix) / 3600, "h"));
  }
  pki::ClientCertOptions options;
  options.common_name = std::string(kAgentUser);
  options.organizations = {std::string(kAgentGroup)};
  options.valid_seconds = lifetime_seconds;
  options.key_type = pki::KeyType::kEcdsaP256;
  absl::StatusOr<pki::CertificateAndKey> leaf = pki::IssueClientCert(ca, options);
  if (!leaf.ok()) {
    return absl::InternalError(absl::StrCat("mint the agent certificate: ",
                                            leaf.status().message()));
  }
  AgentCredentials out;
  absl::StatusOr<std::string> ca_pem = pki::CertificateToPem(ca.cert.get());
  absl::StatusOr<std::string> cert_pem = pki::CertificateToPem(leaf->cert.get());
  absl::StatusOr<std::string> key_pem = pki::PrivateKeyToPem(leaf->key.get());
  for (const absl::Status& s : {ca_pem.status(), cert_pem.status(), key_pem.status()}) {
    if (!s.ok()) return s;
  }
  out.ca_pem = *std::move(ca_pem);
  out.cert_pem = *std::move(cert_pem);
  out.key_pem = *std::move(key_pem);
  out.not_before_unix = AsnTimeToUnix(X509_get0_notBefore(leaf->cert.get()));
  out.not_after_unix = AsnTimeToUnix(X509_get0_notAfter(leaf->cert.get()));
  return out;
}

absl::Status CheckNodeName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 253;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    ok = ok && !label.empty() && label.size() <= 63 && label.front() != '-' &&
         label.back() != '-';
    for (char c : label) {
      ok = ok && (absl::ascii_islower(static_cast<unsigned char>(c)) ||
                  absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-');
    }
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("\"", name, "\" is not a Kubernetes node name (lower-case letters, digits, "
                               "'-' and '.'; the name `kubectl get nodes` shows)"));
}

std::string AgentConfigYaml(const Spec& spec, absl::string_view node_name) {
  YamlText y;
  y.Comment(0, absl::StrCat("weft-agent configuration for node ", node_name,
                            " (generated by `talosgen credentials`;\nfields: "
                            "agent/config/config.h)."));
  y.Comment(0, "This node's name as Kubernetes knows it (Node.metadata.name).");
  y.Scalar(0, "nodeName", node_name);
  y.Comment(0, "API server credentials: the kubeconfig mounted next to this file.");
  y.Scalar(0, "kubeconfig", kAgentKubeconfigPath);
  const bool native = spec.routing_mode == RoutingMode::kNative;
  y.Comment(0, native ? "Pod packets routed as-is between nodes (spec: routingMode: native)."
                      : "VXLAN between nodes (spec: routingMode: tunnel).");
  y.Line(0, absl::StrCat("routing: ", native ? "native" : "tunnel"));
  if (spec.native_routing_cidr) {
    y.Comment(0, "Destinations in this range are not masqueraded (the pod network).");
    y.Scalar(0, "nativeRoutingCIDR", spec.native_routing_cidr->ToString());
  }
  std::vector<std::string> service_v4;
  for (const net::IpPrefix& p : spec.service_subnets) {
    if (p.family() == net::Family::kV4) service_v4.push_back(p.ToString());
  }
  if (!service_v4.empty()) {
    y.Comment(0,
              "Services in eBPF instead of kube-proxy. A connection to an address of the\n"
              "cluster's Service ranges (spec: serviceSubnets) that no Service has is refused.");
    y.Line(0, "kubeProxyReplacement:");
    y.List(2, "serviceCIDRs", service_v4);
  }
  if (spec.encryption == Encryption::kWireGuard) {
    y.Comment(0,
              "Pod traffic between nodes through WireGuard (spec: encryption: wireguard);\n"
              "Talos kernels have it built in, so `auto` picks the kernel backend.");
    y.Line(0, "encryption:");
    y.Line(2, "type: wireguard");
    y.Line(2, "backend: auto");
    if (spec.encryption_strict_mode) {
      y.Comment(2, "Pod traffic between nodes that is not encrypted is dropped (fails closed).");
      y.Line(2, "strictMode: true");
    }
  }
  return y.str();
}

std::string AgentKubeconfig(const AgentCredentials& c, int kubeprism_port) {
  YamlText y;
  y.Comment(0,
            "weft-agent's credentials: KubePrism on this node, the cluster's Kubernetes CA,\n"
            "and the agent's client certificate and key (generated by `talosgen credentials`).");
  y.Line(0, "apiVersion: v1");
  y.Line(0, "kind: Config");
  y.Line(0, "clusters:");
  y.Line(2, "- name: kubeprism");
  y.Line(4, "cluster:");
  y.Line(6, absl::StrCat("server: https://127.0.0.1:", kubeprism_port));
  y.Line(6, absl::StrCat("certificate-authority-data: ", absl::Base64Escape(c.ca_pem)));
  y.Line(0, "users:");
  y.Line(2, "- name: weft-agent");
  y.Line(4, "user:");
  y.Line(6, absl::StrCat("client-certificate-data: ", absl::Base64Escape(c.cert_pem)));
  y.Line(6, absl::StrCat("client-key-data: ", absl::Base64Escape(c.key_pem)));
  y.Line(0, "contexts:");
  y.Line(2, "- name: weft");
  y.Line(4, "context:");
  y.Line(6, "cluster: kubeprism");
  y.Line(6, "user: weft-agent");
  y.Line(0, "current-context: weft");
  return y.str();
}

std::string ExtensionServiceConfigYaml(const Spec& spec, absl::string_view node_name,
                                       const AgentCredentials& c) {
  YamlText y;
  y.Comment(0, absl::StrCat("Weft agent configuration and credentials for node ", node_name,
                            " (generated by `talosgen\ncredentials`; spec: ", spec.source,
                            ")."));
  y.Comment(0, "");
  y.Comment(0,
            "SECRET: this file holds the private key of the agent's client certificate. Keep\n"
            "it like secrets.yaml; talosgen wrote the key nowhere else.");
  y.Comment(0, "");
  y.Comment(0, absl::StrCat("Identity: CN=", kAgentUser, ", O=", kAgentGroup,
                            " (the ClusterRoleBinding \"", kAgentRbacName,
                            "\" from\n`talosgen patch --cni weft` grants that group what the "
                            "agent needs)."));
  y.Comment(0, absl::StrCat("Valid from ", FormatUnix(c.not_before_unix), " until ",
                            FormatUnix(c.not_after_unix), "."));
  y.Comment(0,
            "Renew before then: run the same command again and apply the new file to the\n"
            "node (talosctl patch machineconfig --nodes <node> --patch @<this file>); Talos\n"
            "restarts the weft service when this document changes.");
  y.Comment(0, "");
  y.Comment(0,
            "Use: a machine-config patch for this one node, e.g.\n"
            "  talosctl machineconfig patch worker.yaml --patch @<this file> -o <node>.yaml");
  y.Line(0, "apiVersion: v1alpha1");
  y.Line(0, "kind: ExtensionServiceConfig");
  y.Scalar(0, "name", kExtensionServiceName);
  y.Line(0, "configFiles:");
  y.Comment(2, absl::StrCat("The agent's config (the service runs weft-agent --config ",
                            kAgentConfigPath, ")."));
  y.Line(2, absl::StrCat("- mountPath: ", kAgentConfigPath));
  y.LiteralBlock(4, "content", AgentConfigYaml(spec, node_name));
  y.Comment(2, "Credentials for the API server through KubePrism.");
  y.Line(2, absl::StrCat("- mountPath: ", kAgentKubeconfigPath));
  y.LiteralBlock(4, "content", AgentKubeconfig(c, spec.kubeprism_port));
  return y.str();
}

}  // namespace weft::generator
