// Pod-to-pod TCP through Weft's BPF datapath against two baselines built from
// identical namespaces in the same run:
//   plain  kernel routing: pod veths, /32 host routes, node-to-node routes;
//   vxlan  an overlay of Flannel's shape (VNI 1, UDP 8472, onlink next hop,
//          permanent neighbour + fdb entry, pod MTU 1450);
//   weft   Datapath::Load per node, endpoints written, weft_from_container on
//          the pod veths, AttachNetdev on the node device, a native route to
//          the other node's pod CIDR, and NO host routes to the pods: a pod is
//          reachable only through the BPF programs, so every byte measured went
//          through them.
// and, for transparent encryption (--modes wg,weft-wg), two WireGuard tunnels:
//   wg       bare wireguard-go: plain's kernel routing, a wireguard-go per node
//            configured with `wg` (keys from `wg genkey`), the other node's pod
//            CIDR routed `dev <wg>`; pod MTU 1420;
//   weft-wg  Weft with encryption as the agent sets it up: weft's datapath, the
//            device from wireguard::OpenDevice (userspace backend) configured
//            with Device::Apply, the router address on it, and the route the
//            agent installs (PlanPeers/PeerRoutes/ApplyRoutes: `<cidr> via
//            <peer InternalIP> dev <wg> onlink src <router address>`); pod MTU
//            1420. Decrypted packets come out of the TUN device into the node's
//            stack, which delivers them with the /32 host routes weft-cni
//            installs (no Weft program on the WireGuard device), so this mode
//            has them.
// Two "nodes" are network namespaces joined by a veth (the L2 segment); each
// topology has two pods on node 1 and one on node 2.
//
//   bazel run -c opt //integration/bench:datapath_bench [-- --runs 5 --seconds 4 --wire both]
//   bazel run -c opt //integration/bench:datapath_bench -- --modes wg,weft-wg --wire segmented
//
// Measured, interleaved per run (the starting topology rotates) so that other
// work on the machine spreads over all of them: iperf3 one-stream throughput pod
// -> pod on the other node and pod -> pod on the same node, and a 1-byte TCP
// request/response loop over one connection (client and server threads pinned
// to one CPU by default). Each measurement starts on idle CPUs when it can and
// is repeated when other work overlapped it. The node link is measured twice:
// as a plain veth, which passes 64 KB GSO packets whole (VXLAN-encapsulated
// ones too, so the overlay's per-packet cost nearly vanishes), and segmented
// (TSO/GSO off, GRO on: 1500-byte frames on the wire, as between real nodes).
// The WireGuard modes also time a node joining: peers removed on both nodes,
// then configured again, until the first TCP echo crosses the tunnel.
// Reported: median and best of the runs, and the ratios weft/plain,
// weft/vxlan and weft-wg/wg; absolute numbers vary from run to run and
// machine to machine.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include <cstdio>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <cxxopts.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/datapath/datapath.h"
#include "agent/encryption/peers.h"
#include "agent/netlink/netlink.h"
#include "agent/routing/planner.h"
#include "agent/routing/reconciler.h"
#include "agent/wireguard/device.h"
#include "agent/wireguard/keys.h"
#include "agent/wireguard/select.h"
#include "agent/wireguard/uapi.h"
#include "common/net/ip.h"
#include "common/net/mac.h"
#include "common/status_macros.h"
#include "common/testing/netns.h"
#include "integration/bench/bench_util.h"
#include "nlohmann/json.hpp"

namespace weft::bench {
namespace {

using nlohmann::json;
using weft::testing::NetnsGuard;
using weft::testing::ScopedNetns;

constexpr char kGateway[] = "169.254.1.1";  // the pods' link-local gateway (as weft-cni sets it)
constexpr char kClusterCidr[] = "10.244.0.0/16";
constexpr int kVxlanMtu = 1450;  // Flannel: device MTU - 50
constexpr int kIperfPort = 5201;  // inside the server pod's own namespace: nothing else listens there
constexpr int kWireGuardMtu = 1420;   // wireguard-go's default; pods get the same (80 bytes of overhead)
constexpr uint16_t kWireGuardPort = 51871;  // inside the node namespaces
constexpr int kJoinPollMs = 5;        // handshake-to-traffic: one TCP echo attempt every 5 ms
constexpr int kJoinTimeoutMs = 10000;

enum class Mode { kPlain, kVxlan, kWeft, kWg, kWeftWg };

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kPlain:
      return "plain";
    case Mode::kVxlan:
      return "vxlan";
    case Mode::kWeft:
      return "weft";
    case Mode::kWg:
      return "wg";
    case Mode::kWeftWg:
      return "weft-wg";
  }
  return "?";
}

// Weft's BPF datapath forwards (weft, weft-wg).
bool UsesWeft(Mode m) { return m == Mode::kWeft || m == Mode::kWeftWg; }
// Pod traffic between the nodes goes through a WireGuard tunnel (wg, weft-wg).
bool Encrypted(Mode m) { return m == Mode::kWg || m == Mode::kWeftWg; }

// What the link between the two nodes does with TCP super-packets (GSO).
enum class Wire {
  // A plain veth: 64 KB GSO packets (also VXLAN-encapsulated ones) cross the
  // "wire" whole, so per-packet costs (encapsulation, forwarding, BPF) are paid
  // once per 64 KB. No real NIC link behaves like this.
  kVeth,
  // TSO/GSO off on the node link (the sender segments to 1500-byte frames, as
  // a NIC's TSO would, but on the CPU) and GRO on at the receiver (NAPI, as a
  // NIC driver): per-packet costs are paid per frame, as between real nodes.
  kSegmented,
};

const char* WireName(Wire w) { return w == Wire::kVeth ? "veth" : "segmented"; }

struct Options {
  std::vector<Wire> wires = {Wire::kVeth, Wire::kSegmented};
  int runs = 5;
  int seconds = 4;
  int rr_seconds = 3;
  double max_busy = 0.15;  // wait for CPUs at most this busy before each measurement
  int retries = 2;         // repeats of a measurement that other work overlapped
  bool weft_masquerade = true;
  bool hold = false;
  // CPUs of the request/response client and server threads (-1: unpinned).
  // Default both on one CPU: each transaction is then the datapath's work plus
  // two local context switches, and no cross-CPU wake-up (an IPI, costly and
  // erratic in this VM) decides the number.
  std::string rr_cpus = "same";
  int rr_client_cpu = 0;
  int rr_server_cpu = 0;
  std::vector<Mode> modes = {Mode::kPlain, Mode::kVxlan, Mode::kWeft};
};

struct Pod {
  std::unique_ptr<ScopedNetns> ns;
  std::string ip;
  std::string host_veth;
};

struct Node {
  std::unique_ptr<ScopedNetns> ns;
  int index = 0;            // 1 or 2
  std::string name;         // node<index>: the Node object's name for the peer planner
  std::string underlay_ip;  // 192.168.77.<index>
  std::string pod_cidr;     // 10.244.<index>.0/24
  std::string vtep_ip;      // vxlan: 10.244.<index>.0, Flannel's VTEP address; wg, weft-wg:
                            // the router address on the WireGuard link (/32)
  std::string pin_dir;      // weft
  std::unique_ptr<datapath::Datapath> dp;
  std::vector<Pod> pods;
  // wg, weft-wg: the WireGuard interface (unique per run and node: wireguard-go's
  // UAPI socket /var/run/wireguard/<wg_if>.sock is shared by all namespaces).
  std::string wg_if;
  std::string wg_public;    // base64
  // wg: the wireguard-go we spawned (stopped by its PID) and `wg genkey`'s file.
  Child wg_go;
  std::string wg_key_file;
  // weft-wg: the agent's device, its wireguard-go's pid file, the private key,
  // the peer plan and a netlink socket in the node namespace for the routes.
  std::unique_ptr<wireguard::Device> wg_dev;
  std::string wg_pid_file;
  wireguard::Key wg_private;
  encryption::PeerPlan peers;
  std::unique_ptr<netlink::Netlink> nl;
};

absl::StatusOr<net::Mac> LinkMac(const std::string& ns, const std::string& dev) {
  ASSIGN_OR_RETURN(std::string out, ShOut(absl::StrCat("ip -n ", ns, " -j link show dev ", dev)));
  json j = json::parse(out, nullptr, false);
  net::Mac mac{};
  if (!j.is_array() || j.empty() || !j[0]["address"].is_string() ||
      !net::MacFromString(j[0]["address"].get<std::string>(), &mac)) {
    return absl::InternalError(absl::StrCat("no MAC for ", dev, " in ", ns, ": ", out));
  }
  return mac;
}

absl::StatusOr<int> LinkIndex(const std::string& ns, const std::string& dev) {
  ASSIGN_OR_RETURN(std::string out, ShOut(absl::StrCat("ip -n ", ns, " -j link show dev ", dev)));
  json j = json::parse(out, nullptr, false);
  if (!j.is_array() || j.empty() || !j[0]["ifindex"].is_number_integer()) {
    return absl::InternalError(absl::StrCat("no ifindex for ", dev, " in ", ns, ": ", out));
  }
  return j[0]["ifindex"].get<int>();
}

// One legacy ethtool ioctl (ETHTOOL_S*/G* with an ethtool_value) on `dev` in
// `ns`; ethtool(8) is not needed. Returns the value for the G* commands.
absl::StatusOr<uint32_t> Ethtool(const ScopedNetns& ns, const std::string& dev, uint32_t cmd,
                                 uint32_t value = 0) {
  NetnsGuard g(ns.path());
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (!g.ok() || fd < 0) return absl::InternalError(absl::StrCat("socket in ", ns.name()));
  ethtool_value v{cmd, value};
  ifreq ifr{};
  strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&v);
  int rc = ioctl(fd, SIOCETHTOOL, &ifr);
  int err = errno;
  close(fd);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("ethtool cmd ", cmd, " on ", dev, " in ", ns.name(), ": ",
                                            strerror(err)));
  }
  return v.data;
}

// The node link made to behave like a NIC link (Wire::kSegmented); checked back.
absl::Status SegmentOnTheWire(const ScopedNetns& ns, const std::string& dev) {
  RETURN_IF_ERROR(Ethtool(ns, dev, ETHTOOL_STSO, 0).status());
  RETURN_IF_ERROR(Ethtool(ns, dev, ETHTOOL_SGSO, 0).status());
  RETURN_IF_ERROR(Ethtool(ns, dev, ETHTOOL_SGRO, 1).status());  // veth: enables NAPI + GRO
  ASSIGN_OR_RETURN(uint32_t tso, Ethtool(ns, dev, ETHTOOL_GTSO));
  ASSIGN_OR_RETURN(uint32_t gso, Ethtool(ns, dev, ETHTOOL_GGSO));
  ASSIGN_OR_RETURN(uint32_t gro, Ethtool(ns, dev, ETHTOOL_GGRO));
  if (tso != 0 || gso != 0 || gro != 1) {
    return absl::InternalError(absl::StrCat(dev, " in ", ns.name(), ": tso ", tso, " gso ", gso,
                                            " gro ", gro, " after setting 0/0/1"));
  }
  return absl::OkStatus();
}

// Runs argv (in `ns` when given) to completion; an error with its output unless it exits 0.
absl::StatusOr<std::string> RunOk(const std::vector<std::string>& argv, const ScopedNetns* ns,
                                  const std::string& stdin_file = "") {
  SpawnOptions o;
  if (ns != nullptr) o.netns_path = ns->path();
  o.stdin_file = stdin_file;
  o.merge_stderr = false;
  std::string out;
  ASSIGN_OR_RETURN(int rc, RunCapture(argv, &out, o));
  if (rc != 0) {
    RETURN_IF_ERROR(CheckNotStopping());
    return absl::InternalError(absl::StrCat("`", absl::StrJoin(argv, " "), "`", ns ? " in " : "",
                                            ns ? ns->name() : "", " exited ", rc, ": ", out));
  }
  return out;
}

// A file only we can read (0600), created anew.
absl::Status WritePrivateFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("create ", path, ": ", strerror(errno)));
  bool ok = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  int err = errno;
  close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("write ", path, ": ", strerror(err)));
  return absl::OkStatus();
}

// Handshake-to-traffic probes: a TCP server in a pod that echoes one byte per
// connection, for as long as this object lives.
class EchoServer {
 public:
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(const Pod& pod) {
    std::unique_ptr<EchoServer> e(new EchoServer());
    std::promise<int> port_promise;
    std::future<int> port_future = port_promise.get_future();
    e->thread_ = std::thread([&port_promise, path = pod.ns->path(), raw = e.get()] {
      NetnsGuard g(path);
      int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      socklen_t len = sizeof(addr);
      if (!g.ok() || ls < 0 || bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
          listen(ls, 64) != 0 || getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (ls >= 0) close(ls);
        port_promise.set_value(-1);
        return;
      }
      port_promise.set_value(ntohs(addr.sin_port));
      raw->Serve(ls);
      close(ls);
    });
    int port = port_future.get();
    if (port <= 0) {
      e->thread_.join();
      return absl::InternalError(absl::StrCat("echo server in ", pod.ns->name(), ": cannot listen"));
    }
    e->port_ = port;
    return e;
  }

  ~EchoServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return port_; }

 private:
  EchoServer() = default;

  void Serve(int ls) {
    while (!stop_ && !Stopping()) {
      pollfd pfd{ls, POLLIN, 0};
      if (poll(&pfd, 1, 100) != 1) continue;
      int c = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{0, 200000};  // a probe that gave up never sends its byte
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      char b;
      if (recv(c, &b, 1, 0) == 1) send(c, &b, 1, MSG_NOSIGNAL);
      close(c);
    }
  }

  std::thread thread_;
  std::atomic<bool> stop_{false};
  int port_ = 0;
};

// Waits until `fd` has `events` or `deadline_ns` (MonotonicNanos) passes.
bool WaitFor(int fd, short events, int64_t deadline_ns) {
  for (;;) {
    int64_t left = deadline_ns - MonotonicNanos();
    if (left <= 0) return false;
    timespec ts{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    pollfd pfd{fd, events, 0};
    int r = ppoll(&pfd, 1, &ts, nullptr);
    if (r > 0) return (pfd.revents & events) != 0;
    if (r < 0 && errno != EINTR) return false;
  }
}

// One TCP connect + 1-byte echo to `to` from the calling thread's namespace,
// given up at `deadline_ns`.
bool EchoOnce(const sockaddr_in& to, int64_t deadline_ns) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  bool ok = false;
  if (connect(s, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) == 0 || errno == EINPROGRESS) {
    int err = -1;
    socklen_t len = sizeof(err);
    char b = 'j';
    ok = WaitFor(s, POLLOUT, deadline_ns) && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
         err == 0 && send(s, &b, 1, MSG_NOSIGNAL) == 1 && WaitFor(s, POLLIN, deadline_ns) &&
         recv(s, &b, 1, 0) == 1;
  }
  linger l{1, 0};  // abandoned attempts: no FIN_WAIT/TIME_WAIT left behind
  setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(s);
  return ok;
}

// The wg modes' folders: /tmp/weft-dpbench-wg-<pid>-XXXXXX (keys, pid files, logs).
constexpr char kTmpDirStem[] = "weft-dpbench-wg-";

// Folders of runs whose process is gone (kill -9): they hold private keys.
void RemoveStaleTmpDirs() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/tmp", ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(kTmpDirStem, 0) != 0) continue;
    std::vector<std::string> parts = absl::StrSplit(name.substr(strlen(kTmpDirStem)), '-');
    int pid = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &pid) || pid <= 0) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // its run may still be going
    std::error_code rm;
    std::filesystem::remove_all(entry.path(), rm);
  }
}

struct JoinResult {
  double traffic_ms = 0;    // peers configured on both nodes -> first echo back
  double configure_ms = 0;  // of which: configuring both nodes
  int attempts = 0;
};

class Topology {
 public:
  static absl::StatusOr<std::unique_ptr<Topology>> Create(Mode mode, Wire wire,
                                                          const Options& options) {
    std::unique_ptr<Topology> t(new Topology(mode, wire, options));
    // On failure the partly built topology is torn down by its destructor.
    RETURN_IF_ERROR(t->Build());
    return t;
  }

  ~Topology() {
    echo_.reset();
    servers_.clear();  // iperf3 servers
    StopWireGuard();
    for (auto& n : nodes_) n.dp.reset();
    for (auto& n : nodes_) n.pods.clear();  // pod namespaces (their veths go with them)
    nodes_.clear();                         // node namespaces, links, filters
    for (const auto& pins : pin_dirs_) {
      if (auto s = datapath::RemovePins(pins); !s.ok()) {
        std::cerr << "datapath_bench: remove " << pins << ": " << s << "\n";
      }
    }
    if (!tmp_dir_.empty()) {  // keys, pid files, wireguard-go logs
      std::error_code ec;
      std::filesystem::remove_all(tmp_dir_, ec);
      if (ec) std::cerr << "datapath_bench: remove " << tmp_dir_ << ": " << ec.message() << "\n";
    }
  }

  Mode mode() const { return mode_; }
  const Pod& client() const { return nodes_[0].pods[0]; }
  const Pod& same_node_server() const { return nodes_[0].pods[1]; }
  const Pod& cross_node_server() const { return nodes_[1].pods[0]; }

  std::string Describe() const {
    std::vector<std::string> names;
    for (const auto& n : nodes_) {
      names.push_back(n.ns->name());
      for (const auto& p : n.pods) names.push_back(absl::StrCat(p.ns->name(), " (", p.ip, ")"));
    }
    std::string wg;
    if (Encrypted(mode_)) wg = absl::StrCat("; WireGuard ", nodes_[0].wg_if, ", ", nodes_[1].wg_if);
    return absl::StrCat(ModeName(mode_), " (wire ", WireName(wire_), "): ", absl::StrJoin(names, ", "), wg);
  }

  // iperf3 servers in the two server pods, up and listening when this returns.
  absl::Status StartServers() {
    for (const Pod* p : {&same_node_server(), &cross_node_server()}) {
      SpawnOptions o;
      o.netns_path = p->ns->path();
      o.stdout_file = "/dev/null";
      ASSIGN_OR_RETURN(Child c, Spawn({"iperf3", "-s", "-p", std::to_string(kIperfPort)}, o));
      servers_.push_back(std::move(c));
      bool listening = false;
      for (int i = 0; i < 100 && !listening; ++i) {
        RETURN_IF_ERROR(CheckNotStopping());
        std::string out;
        SpawnOptions in_pod;
        in_pod.netns_path = p->ns->path();
        ASSIGN_OR_RETURN(int rc, RunCapture({"ss", "-Hltn"}, &out, in_pod));
        listening = rc == 0 && out.find(absl::StrCat(":", kIperfPort)) != std::string::npos;
        if (!listening) usleep(50000);
      }
      if (!listening) return absl::DeadlineExceededError(absl::StrCat("iperf3 -s in ", p->ns->name()));
    }
    if (Encrypted(mode_)) {
      ASSIGN_OR_RETURN(echo_, EchoServer::Start(cross_node_server()));
    }
    return absl::OkStatus();
  }

  // Handshake-to-traffic after a node joins: the peers (and for weft-wg their
  // routes, as the agent drops them with the node) are removed on both nodes,
  // so no session is left; then, timed, configured again on both nodes as
  // when a node joins, and a TCP connect + 1-byte echo from the client pod to
  // the cross-node pod is tried every kJoinPollMs until one succeeds.
  absl::StatusOr<JoinResult> MeasureJoin() {
    if (!echo_) return absl::FailedPreconditionError("no echo server");
    RETURN_IF_ERROR(RemovePeers());
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(echo_->port()));
    inet_pton(AF_INET, cross_node_server().ip.c_str(), &to.sin_addr);
    JoinResult r;
    absl::Status status;
    std::thread prober([&] {
      NetnsGuard g(client().ns->path());
      if (!g.ok()) {
        status = absl::InternalError("enter " + client().ns->name());
        return;
      }
      // Without peers nothing may pass, else this measures nothing.
      if (EchoOnce(to, MonotonicNanos() + 50 * 1000000LL)) {
        status = absl::InternalError(absl::StrCat(ModeName(mode_), ": ", cross_node_server().ip,
                                                  " answers with the peers removed"));
        return;
      }
      const int64_t t0 = MonotonicNanos();
      status = AddPeers();
      const int64_t configured = MonotonicNanos();
      if (!status.ok()) return;
      r.configure_ms = static_cast<double>(configured - t0) / 1e6;
      for (int64_t start = configured;; start += kJoinPollMs * 1000000LL) {
        const int64_t next = start + kJoinPollMs * 1000000LL;
        ++r.attempts;
        if (EchoOnce(to, next)) {
          r.traffic_ms = static_cast<double>(MonotonicNanos() - t0) / 1e6;
          return;
        }
        if (Stopping()) return;
        if (next - t0 > kJoinTimeoutMs * 1000000LL) {
          status = absl::DeadlineExceededError(
              absl::StrCat(ModeName(mode_), ": no echo from ", cross_node_server().ip, " within ",
                           kJoinTimeoutMs, " ms of configuring the peers"));
          return;
        }
        int64_t wait = next - MonotonicNanos();  // an attempt that failed early
        if (wait > 0) usleep(static_cast<useconds_t>(wait / 1000));
      }
    });
    prober.join();
    RETURN_IF_ERROR(CheckNotStopping());
    RETURN_IF_ERROR(status);
    return r;
  }

 private:
  Topology(Mode mode, Wire wire, const Options& options)
      : mode_(mode), wire_(wire), options_(options) {}

  absl::Status Build() {
    nodes_.resize(2);
    for (int i = 0; i < 2; ++i) {
      Node& n = nodes_[i];
      n.index = i + 1;
      n.name = absl::StrCat("node", n.index);
      n.ns = std::make_unique<ScopedNetns>(absl::StrCat("b", ModeName(mode_), "-node", n.index));
      if (!n.ns->ok()) return absl::InternalError("create node namespace");
      n.underlay_ip = absl::StrCat("192.168.77.", n.index);
      n.pod_cidr = absl::StrCat("10.244.", n.index, ".0/24");
      n.vtep_ip = absl::StrCat("10.244.", n.index, ".0");
      for (const char* sysctl : {"net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                                 "net.ipv4.conf.default.rp_filter=0"}) {
        RETURN_IF_ERROR(Sh(absl::StrCat("ip netns exec ", n.ns->name(), " sysctl -qw ", sysctl)));
      }
    }
    Node& a = nodes_[0];
    Node& b = nodes_[1];
    // The L2 segment between the nodes.
    under_ = weft::testing::UniqueName("wbu");
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", a.ns->name(), " link add ", under_,
                                    " type veth peer name ", under_, " netns ", b.ns->name())));
    for (Node* n : {&a, &b}) {
      RETURN_IF_ERROR(
          Sh(absl::StrCat("ip -n ", n->ns->name(), " addr add ", n->underlay_ip, "/24 dev ", under_)));
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", n->ns->name(), " link set ", under_, " up")));
      if (wire_ == Wire::kSegmented) RETURN_IF_ERROR(SegmentOnTheWire(*n->ns, under_));
    }
    if (UsesWeft(mode_)) {
      for (Node* n : {&a, &b}) RETURN_IF_ERROR(LoadWeft(*n));
    }
    if (mode_ == Mode::kVxlan) {
      RETURN_IF_ERROR(BuildVxlan(a, b));
    } else if (mode_ == Mode::kWg) {
      RETURN_IF_ERROR(BuildBareWireGuard(a, b));
    } else if (mode_ == Mode::kWeftWg) {
      RETURN_IF_ERROR(BuildWeftWireGuard(a, b));
    } else {
      // Native routing: the other node's pod CIDR via its underlay address.
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", a.ns->name(), " route add ", b.pod_cidr, " via ",
                                      b.underlay_ip, " dev ", under_)));
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", b.ns->name(), " route add ", a.pod_cidr, " via ",
                                      a.underlay_ip, " dev ", under_)));
    }
    a.pods.reserve(2);
    RETURN_IF_ERROR(AddPod(a, "10.244.1.10"));
    RETURN_IF_ERROR(AddPod(a, "10.244.1.11"));
    RETURN_IF_ERROR(AddPod(b, "10.244.2.10"));
    return Ping();
  }

  absl::Status LoadWeft(Node& n) {
    n.pin_dir = absl::StrCat("/sys/fs/bpf/", weft::testing::UniqueName("weft-b"));
    pin_dirs_.push_back(n.pin_dir);
    ASSIGN_OR_RETURN(int under_index, LinkIndex(n.ns->name(), under_));
    NetnsGuard g(n.ns->path());
    if (!g.ok()) return absl::InternalError("enter " + n.ns->name());
    ASSIGN_OR_RETURN(n.dp, datapath::Datapath::Load(n.pin_dir));
    datapath::NetdevOptions netdev;
    netdev.masquerade = options_.weft_masquerade;  // the agent's default: on
    netdev.masquerade_ipv4 = *net::IpAddress::Parse(n.underlay_ip);
    RETURN_IF_ERROR(n.dp->AttachNetdev(under_index, netdev));
    RETURN_IF_ERROR(n.dp->SetNonMasqueradeCidrs({*net::IpPrefix::Parse(kClusterCidr)}));
    return absl::OkStatus();
  }

  // Flannel's vxlan backend: flannel.1 with the node's VTEP address, and per
  // remote node a route "<cidr> via <vtep ip> dev flannel.1 onlink", a
  // permanent neighbour for that VTEP address and an fdb entry to the node.
  absl::Status BuildVxlan(Node& a, Node& b) {
    vxlan_ = weft::testing::UniqueName("wbv");
    std::map<int, net::Mac> vtep_mac;
    for (Node* n : {&a, &b}) {
      std::string ns = n->ns->name();
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " link add ", vxlan_, " type vxlan id 1 local ",
                                      n->underlay_ip, " dev ", under_, " dstport 8472 nolearning")));
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " link set ", vxlan_, " mtu ", kVxlanMtu, " up")));
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " addr add ", n->vtep_ip, "/32 dev ", vxlan_)));
      ASSIGN_OR_RETURN(vtep_mac[n->index], LinkMac(ns, vxlan_));
    }
    for (auto [self, peer] : {std::make_pair(&a, &b), std::make_pair(&b, &a)}) {
      std::string ns = self->ns->name();
      std::string mac = net::MacToString(vtep_mac[peer->index]);
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " neigh replace ", peer->vtep_ip, " lladdr ", mac,
                                      " dev ", vxlan_, " nud permanent")));
      RETURN_IF_ERROR(Sh(absl::StrCat("ip netns exec ", ns, " bridge fdb append ", mac, " dev ",
                                      vxlan_, " dst ", peer->underlay_ip)));
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " route add ", peer->pod_cidr, " via ",
                                      peer->vtep_ip, " dev ", vxlan_, " onlink")));
    }
    return absl::OkStatus();
  }

  // Keys, pid files and wireguard-go's logs: a 0700 folder removed with the topology.
  absl::Status MakeTmpDir() {
    std::string tmpl = absl::StrCat("/tmp/", kTmpDirStem, getpid(), "-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, ": ", strerror(errno)));
    }
    tmp_dir_ = tmpl;
    return absl::OkStatus();
  }

  // wg: a bare wireguard-go tunnel over plain kernel routing, set up the way
  // an administrator would with wireguard-go and wg(8).
  absl::Status BuildBareWireGuard(Node& a, Node& b) {
    RETURN_IF_ERROR(MakeTmpDir());
    for (Node* n : {&a, &b}) {
      n->wg_if = weft::testing::UniqueName("wbg");
      SpawnOptions o;
      o.netns_path = n->ns->path();
      o.stdout_file = absl::StrCat(tmp_dir_, "/", n->wg_if, ".log");
      // In a session of its own, as a daemonized wireguard-go runs and as the
      // agent starts it (new_session): with the scheduler's autogroups
      // (kernel.sched_autogroup_enabled) each session is one CPU-share unit,
      // and a wireguard-go sharing the bench's session with the iperf3s is
      // preempted less and measured ~25% faster than weft-wg's (README).
      // setsid(1) and setpriv(1) exec in place (the child is no process group
      // leader), so the PID stays the one we stop; SIGTERM when the bench dies
      // without cleaning up (kill -9), as weft-wg's terminate_with_parent.
      ASSIGN_OR_RETURN(n->wg_go, Spawn({"setsid", "setpriv", "--pdeathsig", "TERM", "wireguard-go", "-f",
                                        n->wg_if},
                                       o));
      bool up = false;
      for (int i = 0; i < 250 && !up; ++i) {  // its UAPI socket answers: up to 5 s
        RETURN_IF_ERROR(CheckNotStopping());
        std::string out;
        ASSIGN_OR_RETURN(int rc, RunCapture({"wg", "show", n->wg_if, "listen-port"}, &out));
        up = rc == 0;
        if (!up) usleep(20000);
      }
      if (!up) {
        return absl::DeadlineExceededError(
            absl::StrCat("wireguard-go ", n->wg_if, " in ", n->ns->name(), " did not answer within 5 s"));
      }
      n->wg_key_file = absl::StrCat(tmp_dir_, "/", n->wg_if, ".key");
      ASSIGN_OR_RETURN(std::string key, RunOk({"wg", "genkey"}, nullptr));
      RETURN_IF_ERROR(WritePrivateFile(n->wg_key_file, key));
      ASSIGN_OR_RETURN(std::string pub, RunOk({"wg", "pubkey"}, nullptr, n->wg_key_file));
      n->wg_public = std::string(absl::StripAsciiWhitespace(pub));
      RETURN_IF_ERROR(RunOk({"wg", "set", n->wg_if, "private-key", n->wg_key_file, "listen-port",
                             std::to_string(kWireGuardPort)},
                            n->ns.get())
                          .status());
      std::string ns = n->ns->name();
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " link set ", n->wg_if, " mtu ", kWireGuardMtu, " up")));
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " addr add ", n->vtep_ip, "/32 dev ", n->wg_if)));
    }
    RETURN_IF_ERROR(AddPeers());
    for (auto [self, peer] : {std::make_pair(&a, &b), std::make_pair(&b, &a)}) {
      RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", self->ns->name(), " route add ", peer->pod_cidr,
                                      " dev ", self->wg_if)));
    }
    return absl::OkStatus();
  }

  // weft-wg: WireGuard as the agent runs it, on top of Weft's datapath:
  // OpenDevice (userspace backend, in the node namespace), Device::Apply with
  // the peers PlanPeers derives from the two Node objects, the router address
  // (RouterAddress) on the link, and PeerRoutes applied by ApplyRoutes.
  absl::Status BuildWeftWireGuard(Node& a, Node& b) {
    RETURN_IF_ERROR(MakeTmpDir());
    std::vector<routing::NodeInfo> infos;
    std::map<std::string, std::string> keys;  // the nodes' key annotations
    for (Node* n : {&a, &b}) {
      n->wg_if = weft::testing::UniqueName("wbw");
      n->wg_private = wireguard::GeneratePrivateKey();
      n->wg_public = wireguard::ToBase64(wireguard::PublicKey(n->wg_private));
      infos.push_back(
          {n->name, {*net::IpAddress::Parse(n->underlay_ip)}, {*net::IpPrefix::Parse(n->pod_cidr)}});
      keys[n->name] = n->wg_public;
    }
    for (Node* n : {&a, &b}) {
      wireguard::OpenOptions open;
      open.ifname = n->wg_if;
      open.backend = wireguard::Backend::kUserspace;
      open.mtu = kWireGuardMtu;
      open.netns_path = n->ns->path();
      open.pid_file = absl::StrCat(tmp_dir_, "/", n->wg_if, ".pid");
      open.log_file = absl::StrCat(tmp_dir_, "/", n->wg_if, ".log");
      // SIGTERM to wireguard-go should this process die without cleaning up.
      open.terminate_with_parent = true;
      n->wg_pid_file = open.pid_file;  // stopped by the destructor from here on
      ASSIGN_OR_RETURN(n->wg_dev, wireguard::OpenDevice(open));
      ASSIGN_OR_RETURN(n->nl, netlink::Netlink::OpenInNamespace(n->ns->path()));
      std::optional<net::IpAddress> router = encryption::RouterAddress({*net::IpPrefix::Parse(n->pod_cidr)});
      if (!router || router->ToString() != n->vtep_ip) {
        return absl::InternalError(absl::StrCat("router address of ", n->pod_cidr, " is not ", n->vtep_ip));
      }
      ASSIGN_OR_RETURN(netlink::Link link, n->nl->GetLink(n->wg_if));
      RETURN_IF_ERROR(n->nl->AddAddress(link.index, *router, 32));
      n->peers = encryption::PlanPeers(n->name, wireguard::PublicKey(n->wg_private), infos, keys,
                                       kWireGuardPort);
      if (n->peers.peers.size() != 1 || !n->peers.problems.empty()) {
        return absl::InternalError(absl::StrCat(n->name, ": planned ", n->peers.peers.size(), " peers (",
                                                absl::StrJoin(n->peers.problems, "; "), ")"));
      }
    }
    return AddPeers();
  }

  // The routes the agent wants on `n` for its peers (empty: none).
  std::vector<routing::Route> WantedRoutes(const Node& n, bool with_peers) const {
    if (!with_peers) return {};
    return encryption::PeerRoutes(n.peers, n.wg_if,
                                  encryption::RouterAddress({*net::IpPrefix::Parse(n.pod_cidr)}));
  }

  // The device configuration the agent applies on `n`.
  wireguard::DeviceConfig WantedDevice(const Node& n, bool with_peers) const {
    wireguard::DeviceConfig c;
    c.private_key = n.wg_private;
    c.listen_port = kWireGuardPort;
    if (with_peers) {
      for (const auto& p : n.peers.peers) c.peers.push_back(p.config);
    }
    return c;
  }

  // Configures each node's peer (a node joins); weft-wg also its routes.
  absl::Status AddPeers() { return ConfigurePeers(true); }
  // Removes them again, ending every session.
  absl::Status RemovePeers() { return ConfigurePeers(false); }

  absl::Status ConfigurePeers(bool with_peers) {
    for (int i = 0; i < 2; ++i) {
      Node& n = nodes_[i];
      const Node& other = nodes_[1 - i];
      if (mode_ == Mode::kWg) {
        std::vector<std::string> argv = {"wg", "set", n.wg_if, "peer", other.wg_public};
        if (with_peers) {
          argv.insert(argv.end(), {"endpoint", absl::StrCat(other.underlay_ip, ":", kWireGuardPort),
                                   "allowed-ips", other.pod_cidr});
        } else {
          argv.push_back("remove");
        }
        RETURN_IF_ERROR(RunOk(argv, n.ns.get()).status());
        continue;
      }
      if (mode_ != Mode::kWeftWg) return absl::FailedPreconditionError("no WireGuard in this mode");
      if (auto s = n.wg_dev->Apply(WantedDevice(n, with_peers)); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(n.name, ": ", s.message()));
      }
      routing::ApplyResult applied = routing::ApplyRoutes(*n.nl, WantedRoutes(n, with_peers), {n.wg_if});
      if (!applied.problems.empty()) {
        return absl::InternalError(absl::StrCat(n.name, ": routes: ", absl::StrJoin(applied.problems, "; ")));
      }
    }
    return absl::OkStatus();
  }

  // The wireguard-go processes we started, by PID; their sockets.
  void StopWireGuard() {
    for (auto& n : nodes_) {
      n.wg_dev.reset();
      if (!n.wg_pid_file.empty()) {
        if (auto s = wireguard::StopUserspaceDevice(n.wg_pid_file, n.wg_if); !s.ok()) {
          std::cerr << "datapath_bench: " << s << "\n";
        }
      }
      if (n.wg_go.running()) {
        n.wg_go.Terminate(2000);
        // Killed (Ctrl-C SIGKILLs the children), it leaves its socket behind;
        // the name is this run's own.
        unlink(wireguard::UapiSocketPath(n.wg_if).c_str());
      }
    }
  }

  // A pod wired the way weft-cni wires it: /32 on eth0, default route via the
  // link-local gateway pinned to the host veth's MAC.
  absl::Status AddPod(Node& node, const std::string& ip) {
    node.pods.emplace_back();
    Pod& p = node.pods.back();
    p.ns = std::make_unique<ScopedNetns>(absl::StrCat("b", ModeName(mode_), "-pod"));
    if (!p.ns->ok()) return absl::InternalError("create pod namespace");
    p.ip = ip;
    p.host_veth = weft::testing::UniqueName("wbl");
    const std::string& nns = node.ns->name();
    const std::string& pns = p.ns->name();
    int mtu = mode_ == Mode::kVxlan ? kVxlanMtu : Encrypted(mode_) ? kWireGuardMtu : 1500;
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", nns, " link add ", p.host_veth,
                                    " type veth peer name eth0 netns ", pns)));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", nns, " link set ", p.host_veth, " mtu ", mtu, " up")));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", pns, " link set eth0 mtu ", mtu, " up")));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", pns, " addr add ", ip, "/32 dev eth0")));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", pns, " route add ", kGateway, " dev eth0 scope link")));
    RETURN_IF_ERROR(
        Sh(absl::StrCat("ip -n ", pns, " route add default via ", kGateway, " dev eth0 onlink")));
    ASSIGN_OR_RETURN(net::Mac host_mac, LinkMac(nns, p.host_veth));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", pns, " neigh replace ", kGateway, " lladdr ",
                                    net::MacToString(host_mac), " dev eth0 nud permanent")));
    // weft: none, only the BPF programs deliver. weft-wg: decrypted packets
    // leave the TUN device into the stack (no Weft program there), which
    // delivers them with this route, as weft-cni installs it.
    if (mode_ != Mode::kWeft) {
      RETURN_IF_ERROR(
          Sh(absl::StrCat("ip -n ", nns, " route add ", ip, "/32 dev ", p.host_veth, " scope link")));
    }
    if (!UsesWeft(mode_)) return absl::OkStatus();
    ASSIGN_OR_RETURN(net::Mac pod_mac, LinkMac(pns, "eth0"));
    ASSIGN_OR_RETURN(int host_index, LinkIndex(nns, p.host_veth));
    NetnsGuard g(node.ns->path());
    if (!g.ok()) return absl::InternalError("enter " + nns);
    datapath::Endpoint ep;
    ep.ip = *net::IpAddress::Parse(ip);
    ep.ifindex = host_index;
    ep.mac = pod_mac;
    ep.node_mac = host_mac;
    RETURN_IF_ERROR(node.dp->endpoints().Upsert(ep));
    return node.dp->AttachFromContainer(host_index);
  }

  absl::Status Ping() {
    for (const Pod* to : {&same_node_server(), &cross_node_server()}) {
      absl::Status s = Sh(absl::StrCat("ip netns exec ", client().ns->name(), " ping -c 1 -W 2 ", to->ip));
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat(ModeName(mode_), ": ", client().ip, " cannot reach ",
                                                    to->ip, ": ", s.message()));
      }
    }
    return absl::OkStatus();
  }

  const Mode mode_;
  const Wire wire_;
  const Options options_;
  std::string under_, vxlan_;
  std::string tmp_dir_;  // wg, weft-wg
  std::vector<Node> nodes_;
  std::vector<std::string> pin_dirs_;
  std::vector<Child> servers_;
  std::unique_ptr<EchoServer> echo_;  // wg, weft-wg: the handshake-to-traffic probes' server
};

struct IperfResult {
  double gbps = 0;
  int64_t retransmits = 0;
};

absl::StatusOr<IperfResult> Iperf(const Pod& from, const Pod& to, int seconds) {
  RETURN_IF_ERROR(CheckNotStopping());
  SpawnOptions o;
  o.netns_path = from.ns->path();
  o.merge_stderr = false;
  std::string out;
  // -O 1: the first second (slow start) is left out of the totals.
  ASSIGN_OR_RETURN(int rc, RunCapture({"iperf3", "-c", to.ip, "-p", std::to_string(kIperfPort), "-t",
                                       std::to_string(seconds), "-O", "1", "-J"},
                                      &out, o));
  RETURN_IF_ERROR(CheckNotStopping());
  json j = json::parse(out, nullptr, false);
  if (rc != 0 || j.is_discarded() || j.contains("error")) {
    return absl::InternalError(absl::StrCat("iperf3 ", from.ip, " -> ", to.ip, " exited ", rc, ": ",
                                            j.is_discarded() ? out : j.value("error", out)));
  }
  IperfResult r;
  r.gbps = j["end"]["sum_received"]["bits_per_second"].get<double>() / 1e9;
  r.retransmits = j["end"]["sum_sent"].value("retransmits", int64_t{0});
  return r;
}

struct RrResult {
  double tps = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// One TCP connection, 1 byte each way per transaction, for `seconds`. Client
// and server are threads of this process that entered the pods' namespaces.
void PinThread(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);  // 0: the calling thread
}

absl::StatusOr<RrResult> RequestResponse(const Pod& from, const Pod& to, const Options& opt) {
  const int seconds = opt.rr_seconds;
  RETURN_IF_ERROR(CheckNotStopping());
  std::promise<int> port_promise;
  std::future<int> port_future = port_promise.get_future();
  std::string server_error;
  std::thread server([&] {
    PinThread(opt.rr_server_cpu);
    NetnsGuard g(to.ns->path());
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    socklen_t len = sizeof(addr);
    if (!g.ok() || ls < 0 || bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(ls, 1) != 0 || getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      server_error = absl::StrCat("listen in ", to.ns->name(), ": ", strerror(errno));
      if (ls >= 0) close(ls);
      port_promise.set_value(-1);
      return;
    }
    port_promise.set_value(ntohs(addr.sin_port));
    pollfd pfd{ls, POLLIN, 0};
    if (poll(&pfd, 1, 10000) != 1) {
      server_error = "no connection within 10 s";
      close(ls);
      return;
    }
    int c = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    close(ls);
    if (c < 0) {
      server_error = absl::StrCat("accept: ", strerror(errno));
      return;
    }
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char b;
    while (recv(c, &b, 1, 0) == 1) {
      if (send(c, &b, 1, MSG_NOSIGNAL) != 1) break;
    }
    close(c);
  });
  int port = port_future.get();
  RrResult result;
  std::string client_error;
  if (port > 0) {
    std::thread client([&] {
      PinThread(opt.rr_client_cpu);
      NetnsGuard g(from.ns->path());
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, to.ip.c_str(), &addr.sin_addr);
      if (!g.ok() || s < 0 || connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        client_error = absl::StrCat("connect ", to.ip, ":", port, ": ", strerror(errno));
        if (s >= 0) close(s);
        return;
      }
      int one = 1;
      setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      std::vector<double> lat_us;
      lat_us.reserve(2000000);
      const int64_t start = MonotonicNanos();
      const int64_t end = start + static_cast<int64_t>(seconds) * 1000000000;
      int64_t now = start;
      char b = 'x';
      while (now < end) {
        int64_t t0 = now;
        if (send(s, &b, 1, MSG_NOSIGNAL) != 1 || recv(s, &b, 1, 0) != 1) {
          client_error = absl::StrCat("transaction ", lat_us.size(), ": ", strerror(errno));
          break;
        }
        now = MonotonicNanos();
        lat_us.push_back(static_cast<double>(now - t0) / 1000.0);
        if ((lat_us.size() & 1023) == 0 && Stopping()) break;
      }
      close(s);
      result.tps = static_cast<double>(lat_us.size()) / (static_cast<double>(now - start) / 1e9);
      result.p50_us = Percentile(lat_us, 50);
      result.p99_us = Percentile(lat_us, 99);
    });
    client.join();
  }
  server.join();
  RETURN_IF_ERROR(CheckNotStopping());
  if (!server_error.empty() || !client_error.empty()) {
    return absl::InternalError(absl::StrCat("request/response ", from.ip, " -> ", to.ip, ": ",
                                            server_error, client_error));
  }
  return result;
}

struct Samples {
  std::vector<double> cross_gbps, same_gbps, cross_retr, rr_tps, rr_p50, rr_p99;
  std::vector<double> join_ms, join_configure_ms;  // wg, weft-wg
  int disturbed = 0;  // runs that other work on the machine overlapped
};

double Max(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }

std::string Fmt(double v, int precision = 2) { return absl::StrFormat("%.*f", precision, v); }

std::string Row(const std::string& label, const std::vector<Mode>& modes,
                const std::function<std::string(Mode)>& cell) {
  std::string line = absl::StrFormat("%-40s", label);
  for (Mode m : modes) absl::StrAppend(&line, absl::StrFormat("%16s", cell(m)));
  return line;
}

std::string Goal(double ratio, double goal) {
  int precision = std::fabs(goal * 10 - std::round(goal * 10)) > 1e-9 ? 2 : 1;  // 1.0x, 1.3x, 0.95x
  return absl::StrFormat("(goal >= %.*fx: %s)", precision, goal, ratio >= goal ? "met" : "NOT met");
}

// Builds the topologies over one kind of node link, measures, prints.
absl::Status RunWire(const Options& opt, Wire wire) {
  std::printf("\n=== node link: %s ===\n", WireName(wire));
  std::vector<std::unique_ptr<Topology>> topologies;
  for (Mode m : opt.modes) {
    RETURN_IF_ERROR(CheckNotStopping());
    ASSIGN_OR_RETURN(auto t, Topology::Create(m, wire, opt));
    RETURN_IF_ERROR(t->StartServers());
    std::printf("built %s\n", t->Describe().c_str());
    topologies.push_back(std::move(t));
  }
  std::fflush(stdout);
  if (opt.hold) {
    std::printf("--hold: topologies are up; Ctrl-C (or SIGTERM to pid %d) removes them\n", getpid());
    std::fflush(stdout);
    while (!Stopping()) usleep(200000);
    return absl::OkStatus();
  }

  std::printf("%d runs; iperf3 one stream x %d s (first second omitted); request/response 1 byte x %d s "
              "(threads on CPUs: %s); load average %.2f; %ld CPUs\n",
              opt.runs, opt.seconds, opt.rr_seconds, opt.rr_cpus.c_str(), LoadAverage1(),
              sysconf(_SC_NPROCESSORS_ONLN));
  std::map<Mode, Samples> samples;
  int name_width = 5;
  for (Mode m : opt.modes) name_width = std::max(name_width, static_cast<int>(strlen(ModeName(m))));
  for (int run = 0; run < opt.runs; ++run) {
    for (size_t k = 0; k < topologies.size(); ++k) {
      Topology& t = *topologies[(k + static_cast<size_t>(run)) % topologies.size()];
      Samples& s = samples[t.mode()];
      // Other work on the machine only ever lowers these numbers: start each
      // measurement on idle CPUs when possible, look again right after, and
      // repeat a measurement that other work overlapped (up to --retries).
      IperfResult cross, same;
      RrResult rr;
      double busy_before = 0, busy_after = 0;
      for (int attempt = 0;; ++attempt) {
        ASSIGN_OR_RETURN(busy_before, WaitForQuietCpus(opt.max_busy, 30000));
        ASSIGN_OR_RETURN(cross, Iperf(t.client(), t.cross_node_server(), opt.seconds));
        ASSIGN_OR_RETURN(same, Iperf(t.client(), t.same_node_server(), opt.seconds));
        ASSIGN_OR_RETURN(rr, RequestResponse(t.client(), t.cross_node_server(), opt));
        busy_after = CpuBusyFraction(1000);
        if (std::max(busy_before, busy_after) <= opt.max_busy || attempt >= opt.retries) break;
      }
      bool disturbed = std::max(busy_before, busy_after) > opt.max_busy;
      s.disturbed += disturbed ? 1 : 0;
      s.cross_gbps.push_back(cross.gbps);
      s.cross_retr.push_back(static_cast<double>(cross.retransmits));
      s.same_gbps.push_back(same.gbps);
      s.rr_tps.push_back(rr.tps);
      s.rr_p50.push_back(rr.p50_us);
      s.rr_p99.push_back(rr.p99_us);
      std::string join;
      if (Encrypted(t.mode())) {
        ASSIGN_OR_RETURN(JoinResult j, t.MeasureJoin());
        s.join_ms.push_back(j.traffic_ms);
        s.join_configure_ms.push_back(j.configure_ms);
        join = absl::StrFormat("  join->echo %5.1f ms (configure %4.1f, %d tries)", j.traffic_ms,
                               j.configure_ms, j.attempts);
      }
      std::printf("  run %d %-*s  cross %6.2f Gbit/s (%5lld retr)  same-node %6.2f Gbit/s  rr %7.0f/s%s"
                  "   [other work: CPUs %3.0f%% / %3.0f%% busy before / after]%s\n",
                  run + 1, name_width, ModeName(t.mode()), cross.gbps,
                  static_cast<long long>(cross.retransmits), same.gbps, rr.tps, join.c_str(),
                  busy_before * 100, busy_after * 100, disturbed ? " disturbed" : "");
      std::fflush(stdout);
    }
  }

  const auto& modes = opt.modes;
  auto med = [&](Mode m, std::vector<double> Samples::*field) { return Median(samples[m].*field); };
  auto best = [&](Mode m, std::vector<double> Samples::*field) { return Max(samples[m].*field); };
  auto both = [&](std::vector<double> Samples::*field, int precision) {
    return [&, field, precision](Mode m) {
      return absl::StrCat(Fmt(med(m, field), precision), " / ", Fmt(best(m, field), precision));
    };
  };
  std::printf("\n%s\n", Row("median / best of runs", modes, [](Mode m) { return ModeName(m); }).c_str());
  std::printf("%s\n", Row("cross-node TCP throughput, Gbit/s", modes, both(&Samples::cross_gbps, 2)).c_str());
  std::printf("%s\n", Row("  retransmits per run (median)", modes, [&](Mode m) {
                        return Fmt(med(m, &Samples::cross_retr), 0);
                      }).c_str());
  std::printf("%s\n", Row("cross-node TCP request/response, tx/s", modes, both(&Samples::rr_tps, 0)).c_str());
  std::printf("%s\n", Row("  latency p50 / p99 (median), us", modes, [&](Mode m) {
                        return absl::StrCat(Fmt(med(m, &Samples::rr_p50), 0), " / ",
                                            Fmt(med(m, &Samples::rr_p99), 0));
                      }).c_str());
  std::printf("%s\n", Row("same-node TCP throughput, Gbit/s", modes, both(&Samples::same_gbps, 2)).c_str());
  const bool any_encrypted = std::any_of(modes.begin(), modes.end(), Encrypted);
  if (any_encrypted) {
    std::printf("%s\n", Row("node join -> first echo, ms (median / max)", modes, [&](Mode m) {
                          if (!Encrypted(m)) return std::string("-");
                          return absl::StrCat(Fmt(med(m, &Samples::join_ms), 1), " / ",
                                              Fmt(best(m, &Samples::join_ms), 1));
                        }).c_str());
    std::printf("%s\n", Row("  of which configuring both nodes (median)", modes, [&](Mode m) {
                          if (!Encrypted(m)) return std::string("-");
                          return Fmt(med(m, &Samples::join_configure_ms), 1);
                        }).c_str());
  }
  std::printf("%s\n", Row("runs disturbed by other work", modes, [&](Mode m) {
                        return absl::StrCat(samples[m].disturbed, " of ", samples[m].cross_gbps.size());
                      }).c_str());

  bool plain = samples.count(Mode::kPlain) > 0, vxlan = samples.count(Mode::kVxlan) > 0,
       weft = samples.count(Mode::kWeft) > 0, wg = samples.count(Mode::kWg) > 0,
       weft_wg = samples.count(Mode::kWeftWg) > 0;
  const bool routing_ratios = weft && (plain || vxlan);
  const bool encryption_ratios = weft_wg && (wg || weft);
  if (!routing_ratios && !encryption_ratios) return absl::OkStatus();
  // Other work only lowers throughput and rates, so the best run is the
  // estimate least distorted by it; the median shows the spread.
  std::printf("\nratios, of medians (of bests):\n");
  auto ratio = [&](const char* what, Mode a, Mode b, std::vector<double> Samples::*field, double goal) {
    double rm = med(a, field) / med(b, field);
    double rb = best(a, field) / best(b, field);
    std::printf("  %-24s %s/%s %.2fx (%.2fx) %s\n", what, ModeName(a), ModeName(b), rm, rb,
                goal > 0 ? Goal(rm, goal).c_str() : "(information)");
  };
  if (routing_ratios) {
    if (plain) ratio("cross-node throughput", Mode::kWeft, Mode::kPlain, &Samples::cross_gbps, 1.0);
    if (vxlan) ratio("cross-node throughput", Mode::kWeft, Mode::kVxlan, &Samples::cross_gbps, 1.3);
    if (plain && vxlan) ratio("cross-node throughput", Mode::kPlain, Mode::kVxlan, &Samples::cross_gbps, 0);
    if (plain) ratio("request/response", Mode::kWeft, Mode::kPlain, &Samples::rr_tps, 1.0);
    if (plain) ratio("same-node throughput", Mode::kWeft, Mode::kPlain, &Samples::same_gbps, 0);
    std::printf("  (published homelab figures, 10 GbE: Weft-like 9.4 vs VXLAN 7.2 Gbit/s = 1.31x)\n");
  }
  if (encryption_ratios) {
    if (wg) {
      ratio("cross-node throughput", Mode::kWeftWg, Mode::kWg, &Samples::cross_gbps, 0.95);
      ratio("request/response", Mode::kWeftWg, Mode::kWg, &Samples::rr_tps, 0);
      ratio("same-node throughput", Mode::kWeftWg, Mode::kWg, &Samples::same_gbps, 0);
    }
    if (weft) {  // what encryption costs Weft
      ratio("cross-node throughput", Mode::kWeftWg, Mode::kWeft, &Samples::cross_gbps, 0);
      ratio("same-node throughput", Mode::kWeftWg, Mode::kWeft, &Samples::same_gbps, 0);
    }
    std::printf("\nnode join -> first TCP echo across the tunnel (peers configured on both nodes, "
                "probes every %d ms), over %d runs:\n",
                kJoinPollMs, opt.runs);
    for (Mode m : {Mode::kWeftWg, Mode::kWg}) {
      if (!samples.count(m)) continue;
      std::printf("  %-8s median %6.1f ms, max %6.1f ms (configuring both nodes: median %.1f ms)\n",
                  ModeName(m), med(m, &Samples::join_ms), best(m, &Samples::join_ms),
                  med(m, &Samples::join_configure_ms));
    }
  }
  std::fflush(stdout);
  return absl::OkStatus();
}

absl::Status Run(const Options& opt) {
  weft::testing::RemoveStaleNamespaces();
  RemoveStaleTmpDirs();
  for (Wire w : opt.wires) RETURN_IF_ERROR(RunWire(opt, w));
  return absl::OkStatus();
}

}  // namespace
}  // namespace weft::bench

int main(int argc, char** argv) {
  weft::bench::InstallStopHandler();
  cxxopts::Options spec("datapath_bench",
                        "Pod-to-pod TCP: Weft vs plain routing vs VXLAN; "
                        "Weft with encryption vs wireguard-go");
  spec.add_options()("runs", "interleaved runs per topology", cxxopts::value<int>()->default_value("5"))(
      "seconds", "iperf3 seconds per run", cxxopts::value<int>()->default_value("4"))(
      "rr-seconds", "request/response seconds per run", cxxopts::value<int>()->default_value("3"))(
      "max-busy", "wait (up to 30 s) until the CPUs are at most this busy before each run, 0..1",
      cxxopts::value<double>()->default_value("0.15"))(
      "retries", "repeats of a measurement that other work overlapped",
      cxxopts::value<int>()->default_value("2"))(
      "modes",
      "topologies to build, in order, comma-separated: plain, vxlan, weft, wg (bare wireguard-go), "
      "weft-wg (Weft with encryption)",
      cxxopts::value<std::string>()->default_value("plain,vxlan,weft"))(
      "weft-masquerade", "AttachNetdev with masquerade on (the agent's default)",
      cxxopts::value<bool>()->default_value("true"))(
      "wire", "node link: veth (GSO packets cross whole), segmented (1500-byte frames + GRO, like a NIC), both",
      cxxopts::value<std::string>()->default_value("both"))(
      "rr-cpus", "request/response: same (client and server on CPU 0), split (CPU 0 and 1), none",
      cxxopts::value<std::string>()->default_value("same"))(
      "hold", "build the topologies, then wait for Ctrl-C (to inspect them)")("h,help", "this help");
  weft::bench::Options opt;
  try {
    auto parsed = spec.parse(argc, argv);
    if (parsed.count("help")) {
      std::cout << spec.help();
      return 0;
    }
    opt.runs = parsed["runs"].as<int>();
    opt.seconds = parsed["seconds"].as<int>();
    opt.rr_seconds = parsed["rr-seconds"].as<int>();
    opt.max_busy = parsed["max-busy"].as<double>();
    opt.retries = parsed["retries"].as<int>();
    opt.weft_masquerade = parsed["weft-masquerade"].as<bool>();
    opt.hold = parsed.count("hold") > 0;
    std::string wire = parsed["wire"].as<std::string>();
    if (wire == "veth") {
      opt.wires = {weft::bench::Wire::kVeth};
    } else if (wire == "segmented") {
      opt.wires = {weft::bench::Wire::kSegmented};
    } else if (wire != "both") {
      std::cerr << "datapath_bench: --wire: \"" << wire << "\" is not veth, segmented or both\n";
      return 2;
    }
    if (opt.hold && opt.wires.size() > 1) opt.wires.resize(1);
    std::string rr_cpus = parsed["rr-cpus"].as<std::string>();
    if (rr_cpus == "split") {
      opt.rr_server_cpu = 1;
    } else if (rr_cpus == "none") {
      opt.rr_client_cpu = opt.rr_server_cpu = -1;
    } else if (rr_cpus != "same") {
      std::cerr << "datapath_bench: --rr-cpus: \"" << rr_cpus << "\" is not same, split or none\n";
      return 2;
    }
    opt.rr_cpus = rr_cpus;
    opt.modes.clear();
    for (absl::string_view m : absl::StrSplit(parsed["modes"].as<std::string>(), ',')) {
      if (m == "plain") {
        opt.modes.push_back(weft::bench::Mode::kPlain);
      } else if (m == "vxlan") {
        opt.modes.push_back(weft::bench::Mode::kVxlan);
      } else if (m == "weft") {
        opt.modes.push_back(weft::bench::Mode::kWeft);
      } else if (m == "wg") {
        opt.modes.push_back(weft::bench::Mode::kWg);
      } else if (m == "weft-wg") {
        opt.modes.push_back(weft::bench::Mode::kWeftWg);
      } else {
        std::cerr << "datapath_bench: --modes: \"" << m
                  << "\" is not plain, vxlan, weft, wg or weft-wg\n";
        return 2;
      }
      if (std::count(opt.modes.begin(), opt.modes.end(), opt.modes.back()) > 1) {
        std::cerr << "datapath_bench: --modes: \"" << m << "\" given twice\n";
        return 2;
      }
    }
    if (opt.runs < 1 || opt.seconds < 2 || opt.rr_seconds < 1 || opt.modes.empty()) {
      std::cerr << "datapath_bench: --runs >= 1, --seconds >= 2, --rr-seconds >= 1, --modes not empty\n";
      return 2;
    }
  } catch (const std::exception& e) {
    std::cerr << "datapath_bench: " << e.what() << "\n";
    return 2;
  }
  if (!weft::testing::HaveRoot()) {
    std::cerr << "datapath_bench: needs root (namespaces, BPF)\n";
    return 2;
  }
  return weft::bench::ExitCode("datapath_bench", weft::bench::Run(opt));
}
