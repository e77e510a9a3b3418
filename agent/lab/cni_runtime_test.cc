#include "agent/lab/cni_runtime.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "common/file_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace weft::lab {
namespace {

using nlohmann::json;

TEST(CniRuntimeTest, PicksTheLexicallyFirstConfigFile) {
  EXPECT_EQ(*PickNetworkConfig({"README", "20-other.conf", "10-weft.conflist", "."}),
            "10-weft.conflist");
  EXPECT_EQ(*PickNetworkConfig({"99-loopback.json"}), "99-loopback.json");
  EXPECT_TRUE(absl::IsNotFound(PickNetworkConfig({"x.tmp", "10-weft.conflist.tmp.5"}).status()));
}

TEST(CniRuntimeTest, PluginStdinCarriesTheListsNameVersionAndPrevResult) {
  auto config = ParseNetworkConfig(R"({"cniVersion":"1.0.0","name":"weft","plugins":[)"
                                   R"({"type":"weft-cni","agentSocket":"/s"},{"type":"portmap"}]})",
                                   "10-weft.conflist");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->plugins.size(), 2u);
  json first = PluginStdin(*config, 0, json());
  EXPECT_EQ(
      first,
      json::parse(R"({"type":"weft-cni","agentSocket":"/s","name":"weft","cniVersion":"1.0.0"})"));
  json second = PluginStdin(*config, 1, json{{"ips", json::array()}});
  EXPECT_EQ(second["prevResult"], json({{"ips", json::array()}}));
  EXPECT_EQ(second["name"], "weft");

  auto single =
      ParseNetworkConfig(R"({"cniVersion":"0.4.0","name":"n","type":"bridge"})", "x.conf");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->plugins.size(), 1u);
  EXPECT_FALSE(ParseNetworkConfig(R"({"cniVersion":"1.0.0","name":"n"})", "x.conf").ok());
  EXPECT_FALSE(ParseNetworkConfig(R"({"cniVersion":"1.0.0","name":"n","plugins":[]})", "x").ok());
  EXPECT_FALSE(ParseNetworkConfig("not json", "x").ok());
}

TEST(CniRuntimeTest, EnvironmentIsWhatKubeletsRuntimesPass) {
  CniAttachment pod{"wl3f9a-frontend", "/var/run/netns/wl3f9a-pod-frontend", "eth0", "wl3f9a",
                    "frontend"};
  std::vector<std::string> env = CniEnvironment("ADD", pod, "/opt/cni/bin");
  EXPECT_EQ(env, (std::vector<std::string>{
                     "CNI_COMMAND=ADD", "CNI_CONTAINERID=wl3f9a-frontend",
                     "CNI_NETNS=/var/run/netns/wl3f9a-pod-frontend", "CNI_IFNAME=eth0",
                     "CNI_PATH=/opt/cni/bin",
                     "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=wl3f9a;K8S_POD_NAME=frontend;"
                     "K8S_POD_INFRA_CONTAINER_ID=wl3f9a-frontend",
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
}

TEST(CniRuntimeTest, PodIpIsTheFirstIpv4Address) {
  EXPECT_EQ(*PodIpFromResult(
                json::parse(R"({"ips":[{"address":"fd00::5/128"},{"address":"10.200.1.5/32"}]})")),
            "10.200.1.5");
  EXPECT_FALSE(PodIpFromResult(json::parse(R"({"ips":[]})")).ok());
  EXPECT_FALSE(PodIpFromResult(json()).ok());
}

// A fake plugin: records its environment and stdin, answers like a plugin.
class CniRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/cni";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/bin");
    std::filesystem::create_directories(dir_ + "/net.d");
    node_ = {"", dir_ + "/bin", dir_ + "/net.d", {}};
    pod_ = {"c1", "/var/run/netns/pod", "eth0", "ns", "web"};
  }
  void Plugin(const std::string& name, const std::string& script) {
    const std::string path = dir_ + "/bin/" + name;
    ASSERT_TRUE(WriteFileAtomically(path, "#!/bin/sh\n" + script, 0755).ok());
  }
  std::string Read(const std::string& name) { return ReadFile(dir_ + "/" + name).value_or(""); }

  std::string dir_;
  CniNode node_;
  CniAttachment pod_;
};

TEST_F(CniRunTest, AddRunsThePluginsInOrderAndDelInReverse) {
  ASSERT_TRUE(
      WriteFileAtomically(
          dir_ + "/net.d/10-test.conflist",
          R"({"cniVersion":"1.0.0","name":"test","plugins":[{"type":"first"},{"type":"second"}]})",
          0644)
          .ok());
  Plugin("first", "cat > " + dir_ +
                      "/first.$CNI_COMMAND.stdin\n"
                      "echo \"$CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS $CNI_ARGS\" > " +
                      dir_ +
                      "/first.$CNI_COMMAND.env\n"
                      "echo first >> " +
                      dir_ +
                      "/order$CNI_COMMAND\n"
                      "[ \"$CNI_COMMAND\" = ADD ] && echo "
                      "'{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.200.1.7/32\"}]}'\n"
                      "exit 0\n");
  Plugin("second", "cat > " + dir_ +
                       "/second.$CNI_COMMAND.stdin\n"
                       "echo second >> " +
                       dir_ +
                       "/order$CNI_COMMAND\n"
                       "[ \"$CNI_COMMAND\" = ADD ] && echo "
                       "'{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.200.1.8/32\"}]}'\n"
                       "exit 0\n");
  auto result = CniAdd(node_, pod_, absl::Seconds(10));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)["ips"][0]["address"], "10.200.1.8/32");  // the last plugin's
  // The second plugin saw the first one's result as prevResult.
  json second_in = json::parse(Read("second.ADD.stdin"));
  EXPECT_EQ(second_in["prevResult"]["ips"][0]["address"], "10.200.1.7/32");
  EXPECT_EQ(second_in["name"], "test");
  EXPECT_EQ(Read("first.ADD.env"),
            "ADD c1 /var/run/netns/pod IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web;"
            "K8S_POD_INFRA_CONTAINER_ID=c1\n");
  EXPECT_EQ(Read("orderADD"), "first\nsecond\n");

  ASSERT_TRUE(CniDel(node_, pod_, *result, absl::Seconds(10)).ok());
  EXPECT_EQ(Read("orderDEL"), "second\nfirst\n");
  EXPECT_EQ(json::parse(Read("first.DEL.stdin"))["prevResult"], *result);
}

TEST_F(CniRunTest, PluginErrorsCarryCodeMessageAndDetails) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/net.d/10-test.conf",
                                  R"({"cniVersion":"1.0.0","name":"test","type":"failing"})", 0644)
                  .ok());
  Plugin("failing",
         "echo '{\"cniVersion\":\"1.0.0\",\"code\":100,\"msg\":\"weft-agent is not running\","
         "\"details\":\"not answering on /s\"}'\nexit 1\n");
  auto result = CniAdd(node_, pod_, absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(
      result.status().message(),
      "failing ADD for ns/web: weft-agent is not running: not answering on /s (CNI error 100)");
}

TEST_F(CniRunTest, MissingConfigurationOrPluginIsNamed) {
  auto none = CniAdd(node_, pod_, absl::Seconds(10));
  EXPECT_EQ(none.status().message(), "no CNI network configuration in " + dir_ + "/net.d");
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/net.d/10-test.conf",
                                  R"({"cniVersion":"1.0.0","name":"test","type":"absent"})", 0644)
                  .ok());
  EXPECT_EQ(CniAdd(node_, pod_, absl::Seconds(10)).status().message(),
            "CNI plugin absent not found in " + dir_ + "/bin");
}

}  // namespace
}  // namespace weft::lab
