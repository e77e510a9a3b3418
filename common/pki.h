// X.509 helpers on OpenSSL 3: mint a CA, server and client certificates, load and
// check PEM material. Used by the lab API server for its throw-away PKI and by
// talosgen to mint the agent's client certificate from the cluster CA, so the
// defaults are the ones a real cluster expects (ECDSA P-256, SHA-256, v3
// extensions, random 127-bit serials, a short back-dated notBefore for clock skew).
#ifndef WEFT_COMMON_PKI_H_
#define WEFT_COMMON_PKI_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::pki {

struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PrivateKeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

enum class KeyType { kEcdsaP256, kRsa2048, kEd25519 };

// A certificate and its private key (the key may be null for a certificate loaded
// without one, e.g. a CA bundle).
struct CertificateAndKey {
  X509Ptr cert;
  PrivateKeyPtr key;
};

struct CaOptions {
  std::string common_name = "weft-ca";
  std::vector<std::string> organizations;
  int64_t valid_seconds = 10LL * 365 * 24 * 3600;
  KeyType key_type = KeyType::kEcdsaP256;
};

struct ServerCertOptions {
  std::string common_name;
  // Each entry is an IPv4/IPv6 literal (IP SAN) or a DNS name (DNS SAN).
  std::vector<std::string> sans;
  int64_t valid_seconds = 365LL * 24 * 3600;
  KeyType key_type = KeyType::kEcdsaP256;
};

struct ClientCertOptions {
  std::string common_name;                 // Kubernetes user name
  std::vector<std::string> organizations;  // Kubernetes groups
  // Lifetime from now; a negative value mints an already expired certificate.
  int64_t valid_seconds = 365LL * 24 * 3600;
  KeyType key_type = KeyType::kEcdsaP256;
};

// Clock-skew allowance: notBefore is set this far before "now".
inline constexpr int64_t kNotBeforeBackdateSeconds = 300;

absl::StatusOr<PrivateKeyPtr> GenerateKey(KeyType type);

// A self-signed CA: basicConstraints CA:TRUE (critical), keyUsage keyCertSign,
// cRLSign, digitalSignature (critical), subject key identifier.
absl::StatusOr<CertificateAndKey> GenerateCa(const CaOptions& options);

// Leaf certificates signed by `ca` (which must carry its key). Server: EKU
// serverAuth and the SANs; client: EKU clientAuth, subject CN + O list. KeyUsage
// is digitalSignature, plus keyEncipherment for RSA keys.
absl::StatusOr<CertificateAndKey> IssueServerCert(const CertificateAndKey& ca,
                                                  const ServerCertOptions& options);
absl::StatusOr<CertificateAndKey> IssueClientCert(const CertificateAndKey& ca,
                                                  const ClientCertOptions& options);

// PEM encoding and decoding. Keys are written as unencrypted PKCS#8.
absl::StatusOr<std::string> CertificateToPem(const X509* cert);
absl::StatusOr<std::string> PrivateKeyToPem(const EVP_PKEY* key);
absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem);
absl::StatusOr<PrivateKeyPtr> ParsePrivateKeyPem(absl::string_view pem);

// Reads a certificate and key from PEM files and checks that they belong together.
absl::StatusOr<CertificateAndKey> LoadCertificateAndKey(const std::string& cert_path,
                                                        const std::string& key_path);

// FailedPrecondition if `key` is not the private key of `cert`.
absl::Status CheckKeyMatchesCertificate(const X509* cert, const EVP_PKEY* key);

// FailedPrecondition if `now_unix` is outside [notBefore, notAfter].
absl::Status CheckValidityWindow(const X509* cert, int64_t now_unix);

// Verifies `leaf` against the single trust anchor `ca` at `now_unix` (purpose
// sslclient when `client_auth`, else sslserver). The message carries OpenSSL's
// verification error, e.g. "certificate has expired".
absl::Status VerifyCertificate(const X509* ca, const X509* leaf, bool client_auth,
                               int64_t now_unix);

// Subject fields: the first CN ("" if none) and every O, in order.
std::string SubjectCommonName(const X509* cert);
std::vector<std::string> SubjectOrganizations(const X509* cert);

}  // namespace weft::pki

#endif  // WEFT_COMMON_PKI_H_
