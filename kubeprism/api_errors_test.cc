#include "kubeprism/api_errors.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

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

}  // namespace
}  // namespace weft::kubeprism
