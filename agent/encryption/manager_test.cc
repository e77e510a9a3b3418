#include "agent/encryption/manager.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>

#include <cstdlib>
#include <fstream>

#include "agent/wireguard/fake_device.h"
#include "gtest/gtest.h"

namespace weft::encryption {
namespace {

net::IpAddress Ip(const char* s) { return *net::IpAddress::Parse(s); }
net::IpPrefix Cidr(const char* s) { return *net::IpPrefix::Parse(s); }

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/weft-enc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.config.type = agent::EncryptionType::kWireGuard;
    options_.node_name = "n1";
    options_.key_path = dir_ + "/keys/wireguard.key";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::unique_ptr<Manager> Make() {
    auto device = std::make_unique<wireguard::FakeDevice>("wgtest0");
    device_ = device.get();  // owned by the manager, which the test outlives
    auto m = Manager::Create(options_, std::move(device),
                             [this](const std::string& key) {
                               if (publish_fails_) return absl::UnavailableError("API server down");
                               published_.push_back(key);
                               return absl::OkStatus();
                             });
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }

  std::string dir_;
  ManagerOptions options_;
  wireguard::FakeDevice* device_ = nullptr;  // of the last Make()
  std::vector<std::string> published_;
  bool publish_fails_ = false;
  wireguard::Key peer_ = wireguard::PublicKey(wireguard::GeneratePrivateKey());
  std::vector<routing::NodeInfo> nodes_ = {
      {"n1", {Ip("192.168.5.1")}, {Cidr("10.244.1.0/24")}},
      {"n2", {Ip("192.168.5.2")}, {Cidr("10.244.2.0/24")}},
  };
};

TEST_F(ManagerTest, KeyIsPrivateAndReusedAcrossRestarts) {
  auto m = Make();
  ASSERT_NE(m, nullptr);
  struct stat st;
  ASSERT_EQ(stat(options_.key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  m->Reconcile(nodes_, {});
  ASSERT_EQ(published_.size(), 1u);
  const std::string first = published_[0];
  auto again = Make();  // the agent restarted
  ASSERT_NE(again, nullptr);
  weft::agent::v1::EncryptionStatus status;
  again->FillStatus(&status, 0);
  EXPECT_EQ(status.public_key(), first);
  // The Node already carries it: nothing to publish.
  again->Reconcile(nodes_, {{"n1", first}});
  EXPECT_EQ(published_.size(), 1u);
  // The private key is in no status field.
  std::string dump = status.DebugString();
  std::string secret;
  std::ifstream(options_.key_path) >> secret;
  EXPECT_EQ(dump.find(secret), std::string::npos);
}

TEST_F(ManagerTest, PeersFollowTheClusterAndBadKeysAreCountedOnce) {
  auto m = Make();
  ASSERT_NE(m, nullptr);
  auto pass = m->Reconcile(nodes_, {{"n2", wireguard::ToBase64(peer_)}});
  EXPECT_TRUE(pass.problems.empty());
  ASSERT_EQ(pass.plan.peers.size(), 1u);
  ASSERT_EQ(device_->state().peers.size(), 1u);
  EXPECT_EQ(device_->state().listen_port, 51871);
  EXPECT_EQ(device_->state().peers[0].endpoint->ToString(), "192.168.5.2:51871");

  for (int i = 0; i < 3; ++i) {
    pass = m->Reconcile(nodes_, {{"n2", "garbage"}});
    EXPECT_TRUE(pass.plan.peers.empty());
    ASSERT_EQ(pass.problems.size(), 1u);
  }
  EXPECT_TRUE(device_->state().peers.empty());
  m->Reconcile(nodes_, {{"n2", "other garbage"}});
  weft::agent::v1::EncryptionStatus status;
  m->FillStatus(&status, 3);
  EXPECT_EQ(status.rejected_keys_total(), 2);  // two distinct bad values
  EXPECT_EQ(status.skipped_size(), 1);
  EXPECT_EQ(status.strict_mode_drops(), 3u);
}

TEST_F(ManagerTest, RotationStoresAppliesAndPublishes) {
  auto m = Make();
  ASSERT_NE(m, nullptr);
  m->Reconcile(nodes_, {{"n2", wireguard::ToBase64(peer_)}});
  std::string old_key = published_.back();
  auto rotated = m->Rotate();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_NE(*rotated, old_key);
  EXPECT_EQ(published_.back(), *rotated);
  // Applied at once with the same peers.
  EXPECT_EQ(wireguard::ToBase64(device_->state().public_key), *rotated);
  EXPECT_EQ(device_->state().peers.size(), 1u);
  // Stored: a restart keeps the new key.
  auto again = Make();
  weft::agent::v1::EncryptionStatus status;
  again->FillStatus(&status, 0);
  EXPECT_EQ(status.public_key(), *rotated);
}

TEST_F(ManagerTest, FailedPublicationIsReportedAndRetried) {
  auto m = Make();
  publish_fails_ = true;
  auto pass = m->Reconcile(nodes_, {});
  ASSERT_EQ(pass.problems.size(), 1u);
  EXPECT_NE(pass.problems[0].find("API server down"), std::string::npos);
  publish_fails_ = false;
  pass = m->Reconcile(nodes_, {});
  EXPECT_TRUE(pass.problems.empty());
  EXPECT_EQ(published_.size(), 1u);
}

TEST_F(ManagerTest, ARemovedAnnotationIsRepublishedAtOnce) {
  auto m = Make();
  m->Reconcile(nodes_, {});
  ASSERT_EQ(published_.size(), 1u);
  // The Node was re-created a moment later, without the annotation: the pass
  // that change triggers publishes again (no waiting for a later resync).
  m->Reconcile(nodes_, {});
  EXPECT_EQ(published_.size(), 2u);
  m->Reconcile(nodes_, {{"n1", published_[0]}});
  EXPECT_EQ(published_.size(), 2u);
}

TEST_F(ManagerTest, ADeviceFailureIsAProblemNotACrash) {
  auto m = Make();
  device_->FailNextApply(absl::UnavailableError("device gone"));
  auto pass = m->Reconcile(nodes_, {{"n2", wireguard::ToBase64(peer_)}});
  ASSERT_FALSE(pass.problems.empty());
  EXPECT_NE(pass.problems[0].find("WireGuard device wgtest0: device gone"), std::string::npos);
}

TEST_F(ManagerTest, ADeviceThatStoppedAnsweringIsOpenedAgain) {
  wireguard::FakeDevice* reopened = nullptr;
  options_.reopen = [&]() -> absl::StatusOr<std::unique_ptr<wireguard::Device>> {
    auto d = std::make_unique<wireguard::FakeDevice>("wgtest0");
    reopened = d.get();
    return std::unique_ptr<wireguard::Device>(std::move(d));
  };
  auto m = Make();
  device_->FailNextApply(absl::UnavailableError("connect to the UAPI socket: No such file"));
  auto pass = m->Reconcile(nodes_, {{"n2", wireguard::ToBase64(peer_)}});
  EXPECT_TRUE(pass.problems.empty()) << pass.problems[0];
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->state().peers.size(), 1u);  // configured from scratch
}

TEST_F(ManagerTest, AFailedScheduledRotationIsReported) {
  options_.config.rotation_period_seconds = 60;
  auto m = Make();
  m->Reconcile(nodes_, {});
  struct timespec times[2] = {{time(nullptr) - 120, 0}, {time(nullptr) - 120, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, options_.key_path.c_str(), times, 0), 0);
  auto aged = Make();
  // The key folder is read-only (as root: gone), so the new key cannot be stored.
  std::string dir = options_.key_path.substr(0, options_.key_path.rfind('/'));
  ASSERT_EQ(std::system(("rm -rf " + dir + " && touch " + dir).c_str()), 0);
  auto pass = aged->Reconcile(nodes_, {{"n1", published_.back()}});
  ASSERT_FALSE(pass.problems.empty());
  EXPECT_NE(pass.problems[0].find("scheduled WireGuard key rotation"), std::string::npos)
      << pass.problems[0];
}

TEST_F(ManagerTest, ScheduledRotationWhenThePeriodIsOver) {
  options_.config.rotation_period_seconds = 60;
  auto m = Make();
  m->Reconcile(nodes_, {});
  ASSERT_EQ(published_.size(), 1u);
  // Age the key file by two periods.
  struct timespec times[2] = {{time(nullptr) - 120, 0}, {time(nullptr) - 120, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, options_.key_path.c_str(), times, 0), 0);
  auto aged = Make();
  aged->Reconcile(nodes_, {{"n1", published_.back()}});
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_NE(published_[1], published_[0]);
}

}  // namespace
}  // namespace weft::encryption
