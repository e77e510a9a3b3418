#include "generator/cli.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace weft::generator {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(CliTest, PatchWorksWithoutArguments) {
  CliResult r = RunCli({"patch"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("name: none"));
  EXPECT_EQ(r.err, "");
}

TEST(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunCli({}).exit_code, 2);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"frobnicate"},
                                             {"patch", "--role", "master"},
                                             {"patch", "--cni", "flannel"},
                                             {"patch", "--flannel"},
                                             {"patch", "extra"},
                                             {"validate"}}) {
    CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 2) << args.back();
    EXPECT_EQ(r.out, "") << args.back();
    EXPECT_THAT(r.err, StartsWith("talosgen: "));
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  }
  EXPECT_EQ(RunCli({"patch", "--role", "master"}).err,
            "talosgen: patch: --role: expected controlplane or worker, got \"master\" (see "
            "`talosgen patch --help`)\n");
}

TEST(CliTest, BadInputExitsOneWithNothingOnStdout) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"patch", "--talos-version", "v1.9.0"},
           {"values", "--chart-version", "1.17.0"},
           {"patch", "--spec", "/nonexistent/spec.yaml"},
           {"validate", "/nonexistent/cp.yaml"},
       }) {
    CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 1) << args.back();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  }
  EXPECT_EQ(RunCli({"patch", "--talos-version", "v1.9.0"}).err,
            "talosgen: --talos-version: unknown Talos version \"v1.9.0\" (supported: v1.11, "
            "v1.12, v1.13, v1.14)\n");
  EXPECT_EQ(RunCli({"patch", "--spec", "/nonexistent/spec.yaml"}).err,
            "talosgen: /nonexistent/spec.yaml: cannot read: No such file or directory\n");
}

TEST(CliTest, HelpExitsZero) {
  EXPECT_EQ(RunCli({"--help"}).exit_code, 0);
  CliResult r = RunCli({"patch", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--talos-version"));
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(CliTest, InitWritesTheSpecFile) {
  std::string path = TempPath("init-spec.yaml");
  CliResult r = RunCli({"init", "--output", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), RunCli({"init"}).out);
  // and the written spec drives the other commands
  EXPECT_EQ(RunCli({"patch", "--spec", path}).exit_code, 0);
}

TEST(CliTest, FlagsOverrideTheSpec) {
  std::string path = TempPath("cilium-spec.yaml");
  Write(path, "cni: cilium\ntalosVersion: v1.13.9\n");
  CliResult r = RunCli({"patch", "--spec", path, "--cni", "weft", "--talos-version", "v1.14.0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("for Weft"));
  EXPECT_THAT(r.out, HasSubstr("kind: KubeProxyConfig"));
}

TEST(CliTest, BaseDecidesLayoutAndRole) {
  std::string base = TempPath("base-worker.yaml");
  Write(base, "version: v1alpha1\nmachine:\n  type: worker\n---\napiVersion: v1alpha1\n"
              "kind: KubePrismConfig\nport: 7445\n");
  CliResult r = RunCli({"patch", "--base", base, "--talos-version", "v1.13.9"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Role: worker. Layout: multi-document"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("kind: KubeProxyConfig")));
  CliResult mismatch = RunCli({"patch", "--base", base, "--role", "controlplane"});
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_EQ(mismatch.err, "talosgen: --role controlplane does not match machine.type worker in " +
                              base + "\n");
  std::string broken = TempPath("broken.yaml");
  Write(broken, "version: v1alpha1\nmachine:\n  features: [a\n");
  CliResult bad = RunCli({"patch", "--base", broken});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, StartsWith("talosgen: " + broken + ":4: invalid YAML: "));
}

TEST(CliTest, ValidateExitCodes) {
  std::string cp = TempPath("cp.yaml");
  Write(cp, "version: v1alpha1\nmachine:\n  type: controlplane\n");
  CliResult r = RunCli({"validate", cp});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr(cp + ": v1alpha1: cluster.proxy.disabled: kube-proxy is still "
                                    "enabled\n"));
  std::string patch = TempPath("cp-patch.yaml");
  Write(patch, RunCli({"patch", "--talos-version", "v1.13.9"}).out);
  CliResult fixed = RunCli({"validate", cp, patch});
  EXPECT_EQ(fixed.exit_code, 0) << fixed.out;
}

}  // namespace
}  // namespace weft::generator
