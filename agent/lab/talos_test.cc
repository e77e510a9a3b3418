#include "agent/lab/talos.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace weft::lab {
namespace {

using nlohmann::json;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string WeftServiceSpec() {
  auto text = ReadFile(absl::StrCat(std::getenv("TEST_SRCDIR"), "/", std::getenv("TEST_WORKSPACE"),
                                    "/extension/weft.yaml"));
  EXPECT_TRUE(text.ok()) << text.status();
  return text.value_or("");
}

ContainerInputs Inputs() {
  ContainerInputs in;
  in.rootfs = "/lab/talos/extension/rootfs/usr/local/lib/containers/weft";
  in.netns_path = "/var/run/netns/wl1234-node1";
  in.hostname = "wl1234-node1";
  in.sources = {
      {"/sys/fs/bpf", "/sys/fs/bpf/wl1234-node1"}, {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"},
      {"/opt/cni/bin", "/lab/nodes/n1/cni/bin"},   {"/etc/cni/net.d", "/lab/nodes/n1/cni/net.d"},
      {"/var/lib/weft", "/lab/nodes/n1/state"},    {"/var/run/weft", "/lab/nodes/n1/run"}};
  in.config_files = {
      {"/lab/nodes/n1/extension-config/etc-weft-agent.yaml", "/etc/weft/agent.yaml"},
      {"/lab/nodes/n1/extension-config/etc-weft-kubeconfig", "/etc/weft/kubeconfig"}};
  in.host_files = {"/etc/hosts"};
  in.extra_env = {"FROM_CONFIG=1"};
  in.capabilities = {"CAP_NET_ADMIN", "CAP_BPF"};
  return in;
}

const json* FindMount(const json& config, const std::string& destination) {
  for (const json& m : config["mounts"]) {
    if (m["destination"] == destination) return &m;
  }
  return nullptr;
}

// The spec the extension ships, as Talos reads it.
TEST(TalosTest, ParsesTheExtensionsServiceSpec) {
  auto spec = ParseServiceSpec(WeftServiceSpec(), "weft.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "weft");
  EXPECT_EQ(spec->entrypoint, "/usr/local/bin/weft-agent");
  EXPECT_THAT(spec->args, ElementsAre("--config", "/etc/weft/agent.yaml"));
  EXPECT_FALSE(spec->writeable_rootfs);
  EXPECT_FALSE(spec->writeable_sysfs);
  EXPECT_FALSE(spec->masked_paths.has_value());
  ASSERT_TRUE(spec->readonly_paths.has_value());
  EXPECT_TRUE(spec->readonly_paths->empty());
  EXPECT_THAT(spec->depends, ElementsAre("network", "configuration"));
  EXPECT_THAT(spec->network, ElementsAre("addresses", "connectivity"));
  EXPECT_EQ(spec->restart, "always");
  std::vector<std::string> sources;
  for (const SpecMount& m : spec->mounts) sources.push_back(m.source);
  EXPECT_THAT(sources, ElementsAre("/sys/fs/bpf", "/sys/fs/cgroup", "/opt/cni/bin",
                                   "/etc/cni/net.d", "/var/lib/weft", "/var/run/weft"));
}

TEST(TalosTest, OciConfigOfTheWeftService) {
  auto spec = ParseServiceSpec(WeftServiceSpec(), "weft.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto config = OciRuntimeConfig(*spec, Inputs());
  ASSERT_TRUE(config.ok()) << config.status();
  const json& c = *config;
  EXPECT_EQ(c["process"]["args"],
            json({"/usr/local/bin/weft-agent", "--config", "/etc/weft/agent.yaml"}));
  EXPECT_EQ(c["process"]["user"], json({{"uid", 0}, {"gid", 0}}));
  EXPECT_THAT(c["process"]["env"].get<std::vector<std::string>>(), Contains("FROM_CONFIG=1"));
  EXPECT_EQ(c["process"]["capabilities"]["bounding"], json({"CAP_NET_ADMIN", "CAP_BPF"}));
  EXPECT_EQ(c["process"]["capabilities"]["effective"], json({"CAP_NET_ADMIN", "CAP_BPF"}));
  EXPECT_EQ(c["process"]["noNewPrivileges"], true);
  EXPECT_EQ(c["root"]["path"], Inputs().rootfs);
  EXPECT_EQ(c["root"]["readonly"], true);
  // Own PID, mount and UTS namespaces; the node's network namespace; host IPC.
  EXPECT_EQ(c["linux"]["namespaces"],
            json::parse(R"([{"type":"pid"},{"type":"mount"},{"type":"uts"},
                            {"type":"network","path":"/var/run/netns/wl1234-node1"}])"));
  // readonlyPaths: [] in the spec (the agent writes /proc/sys); masked paths default.
  EXPECT_EQ(c["linux"]["readonlyPaths"], json::array());
  EXPECT_THAT(c["linux"]["maskedPaths"].get<std::vector<std::string>>(), Contains("/proc/kcore"));
  // sysfs read-only (writeableSysfs: false), the spec's mounts on the node's folders.
  ASSERT_NE(FindMount(c, "/sys"), nullptr);
  EXPECT_THAT((*FindMount(c, "/sys"))["options"].get<std::vector<std::string>>(), Contains("ro"));
  ASSERT_NE(FindMount(c, "/sys/fs/bpf"), nullptr);
  EXPECT_EQ((*FindMount(c, "/sys/fs/bpf"))["source"], "/sys/fs/bpf/wl1234-node1");
  EXPECT_EQ((*FindMount(c, "/sys/fs/bpf"))["options"], json({"bind", "rw"}));
  EXPECT_EQ((*FindMount(c, "/sys/fs/cgroup"))["options"], json({"bind", "ro"}));
  EXPECT_EQ((*FindMount(c, "/var/run/weft"))["source"], "/lab/nodes/n1/run");
  EXPECT_EQ((*FindMount(c, "/opt/cni/bin"))["source"], "/lab/nodes/n1/cni/bin");
  // The ExtensionServiceConfig's files, read-only at their mountPaths, after the spec's.
  ASSERT_NE(FindMount(c, "/etc/weft/agent.yaml"), nullptr);
  EXPECT_EQ((*FindMount(c, "/etc/weft/agent.yaml"))["source"],
            "/lab/nodes/n1/extension-config/etc-weft-agent.yaml");
  EXPECT_EQ((*FindMount(c, "/etc/weft/agent.yaml"))["options"], json({"bind", "ro"}));
  EXPECT_EQ(c["mounts"].back()["destination"], "/etc/weft/kubeconfig");
  EXPECT_NE(FindMount(c, "/etc/hosts"), nullptr);
  EXPECT_EQ(FindMount(c, "/etc/resolv.conf"), nullptr);
}

TEST(TalosTest, AMountWithoutAPerNodeFolderIsAnError) {
  auto spec = ParseServiceSpec(WeftServiceSpec(), "weft.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ContainerInputs in = Inputs();
  in.sources.erase("/var/lib/weft");
  auto config = OciRuntimeConfig(*spec, in);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("mount /var/lib/weft -> /var/lib/weft: the lab has no per-node folder"));
}

TEST(TalosTest, WriteableFlagsAndDefaultPaths) {
  auto spec = ParseServiceSpec(R"(
name: x
container:
  entrypoint: /bin/x
  environment: [A=1]
  security: {writeableRootfs: true, writeableSysfs: true, rootfsPropagation: shared}
restart: never
)",
                               "x.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto config = OciRuntimeConfig(*spec, Inputs());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)["root"]["readonly"], false);
  EXPECT_THAT((*FindMount(*config, "/sys"))["options"].get<std::vector<std::string>>(),
              Not(Contains("ro")));
  EXPECT_EQ((*config)["linux"]["rootfsPropagation"], "shared");
  EXPECT_THAT((*config)["linux"]["readonlyPaths"].get<std::vector<std::string>>(),
              Contains("/proc/sys"));
  EXPECT_EQ((*config)["process"]["env"][1], "A=1");
}

TEST(TalosTest, SpecErrors) {
  EXPECT_THAT(
      std::string(
          ParseServiceSpec("name: x\ncontainer: {entrypoint: /x}\n", "s").status().message()),
      HasSubstr("restart"));
  EXPECT_THAT(
      std::string(ParseServiceSpec("name: X\ncontainer: {entrypoint: /x}\nrestart: always", "s")
                      .status()
                      .message()),
      HasSubstr("name: \"X\""));
  EXPECT_THAT(
      std::string(
          ParseServiceSpec("name: x\ncontainer: {}\nrestart: always", "s").status().message()),
      HasSubstr("entrypoint"));
  EXPECT_THAT(
      std::string(
          ParseServiceSpec(
              "name: x\ncontainer: {entrypoint: /x, environmentFile: /e}\nrestart: always", "s")
              .status()
              .message()),
      HasSubstr("environmentFile"));
  EXPECT_THAT(std::string(ParseServiceSpec("name: x\ncontainer: {entrypoint: /x}\n"
                                           "depends: [{path: /a, time: true}]\nrestart: always",
                                           "s")
                              .status()
                              .message()),
              HasSubstr("depends[0]: needs exactly one"));
}

TEST(TalosTest, ExtensionServiceConfig) {
  auto config = ParseExtensionServiceConfig(R"(
apiVersion: v1alpha1
kind: ExtensionServiceConfig
name: weft
configFiles:
  - mountPath: /etc/weft/agent.yaml
    content: |
      nodeName: n1
environment: [A=b]
)",
                                            "esc.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name, "weft");
  ASSERT_EQ(config->config_files.size(), 1u);
  EXPECT_EQ(config->config_files[0].mount_path, "/etc/weft/agent.yaml");
  EXPECT_EQ(config->config_files[0].content, "nodeName: n1\n");
  EXPECT_THAT(config->environment, ElementsAre("A=b"));
  EXPECT_THAT(std::string(ParseExtensionServiceConfig(
                              "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: weft\n",
                              "esc.yaml")
                              .status()
                              .message()),
              HasSubstr("no config files found for extension \"weft\""));
}

TEST(TalosTest, ConfigFileNamesAndCapabilities) {
  EXPECT_EQ(TalosConfigFileName("/etc/weft/agent.yaml"), "etc-weft-agent.yaml");
  EXPECT_EQ(TalosConfigFileName("/etc/weft/kubeconfig"), "etc-weft-kubeconfig");
  EXPECT_THAT(CapabilityNames(0x3), ElementsAre("CAP_CHOWN", "CAP_DAC_OVERRIDE"));
  // CAP_SYS_MODULE (16) and CAP_SYS_BOOT (22) are never granted.
  const uint64_t all = (uint64_t{1} << 41) - 1;
  std::vector<std::string> granted = GrantableCapabilities(all);
  EXPECT_EQ(granted.size(), 39u);
  EXPECT_THAT(granted, Not(Contains("CAP_SYS_MODULE")));
  EXPECT_THAT(granted, Not(Contains("CAP_SYS_BOOT")));
  EXPECT_THAT(granted, Contains("CAP_BPF"));
  EXPECT_THAT(granted, Contains("CAP_SYS_ADMIN"));
}

}  // namespace
}  // namespace weft::lab
