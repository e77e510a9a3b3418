// Kubernetes Services: Weft's socket-level load balancing (BPF, cgroup
// connect4) against kube-proxy's iptables mode, at 10, 1,000 and 10,000
// ClusterIP Services with 5 endpoints each, in one run.
//
//   bazel run -c opt //integration/bench:services_bench [-- --sizes 10,1000,10000 --connects 2000]
//
// Topology: one "server" network namespace holds every backend: 10.244.0.0/16
// is routed `local` on its loopback (any address in it is this namespace's
// own), and one TCP listener on 0.0.0.0:8080 accepts for all of them. Each
// client is a namespace of its own joined to the server by a veth, with an
// address inside the cluster CIDR as a pod has (so kube-proxy's
// KUBE-MARK-MASQ rule for off-cluster sources does not match, as for pod
// traffic) and a default route to the server. The server forwards nothing:
// a connection to a ClusterIP (10.96.0.0/12) that was not translated never
// completes, so every measured connect() went through a translation.
//
// One client per Service count and mode, all built up front so that the
// measurements can be interleaved (other work on a shared machine then falls
// on every mode alike):
//   iptables-legacy, iptables-nft  kube-proxy's nat table for the Services
//       (kube_proxy_iptables.h: chains, rules, probabilities, chain hashes as
//       kube-proxy writes them), loaded with the matching iptables-restore in
//       the client namespace, as kube-proxy runs it (`-w 5 -W 100000
//       --noflush`). The client's connect() goes through OUTPUT ->
//       KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP (DNAT); a pod's would go through
//       PREROUTING -> the same chains on its node.
//   weft  Datapath::Load with its own pin folder, AttachSocketLb on its own
//       child cgroup, ServiceMap::Replace with the Services; client sockets are
//       created inside that cgroup and namespace (cgroup::SocketIn), so
//       connect4 translates them.
//   direct  (one client) connect() straight to a backend address: no Service,
//       no rules, the kernel's floor.
// Measured per Service count:
//   - connect() latency to a random ClusterIP (p50, p99), blocking connect()
//     until the handshake completes, sockets created beforehand (not timed),
//     closed with SO_LINGER 0 (no TIME_WAIT);
//   - applying all Services from scratch (iptables-restore fork to exit, or
//     Replace), median of --apply-runs;
//   - applying one changed Service (one endpoint replaced by a new one):
//     kube-proxy's partial restore (1.26+, default since 1.27: KUBE-SERVICES
//     in full plus the changed Service's chains), or ServiceMap::Upsert;
//   - memory of Weft's load-balancing BPF maps (memlock from fdinfo).
// Everything (namespaces, pins, cgroups, temporary files) carries a per-run
// prefix and is removed on every exit path, Ctrl-C and SIGTERM included.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <cxxopts.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/datapath/datapath.h"
#include "agent/datapath/lb_types.h"
#include "common/net/ip.h"
#include "common/netns/cgroup.h"
#include "common/status_macros.h"
#include "common/testing/netns.h"
#include "common/text_table.h"
#include "integration/bench/bench_util.h"
#include "integration/bench/kube_proxy_iptables.h"

namespace weft::bench {
namespace {

using weft::testing::NetnsGuard;
using weft::testing::ScopedNetns;

constexpr uint32_t kServiceBase = 0x0A600010;  // 10.96.0.16: ClusterIPs (10.96.0.0/12)
constexpr uint32_t kBackendBase = 0x0AF40001;  // 10.244.0.1: endpoints (10.244.0.0/16)
constexpr uint32_t kBackendCount = 65533;      // 10.244.0.1 .. 10.244.255.253
constexpr char kBackendRange[] = "10.244.0.0/16";
// Clients (10.240.<k>.1) and backends are "pods": kube-proxy's --cluster-cidr.
constexpr char kClusterCidr[] = "10.240.0.0/12";
constexpr uint16_t kServicePort = 80;
constexpr uint16_t kBackendPort = 8080;
constexpr int kConnectTimeoutMs = 2000;
constexpr int kWarmupConnects = 50;
// Untimed connects at the start of each client's chunk of a round.
constexpr int kChunkWarmup = 5;
// In the name of every namespace-independent thing of a run (pins, cgroups,
// temporary folder), after "weft-t<pid>-": stale ones of dead runs are removed.
constexpr char kRunStem[] = "svcbench";

enum class Mode { kDirect, kLegacy, kNft, kWeft };

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kDirect:
      return "direct";
    case Mode::kLegacy:
      return "iptables-legacy";
    case Mode::kNft:
      return "iptables-nft";
    case Mode::kWeft:
      return "weft";
  }
  return "?";
}

bool IsIptables(Mode m) { return m == Mode::kLegacy || m == Mode::kNft; }
const char* RestoreBinary(Mode m) {
  return m == Mode::kLegacy ? "iptables-legacy-restore" : "iptables-nft-restore";
}

struct Options {
  std::vector<int> sizes = {10, 1000, 10000};
  int endpoints = 5;
  int connects = 2000;  // per Service count and mode
  int rounds = 20;      // the connects of each client are spread over this many rounds
  int changes = 30;
  int apply_runs = 3;
  // iptables-nft-restore --noflush is quadratic in the chains it creates
  // (iptables 1.8.9: 3,000 Services 17 s, 10,000 about 400 s here); above
  // this count the from-scratch load of the nft client flushes instead.
  int nft_noflush_max = 1000;
  std::vector<Mode> modes = {Mode::kLegacy, Mode::kNft, Mode::kWeft};
  int cpu = -1;  // pin the measuring thread (-1: no)
  uint32_t seed = 1;
};

std::string Ipv4(uint32_t host_order) {
  return absl::StrCat(host_order >> 24, ".", (host_order >> 16) & 255, ".", (host_order >> 8) & 255,
                      ".", host_order & 255);
}

sockaddr_in SockAddr(uint32_t host_order, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(host_order);
  a.sin_port = htons(port);
  return a;
}

// The Services of one size, as both implementations are given them.
struct Service {
  uint32_t cluster_ip = 0;
  std::vector<uint32_t> endpoints;
};

kubeproxy::ServicePort ToKubeProxy(const Service& s, int index) {
  kubeproxy::ServicePort p;
  p.namespace_name = "bench";
  p.name = absl::StrCat("svc-", index);
  p.port_name = "http";
  p.cluster_ip = Ipv4(s.cluster_ip);
  p.port = kServicePort;
  p.target_port = kBackendPort;
  for (uint32_t ep : s.endpoints) p.endpoint_ips.push_back(Ipv4(ep));
  return p;
}

std::vector<kubeproxy::ServicePort> ToKubeProxy(const std::vector<Service>& services) {
  std::vector<kubeproxy::ServicePort> out;
  out.reserve(services.size());
  for (size_t i = 0; i < services.size(); ++i) out.push_back(ToKubeProxy(services[i], static_cast<int>(i)));
  return out;
}

datapath::LbService ToWeft(const Service& s) {
  datapath::LbService svc;
  svc.key.ip = net::Ipv4Address(s.cluster_ip);
  svc.key.port = kServicePort;
  svc.key.proto = datapath::kProtoTcp;
  svc.key.scope = datapath::LbScope::kSocket;
  for (uint32_t ep : s.endpoints) {
    datapath::LbBackend b;
    b.ip = net::Ipv4Address(ep);
    b.port = kBackendPort;
    b.proto = datapath::kProtoTcp;
    svc.backends.push_back(b);
  }
  return svc;
}

std::vector<datapath::LbService> ToWeft(const std::vector<Service>& services) {
  std::vector<datapath::LbService> out;
  out.reserve(services.size());
  for (const Service& s : services) out.push_back(ToWeft(s));
  return out;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc | std::ios::binary);
  f << text;
  f.close();
  if (!f) return absl::InternalError("write " + path);
  return absl::OkStatus();
}

// Runs argv in `ns` with `stdin_file`; an error with its output unless it
// exits 0. Returns the time from fork to exit, ms.
absl::StatusOr<double> TimedRun(const std::vector<std::string>& argv, const ScopedNetns& ns,
                                const std::string& stdin_file) {
  SpawnOptions o;
  o.netns_path = ns.path();
  o.stdin_file = stdin_file;
  std::string out;
  int64_t t0 = MonotonicNanos();
  ASSIGN_OR_RETURN(int rc, RunCapture(argv, &out, o));
  double ms = static_cast<double>(MonotonicNanos() - t0) / 1e6;
  RETURN_IF_ERROR(CheckNotStopping());
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("`", absl::StrJoin(argv, " "), " < ", stdin_file, "` in ",
                                            ns.name(), " exited ", rc, ": ", out.substr(0, 2000)));
  }
  return ms;
}

// The kube-proxy arguments of iptables-restore (wait for the xtables lock as
// kube-proxy does; --noflush: leave chains not named in the input alone).
std::vector<std::string> RestoreArgv(Mode m, bool noflush) {
  std::vector<std::string> argv = {RestoreBinary(m), "-w", "5", "-W", "100000"};
  if (noflush) argv.push_back("--noflush");
  return argv;
}

// ---- Weft's load-balancing maps: memory ----

struct MapMemory {
  std::string name;
  uint32_t type = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;
  int64_t memlock = -1;  // bytes, the kernel's own accounting (fdinfo)
};

// Maps the agent writes (the rest is state the datapath keeps: reverse
// translations, affinity, external conntrack; LRU maps, preallocated).
bool AgentWritten(const std::string& name) {
  for (const char* stem : {"weft_lb4_svc", "weft_lb4_slot", "weft_lb4_backend", "weft_lb4_maglev",
                           "weft_lb4_config", "weft_lb4_range"}) {
    if (absl::StartsWith(name, stem)) return true;
  }
  return false;
}

int64_t FdinfoMemlock(int fd) {
  std::ifstream in(absl::StrCat("/proc/self/fdinfo/", fd));
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, "memlock:")) continue;
    int64_t v = -1;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(8)), &v)) return v;
  }
  return -1;
}

absl::StatusOr<std::vector<MapMemory>> LbMapMemory(const std::string& pin_dir) {
  std::vector<MapMemory> out;
  DIR* d = opendir(pin_dir.c_str());
  if (d == nullptr) return absl::InternalError(absl::StrCat("open ", pin_dir, ": ", strerror(errno)));
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (absl::StartsWith(e->d_name, "weft_lb4_")) names.push_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string path = absl::StrCat(pin_dir, "/", name);
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return absl::InternalError(absl::StrCat("open pinned map ", path, ": ", strerror(errno)));
    bpf_map_info info;
    memset(&info, 0, sizeof(info));
    uint32_t len = sizeof(info);
    int err = bpf_obj_get_info_by_fd(fd, &info, &len);
    MapMemory m;
    m.name = name;
    m.memlock = FdinfoMemlock(fd);
    close(fd);
    if (err != 0) return absl::InternalError(absl::StrCat("info of map ", path, ": ", strerror(-err)));
    m.type = info.type;
    m.max_entries = info.max_entries;
    m.flags = info.map_flags;
    out.push_back(m);
  }
  if (out.empty()) return absl::NotFoundError("no weft_lb4_* maps pinned in " + pin_dir);
  return out;
}

const char* MapTypeName(uint32_t t) {
  switch (t) {
    case BPF_MAP_TYPE_HASH:
      return "hash";
    case BPF_MAP_TYPE_ARRAY:
      return "array";
    case BPF_MAP_TYPE_LRU_HASH:
      return "lru_hash";
    default:
      return "other";
  }
}

// ---- cleanup of runs that were killed with -9 ----

bool DeadRun(const std::string& name) {
  // weft-t<pid>-svcbench...
  if (!absl::StartsWith(name, "weft-t") || !absl::StrContains(name, kRunStem)) return false;
  auto dash = name.find('-', 6);
  int pid = 0;
  if (dash == std::string::npos || !absl::SimpleAtoi(name.substr(6, dash - 6), &pid)) return false;
  return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH;
}

std::vector<std::string> DeadRunEntries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (DeadRun(e->d_name)) out.push_back(absl::StrCat(dir, "/", e->d_name));
  }
  closedir(d);
  return out;
}

void RemoveStaleRuns() {
  weft::testing::RemoveStaleNamespaces();
  // Pinned cgroup links hold their programs on the cgroup: detach, then unpin.
  for (const std::string& pins : DeadRunEntries("/sys/fs/bpf")) {
    DIR* d = opendir(pins.c_str());
    if (d != nullptr) {
      while (dirent* e = readdir(d)) {
        if (!absl::StartsWith(e->d_name, "link_")) continue;
        int fd = bpf_obj_get(absl::StrCat(pins, "/", e->d_name).c_str());
        if (fd >= 0) {
          bpf_link_detach(fd);
          close(fd);
        }
      }
      closedir(d);
    }
    if (auto s = datapath::RemovePins(pins); !s.ok()) std::cerr << "services_bench: " << s << "\n";
  }
  if (auto root = cgroup::V2Root(); root.ok()) {
    for (const std::string& cg : DeadRunEntries(*root)) {
      if (auto s = cgroup::Remove(cg); !s.ok()) std::cerr << "services_bench: " << s << "\n";
    }
  }
  for (const std::string& tmp : DeadRunEntries("/tmp")) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
  }
}

// ---- the backends ----

// One listener on 0.0.0.0:8080 in the server namespace (every 10.244/16
// address is local there), accepting and closing connections as they come.
class Backends {
 public:
  static absl::StatusOr<std::unique_ptr<Backends>> Start(const ScopedNetns& ns) {
    std::unique_ptr<Backends> b(new Backends());
    NetnsGuard g(ns.path());
    if (!g.ok()) return absl::InternalError("enter " + ns.name());
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    sockaddr_in addr = SockAddr(INADDR_ANY, kBackendPort);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(ls, 4096) != 0) {
      int err = errno;
      if (ls >= 0) close(ls);
      return absl::InternalError(absl::StrCat("listen on :", kBackendPort, " in ", ns.name(), ": ",
                                              strerror(err)));
    }
    b->listener_ = ls;
    b->thread_ = std::thread([raw = b.get()] { raw->Serve(); });
    return b;
  }

  ~Backends() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) close(listener_);
  }

  uint64_t accepted() const { return accepted_; }

 private:
  Backends() = default;

  void Serve() {
    while (!stop_ && !Stopping()) {
      pollfd pfd{listener_, POLLIN, 0};
      if (poll(&pfd, 1, 100) != 1) continue;
      for (;;) {
        int c = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) break;
        // A plain close (FIN): the client still reads its peer; its reset
        // (SO_LINGER 0) then frees this side without TIME_WAIT.
        close(c);
        ++accepted_;
      }
    }
  }

  int listener_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
};

// ---- clients ----

struct Client {
  Mode mode = Mode::kDirect;
  int size = 0;  // Services it holds (0 for direct)
  int index = 0;  // 10.240.<index>.1
  std::unique_ptr<ScopedNetns> ns;
  std::string cgroup_dir;  // where its sockets are created
  // weft
  std::string pin_dir;
  std::unique_ptr<datapath::Datapath> dp;
  bool socket_lb_attached = false;
  // measurements
  std::vector<double> connect_us;
  std::vector<double> apply_ms;
  bool apply_noflush = true;  // iptables: kube-proxy's --noflush for the from-scratch load
  std::vector<double> change_ms;
  std::vector<MapMemory> maps;  // weft, after all Services were written

  std::string Label() const {
    return mode == Mode::kDirect ? "direct" : absl::StrCat(ModeName(mode), " @", size);
  }
};

// Sockets for `n` connects from `c`, created before the timing by a child in
// the client's namespace and cgroup: weft's (connect4 applies) or, for the
// other clients, a sibling cgroup without programs, so that every client's
// sockets are made the same way at the same depth.
absl::StatusOr<std::vector<int>> SocketPool(const Client& c, int n) {
  std::vector<int> fds;
  fds.reserve(n);
  for (int i = 0; i < n; ++i) {
    absl::Status stop = CheckNotStopping();
    absl::StatusOr<int> fd = stop.ok() ? cgroup::SocketIn(c.cgroup_dir, c.ns->path(), AF_INET, SOCK_STREAM, 0)
                                       : absl::StatusOr<int>(stop);
    if (!fd.ok()) {
      for (int f : fds) close(f);
      return fd.status();
    }
    fds.push_back(*fd);
  }
  timeval tv{kConnectTimeoutMs / 1000, (kConnectTimeoutMs % 1000) * 1000};
  linger l{1, 0};  // reset on close: no TIME_WAIT, no port exhaustion
  for (int fd : fds) {
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // bounds a blocking connect()
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  return fds;
}

// connect() to each target in turn; appends the latencies (us) when `out`,
// except those of the first `untimed` (caches cold after the socket pool's
// forks). Every connection must complete and see the address it asked for.
absl::Status Connects(const Client& c, const std::vector<sockaddr_in>& targets, std::vector<double>* out,
                      size_t untimed = 0) {
  ASSIGN_OR_RETURN(std::vector<int> fds, SocketPool(c, static_cast<int>(targets.size())));
  absl::Status status;
  size_t i = 0;
  for (; i < targets.size(); ++i) {
    if ((i & 63) == 0 && Stopping()) break;
    const sockaddr_in& to = targets[i];
    int64_t t0 = MonotonicNanos();
    int rc = connect(fds[i], reinterpret_cast<const sockaddr*>(&to), sizeof(to));
    int64_t t1 = MonotonicNanos();
    int err = errno;
    std::string where = absl::StrCat(c.Label(), ": connect to ", Ipv4(ntohl(to.sin_addr.s_addr)), ":",
                                     ntohs(to.sin_port));
    if (rc != 0) {
      status = absl::InternalError(absl::StrCat(where, ": ", strerror(err),
                                                err == EINPROGRESS || err == EAGAIN
                                                    ? " (no answer: not translated?)"
                                                    : ""));
      break;
    }
    // The application sees the Service address (DNAT is invisible to it;
    // Weft translates getpeername back).
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    if (getpeername(fds[i], reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
        peer.sin_addr.s_addr != to.sin_addr.s_addr || peer.sin_port != to.sin_port) {
      status = absl::InternalError(absl::StrCat(where, ": getpeername says ",
                                                Ipv4(ntohl(peer.sin_addr.s_addr)), ":",
                                                ntohs(peer.sin_port)));
      break;
    }
    if (out != nullptr && i >= untimed) out->push_back(static_cast<double>(t1 - t0) / 1000.0);
  }
  for (int fd : fds) close(fd);
  RETURN_IF_ERROR(status);
  return CheckNotStopping();
}

// ---- the lab ----

class Lab {
 public:
  explicit Lab(Options o) : opt_(std::move(o)) {}

  ~Lab() {
    backends_.reset();
    for (auto& c : clients_) {
      if (c->dp != nullptr && c->socket_lb_attached) {
        if (auto s = c->dp->DetachSocketLb(); !s.ok()) std::cerr << "services_bench: " << s << "\n";
      }
      c->dp.reset();
      if (!c->pin_dir.empty()) {
        if (auto s = datapath::RemovePins(c->pin_dir); !s.ok()) {
          std::cerr << "services_bench: remove " << c->pin_dir << ": " << s << "\n";
        }
      }
      if (c->mode == Mode::kWeft && !c->cgroup_dir.empty()) {
        if (auto s = cgroup::Remove(c->cgroup_dir); !s.ok()) std::cerr << "services_bench: " << s << "\n";
      }
    }
    if (!plain_cgroup_.empty()) {
      if (auto s = cgroup::Remove(plain_cgroup_); !s.ok()) std::cerr << "services_bench: " << s << "\n";
    }
    clients_.clear();  // client namespaces (their veths and rules go with them)
    server_.reset();
    if (!tmp_dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(tmp_dir_, ec);
    }
  }

  absl::Status Run() {
    RemoveStaleRuns();
    RETURN_IF_ERROR(Build());
    RETURN_IF_ERROR(ApplyAll());
    RETURN_IF_ERROR(Warmup());
    RETURN_IF_ERROR(ChangeOne());
    RETURN_IF_ERROR(MeasureConnects());
    RETURN_IF_ERROR(ReadMemory());
    Report();
    return absl::OkStatus();
  }

 private:
  std::string RunPrefix() const { return absl::StrCat("weft-t", getpid(), "-", kRunStem); }

  absl::Status Build() {
    tmp_dir_ = absl::StrCat("/tmp/", RunPrefix());
    std::error_code ec;
    std::filesystem::create_directories(tmp_dir_, ec);
    if (ec) return absl::InternalError(absl::StrCat("create ", tmp_dir_, ": ", ec.message()));
    std::filesystem::permissions(tmp_dir_, std::filesystem::perms::owner_all, ec);

    // The Services of every size: size N is the first N of the largest set.
    const int max_size = opt_.sizes.back();
    all_services_.resize(max_size);
    for (int i = 0; i < max_size; ++i) {
      all_services_[i].cluster_ip = kServiceBase + static_cast<uint32_t>(i);
      for (int j = 0; j < opt_.endpoints; ++j) {
        all_services_[i].endpoints.push_back(kBackendBase + static_cast<uint32_t>(i * opt_.endpoints + j));
      }
    }

    ASSIGN_OR_RETURN(std::string root, cgroup::V2Root());
    plain_cgroup_ = absl::StrCat(root, "/", RunPrefix(), "-plain");
    RETURN_IF_ERROR(cgroup::Create(plain_cgroup_));

    server_ = std::make_unique<ScopedNetns>("svc-server");
    if (!server_->ok()) return absl::InternalError("create the server namespace");
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", server_->name(), " route add local ", kBackendRange, " dev lo")));
    ASSIGN_OR_RETURN(backends_, Backends::Start(*server_));

    int index = 1;
    RETURN_IF_ERROR(AddClient(Mode::kDirect, 0, index++));
    for (int size : opt_.sizes) {
      for (Mode m : opt_.modes) RETURN_IF_ERROR(AddClient(m, size, index++));
    }
    std::printf("built: server %s (backends %s, :%d), %zu clients; %s\n", server_->name().c_str(),
                kBackendRange, kBackendPort, clients_.size(), tmp_dir_.c_str());
    std::fflush(stdout);
    return absl::OkStatus();
  }

  absl::Status AddClient(Mode mode, int size, int index) {
    RETURN_IF_ERROR(CheckNotStopping());
    auto c = std::make_unique<Client>();
    c->mode = mode;
    c->size = size;
    c->index = index;
    c->ns = std::make_unique<ScopedNetns>(absl::StrCat("svc-", ModeName(mode), size == 0 ? "" : "-",
                                                       size == 0 ? "" : std::to_string(size)));
    Client& cr = *c;
    clients_.push_back(std::move(c));
    if (!cr.ns->ok()) return absl::InternalError("create a client namespace");
    std::string veth = weft::testing::UniqueName("wsv");
    const std::string& ns = cr.ns->name();
    const std::string& srv = server_->name();
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " link add ", veth, " type veth peer name ", veth,
                                    "p netns ", srv)));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " addr add 10.240.", index, ".1/24 dev ", veth)));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", srv, " addr add 10.240.", index, ".2/24 dev ", veth, "p")));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " link set ", veth, " up")));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", srv, " link set ", veth, "p up")));
    RETURN_IF_ERROR(Sh(absl::StrCat("ip -n ", ns, " route add default via 10.240.", index, ".2")));
    cr.cgroup_dir = plain_cgroup_;
    if (mode == Mode::kWeft) {
      std::string name = absl::StrCat(RunPrefix(), "-", size);
      ASSIGN_OR_RETURN(std::string root, cgroup::V2Root());
      cr.pin_dir = "/sys/fs/bpf/" + name;
      ASSIGN_OR_RETURN(cr.dp, datapath::Datapath::Load(cr.pin_dir));
      cr.cgroup_dir = root + "/" + name;
      RETURN_IF_ERROR(cgroup::Create(cr.cgroup_dir));
      cr.socket_lb_attached = true;  // detach even after a partial attach
      RETURN_IF_ERROR(cr.dp->AttachSocketLb(cr.cgroup_dir));
    }
    return absl::OkStatus();
  }

  std::vector<Client*> ClientsOfSize(int size) {
    std::vector<Client*> out;
    for (auto& c : clients_) {
      if (c->size == size && c->mode != Mode::kDirect) out.push_back(c.get());
    }
    return out;
  }

  std::vector<Service> ServicesOf(int size) const {
    return std::vector<Service>(all_services_.begin(), all_services_.begin() + size);
  }

  // Everything from scratch, --apply-runs times, interleaved over the clients.
  absl::Status ApplyAll() {
    kubeproxy::Options kp;
    kp.cluster_cidr = kClusterCidr;
    kp.jumps = true;  // a fresh nat table: the restore also adds kube-proxy's jumps
    std::string empty_nat = tmp_dir_ + "/empty-nat.txt";
    RETURN_IF_ERROR(WriteFile(empty_nat, "*nat\nCOMMIT\n"));
    for (int size : opt_.sizes) {
      int64_t t0 = MonotonicNanos();
      std::string text = kubeproxy::RenderFullRestore(ToKubeProxy(ServicesOf(size)), kp);
      double render_ms = static_cast<double>(MonotonicNanos() - t0) / 1e6;
      full_stats_[size] = kubeproxy::CountRestore(text);
      render_ms_[size] = render_ms;
      RETURN_IF_ERROR(WriteFile(FullRestoreFile(size), text));
      lb_services_[size] = ToWeft(ServicesOf(size));
    }
    for (int run = 0; run < opt_.apply_runs; ++run) {
      for (int size : opt_.sizes) {
        for (Client* c : ClientsOfSize(size)) {
          RETURN_IF_ERROR(CheckNotStopping());
          if (IsIptables(c->mode)) {
            // Back to an empty nat table (a restore without --noflush replaces it).
            RETURN_IF_ERROR(TimedRun(RestoreArgv(c->mode, false), *c->ns, empty_nat).status());
            c->apply_noflush = c->mode == Mode::kLegacy || size <= opt_.nft_noflush_max;
            ASSIGN_OR_RETURN(double ms,
                             TimedRun(RestoreArgv(c->mode, c->apply_noflush), *c->ns, FullRestoreFile(size)));
            c->apply_ms.push_back(ms);
          } else if (c->mode == Mode::kWeft) {
            RETURN_IF_ERROR(c->dp->services().Replace({}));
            int64_t t0 = MonotonicNanos();
            absl::Status s = c->dp->services().Replace(lb_services_[size]);
            double ms = static_cast<double>(MonotonicNanos() - t0) / 1e6;
            RETURN_IF_ERROR(s);
            c->apply_ms.push_back(ms);
          }
        }
      }
      std::printf("applied all Services, run %d of %d\n", run + 1, opt_.apply_runs);
      std::fflush(stdout);
    }
    // Weft holds what was written.
    for (int size : opt_.sizes) {
      for (Client* c : ClientsOfSize(size)) {
        if (c->mode != Mode::kWeft) continue;
        ASSIGN_OR_RETURN(std::vector<datapath::LbService> held, c->dp->services().List());
        if (held.size() != static_cast<size_t>(size)) {
          return absl::InternalError(absl::StrCat(c->Label(), ": the maps hold ", held.size(),
                                                  " Services after Replace of ", size));
        }
      }
    }
    return absl::OkStatus();
  }

  std::string FullRestoreFile(int size) const { return absl::StrCat(tmp_dir_, "/full-", size, ".txt"); }

  absl::Status Warmup() {
    std::mt19937 rng(opt_.seed);
    for (auto& c : clients_) {
      RETURN_IF_ERROR(Connects(*c, Targets(*c, kWarmupConnects, rng), nullptr));
    }
    return absl::OkStatus();
  }

  // `n` random targets for `c`: ClusterIPs of its Services, or backends (direct).
  std::vector<sockaddr_in> Targets(const Client& c, int n, std::mt19937& rng) const {
    std::vector<sockaddr_in> out;
    if (c.mode == Mode::kDirect) {
      std::uniform_int_distribution<uint32_t> pick(0, static_cast<uint32_t>(opt_.sizes.back()) *
                                                          static_cast<uint32_t>(opt_.endpoints) - 1);
      for (int i = 0; i < n; ++i) out.push_back(SockAddr(kBackendBase + pick(rng), kBackendPort));
    } else {
      std::uniform_int_distribution<uint32_t> pick(0, static_cast<uint32_t>(c.size) - 1);
      for (int i = 0; i < n; ++i) out.push_back(SockAddr(kServiceBase + pick(rng), kServicePort));
    }
    return out;
  }

  // One endpoint of one Service replaced by a new address, --changes times per
  // size; every client of the size applies the same change in turn.
  absl::Status ChangeOne() {
    kubeproxy::Options kp;
    kp.cluster_cidr = kClusterCidr;
    uint32_t spare = kBackendBase + static_cast<uint32_t>(opt_.sizes.back() * opt_.endpoints);
    for (int size : opt_.sizes) {
      std::vector<Service> services = ServicesOf(size);
      std::vector<kubeproxy::ServicePort> kp_services = ToKubeProxy(services);
      const bool large = kubeproxy::LargeClusterMode(kp_services);
      std::mt19937 rng(opt_.seed + static_cast<uint32_t>(size));
      std::uniform_int_distribution<int> pick(0, size - 1);
      std::vector<int> changed;
      for (int r = 0; r < opt_.changes; ++r) {
        RETURN_IF_ERROR(CheckNotStopping());
        int s = pick(rng);
        int j = r % opt_.endpoints;
        kubeproxy::ServicePort before = kp_services[s];
        services[s].endpoints[j] = spare++;
        kp_services[s] = ToKubeProxy(services[s], s);
        // In large cluster mode kube-proxy looks for stale chains only once
        // per sync period; in small clusters it deletes them in the same restore.
        std::vector<std::string> stale;
        if (!large) {
          stale.push_back(kubeproxy::EndpointChain(kubeproxy::ServicePortName(before), before.protocol,
                                                   absl::StrCat(before.endpoint_ips[j], ":", kBackendPort)));
        }
        std::string text = kubeproxy::RenderPartialRestore(kp_services, {static_cast<size_t>(s)}, stale, kp);
        if (r == 0) partial_stats_[size] = kubeproxy::CountRestore(text);
        std::string file = absl::StrCat(tmp_dir_, "/partial-", size, ".txt");
        RETURN_IF_ERROR(WriteFile(file, text));
        datapath::LbService lb = ToWeft(services[s]);
        for (Client* c : ClientsOfSize(size)) {
          if (IsIptables(c->mode)) {
            ASSIGN_OR_RETURN(double ms, TimedRun(RestoreArgv(c->mode, true), *c->ns, file));
            c->change_ms.push_back(ms);
          } else if (c->mode == Mode::kWeft) {
            int64_t t0 = MonotonicNanos();
            absl::Status st = c->dp->services().Upsert(lb);
            double ms = static_cast<double>(MonotonicNanos() - t0) / 1e6;
            RETURN_IF_ERROR(st);
            c->change_ms.push_back(ms);
          }
        }
        changed.push_back(s);
      }
      // Every changed Service answers from its new endpoints in every client.
      std::vector<sockaddr_in> probe;
      for (int s : changed) probe.push_back(SockAddr(kServiceBase + static_cast<uint32_t>(s), kServicePort));
      for (Client* c : ClientsOfSize(size)) RETURN_IF_ERROR(Connects(*c, probe, nullptr));
      std::printf("changed one Service %d times at %d Services\n", opt_.changes, size);
      std::fflush(stdout);
    }
    return absl::OkStatus();
  }

  absl::Status MeasureConnects() {
    cpu_set_t before;
    CPU_ZERO(&before);
    sched_getaffinity(0, sizeof(before), &before);
    if (opt_.cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(opt_.cpu, &set);
      if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        return absl::InvalidArgumentError(absl::StrCat("--cpu ", opt_.cpu, ": ", strerror(errno)));
      }
    }
    std::mt19937 rng(opt_.seed * 7919u);
    const int per_round = opt_.connects / opt_.rounds;
    for (int round = 0; round < opt_.rounds; ++round) {
      // The starting client rotates, so no client always follows the same one.
      for (size_t k = 0; k < clients_.size(); ++k) {
        Client& c = *clients_[(k + static_cast<size_t>(round)) % clients_.size()];
        RETURN_IF_ERROR(Connects(c, Targets(c, per_round + kChunkWarmup, rng), &c.connect_us, kChunkWarmup));
      }
      std::printf("connect round %d of %d done (load average %.2f)\n", round + 1, opt_.rounds,
                  LoadAverage1());
      std::fflush(stdout);
    }
    sched_setaffinity(0, sizeof(before), &before);
    return absl::OkStatus();
  }

  absl::Status ReadMemory() {
    for (auto& c : clients_) {
      if (c->mode != Mode::kWeft) continue;
      ASSIGN_OR_RETURN(c->maps, LbMapMemory(c->pin_dir));
    }
    return absl::OkStatus();
  }

  Client* Find(Mode m, int size) {
    for (auto& c : clients_) {
      if (c->mode == m && c->size == size) return c.get();
    }
    return nullptr;
  }

  static std::string P50P99(std::vector<double> v, int precision) {
    if (v.empty()) return "-";
    double p50 = Percentile(v, 50), p99 = Percentile(v, 99);
    return absl::StrFormat("%.*f / %.*f", precision, p50, precision, p99);
  }

  void Report() {
    const int min_size = opt_.sizes.front(), max_size = opt_.sizes.back();
    std::printf("\nload average %.2f; %ld CPUs; %d endpoints per Service; backends accepted %llu connections\n",
                LoadAverage1(), sysconf(_SC_NPROCESSORS_ONLN), opt_.endpoints,
                static_cast<unsigned long long>(backends_->accepted()));

    // connect()
    Client* direct = Find(Mode::kDirect, 0);
    std::printf("\nconnect() to a ClusterIP until the handshake completes, us, p50 / p99 (%d per cell, in %d "
                "interleaved rounds)\n",
                opt_.connects / opt_.rounds * opt_.rounds, opt_.rounds);
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> head = {"Services", "endpoints"};
    for (Mode m : opt_.modes) head.push_back(ModeName(m));
    rows.push_back(head);
    for (int size : opt_.sizes) {
      std::vector<std::string> row = {absl::StrCat(size), absl::StrCat(size * opt_.endpoints)};
      for (Mode m : opt_.modes) row.push_back(P50P99(Find(m, size)->connect_us, 1));
      rows.push_back(row);
    }
    std::printf("%s", RenderTable(rows).c_str());
    std::printf("baseline, connect() straight to a backend (no Service, no rules): %s us\n",
                P50P99(direct->connect_us, 1).c_str());

    // apply all
    std::printf("\napply all Services from scratch, ms: median of %d (min-max)\n", opt_.apply_runs);
    rows.clear();
    head = {"Services", "restore input"};
    for (Mode m : opt_.modes) head.push_back(m == Mode::kWeft ? "weft Replace" : ModeName(m));
    rows.push_back(head);
    bool footnote = false;
    for (int size : opt_.sizes) {
      const kubeproxy::RestoreStats& st = full_stats_[size];
      std::vector<std::string> row = {
          absl::StrCat(size), absl::StrFormat("%zu rules, %zu chains, %.1f MB", st.rules, st.chains,
                                              static_cast<double>(st.bytes) / 1e6)};
      for (Mode m : opt_.modes) {
        Client* c = Find(m, size);
        std::vector<double> v = c->apply_ms;
        std::string cell = absl::StrFormat("%.1f (%.1f-%.1f)", Median(v), Percentile(v, 0), Percentile(v, 100));
        if (IsIptables(m) && !c->apply_noflush) {
          absl::StrAppend(&cell, " *");
          footnote = true;
        }
        row.push_back(cell);
      }
      rows.push_back(row);
    }
    std::printf("%s", RenderTable(rows).c_str());
    if (footnote) {
      std::printf("  * without --noflush (replacing the table): iptables-nft-restore --noflush, as "
                  "kube-proxy runs it, is quadratic in the chains it creates (iptables 1.8.9);\n"
                  "    --nft-noflush-max %d to time kube-proxy's command there (minutes at 10,000)\n",
                  max_size);
    }

    // one changed
    std::printf("\napply one changed Service (one endpoint replaced), ms, p50 / p99 over %d changes\n",
                opt_.changes);
    rows.clear();
    head = {"Services", "kube-proxy partial restore"};
    for (Mode m : opt_.modes) head.push_back(m == Mode::kWeft ? "weft Upsert" : ModeName(m));
    rows.push_back(head);
    for (int size : opt_.sizes) {
      const kubeproxy::RestoreStats& st = partial_stats_[size];
      std::vector<std::string> row = {
          absl::StrCat(size), absl::StrFormat("%zu rules, %zu chains, %.2f MB", st.rules, st.chains,
                                              static_cast<double>(st.bytes) / 1e6)};
      for (Mode m : opt_.modes) row.push_back(P50P99(Find(m, size)->change_ms, m == Mode::kWeft ? 3 : 1));
      rows.push_back(row);
    }
    std::printf("%s", RenderTable(rows).c_str());

    // memory
    bool weft = std::find(opt_.modes.begin(), opt_.modes.end(), Mode::kWeft) != opt_.modes.end();
    if (weft) {
      std::printf("\nWeft load-balancing BPF maps, memlock from /proc/self/fdinfo, MiB\n");
      rows.clear();
      rows.push_back({"Services", "endpoints", "maps the agent writes", "datapath state (LRU, preallocated)",
                      "all weft_lb4_*"});
      for (int size : opt_.sizes) {
        int64_t agent = 0, state = 0;
        for (const MapMemory& m : Find(Mode::kWeft, size)->maps) (AgentWritten(m.name) ? agent : state) += m.memlock;
        rows.push_back({absl::StrCat(size), absl::StrCat(size * opt_.endpoints), Mib(agent), Mib(state),
                        Mib(agent + state)});
      }
      std::printf("%s", RenderTable(rows).c_str());
      std::printf("at %d Services:\n", max_size);
      rows.clear();
      rows.push_back({"  map", "type", "max entries", "memlock MiB"});
      for (const MapMemory& m : Find(Mode::kWeft, max_size)->maps) {
        rows.push_back({"  " + m.name,
                        absl::StrCat(MapTypeName(m.type), (m.flags & BPF_F_NO_PREALLOC) ? ", no prealloc" : ""),
                        absl::StrCat(m.max_entries), Mib(m.memlock)});
      }
      std::printf("%s", RenderTable(rows).c_str());
    }

    // ratios
    std::printf("\nratios\n");
    auto ratio = [&](Mode m, double p) {
      std::vector<double> hi = Find(m, max_size)->connect_us, lo = Find(m, min_size)->connect_us;
      return Percentile(hi, p) / Percentile(lo, p);
    };
    for (Mode m : opt_.modes) {
      double r50 = ratio(m, 50), r99 = ratio(m, 99);
      std::printf("  %s connect @%d / @%d: p50 %.2fx, p99 %.2fx", ModeName(m), max_size, min_size, r50, r99);
      if (m == Mode::kWeft) std::printf(" (goal <= 1.1x: p50 %s, p99 %s)", r50 <= 1.1 ? "met" : "NOT met",
                                        r99 <= 1.1 ? "met" : "NOT met");
      std::printf("\n");
    }
    if (weft) {
      for (Mode m : opt_.modes) {
        if (!IsIptables(m)) continue;
        for (int size : {min_size, max_size}) {
          std::vector<double> ipt = Find(m, size)->connect_us, w = Find(Mode::kWeft, size)->connect_us;
          std::printf("  %s / weft connect @%d: p50 %.2fx, p99 %.2fx\n", ModeName(m), size,
                      Percentile(ipt, 50) / Percentile(w, 50), Percentile(ipt, 99) / Percentile(w, 99));
        }
      }
      std::vector<double> w = Find(Mode::kWeft, max_size)->change_ms;
      double p99 = Percentile(w, 99);
      std::printf("  weft one changed Service @%d: p99 %.3f ms (goal < 10 ms: %s)\n", max_size, p99,
                  p99 < 10 ? "met" : "NOT met");
      for (Mode m : opt_.modes) {
        if (!IsIptables(m)) continue;
        std::vector<double> ipt = Find(m, max_size)->change_ms;
        std::printf("  %s / weft one changed Service @%d: p50 %.0fx\n", ModeName(m), max_size,
                    Percentile(ipt, 50) / Percentile(w, 50));
      }
    }
    std::printf("  (kube-proxy text rendered in %s ms for %s Services; not in the iptables times)\n",
                absl::StrJoin(opt_.sizes, "/", [&](std::string* out, int s) {
                  absl::StrAppend(out, absl::StrFormat("%.0f", render_ms_[s]));
                }).c_str(),
                absl::StrJoin(opt_.sizes, "/").c_str());
    std::fflush(stdout);
  }

  static std::string Mib(int64_t bytes) { return absl::StrFormat("%.2f", static_cast<double>(bytes) / (1 << 20)); }

  const Options opt_;
  std::string tmp_dir_, plain_cgroup_;
  std::vector<Service> all_services_;
  std::unique_ptr<ScopedNetns> server_;
  std::unique_ptr<Backends> backends_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::map<int, kubeproxy::RestoreStats> full_stats_, partial_stats_;
  std::map<int, double> render_ms_;
  std::map<int, std::vector<datapath::LbService>> lb_services_;
};

absl::StatusOr<std::vector<Mode>> ParseModes(const std::string& text) {
  std::vector<Mode> out;
  for (absl::string_view m : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    if (m == "iptables-legacy" || m == "legacy") {
      out.push_back(Mode::kLegacy);
    } else if (m == "iptables-nft" || m == "nft") {
      out.push_back(Mode::kNft);
    } else if (m == "weft") {
      out.push_back(Mode::kWeft);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown mode '", m, "'"));
    }
  }
  if (out.empty()) return absl::InvalidArgumentError("no modes");
  return out;
}

}  // namespace
}  // namespace weft::bench

int main(int argc, char** argv) {
  weft::bench::InstallStopHandler();
  cxxopts::Options spec("services_bench", "Weft's socket load balancing vs kube-proxy's iptables mode");
  spec.add_options()("sizes", "Service counts, ascending", cxxopts::value<std::string>()->default_value("10,1000,10000"))(
      "endpoints", "endpoints per Service", cxxopts::value<int>()->default_value("5"))(
      "connects", "timed connects per Service count and mode", cxxopts::value<int>()->default_value("2000"))(
      "rounds", "interleaved rounds the connects are spread over", cxxopts::value<int>()->default_value("20"))(
      "changes", "one-Service changes per Service count", cxxopts::value<int>()->default_value("30"))(
      "apply-runs", "from-scratch applies per Service count and mode", cxxopts::value<int>()->default_value("3"))(
      "modes", "iptables-legacy,iptables-nft,weft (any of them; direct is always measured)",
      cxxopts::value<std::string>()->default_value("iptables-legacy,iptables-nft,weft"))(
      "nft-noflush-max", "largest Service count whose nft from-scratch load uses --noflush",
      cxxopts::value<int>()->default_value("1000"))(
      "cpu", "pin the connecting thread to this CPU (-1: no)", cxxopts::value<int>()->default_value("-1"))(
      "seed", "random seed (targets, changes)", cxxopts::value<uint32_t>()->default_value("1"))("h,help", "this help");
  weft::bench::Options opt;
  try {
    auto parsed = spec.parse(argc, argv);
    if (parsed.count("help")) {
      std::cout << spec.help();
      return 0;
    }
    opt.sizes.clear();
    for (absl::string_view s : absl::StrSplit(parsed["sizes"].as<std::string>(), ',', absl::SkipEmpty())) {
      int n = 0;
      if (!absl::SimpleAtoi(s, &n)) throw std::runtime_error("--sizes: not a number: " + std::string(s));
      opt.sizes.push_back(n);
    }
    opt.endpoints = parsed["endpoints"].as<int>();
    opt.connects = parsed["connects"].as<int>();
    opt.rounds = parsed["rounds"].as<int>();
    opt.changes = parsed["changes"].as<int>();
    opt.apply_runs = parsed["apply-runs"].as<int>();
    opt.nft_noflush_max = parsed["nft-noflush-max"].as<int>();
    opt.cpu = parsed["cpu"].as<int>();
    opt.seed = parsed["seed"].as<uint32_t>();
    auto modes = weft::bench::ParseModes(parsed["modes"].as<std::string>());
    if (!modes.ok()) throw std::runtime_error(std::string(modes.status().message()));
    opt.modes = *modes;
  } catch (const std::exception& e) {
    std::cerr << "services_bench: " << e.what() << "\n";
    return 2;
  }
  bool ascending = !opt.sizes.empty() && std::is_sorted(opt.sizes.begin(), opt.sizes.end()) &&
                   std::adjacent_find(opt.sizes.begin(), opt.sizes.end()) == opt.sizes.end() &&
                   opt.sizes.front() >= 1;
  int64_t addresses = opt.sizes.empty() ? 0
                                        : static_cast<int64_t>(opt.sizes.back()) * opt.endpoints +
                                              static_cast<int64_t>(opt.changes) * static_cast<int64_t>(opt.sizes.size());
  if (!ascending || opt.sizes.back() > 60000 || opt.endpoints < 1 || opt.endpoints > 1000 ||
      addresses > weft::bench::kBackendCount || opt.rounds < 1 || opt.connects < opt.rounds ||
      opt.changes < 1 || opt.apply_runs < 1 || opt.sizes.size() > 60 ||
      opt.sizes.size() * opt.modes.size() > 240) {
    std::cerr << "services_bench: --sizes ascending, distinct, 1..60000; 1 <= --endpoints <= 1000; "
                 "largest size x endpoints + changes x sizes <= 65533 backends; --connects >= --rounds >= 1; "
                 "--changes, --apply-runs >= 1\n";
    return 2;
  }
  if (!weft::testing::HaveRoot()) {
    std::cerr << "services_bench: needs root (namespaces, iptables, BPF, cgroups)\n";
    return 2;
  }
  absl::Status s;
  {
    weft::bench::Lab lab(opt);
    s = lab.Run();
  }
  return weft::bench::ExitCode("services_bench", s);
}
