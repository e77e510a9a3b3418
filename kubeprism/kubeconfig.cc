#include "kubeprism/kubeconfig.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace weft::kubeprism {
namespace {

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}

// node[key] as a string; empty when absent.
absl::StatusOr<std::string> Scalar(const YAML::Node& node, const char* key,
                                   const std::string& where) {
  YAML::Node v = node[key];
  if (!v || v.IsNull()) return std::string();
  if (!v.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": expected a string"));
  }
  return v.as<std::string>();
}

// The entry of a named list (clusters/users/contexts) with that name, as its inner map.
absl::StatusOr<YAML::Node> FindNamed(const YAML::Node& root, const char* list, const char* inner,
                                     const std::string& name) {
  YAML::Node entries = root[list];
  if (entries && !entries.IsNull() && !entries.IsSequence()) {
    return absl::InvalidArgumentError(absl::StrCat(list, ": expected a list"));
  }
  if (entries) {
    for (size_t i = 0; i < entries.size(); ++i) {
      YAML::Node e = entries[i];
      if (e["name"] && e["name"].IsScalar() && e["name"].as<std::string>() == name) {
        YAML::Node v = e[inner];
        if (!v || !v.IsMap()) {
          return absl::InvalidArgumentError(
              absl::StrCat(list, "[name=", name, "].", inner, ": missing or not a map"));
        }
        return v;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat(list, ": no entry named \"", name, "\""));
}

// Reads `<key>-data` (base64) or `<key>` (a file) into *out.
absl::Status ReadPemField(const YAML::Node& node, const std::string& where, const char* key,
                          const std::string& base_dir, std::string* out) {
  const std::string data_key = absl::StrCat(key, "-data");
  ASSIGN_OR_RETURN(std::string data, Scalar(node, data_key.c_str(), where));
  if (!data.empty()) {
    std::string decoded;
    if (!absl::Base64Unescape(data, &decoded)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".", data_key, ": not valid base64"));
    }
    *out = std::move(decoded);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::string file, Scalar(node, key, where));
  if (file.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(*out, ReadFileForConfig(Resolve(base_dir, file), absl::StrCat(where, ".", key)));
  return absl::OkStatus();
}

absl::StatusOr<ClientConfig> ParseYaml(const YAML::Node& root, const std::string& base_dir,
                                       const std::string& context_override,
                                       const std::string& source) {
  if (!root.IsMap()) return absl::InvalidArgumentError("not a kubeconfig (expected a map)");
  ASSIGN_OR_RETURN(std::string context_name, Scalar(root, "current-context", ""));
  if (!context_override.empty()) context_name = context_override;
  if (context_name.empty()) {
    return absl::InvalidArgumentError("current-context: not set and no context given");
  }
  ASSIGN_OR_RETURN(YAML::Node context, FindNamed(root, "contexts", "context", context_name));
  const std::string cwhere = absl::StrCat("contexts[name=", context_name, "].context");
  ASSIGN_OR_RETURN(std::string cluster_name, Scalar(context, "cluster", cwhere));
  ASSIGN_OR_RETURN(std::string user_name, Scalar(context, "user", cwhere));
  if (cluster_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(cwhere, ".cluster: missing"));
  }

  ClientConfig config;
  config.source = absl::StrCat(source, " context ", context_name);
  ASSIGN_OR_RETURN(YAML::Node cluster, FindNamed(root, "clusters", "cluster", cluster_name));
  const std::string kwhere = absl::StrCat("clusters[name=", cluster_name, "].cluster");
  ASSIGN_OR_RETURN(config.server, Scalar(cluster, "server", kwhere));
  if (config.server.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kwhere, ".server: missing"));
  }
  ASSIGN_OR_RETURN(std::string insecure, Scalar(cluster, "insecure-skip-tls-verify", kwhere));
  if (insecure == "true") {
    return absl::InvalidArgumentError(absl::StrCat(
        kwhere, ".insecure-skip-tls-verify: not supported (certificate verification is always on)"));
  }
  ASSIGN_OR_RETURN(config.tls_server_name, Scalar(cluster, "tls-server-name", kwhere));
  RETURN_IF_ERROR(ReadPemField(cluster, kwhere, "certificate-authority", base_dir, &config.ca_pem));

  if (!user_name.empty()) {
    ASSIGN_OR_RETURN(YAML::Node user, FindNamed(root, "users", "user", user_name));
    const std::string uwhere = absl::StrCat("users[name=", user_name, "].user");
    for (const char* unsupported : {"exec", "auth-provider", "username"}) {
      if (user[unsupported]) {
        return absl::InvalidArgumentError(absl::StrCat(
            uwhere, ".", unsupported,
            ": not supported (use a client certificate, token or tokenFile)"));
      }
    }
    RETURN_IF_ERROR(
        ReadPemField(user, uwhere, "client-certificate", base_dir, &config.client_cert_pem));
    RETURN_IF_ERROR(ReadPemField(user, uwhere, "client-key", base_dir, &config.client_key_pem));
    if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          uwhere, ": client-certificate and client-key must be given together"));
    }
    ASSIGN_OR_RETURN(config.token, Scalar(user, "token", uwhere));
    ASSIGN_OR_RETURN(std::string token_file, Scalar(user, "tokenFile", uwhere));
    if (config.token.empty() && !token_file.empty()) {
      config.token_file = Resolve(base_dir, token_file);
      ASSIGN_OR_RETURN(std::string token,
                       ReadFileForConfig(config.token_file, absl::StrCat(uwhere, ".tokenFile")));
      config.token = std::string(absl::StripAsciiWhitespace(token));
    }
  }
  return config;
}

}  // namespace

std::string ClientConfig::DebugString() const {
  std::vector<std::string> parts = {absl::StrCat("server=", server)};
  if (!fallback_servers.empty()) {
    parts.push_back(absl::StrCat("fallback=", absl::StrJoin(fallback_servers, ",")));
  }
  if (!tls_server_name.empty()) parts.push_back(absl::StrCat("tls-server-name=", tls_server_name));
  parts.push_back(absl::StrCat("ca=", ca_pem.empty() ? "none" : "set"));
  parts.push_back(absl::StrCat("client-cert=", client_cert_pem.empty() ? "none" : "set"));
  parts.push_back(absl::StrCat("token=", token.empty() ? "none" : "set"));
  if (!source.empty()) parts.push_back(absl::StrCat("from ", source));
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<std::string> ReadFileForConfig(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(what, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<ClientConfig> ParseKubeconfig(absl::string_view yaml, const std::string& base_dir,
                                             const std::string& context,
                                             const std::string& source) {
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    absl::StatusOr<ClientConfig> config = ParseYaml(root, base_dir, context, source);
    if (!config.ok()) {
      return absl::Status(config.status().code(),
                          absl::StrCat(source, ": ", config.status().message()));
    }
    return config;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid YAML: ", e.what()));
  }
}

absl::StatusOr<ClientConfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  ASSIGN_OR_RETURN(std::string text, ReadFileForConfig(path, "kubeconfig"));
  return ParseKubeconfig(text, DirName(path), context, absl::StrCat("kubeconfig ", path));
}

absl::StatusOr<ClientConfig> ResolveClientConfig(const ConfigFlags& flags) {
  ClientConfig config;
  config.source = "flags";
  if (!flags.kubeconfig.empty()) {
    ASSIGN_OR_RETURN(config, LoadKubeconfig(flags.kubeconfig, flags.context));
  }
  if (!flags.server.empty()) config.server = flags.server;
  if (!flags.fallback_servers.empty()) config.fallback_servers = flags.fallback_servers;
  if (!flags.tls_server_name.empty()) config.tls_server_name = flags.tls_server_name;
  if (!flags.ca_file.empty()) {
    ASSIGN_OR_RETURN(config.ca_pem, ReadFileForConfig(flags.ca_file, "--ca-file"));
  }
  if (!flags.client_cert_file.empty() || !flags.client_key_file.empty()) {
    if (flags.client_cert_file.empty() || flags.client_key_file.empty()) {
      return absl::InvalidArgumentError("--client-cert and --client-key must be given together");
    }
    ASSIGN_OR_RETURN(config.client_cert_pem,
                     ReadFileForConfig(flags.client_cert_file, "--client-cert"));
    ASSIGN_OR_RETURN(config.client_key_pem,
                     ReadFileForConfig(flags.client_key_file, "--client-key"));
  }
  if (!flags.token_file.empty()) {
    config.token_file = flags.token_file;
    ASSIGN_OR_RETURN(std::string token, ReadFileForConfig(flags.token_file, "--token-file"));
    config.token = std::string(absl::StripAsciiWhitespace(token));
  }
  if (config.ca_pem.empty()) {
    absl::StatusOr<std::string> ca = ReadFileForConfig(flags.default_ca_file, "default CA");
    if (!ca.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no certificate authority configured (", config.source,
          ") and the default ", flags.default_ca_file,
          " is not readable: give --ca-file or certificate-authority in the kubeconfig"));
    }
    config.ca_pem = *std::move(ca);
  }
  return config;
}

}  // namespace weft::kubeprism
