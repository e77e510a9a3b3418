#include "common/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace weft::pki {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

struct X509StoreDeleter {
  void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
struct X509StoreCtxDeleter {
  void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};

// Drains OpenSSL's thread-local error queue into one readable string.
std::string OpenSslErrors() {
  std::string out;
  char buf[256];
  while (unsigned long err = ERR_get_error()) {
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error reported" : out;
}

absl::Status SslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", OpenSslErrors()));
}

absl::Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return SslError("random serial");
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x01;  // and never shorter than 16 bytes
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(bytes, sizeof(bytes), nullptr),
                                                  BN_free);
  if (bn == nullptr || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return SslError("set serial");
  }
  return absl::OkStatus();
}

absl::Status SetValidity(X509* cert, int64_t valid_seconds) {
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  int64_t not_before = now - kNotBeforeBackdateSeconds;
  const int64_t not_after = now + valid_seconds;
  if (not_after <= not_before) not_before = not_after - 3600;
  if (ASN1_TIME_set(X509_getm_notBefore(cert), static_cast<time_t>(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), static_cast<time_t>(not_after)) == nullptr) {
    return SslError("set validity");
  }
  return absl::OkStatus();
}

absl::Status SetSubject(X509* cert, const std::string& common_name,
                        const std::vector<std::string>& organizations) {
  X509_NAME* name = X509_get_subject_name(cert);
  for (const std::string& org : organizations) {
    if (X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(org.c_str()), -1,
                                   -1, 0) != 1) {
      return SslError(absl::StrCat("subject O=", org));
    }
  }
  if (!common_name.empty() &&
      X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 -1, -1, 0) != 1) {
    return SslError(absl::StrCat("subject CN=", common_name));
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    return SslError(absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  }
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return SslError(absl::StrCat("add extension ", OBJ_nid2sn(nid)));
  return absl::OkStatus();
}

absl::Status Sign(X509* cert, EVP_PKEY* key) {
  // Ed25519 signs the message itself and takes no digest.
  const EVP_MD* md = EVP_PKEY_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_sign(cert, key, md) <= 0) return SslError("sign certificate");
  return absl::OkStatus();
}

std::string LeafKeyUsage(KeyType type) {
  return type == KeyType::kRsa2048 ? "critical,digitalSignature,keyEncipherment"
                                   : "critical,digitalSignature";
}

// The part shared by every certificate: version, serial, validity, subject, key.
absl::StatusOr<CertificateAndKey> NewCertificate(KeyType key_type, int64_t valid_seconds,
                                                 const std::string& common_name,
                                                 const std::vector<std::string>& organizations) {
  CertificateAndKey out;
  ASSIGN_OR_RETURN(out.key, GenerateKey(key_type));
  out.cert.reset(X509_new());
  if (out.cert == nullptr) return SslError("X509_new");
  if (X509_set_version(out.cert.get(), X509_VERSION_3) != 1) return SslError("set version");
  RETURN_IF_ERROR(SetRandomSerial(out.cert.get()));
  RETURN_IF_ERROR(SetValidity(out.cert.get(), valid_seconds));
  RETURN_IF_ERROR(SetSubject(out.cert.get(), common_name, organizations));
  if (X509_set_pubkey(out.cert.get(), out.key.get()) != 1) return SslError("set public key");
  return out;
}

absl::StatusOr<CertificateAndKey> IssueLeaf(const CertificateAndKey& ca, KeyType key_type,
                                            int64_t valid_seconds,
                                            const std::string& common_name,
                                            const std::vector<std::string>& organizations,
                                            const std::string& extended_key_usage,
                                            const std::string& subject_alt_names) {
  if (ca.cert == nullptr || ca.key == nullptr) {
    return absl::InvalidArgumentError("issue certificate: the CA has no private key");
  }
  ASSIGN_OR_RETURN(CertificateAndKey out,
                   NewCertificate(key_type, valid_seconds, common_name, organizations));
  X509* cert = out.cert.get();
  if (X509_set_issuer_name(cert, X509_get_subject_name(ca.cert.get())) != 1) {
    return SslError("set issuer");
  }
  X509* issuer = ca.cert.get();
  RETURN_IF_ERROR(AddExtension(cert, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(cert, issuer, NID_key_usage, LeafKeyUsage(key_type)));
  RETURN_IF_ERROR(AddExtension(cert, issuer, NID_ext_key_usage, extended_key_usage));
  RETURN_IF_ERROR(AddExtension(cert, issuer, NID_authority_key_identifier, "keyid:always"));
  if (!subject_alt_names.empty()) {
    RETURN_IF_ERROR(AddExtension(cert, issuer, NID_subject_alt_name, subject_alt_names));
  }
  RETURN_IF_ERROR(Sign(cert, ca.key.get()));
  return out;
}

std::string NameEntries(const X509* cert, int nid, bool first_only,
                        std::vector<std::string>* all) {
  const X509_NAME* name = X509_get_subject_name(cert);
  std::string first;
  int index = -1;
  while ((index = X509_NAME_get_index_by_NID(name, nid, index)) >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) continue;
    std::string value(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
    if (all != nullptr) all->push_back(value);
    if (first_only) return value;
  }
  return first;
}

}  // namespace

absl::StatusOr<PrivateKeyPtr> GenerateKey(KeyType type) {
  int id = EVP_PKEY_EC;
  if (type == KeyType::kRsa2048) id = EVP_PKEY_RSA;
  if (type == KeyType::kEd25519) id = EVP_PKEY_ED25519;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(id, nullptr));
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) <= 0) return SslError("key generation");
  if (type == KeyType::kEcdsaP256 &&
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1) <= 0) {
    return SslError("select curve P-256");
  }
  if (type == KeyType::kRsa2048 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048) <= 0) {
    return SslError("select RSA 2048");
  }
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &key) <= 0) return SslError("key generation");
  return PrivateKeyPtr(key);
}

absl::StatusOr<CertificateAndKey> GenerateCa(const CaOptions& options) {
  ASSIGN_OR_RETURN(CertificateAndKey out,
                   NewCertificate(options.key_type, options.valid_seconds,
                                  options.common_name, options.organizations));
  X509* cert = out.cert.get();
  if (X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1) {
    return SslError("set issuer");
  }
  RETURN_IF_ERROR(AddExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE"));
  RETURN_IF_ERROR(AddExtension(cert, cert, NID_key_usage,
                               "critical,digitalSignature,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExtension(cert, cert, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(Sign(cert, out.key.get()));
  return out;
}

absl::StatusOr<CertificateAndKey> IssueServerCert(const CertificateAndKey& ca,
                                                  const ServerCertOptions& options) {
  std::vector<std::string> sans;
  for (const std::string& san : options.sans) {
    unsigned char addr[16];
    const bool ip = inet_pton(AF_INET, san.c_str(), addr) == 1 ||
                    inet_pton(AF_INET6, san.c_str(), addr) == 1;
    sans.push_back(absl::StrCat(ip ? "IP:" : "DNS:", san));
  }
  return IssueLeaf(ca, options.key_type, options.valid_seconds, options.common_name, {},
                   "serverAuth", absl::StrJoin(sans, ","));
}

absl::StatusOr<CertificateAndKey> IssueClientCert(const CertificateAndKey& ca,
                                                  const ClientCertOptions& options) {
  if (options.common_name.empty()) {
    return absl::InvalidArgumentError("issue client certificate: empty common name");
  }
  return IssueLeaf(ca, options.key_type, options.valid_seconds, options.common_name,
                   options.organizations, "clientAuth", "");
}

absl::StatusOr<std::string> CertificateToPem(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), const_cast<X509*>(cert)) != 1) {
    return SslError("encode certificate");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

absl::StatusOr<std::string> PrivateKeyToPem(const EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                                 nullptr, nullptr) != 1) {
    return SslError("encode private key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509* cert = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (cert == nullptr) return SslError("parse PEM certificate");
  return X509Ptr(cert);
}

absl::StatusOr<PrivateKeyPtr> ParsePrivateKeyPem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (key == nullptr) return SslError("parse PEM private key");
  return PrivateKeyPtr(key);
}

absl::StatusOr<CertificateAndKey> LoadCertificateAndKey(const std::string& cert_path,
                                                        const std::string& key_path) {
  auto read = [](const std::string& path) -> absl::StatusOr<std::string> {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (bio == nullptr) return SslError(absl::StrCat("open ", path));
    std::string out;
    char buf[4096];
    int n;
    while ((n = BIO_read(bio.get(), buf, sizeof(buf))) > 0) out.append(buf, n);
    return out;
  };
  ASSIGN_OR_RETURN(std::string cert_pem, read(cert_path));
  ASSIGN_OR_RETURN(std::string key_pem, read(key_path));
  CertificateAndKey out;
  auto cert = ParseCertificatePem(cert_pem);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(cert_path, ": ", cert.status().message()));
  }
  auto key = ParsePrivateKeyPem(key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(key_path, ": ", key.status().message()));
  }
  out.cert = std::move(cert).value();
  out.key = std::move(key).value();
  absl::Status match = CheckKeyMatchesCertificate(out.cert.get(), out.key.get());
  if (!match.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(key_path, " vs ", cert_path, ": ", match.message()));
  }
  return out;
}

absl::Status CheckKeyMatchesCertificate(const X509* cert, const EVP_PKEY* key) {
  if (cert == nullptr || key == nullptr) {
    return absl::InvalidArgumentError("key check: missing certificate or key");
  }
  const EVP_PKEY* pub = X509_get0_pubkey(cert);
  if (pub == nullptr) return SslError("certificate public key");
  if (EVP_PKEY_eq(pub, key) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(
        absl::StrCat("private key does not match the certificate of \"",
                     SubjectCommonName(cert), "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckValidityWindow(const X509* cert, int64_t now_unix) {
  time_t now = static_cast<time_t>(now_unix);
  const std::string cn = SubjectCommonName(cert);
  if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate \"", cn, "\" is not valid yet"));
  }
  if (X509_cmp_time(X509_get0_notAfter(cert), &now) < 0) {
    return absl::FailedPreconditionError(absl::StrCat("certificate \"", cn, "\" has expired"));
  }
  return absl::OkStatus();
}

absl::Status VerifyCertificate(const X509* ca, const X509* leaf, bool client_auth,
                               int64_t now_unix) {
  std::unique_ptr<X509_STORE, X509StoreDeleter> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, X509StoreCtxDeleter> ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr ||
      X509_STORE_add_cert(store.get(), const_cast<X509*>(ca)) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), const_cast<X509*>(leaf), nullptr) != 1) {
    return SslError("set up certificate verification");
  }
  X509_STORE_CTX_set_purpose(ctx.get(),
                             client_auth ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(now_unix));
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::UnauthenticatedError(absl::StrCat("certificate \"", SubjectCommonName(leaf),
                                                   "\": ", X509_verify_cert_error_string(err)));
  }
  return absl::OkStatus();
}

std::string SubjectCommonName(const X509* cert) {
  return NameEntries(cert, NID_commonName, /*first_only=*/true, nullptr);
}

std::vector<std::string> SubjectOrganizations(const X509* cert) {
  std::vector<std::string> out;
  NameEntries(cert, NID_organizationName, /*first_only=*/false, &out);
  return out;
}

}  // namespace weft::pki
