// The client's writes and its errors against the lab API server over real HTTPS:
// certificate checks, expired/unknown credentials, RBAC refusals, Leases.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kubeprism/api_errors.h"
#include "kubeprism/client.h"
#include "kubeprism/http_transport.h"
#include "kubeprism/lab_fixture.h"
#include "kubeprism/logging.h"

namespace weft::kubeprism {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class ClientLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([](LogLevel, absl::string_view) {});
    auto lab = LabFixture::Start();
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = *std::move(lab);
  }
  void TearDown() override { SetLogSink(nullptr); }

  Client ClientFor(const ClientConfig& config) {
    auto transport = HttpTransport::Create(config);
    EXPECT_TRUE(transport.ok()) << transport.status();
    return Client(std::shared_ptr<Transport>(*std::move(transport)));
  }
  ClientConfig Admin() {
    auto config = lab_->AdminConfig();
    EXPECT_TRUE(config.ok()) << config.status();
    return *config;
  }

  std::unique_ptr<LabFixture> lab_;
};

TEST_F(ClientLabTest, GetCreateUpdatePatchDelete) {
  Client client = ClientFor(Admin());
  auto created = client.Create(kServices, "default", ServiceObject("default", "web"));
  ASSERT_TRUE(created.ok()) << created.status();
  auto got = client.Get(kServices, "default", "web");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["spec"]["ports"].size(), 2u);

  json stale = *got;
  json updated = *got;
  updated["metadata"]["labels"]["tier"] = "frontend";
  ASSERT_TRUE(client.Update(kServices, "default", "web", updated).ok());
  auto conflict = client.Update(kServices, "default", "web", stale);
  EXPECT_TRUE(IsConflict(conflict.status())) << conflict.status();

  auto patched = client.Patch(kServices, "default", "web", PatchType::kMerge,
                              {{"metadata", {{"annotations", {{"weft.dev/x", "y"}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["metadata"]["annotations"]["weft.dev/x"], "y");
  EXPECT_EQ((*patched)["metadata"]["labels"]["tier"], "frontend");

  ASSERT_TRUE(client.Delete(kServices, "default", "web").ok());
  auto gone = client.Get(kServices, "default", "web");
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(gone.status().message(), HasSubstr("not found: get services web in namespace default"));
}

TEST_F(ClientLabTest, NodeAnnotationByPatch) {
  ASSERT_TRUE(lab_->Put(kNodes, {{"metadata", {{"name", "node-1"}}}}).ok());
  Client client = ClientFor(Admin());
  ASSERT_TRUE(client.AnnotateNode("node-1", "weft.dev/pod-cidr", "10.244.1.0/24").ok());
  auto node = client.Get(kNodes, "", "node-1");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)["metadata"]["annotations"]["weft.dev/pod-cidr"], "10.244.1.0/24");
}

TEST_F(ClientLabTest, LeaseCreateRenewAndConflict) {
  Client client = ClientFor(Admin());
  Lease lease;
  lease.meta.namespace_ = "kube-system";
  lease.meta.name = "weft-leader";
  lease.holder_identity = "node-1";
  lease.lease_duration_seconds = 15;
  lease.acquire_time = FormatMicroTime(absl::FromUnixSeconds(1700000000));
  lease.renew_time = lease.acquire_time;
  auto created = client.CreateLease(lease);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(created->meta.resource_version.empty());
  EXPECT_EQ(created->acquire_time, "2023-11-14T22:13:20.000000Z");

  Lease renewed = *created;
  renewed.renew_time = FormatMicroTime(absl::FromUnixSeconds(1700000010));
  auto after = client.UpdateLease(renewed);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->renew_time, "2023-11-14T22:13:30.000000Z");

  // Another candidate with the old version loses.
  Lease rival = *created;
  rival.holder_identity = "node-2";
  auto lost = client.UpdateLease(rival);
  EXPECT_TRUE(IsConflict(lost.status())) << lost.status();
  auto current = client.GetLease("kube-system", "weft-leader");
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->holder_identity, "node-1");
}

TEST_F(ClientLabTest, WrongCaFailsCertificateVerification) {
  auto other = LabFixture::Start();
  ASSERT_TRUE(other.ok()) << other.status();
  ClientConfig config = Admin();
  config.ca_pem = (*other)->server().ca_pem();
  auto result = ClientFor(config).Get(kServices, "default", "x");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("TLS certificate verification of"));
  EXPECT_THAT(result.status().message(), HasSubstr("(chain:"));
}

TEST_F(ClientLabTest, HostNameIsChecked) {
  ClientConfig config = Admin();
  config.tls_server_name = "not-the-apiserver.example";
  auto result = ClientFor(config).Get(kServices, "default", "x");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("(hostname:"));
}

TEST_F(ClientLabTest, LocalhostAndIpBothVerify) {
  ClientConfig config = Admin();
  config.server = absl::StrCat("https://localhost:", lab_->server().port());
  auto by_name = ClientFor(config).Get(kServices, "default", "x");
  EXPECT_EQ(by_name.status().code(), absl::StatusCode::kNotFound) << by_name.status();
  config.server = lab_->server().url();
  config.tls_server_name = "localhost";
  auto by_sni = ClientFor(config).Get(kServices, "default", "x");
  EXPECT_EQ(by_sni.status().code(), absl::StatusCode::kNotFound) << by_sni.status();
}

TEST_F(ClientLabTest, ExpiredClientCertificateIsUnauthorized) {
  auto config = lab_->ConfigFor("agent", {"weft:agents"}, -3600);
  ASSERT_TRUE(config.ok()) << config.status();
  auto result = ClientFor(*config).Get(kServices, "default", "x");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
  EXPECT_THAT(result.status().message(),
              HasSubstr("expired or unknown client certificate or token"));
}

TEST_F(ClientLabTest, UnknownClientCertificateIsUnauthorized) {
  auto other = LabFixture::Start();
  ASSERT_TRUE(other.ok()) << other.status();
  auto foreign = (*other)->ConfigFor("agent", {});
  ASSERT_TRUE(foreign.ok());
  ClientConfig config = Admin();
  config.client_cert_pem = foreign->client_cert_pem;
  config.client_key_pem = foreign->client_key_pem;
  auto result = ClientFor(config).Get(kServices, "default", "x");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
}

TEST_F(ClientLabTest, ForbiddenNamesVerbAndResource) {
  lab_->server().SetRules({{"*", "*", "", "services"}});
  auto config = lab_->ConfigFor("agent", {"weft:agents"});
  ASSERT_TRUE(config.ok());
  Client client = ClientFor(*config);
  EXPECT_TRUE(client.ListPage(kServices, "", {}).ok());
  auto refused = client.ListPage(kEndpointSlices, "", {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("forbidden: RBAC refused list endpointslices in group discovery.k8s.io: "
                        "grant it in the ClusterRole"));
}

TEST_F(ClientLabTest, FallbackServerUsedWhenPrimaryIsDown) {
  ClientConfig config = Admin();
  const std::string real = config.server;
  // A port nothing listens on: the lab's port after it moved elsewhere.
  auto dead = LabFixture::Start();
  ASSERT_TRUE(dead.ok());
  const int dead_port = (*dead)->server().port();
  (*dead)->server().Stop();
  config.server = absl::StrCat("https://127.0.0.1:", dead_port);
  config.fallback_servers = {real};
  auto transport = HttpTransport::Create(config);
  ASSERT_TRUE(transport.ok());
  std::shared_ptr<Transport> shared = *std::move(transport);
  Client client(shared);
  EXPECT_EQ(client.Get(kServices, "default", "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(shared->server(), real);
}

TEST_F(ClientLabTest, NothingListeningSaysWhat) {
  ClientConfig config = Admin();
  auto dead = LabFixture::Start();
  ASSERT_TRUE(dead.ok());
  const int dead_port = (*dead)->server().port();
  (*dead)->server().Stop();
  config.server = absl::StrCat("https://127.0.0.1:", dead_port);
  auto result = ClientFor(config).Get(kServices, "default", "x");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(result.status().message(), HasSubstr("cannot connect to https://127.0.0.1:"));
}

}  // namespace
}  // namespace weft::kubeprism
