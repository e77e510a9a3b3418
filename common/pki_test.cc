#include "common/file_util.h"
#include "common/pki.h"

#include <openssl/x509v3.h>

#include <ctime>

#include "gtest/gtest.h"

namespace weft::pki {
namespace {

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

class PkiKeyTypeTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(PkiKeyTypeTest, ClientCertVerifiesAgainstItsCa) {
  CaOptions ca_options;
  ca_options.key_type = GetParam();
  auto ca = GenerateCa(ca_options);
  ASSERT_TRUE(ca.ok()) << ca.status();
  ClientCertOptions options;
  options.common_name = "system:node:worker-1";
  options.organizations = {"system:nodes", "weft"};
  options.valid_seconds = 3600;
  options.key_type = GetParam();
  auto client = IssueClientCert(*ca, options);
  ASSERT_TRUE(client.ok()) << client.status();

  EXPECT_TRUE(VerifyCertificate(ca->cert.get(), client->cert.get(), true, Now()).ok());
  EXPECT_EQ(SubjectCommonName(client->cert.get()), "system:node:worker-1");
  EXPECT_EQ(SubjectOrganizations(client->cert.get()),
            (std::vector<std::string>{"system:nodes", "weft"}));
  EXPECT_TRUE(X509_get_extended_key_usage(client->cert.get()) & XKU_SSL_CLIENT);
  EXPECT_FALSE(X509_get_extended_key_usage(client->cert.get()) & XKU_SSL_SERVER);
  const uint32_t usage = X509_get_key_usage(client->cert.get());
  EXPECT_TRUE(usage & KU_DIGITAL_SIGNATURE);
  EXPECT_EQ(static_cast<bool>(usage & KU_KEY_ENCIPHERMENT), GetParam() == KeyType::kRsa2048);
  // Lifetime: back-dated by the skew allowance, ends valid_seconds from now.
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(client->cert.get()),
                           X509_get0_notAfter(client->cert.get())),
            1);
  EXPECT_EQ(days * 86400 + secs, 3600 + kNotBeforeBackdateSeconds);
  EXPECT_TRUE(CheckValidityWindow(client->cert.get(), Now()).ok());
  EXPECT_FALSE(CheckValidityWindow(client->cert.get(), Now() + 7200).ok());
  EXPECT_TRUE(CheckKeyMatchesCertificate(client->cert.get(), client->key.get()).ok());
}

INSTANTIATE_TEST_SUITE_P(AllKeyTypes, PkiKeyTypeTest,
                         ::testing::Values(KeyType::kEcdsaP256, KeyType::kRsa2048,
                                           KeyType::kEd25519));

TEST(PkiTest, MismatchedKeyIsDetected) {
  auto ca = GenerateCa({});
  ASSERT_TRUE(ca.ok());
  auto other = GenerateKey(KeyType::kEcdsaP256);
  ASSERT_TRUE(other.ok());
  absl::Status status = CheckKeyMatchesCertificate(ca->cert.get(), other->get());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("does not match"), std::string::npos) << status;
}

TEST(PkiTest, ExpiredAndForeignCertificatesFailVerification) {
  auto ca = GenerateCa({});
  auto other_ca = GenerateCa({});
  ASSERT_TRUE(ca.ok() && other_ca.ok());
  ClientCertOptions options;
  options.common_name = "alice";
  options.valid_seconds = -60;
  auto expired = IssueClientCert(*ca, options);
  ASSERT_TRUE(expired.ok()) << expired.status();
  absl::Status status = VerifyCertificate(ca->cert.get(), expired->cert.get(), true, Now());
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("expired"), std::string::npos) << status;

  options.valid_seconds = 3600;
  auto foreign = IssueClientCert(*other_ca, options);
  ASSERT_TRUE(foreign.ok());
  EXPECT_FALSE(VerifyCertificate(ca->cert.get(), foreign->cert.get(), true, Now()).ok());
}

TEST(PkiTest, ServerCertHasSansAndServerAuth) {
  auto ca = GenerateCa({});
  ASSERT_TRUE(ca.ok());
  ServerCertOptions options;
  options.common_name = "apiserver";
  options.sans = {"localhost", "127.0.0.1", "::1"};
  auto server = IssueServerCert(*ca, options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(VerifyCertificate(ca->cert.get(), server->cert.get(), false, Now()).ok());
  EXPECT_EQ(X509_check_host(server->cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server->cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(server->cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_host(server->cert.get(), "example.com", 0, 0, nullptr), 1);
  // A server certificate is not a client certificate.
  EXPECT_FALSE(VerifyCertificate(ca->cert.get(), server->cert.get(), true, Now()).ok());
}

TEST(PkiTest, PemRoundTrip) {
  auto ca = GenerateCa({});
  ASSERT_TRUE(ca.ok());
  auto cert_pem = CertificateToPem(ca->cert.get());
  auto key_pem = PrivateKeyToPem(ca->key.get());
  ASSERT_TRUE(cert_pem.ok() && key_pem.ok());
  auto cert = ParseCertificatePem(*cert_pem);
  auto key = ParsePrivateKeyPem(*key_pem);
  ASSERT_TRUE(cert.ok() && key.ok());
  EXPECT_EQ(X509_cmp(cert->get(), ca->cert.get()), 0);
  EXPECT_TRUE(CheckKeyMatchesCertificate(cert->get(), key->get()).ok());
  EXPECT_FALSE(ParseCertificatePem("not a pem").ok());
}

TEST(PkiTest, LoadCertificateAndKeyChecksTheyMatch) {
  const std::string dir = ::testing::TempDir();
  auto ca = GenerateCa({});
  auto other = GenerateKey(KeyType::kEcdsaP256);
  ASSERT_TRUE(ca.ok() && other.ok());
  ASSERT_TRUE(weft::WriteFileAtomically(dir + "/ca.crt", *CertificateToPem(ca->cert.get()), 0644).ok());
  ASSERT_TRUE(weft::WriteFileAtomically(dir + "/ca.key", *PrivateKeyToPem(ca->key.get()), 0600).ok());
  ASSERT_TRUE(weft::WriteFileAtomically(dir + "/other.key", *PrivateKeyToPem(other->get()), 0600).ok());
  EXPECT_TRUE(LoadCertificateAndKey(dir + "/ca.crt", dir + "/ca.key").ok());
  EXPECT_EQ(LoadCertificateAndKey(dir + "/ca.crt", dir + "/other.key").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(LoadCertificateAndKey(dir + "/missing.crt", dir + "/ca.key").ok());
}

}  // namespace
}  // namespace weft::pki
