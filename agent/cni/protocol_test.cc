#include "agent/cni/protocol.h"

#include <map>

#include "gtest/gtest.h"

namespace weft::cni {
namespace {

using nlohmann::json;

std::map<std::string, std::string>* g_env;

std::optional<std::string> FakeEnv(const char* name) {
  auto it = g_env->find(name);
  if (it == g_env->end()) return std::nullopt;
  return it->second;
}

class InvocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = {{"CNI_COMMAND", "ADD"},
            {"CNI_CONTAINERID", "abc123"},
            {"CNI_NETNS", "/var/run/netns/pod"},
            {"CNI_IFNAME", "eth0"},
            {"CNI_PATH", "/opt/cni/bin"},
            {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"}};
    g_env = &env_;
  }
  std::map<std::string, std::string> env_;
  Error error_;
};

TEST_F(InvocationTest, ParsesAddWithPodArgs) {
  auto inv = ParseInvocation(FakeEnv, &error_);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, Command::kAdd);
  EXPECT_EQ(inv->container_id, "abc123");
  EXPECT_EQ(inv->args["K8S_POD_NAME"], "web-0");
  EXPECT_EQ(inv->args["K8S_POD_NAMESPACE"], "default");
}

TEST_F(InvocationTest, MissingCommandIsInvalidEnvironment) {
  env_.erase("CNI_COMMAND");
  EXPECT_FALSE(ParseInvocation(FakeEnv, &error_).ok());
  EXPECT_EQ(error_.code, kInvalidEnvironment);
  EXPECT_NE(error_.msg.find("CNI_COMMAND"), std::string::npos);
}

TEST_F(InvocationTest, BadContainerIdAndIfNameAreNamed) {
  env_["CNI_CONTAINERID"] = "-bad";
  EXPECT_FALSE(ParseInvocation(FakeEnv, &error_).ok());
  EXPECT_EQ(error_.code, kInvalidEnvironment);
  EXPECT_NE(error_.msg.find("CNI_CONTAINERID"), std::string::npos);
  env_["CNI_CONTAINERID"] = "ok";
  env_["CNI_IFNAME"] = "much-too-long-name0";
  EXPECT_FALSE(ParseInvocation(FakeEnv, &error_).ok());
  EXPECT_NE(error_.msg.find("CNI_IFNAME"), std::string::npos);
}

TEST_F(InvocationTest, DelWithoutNetnsIsAllowedAddIsNot) {
  env_.erase("CNI_NETNS");
  EXPECT_FALSE(ParseInvocation(FakeEnv, &error_).ok());
  EXPECT_NE(error_.msg.find("CNI_NETNS"), std::string::npos);
  env_["CNI_COMMAND"] = "DEL";
  EXPECT_TRUE(ParseInvocation(FakeEnv, &error_).ok());
}

TEST_F(InvocationTest, VersionNeedsNothingElse) {
  env_ = {{"CNI_COMMAND", "VERSION"}};
  auto inv = ParseInvocation(FakeEnv, &error_);
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->command, Command::kVersion);
}

TEST(NetConfTest, ParsesWeftConfig) {
  Error e;
  auto c = ParseNetConf(R"({"cniVersion":"1.0.0","name":"weft","type":"weft-cni","mtu":1450,
      "agentSocket":"/var/run/weft/weft.sock","runtimeConfig":{}})",
                        &e);
  ASSERT_TRUE(c.has_value()) << e.msg;
  EXPECT_EQ(c->mtu, 1450);
  EXPECT_EQ(c->agent_socket, "/var/run/weft/weft.sock");
  EXPECT_TRUE(c->prev_result.is_null());
}

TEST(NetConfTest, MalformedConfigsGetSpecCodes) {
  Error e;
  EXPECT_FALSE(ParseNetConf("{not json", &e));
  EXPECT_EQ(e.code, kDecodeFailure);
  EXPECT_FALSE(ParseNetConf(R"({"cniVersion":"1.0.0","type":"weft-cni"})", &e));
  EXPECT_EQ(e.code, kInvalidNetworkConfig);
  EXPECT_NE(e.msg.find("\"name\""), std::string::npos);
  EXPECT_FALSE(ParseNetConf(R"({"cniVersion":"2.0.0","name":"w","type":"weft-cni"})", &e));
  EXPECT_EQ(e.code, kIncompatibleVersion);
  EXPECT_FALSE(ParseNetConf(R"({"cniVersion":"1.0.0","name":"w","type":"weft-cni","mtu":"x"})", &e));
  EXPECT_EQ(e.code, kInvalidNetworkConfig);
}

Result SampleResult() {
  Result r;
  r.interfaces.push_back({"lxc1234", "aa:bb:cc:dd:ee:01", ""});
  r.interfaces.push_back({"eth0", "aa:bb:cc:dd:ee:02", "/var/run/netns/pod"});
  IpConfig ip;
  ip.address = *net::IpAddress::Parse("10.244.1.5");
  ip.prefix_length = 32;
  ip.gateway = *net::IpAddress::Parse("169.254.1.1");
  ip.interface = 1;
  r.ips.push_back(ip);
  r.routes.push_back({*net::IpPrefix::Parse("0.0.0.0/0"), *net::IpAddress::Parse("169.254.1.1")});
  return r;
}

TEST(ResultTest, WritesSpecShapeAndRoundTrips) {
  json j = json::parse(ResultJson(SampleResult(), "1.0.0"));
  EXPECT_EQ(j["cniVersion"], "1.0.0");
  EXPECT_EQ(j["ips"][0]["address"], "10.244.1.5/32");
  EXPECT_EQ(j["ips"][0]["interface"], 1);
  EXPECT_FALSE(j["ips"][0].contains("version"));
  EXPECT_EQ(j["interfaces"][1]["sandbox"], "/var/run/netns/pod");
  EXPECT_FALSE(j["interfaces"][0].contains("sandbox"));
  auto back = ParseResult(j);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ips[0].address.ToString(), "10.244.1.5");
  EXPECT_EQ(back->ips[0].gateway.ToString(), "169.254.1.1");
  EXPECT_EQ(back->routes[0].dst.ToString(), "0.0.0.0/0");
}

TEST(ResultTest, OlderVersionsCarryIpVersion) {
  json j = json::parse(ResultJson(SampleResult(), "0.4.0"));
  EXPECT_EQ(j["ips"][0]["version"], "4");
}

TEST(ResultTest, InterfaceAddressesMayHaveHostBits) {
  auto r = ParseResult(json::parse(R"({"ips":[{"address":"10.1.1.5/24"}]})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ips[0].prefix_length, 24);
  EXPECT_FALSE(ParseResult(json::parse(R"({"ips":[{"address":"10.1.1.5"}]})")).ok());
  EXPECT_FALSE(ParseResult(json::parse(R"({"ips":[{"nope":1}]})")).ok());
}

TEST(VersionTest, ListsSupportedVersions) {
  json j = json::parse(VersionJson());
  EXPECT_EQ(j["cniVersion"], "1.0.0");
  EXPECT_EQ(j["supportedVersions"].size(), 4u);
}

TEST(ErrorTest, WritesCodeMsgDetails) {
  json j = json::parse(ErrorJson({kPoolExhausted, "no free address", "grow the pod CIDR"}, "1.0.0"));
  EXPECT_EQ(j["code"], 101);
  EXPECT_EQ(j["msg"], "no free address");
  EXPECT_EQ(j["details"], "grow the pod CIDR");
}

}  // namespace
}  // namespace weft::cni
