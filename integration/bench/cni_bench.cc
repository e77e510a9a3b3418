// CNI ADD/DEL latency through the real weft-cni binary against a real node
// agent, and the agent's resident memory with 0 and 100 pods on its node.
//
//   bazel run -c opt //integration/bench:cni_bench [-- --pods 200 --rss-pods 100]
//
// One "node" network namespace holds everything a Talos node would: a native
// device with the node's InternalIP, the lab API server on 127.0.0.1 (standing
// in for KubePrism) with this Node (spec.podCIDRs, InternalIP) and one Pod
// object per pod (spec.nodeName; the agent frees endpoints whose Pod is
// absent), and weft-agent itself, which loads the BPF datapath, installs
// weft-cni and its conflist into a private bin/conf folder and serves its
// socket. Each ADD then runs the installed weft-cni the way containerd does:
// fork + exec in the node namespace, CNI_* environment, the conflist's plugin
// config on stdin, for a fresh pod namespace (created outside the timing).
//
// Baseline in the same run: `CNI_COMMAND=VERSION` through the same binary and
// path: the cost of starting the (static) plugin process, which every ADD pays.
// `--agent node_agent` uses the test-only agent (fixed pod CIDR, no API server)
// instead of weft-agent.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <fstream>
#include <sstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <cxxopts.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "common/netns/cgroup.h"
#include "common/testing/netns.h"
#include "integration/bench/bench_util.h"
#include "kubeprism/http_transport.h"
#include "kubeprism/kubeconfig.h"
#include "nlohmann/json.hpp"

namespace weft::bench {
namespace {

using nlohmann::json;
using weft::testing::NetnsGuard;
using weft::testing::ScopedNetns;

constexpr char kNodeName[] = "bench-node";
constexpr char kNodeIp[] = "192.168.78.1";
constexpr char kPodCidr[] = "10.244.0.0/23";  // 510 addresses: room for every pod of a run

struct Options {
  int pods = 200;
  int rss_pods = 100;
  int version_runs = 100;
  std::string agent = "weft-agent";
  // Services (each with one EndpointSlice of `endpoints_per_service`) in the
  // API server before the agent starts: its memory with the kube-proxy
  // replacement holding them, and how long the first apply took.
  int services = 0;
  int endpoints_per_service = 5;
};

absl::Status WaitFor(const std::string& what, int timeout_ms, const std::function<bool()>& ready) {
  for (int waited = 0; waited <= timeout_ms; waited += 50) {
    RETURN_IF_ERROR(CheckNotStopping());
    if (ready()) return absl::OkStatus();
    usleep(50000);
  }
  return absl::DeadlineExceededError(absl::StrCat("waited ", timeout_ms / 1000, " s for ", what));
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

absl::Status WriteAll(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) return absl::InternalError("write " + path);
  return absl::OkStatus();
}

// A temporary folder removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/weft-bench-cni-XXXXXX";  // short: the agent socket lives here
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) weft::testing::Run("rm -rf " + path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class CniBench {
 public:
  explicit CniBench(Options o) : opt_(std::move(o)) {}

  ~CniBench() {
    // Agent first (it holds the datapath), then the API server, then namespaces.
    if (agent_.running()) agent_.Terminate(5000);
    if (apiserver_.running()) apiserver_.Terminate(5000);
    pods_.clear();
    node_.reset();
    if (!pins_.empty()) weft::testing::Run("rm -rf " + pins_);  // bpffs: unlink maps, rmdir
    if (!cgroup_.empty()) weft::cgroup::Remove(cgroup_).IgnoreError();
  }

  absl::Status Run() {
    if (dir_.path().empty()) return absl::InternalError("mkdtemp under /tmp");
    weft::testing::RemoveStaleNamespaces();
    RETURN_IF_ERROR(SetUpNode());
    if (opt_.agent == "weft-agent") {
      RETURN_IF_ERROR(StartApiServer());
      const absl::Time posting = absl::Now();
      for (int i = 0; i < opt_.services; ++i) RETURN_IF_ERROR(CreateService(i));
      if (opt_.services > 0) {
        std::printf("%d Services, %d endpoints created in %.1f s\n", opt_.services,
                    opt_.services * opt_.endpoints_per_service,
                    absl::ToDoubleSeconds(absl::Now() - posting));
      }
      RETURN_IF_ERROR(StartWeftAgent());
    } else {
      RETURN_IF_ERROR(StartNodeAgent());
    }
    std::printf("agent: %s (pid %d) in %s; plugin %s\n", opt_.agent.c_str(), agent_.pid(),
                node_->name().c_str(), plugin_.c_str());
    // Idle: the agent has synced, attached and installed; let it settle.
    usleep(2000000);
    if (opt_.services > 0) {
      // The agent logs its first apply: "Services: N frontends applied in T".
      const std::string log = dir_.path() + "/agent.log";
      RETURN_IF_ERROR(WaitFor("the agent's first Service apply", 300000, [&] {
        std::ifstream in(log);
        std::stringstream text;
        text << in.rdbuf();
        return text.str().find("frontends applied") != std::string::npos;
      }));
      usleep(3000000);
      std::ifstream in(log);
      for (std::string line; std::getline(in, line);) {
        if (line.find("frontends applied") != std::string::npos) std::printf("agent: %s\n", line.c_str());
      }
      const int64_t rss = Rss();
      std::printf("agent resident memory with %d Services / %d endpoints: %.1f MiB (goal < 40 MB "
                  "= 38.1 MiB: %s); peak (VmHWM) %.1f MiB\n",
                  opt_.services, opt_.services * opt_.endpoints_per_service, rss / 1024.0,
                  rss * 1024 < 40 * 1000 * 1000 ? "met" : "NOT met",
                  ProcStatusKiB(agent_.pid(), "VmHWM") / 1024.0);
    }
    int64_t rss0 = Rss();
    std::string rss_parts0 = RssParts();

    std::vector<double> version_ms;
    for (int i = 0; i < opt_.version_runs; ++i) {
      ASSIGN_OR_RETURN(double ms, Cni("VERSION", "", nullptr));
      version_ms.push_back(ms);
    }

    // The Pod objects exist before the runtime calls ADD (as with kubelet).
    if (transport_) {
      for (int i = 0; i < opt_.pods; ++i) RETURN_IF_ERROR(CreatePodObject(i));
    }
    std::vector<double> add_ms, del_ms;
    int64_t rss_at = -1, hwm_at = -1;
    std::string rss_parts_at;
    pods_.reserve(opt_.pods);
    for (int i = 0; i < opt_.pods; ++i) {
      pods_.push_back(std::make_unique<ScopedNetns>("bcni-pod"));
      if (!pods_.back()->ok()) return absl::InternalError("create pod namespace");
      ASSIGN_OR_RETURN(double ms, Cni("ADD", PodName(i), pods_.back().get()));
      add_ms.push_back(ms);
      if (i + 1 == opt_.rss_pods) {
        usleep(2000000);  // let the reconcile loop see them
        rss_at = Rss();
        hwm_at = ProcStatusKiB(agent_.pid(), "VmHWM");
        rss_parts_at = RssParts();
      }
    }
    // One of them works: the node reaches it through the datapath and routes.
    RETURN_IF_ERROR(Sh(absl::StrCat("ip netns exec ", node_->name(), " ping -c 1 -W 2 ", FirstPodIp())));
    usleep(2000000);
    int64_t rss_all = Rss();
    for (int i = 0; i < opt_.pods; ++i) {
      ASSIGN_OR_RETURN(double ms, Cni("DEL", PodName(i), pods_[i].get()));
      del_ms.push_back(ms);
    }
    usleep(2000000);
    int64_t rss_after = Rss();
    int64_t hwm = ProcStatusKiB(agent_.pid(), "VmHWM");
    std::string top_files = TopFileMappings(8);

    std::vector<double> adds = add_ms;
    std::printf("\nload average %.2f; %ld CPUs; %d pods, one ADD at a time, each with a fresh netns\n",
                LoadAverage1(), sysconf(_SC_NPROCESSORS_ONLN), opt_.pods);
    std::printf("%-34s %9s %9s %9s %9s\n", "latency, ms", "p50", "p90", "p99", "max");
    auto row = [](const char* name, std::vector<double> v) {
      double p50 = Percentile(v, 50), p90 = Percentile(v, 90), p99 = Percentile(v, 99),
             max = Percentile(v, 100);
      std::printf("%-34s %9.2f %9.2f %9.2f %9.2f\n", name, p50, p90, p99, max);
    };
    row("CNI ADD", add_ms);
    row("CNI DEL", del_ms);
    row("baseline: CNI VERSION (exec only)", version_ms);
    std::vector<double> first(adds.begin(), adds.begin() + std::min<size_t>(adds.size(), 20));
    std::vector<double> last(adds.end() - std::min<size_t>(adds.size(), 20), adds.end());
    std::printf("  ADD p50 of the first 20 pods %.2f ms, of the last 20 %.2f ms (growth with pod count)\n",
                Percentile(first, 50), Percentile(last, 50));
    double add_p99 = Percentile(add_ms, 99);
    std::printf("  ADD p99 %.2f ms (goal < 50 ms: %s); ADD p50 / VERSION p50 = %.1fx\n", add_p99,
                add_p99 < 50 ? "met" : "NOT met", Percentile(add_ms, 50) / Percentile(version_ms, 50));
    std::printf("\nagent resident memory (VmRSS), MiB\n");
    std::printf("  idle, 0 pods: %s\n", rss_parts0.c_str());
    std::printf("  0 pods %.1f, %d pods %.1f, %d pods %.1f, after DEL of all %.1f; peak (VmHWM) %.1f\n",
                rss0 / 1024.0, opt_.rss_pods, rss_at / 1024.0, opt_.pods, rss_all / 1024.0,
                rss_after / 1024.0, hwm / 1024.0);
    std::printf("  %d pods: %.1f MiB (goal < 20 MB = 19.1 MiB: %s); %.1f KiB per pod over idle\n",
                opt_.rss_pods, rss_at / 1024.0, rss_at * 1024 < 20 * 1000 * 1000 ? "met" : "NOT met",
                static_cast<double>(rss_at - rss0) / std::max(1, opt_.rss_pods));
    std::printf("  at %d pods: %s; peak so far %.1f\n", opt_.rss_pods, rss_parts_at.c_str(),
                hwm_at / 1024.0);
    std::printf("  largest file-backed: %s\n", top_files.c_str());
    return absl::OkStatus();
  }

 private:
  static std::string PodName(int i) { return absl::StrCat("bench-pod-", i); }

  int64_t Rss() const { return ProcStatusKiB(agent_.pid(), "VmRSS"); }

  // Where the resident memory is: heap and stacks (anon), mapped binaries and
  // shared libraries (file), and the thread count.
  // The file-backed mappings (binary, shared libraries) with the most resident
  // pages, from /proc/PID/smaps.
  std::string TopFileMappings(int n) const {
    std::ifstream smaps(absl::StrCat("/proc/", agent_.pid(), "/smaps"));
    std::map<std::string, int64_t> kib;
    std::string line, current;
    while (std::getline(smaps, line)) {
      if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
          line.find('-') < line.find(' ')) {
        // "start-end perms offset dev inode [path]": the path is the 6th field.
        std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
        current = f.size() >= 6 && f[5][0] == '/' ? f[5] : "";
      } else if (!current.empty() && absl::StartsWith(line, "Rss:")) {
        int64_t v = 0;
        if (absl::SimpleAtoi(absl::StripSuffix(absl::StripAsciiWhitespace(line.substr(4)), " kB"), &v)) {
          kib[current] += v;
        }
      }
    }
    std::vector<std::pair<int64_t, std::string>> sorted;
    for (const auto& [path, k] : kib) sorted.push_back({k, path.substr(path.rfind('/') + 1)});
    std::sort(sorted.rbegin(), sorted.rend());
    std::vector<std::string> out;
    for (int i = 0; i < n && i < static_cast<int>(sorted.size()); ++i) {
      out.push_back(absl::StrFormat("%s %.1f", sorted[i].second, sorted[i].first / 1024.0));
    }
    return absl::StrCat(absl::StrJoin(out, ", "), " MiB (", sorted.size(), " files)");
  }

  std::string RssParts() const {
    auto mib = [&](const char* f) { return ProcStatusKiB(agent_.pid(), f) / 1024.0; };
    return absl::StrFormat("anon %.1f + file %.1f + shmem %.1f MiB, %d threads", mib("RssAnon"),
                           mib("RssFile"), mib("RssShmem"),
                           static_cast<int>(ProcStatusKiB(agent_.pid(), "Threads")));
  }

  std::string FirstPodIp() const { return first_pod_ip_; }

  absl::Status SetUpNode() {
    node_ = std::make_unique<ScopedNetns>("bcni-node");
    if (!node_->ok()) return absl::InternalError("create node namespace");
    pins_ = absl::StrCat("/sys/fs/bpf/", weft::testing::UniqueName("weft-b"));
    native_ = weft::testing::UniqueName("wbn");
    std::string ns = node_->name();
    // The native device: a veth whose peer stays in the node (no other node here).
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " link add ", native_, " type veth peer name ",
                                    native_, "p")));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " addr add ", kNodeIp, "/24 dev ", native_)));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " link set ", native_, " up")));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " link set ", native_, "p up")));
    return absl::OkStatus();
  }

  absl::Status StartApiServer() {
    std::string kubeconfig = dir_.path() + "/admin.kubeconfig";
    SpawnOptions o;
    o.netns_path = node_->path();
    o.stdout_file = dir_.path() + "/apiserver.log";
    ASSIGN_OR_RETURN(apiserver_, Spawn({Runfile("kubeprism/testing/lab-apiserver"), "--state-dir",
                                        dir_.path() + "/api", "--port", "0", "--admin-kubeconfig",
                                        kubeconfig},
                                       o));
    RETURN_IF_ERROR(WaitFor("the lab API server", 20000, [&] {
      return ReadAll(o.stdout_file).find("listening on") != std::string::npos;
    }));
    ASSIGN_OR_RETURN(kubeprism::ClientConfig config, kubeprism::LoadKubeconfig(kubeconfig));
    ASSIGN_OR_RETURN(transport_, kubeprism::HttpTransport::Create(config));
    kubeconfig_ = kubeconfig;
    json node = {{"apiVersion", "v1"},
                 {"kind", "Node"},
                 {"metadata", {{"name", kNodeName}}},
                 {"spec", {{"podCIDR", kPodCidr}, {"podCIDRs", {kPodCidr}}}},
                 {"status", {{"addresses", {{{"type", "InternalIP"}, {"address", kNodeIp}},
                                            {{"type", "Hostname"}, {"address", kNodeName}}}}}}};
    return Post("/api/v1/nodes", node);
  }

  // Service i: a cluster IP in 10.96.0.0/12, port 80, and one EndpointSlice of
  // pods elsewhere in the cluster (no pod of this node is needed for it).
  absl::Status CreateService(int i) {
    const std::string name = absl::StrCat("bench-svc-", i);
    const std::string ip = absl::StrCat("10.", 96 + i / 65536, ".", (i / 256) % 256, ".", i % 256);
    json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec",
                 {{"clusterIP", ip},
                  {"clusterIPs", {ip}},
                  {"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}};
    RETURN_IF_ERROR(Post("/api/v1/namespaces/default/services", svc));
    json endpoints = json::array();
    for (int e = 0; e < opt_.endpoints_per_service; ++e) {
      const int n = i * opt_.endpoints_per_service + e;
      endpoints.push_back({{"addresses", {absl::StrCat("10.", 128 + n / 65536, ".", (n / 256) % 256,
                                                        ".", n % 256)}},
                           {"conditions", {{"ready", true}}},
                           {"nodeName", "elsewhere"}});
    }
    json slice = {{"apiVersion", "discovery.k8s.io/v1"},
                  {"kind", "EndpointSlice"},
                  {"metadata",
                   {{"name", name + "-1"},
                    {"namespace", "default"},
                    {"labels", {{"kubernetes.io/service-name", name}}}}},
                  {"addressType", "IPv4"},
                  {"endpoints", endpoints},
                  {"ports", {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}}};
    return Post("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", slice);
  }

  absl::Status CreatePodObject(int i) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", PodName(i)}, {"namespace", "default"}}},
                {"spec",
                 {{"nodeName", kNodeName},
                  {"containers", {{{"name", "app"}, {"image", "registry.k8s.io/pause:3.10"}}}}}}};
    return Post("/api/v1/namespaces/default/pods", pod);
  }

  // The API server listens on the node's loopback: the request leaves from it.
  absl::Status Post(const std::string& path, const json& body) {
    NetnsGuard g(node_->path());
    if (!g.ok()) return absl::InternalError("enter " + node_->name());
    kubeprism::Request req;
    req.verb = "POST";
    req.path = path;
    req.body = body.dump();
    ASSIGN_OR_RETURN(kubeprism::Response resp, transport_->Do(req));
    if (resp.status != 201 && resp.status != 200) {
      return absl::InternalError(absl::StrCat("POST ", path, ": HTTP ", resp.status, ": ", resp.body));
    }
    return absl::OkStatus();
  }

  absl::Status StartWeftAgent() {
    const std::string& d = dir_.path();
    // The kube-proxy replacement's socket programs go on a cgroup of this
    // run, never on the machine's root.
    ASSIGN_OR_RETURN(std::string cgroup_root, weft::cgroup::V2Root());
    cgroup_ = absl::StrCat(cgroup_root, "/", weft::testing::UniqueName("weft-b"));
    RETURN_IF_ERROR(weft::cgroup::Create(cgroup_));
    std::string config = absl::StrCat("nodeName: ", kNodeName, "\n",          //
                                      "kubeconfig: ", kubeconfig_, "\n",      //
                                      "devices: [", native_, "]\n",           //
                                      "stateDir: ", d, "/state\n",            //
                                      "runDir: ", d, "/run\n",                //
                                      "bpffsDir: ", pins_, "\n",              //
                                      "cniBinDir: ", d, "/bin\n",             //
                                      "cniConfDir: ", d, "/net.d\n",          //
                                      "cniPlugin: ", Runfile("agent/cni/weft-cni"), "\n",
                                      "kubeProxyReplacement:\n  cgroupPath: ", cgroup_, "\n");
    RETURN_IF_ERROR(WriteAll(d + "/agent.yaml", config));
    SpawnOptions o;
    o.netns_path = node_->path();
    o.stdout_file = d + "/agent.log";
    ASSIGN_OR_RETURN(agent_, Spawn({Runfile("agent/daemon/weft-agent"), "--config", d + "/agent.yaml"}, o));
    std::string conflist = d + "/net.d/10-weft.conflist";
    absl::Status up = WaitFor("weft-agent to install its conflist", 30000, [&] {
      return access(conflist.c_str(), F_OK) == 0 && access((d + "/run/weft.sock").c_str(), F_OK) == 0;
    });
    if (!up.ok()) return absl::Status(up.code(), absl::StrCat(up.message(), "; agent log:\n", ReadAll(o.stdout_file)));
    // What containerd does with a conflist: each plugin's config gets the
    // list's name and cniVersion.
    json list = json::parse(ReadAll(conflist), nullptr, false);
    if (list.is_discarded() || !list["plugins"].is_array() || list["plugins"].empty()) {
      return absl::InternalError("unreadable conflist " + conflist);
    }
    json conf = list["plugins"][0];
    conf["name"] = list["name"];
    conf["cniVersion"] = list["cniVersion"];
    conf_file_ = d + "/stdin.json";
    RETURN_IF_ERROR(WriteAll(conf_file_, conf.dump()));
    plugin_ = d + "/bin/weft-cni";
    cni_path_ = d + "/bin";
    return absl::OkStatus();
  }

  absl::Status StartNodeAgent() {
    const std::string& d = dir_.path();
    std::string socket = d + "/run/weft.sock";
    RETURN_IF_ERROR(Sh("mkdir -p " + d + "/run " + d + "/state"));
    SpawnOptions o;
    o.netns_path = node_->path();
    o.stdout_file = d + "/agent.log";
    ASSIGN_OR_RETURN(agent_, Spawn({Runfile("agent/cni/testing/node_agent"), "--socket", socket,
                                    "--state-dir", d + "/state", "--pin-dir", pins_, "--pod-cidr",
                                    kPodCidr},
                                   o));
    RETURN_IF_ERROR(WaitFor("node_agent's socket", 20000,
                            [&] { return access(socket.c_str(), F_OK) == 0; }));
    json conf = {{"cniVersion", "1.0.0"}, {"name", "weft"}, {"type", "weft-cni"}, {"agentSocket", socket}};
    conf_file_ = d + "/stdin.json";
    RETURN_IF_ERROR(WriteAll(conf_file_, conf.dump()));
    plugin_ = Runfile("agent/cni/weft-cni");
    cni_path_ = plugin_.substr(0, plugin_.rfind('/'));
    return absl::OkStatus();
  }

  // One plugin invocation, timed from fork to exit; an error unless it succeeds.
  absl::StatusOr<double> Cni(const std::string& command, const std::string& pod_name,
                             const ScopedNetns* pod) {
    RETURN_IF_ERROR(CheckNotStopping());
    SpawnOptions o;
    o.netns_path = node_->path();
    o.clear_env = true;
    o.merge_stderr = false;
    o.stdin_file = conf_file_;
    o.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND=" + command, "CNI_IFNAME=eth0",
             "CNI_PATH=" + cni_path_};
    if (!pod_name.empty()) {
      o.env.push_back(absl::StrCat("CNI_CONTAINERID=", pod_name, "-", getpid()));
      o.env.push_back(absl::StrCat("CNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME=", pod_name));
    }
    if (pod != nullptr) o.env.push_back("CNI_NETNS=" + pod->path());
    std::string out;
    int64_t t0 = MonotonicNanos();
    ASSIGN_OR_RETURN(int rc, RunCapture({plugin_}, &out, o));
    double ms = static_cast<double>(MonotonicNanos() - t0) / 1e6;
    RETURN_IF_ERROR(CheckNotStopping());
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("weft-cni ", command, " ", pod_name, " exited ", rc, ": ", out));
    }
    if (command == "ADD" && first_pod_ip_.empty()) {
      json r = json::parse(out, nullptr, false);
      if (!r.is_discarded() && r["ips"].is_array() && !r["ips"].empty()) {
        std::string a = r["ips"][0].value("address", "");
        first_pod_ip_ = a.substr(0, a.find('/'));
      }
      if (first_pod_ip_.empty()) return absl::InternalError("ADD result without an address: " + out);
    }
    return ms;
  }

  const Options opt_;
  TempDir dir_;
  std::unique_ptr<ScopedNetns> node_;
  std::vector<std::unique_ptr<ScopedNetns>> pods_;
  std::string pins_, cgroup_, native_, kubeconfig_, conf_file_, plugin_, cni_path_, first_pod_ip_;
  std::unique_ptr<kubeprism::Transport> transport_;
  Child apiserver_, agent_;
};

}  // namespace
}  // namespace weft::bench

int main(int argc, char** argv) {
  weft::bench::InstallStopHandler();
  cxxopts::Options spec("cni_bench", "CNI ADD/DEL latency and agent memory");
  spec.add_options()("pods", "pods to ADD (then DEL)", cxxopts::value<int>()->default_value("200"))(
      "rss-pods", "pod count at which the agent's memory is the result",
      cxxopts::value<int>()->default_value("100"))(
      "version-runs", "baseline VERSION invocations", cxxopts::value<int>()->default_value("100"))(
      "agent", "weft-agent (with the lab API server) or node_agent (test-only, no API server)",
      cxxopts::value<std::string>()->default_value("weft-agent"))(
      "services", "Services in the API server before the agent starts (0: none)",
      cxxopts::value<int>()->default_value("0"))(
      "endpoints-per-service", "endpoints of each of those Services",
      cxxopts::value<int>()->default_value("5"))("h,help", "this help");
  weft::bench::Options opt;
  try {
    auto parsed = spec.parse(argc, argv);
    if (parsed.count("help")) {
      std::cout << spec.help();
      return 0;
    }
    opt.pods = parsed["pods"].as<int>();
    opt.rss_pods = parsed["rss-pods"].as<int>();
    opt.version_runs = parsed["version-runs"].as<int>();
    opt.agent = parsed["agent"].as<std::string>();
    opt.services = parsed["services"].as<int>();
    opt.endpoints_per_service = parsed["endpoints-per-service"].as<int>();
  } catch (const std::exception& e) {
    std::cerr << "cni_bench: " << e.what() << "\n";
    return 2;
  }
  if (opt.pods < 1 || opt.pods > 500 || opt.rss_pods < 1 || opt.rss_pods > opt.pods ||
      opt.version_runs < 1 || (opt.agent != "weft-agent" && opt.agent != "node_agent")) {
    std::cerr << "cni_bench: 1 <= --rss-pods <= --pods <= 500, --version-runs >= 1, "
                 "--agent weft-agent|node_agent\n";
    return 2;
  }
  if (!weft::testing::HaveRoot()) {
    std::cerr << "cni_bench: needs root (namespaces, BPF)\n";
    return 2;
  }
  absl::Status s;
  {
    weft::bench::CniBench bench(opt);
    s = bench.Run();
  }
  return weft::bench::ExitCode("cni_bench", s);
}
