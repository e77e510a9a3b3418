#include "kubeprism/api_errors.h"

#include <curl/curl.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kubeprism/curl_transport.h"

namespace weft::kubeprism {
namespace {

using ::testing::HasSubstr;

TEST(HttpErrorTest, ForbiddenNamesVerbResourceAndGroup) {
  absl::Status s = HttpError(
      403, R"({"kind":"Status","message":"endpointslices is forbidden: User \"weft\" cannot list"})",
      RequestContext{"list", &kEndpointSlices, "", ""});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("forbidden: RBAC refused list endpointslices in group "
                                     "discovery.k8s.io: grant it in the ClusterRole"));
  EXPECT_THAT(s.message(), HasSubstr("User \"weft\" cannot list"));
  EXPECT_EQ(HttpStatusOf(s), 403);
  EXPECT_THAT(HttpError(403, "", RequestContext{"watch", &kPods, "", ""}).message(),
              HasSubstr("refused watch pods in group \"\" (core)"));
}

TEST(HttpErrorTest, UnauthorizedMentionsCredentials) {
  absl::Status s = HttpError(401, R"({"message":"Unauthorized"})",
                             RequestContext{"list", &kServices, "", ""});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(s.message(), HasSubstr("unauthorized: the API server rejected the client "
                                     "credentials (expired or unknown client certificate or token)"));
}

TEST(HttpErrorTest, StatusPredicates) {
  RequestContext c{"get", &kLeases, "kube-system", "weft"};
  EXPECT_TRUE(IsGone(HttpError(410, "{}", c)));
  EXPECT_TRUE(IsNotFoundHttp(HttpError(404, "{}", c)));
  EXPECT_TRUE(IsConflict(HttpError(409, "{}", c)));
  EXPECT_THAT(HttpError(404, "{}", c).message(),
              HasSubstr("leases.coordination.k8s.io weft in namespace kube-system"));
  EXPECT_TRUE(HttpError(200, "", c).ok());
  EXPECT_EQ(HttpError(503, "busy", c).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(HttpStatusOf(absl::UnknownError("x")), 0);
}

TEST(CurlErrorTest, KubePrismNotAnswering) {
  absl::Status s = CurlError(CURLE_COULDNT_CONNECT, "Failed to connect", "https://127.0.0.1:7445");
  EXPECT_THAT(s.message(), HasSubstr("KubePrism is not answering on 127.0.0.1:7445 (is "
                                     "machine.features.kubePrism / KubePrismConfig enabled?)"));
  absl::Status other = CurlError(CURLE_COULDNT_CONNECT, "refused", "https://10.0.0.1:6443");
  EXPECT_THAT(other.message(), HasSubstr("cannot connect to https://10.0.0.1:6443"));
}

TEST(CurlErrorTest, SameFailureReadsTheSameWhateverItTook) {
  absl::Status fast = CurlError(CURLE_COULDNT_CONNECT,
                                "Failed to connect to 127.0.0.1 port 41259 after 0 ms: Couldn't "
                                "connect to server",
                                "https://127.0.0.1:41259");
  absl::Status slow = CurlError(CURLE_COULDNT_CONNECT,
                                "Failed to connect to 127.0.0.1 port 41259 after 4 ms: Couldn't "
                                "connect to server",
                                "https://127.0.0.1:41259");
  EXPECT_EQ(fast, slow);
  EXPECT_EQ(fast.message(),
            "cannot connect to https://127.0.0.1:41259: Failed to connect to 127.0.0.1 port 41259: "
            "Couldn't connect to server");
}

TEST(CurlErrorTest, NamesTheFailedCertificateCheck) {
  EXPECT_THAT(CurlError(CURLE_PEER_FAILED_VERIFICATION,
                        "SSL certificate problem: unable to get local issuer certificate", "s")
                  .message(),
              HasSubstr("(chain:"));
  EXPECT_THAT(CurlError(CURLE_PEER_FAILED_VERIFICATION,
                        "SSL certificate problem: certificate has expired", "s")
                  .message(),
              HasSubstr("(expiry:"));
  absl::Status host = CurlError(
      CURLE_PEER_FAILED_VERIFICATION,
      "SSL: no alternative certificate subject name matches target host name 'x'", "s");
  EXPECT_THAT(host.message(), HasSubstr("(hostname:"));
  EXPECT_THAT(host.message(), HasSubstr("TLS certificate verification of s failed"));
}

}  // namespace
}  // namespace weft::kubeprism
