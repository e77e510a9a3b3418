#include "agent/daemon/cni_install.h"

#include <sys/stat.h>

#include <cstdlib>

#include "agent/cni/protocol.h"
#include "common/file_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace weft::daemon {
namespace {

std::string TempDir() {
  std::string tmpl = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
                     "/weft-cni-install-XXXXXX";
  return mkdtemp(tmpl.data());
}

int Mode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
}

TEST(CniInstallTest, ConflistIsWhatThePluginParses) {
  auto list = nlohmann::json::parse(ConflistJson("/var/run/weft/weft.sock", 1450));
  EXPECT_EQ(list["cniVersion"], "1.0.0");
  EXPECT_EQ(list["name"], "weft");
  ASSERT_EQ(list["plugins"].size(), 1u);
  // What a runtime passes on stdin: the plugin's entry with name and version.
  nlohmann::json conf = list["plugins"][0];
  conf["name"] = list["name"];
  conf["cniVersion"] = list["cniVersion"];
  cni::Error error;
  auto parsed = cni::ParseNetConf(conf.dump(), &error);
  ASSERT_TRUE(parsed.has_value()) << error.msg;
  EXPECT_EQ(parsed->type, "weft-cni");
  EXPECT_EQ(parsed->agent_socket, "/var/run/weft/weft.sock");
  EXPECT_EQ(parsed->mtu, 1450);
  EXPECT_FALSE(nlohmann::json::parse(ConflistJson("/s", 0))["plugins"][0].contains("mtu"));
}

TEST(CniInstallTest, InstallsBinaryAndConflistWithModesAndReplacesThem) {
  std::string root = TempDir();
  ASSERT_TRUE(WriteFileAtomically(root + "/weft-cni.src", "binary-v1", 0700).ok());
  CniInstall install{root + "/weft-cni.src", root + "/opt/cni/bin", root + "/etc/cni/net.d",
                     "/run/weft/weft.sock", 1500};
  ASSERT_TRUE(InstallCni(install).ok());
  EXPECT_EQ(*ReadFile(root + "/opt/cni/bin/weft-cni"), "binary-v1");
  EXPECT_EQ(Mode(root + "/opt/cni/bin/weft-cni"), 0755);
  EXPECT_EQ(Mode(root + "/etc/cni/net.d/10-weft.conflist"), 0644);

  ASSERT_TRUE(WriteFileAtomically(root + "/weft-cni.src", "binary-v2", 0700).ok());
  install.mtu = 1450;
  ASSERT_TRUE(InstallCni(install).ok());
  EXPECT_EQ(*ReadFile(root + "/opt/cni/bin/weft-cni"), "binary-v2");
  auto list = nlohmann::json::parse(*ReadFile(root + "/etc/cni/net.d/10-weft.conflist"));
  EXPECT_EQ(list["plugins"][0]["mtu"], 1450);
}

TEST(CniInstallTest, MissingPluginIsAClearErrorAndWritesNothing) {
  std::string root = TempDir();
  CniInstall install{root + "/nope", root + "/bin", root + "/conf", "/s", 0};
  absl::Status s = InstallCni(install);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("CNI plugin " + root + "/nope"), std::string::npos) << s;
  EXPECT_EQ(Mode(root + "/conf"), -1);
}

}  // namespace
}  // namespace weft::daemon
