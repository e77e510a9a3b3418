#include "agent/datapath/datapath.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "bpf/bpf_lxc.skel.h"
#include "bpf/bpf_netdev.skel.h"
#include "bpf/bpf_sock_lb.skel.h"
#include "agent/datapath/lpm4_map.h"
#include "agent/datapath/services.h"
#include "bpf/maps/encrypt.h"
#include "bpf/maps/lpm4.h"
#include "bpf/maps/endpoints.h"
#include "bpf/maps/netdev.h"
#include "bpf/maps/nonmasq.h"

namespace weft::datapath {
namespace {

// tc filter identity: one Weft filter per hook, replaced in place.
constexpr uint32_t kTcHandle = 0xd7;
constexpr uint32_t kTcPriority = 1;

absl::Status Errno(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

bool IsBpffs(const std::string& path) {
  struct statfs st;
  return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

absl::Status EnsureBpffs(const std::string& pin_dir) {
  if (!IsBpffs("/sys/fs/bpf")) {
    // Talos always mounts it; a plain Debian host does not.
    if (mount("bpffs", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
      return Errno("mount bpffs on /sys/fs/bpf", errno);
    }
  }
  if (mkdir(pin_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("create pin folder ", pin_dir), errno);
  }
  if (!IsBpffs(pin_dir)) {
    return absl::FailedPreconditionError(absl::StrCat(pin_dir, " is not on a bpffs"));
  }
  return absl::OkStatus();
}

endpoint_key KeyOf(const net::IpAddress& ip) {
  endpoint_key k;
  memset(&k, 0, sizeof(k));
  auto b = ip.bytes();
  if (ip.is_v4()) {
    memcpy(&k.ip4, b.data(), 4);
    k.family = WEFT_FAMILY_IPV4;
  } else {
    memcpy(k.ip6, b.data(), 16);
    k.family = WEFT_FAMILY_IPV6;
  }
  return k;
}

net::IpAddress IpOf(const endpoint_key& k) {
  absl::uint128 v = 0;
  if (k.family == WEFT_FAMILY_IPV4) {
    return net::IpAddress::V4(ntohl(k.ip4));
  }
  for (uint8_t c : k.ip6) v = (v << 8) | c;
  return net::IpAddress::V6(v);
}

class BpfEndpointMap : public EndpointMap {
 public:
  explicit BpfEndpointMap(int fd) : fd_(fd) {}

  absl::Status Upsert(const Endpoint& ep) override {
    endpoint_key k = KeyOf(ep.ip);
    endpoint_info v;
    memset(&v, 0, sizeof(v));
    v.ifindex = static_cast<__u32>(ep.ifindex);
    memcpy(v.mac, ep.mac.data(), 6);
    memcpy(v.node_mac, ep.node_mac.data(), 6);
    if (bpf_map_update_elem(fd_, &k, &v, BPF_ANY) != 0) {
      return Errno(absl::StrCat("update endpoints map for ", ep.ip.ToString()), errno);
    }
    return absl::OkStatus();
  }

  absl::Status Delete(const net::IpAddress& ip) override {
    endpoint_key k = KeyOf(ip);
    if (bpf_map_delete_elem(fd_, &k) != 0 && errno != ENOENT) {
      return Errno(absl::StrCat("delete ", ip.ToString(), " from endpoints map"), errno);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Endpoint>> List() override {
    std::vector<Endpoint> out;
    endpoint_key cur, next;
    endpoint_key* prev = nullptr;
    while (bpf_map_get_next_key(fd_, prev, &next) == 0) {
      endpoint_info v;
      if (bpf_map_lookup_elem(fd_, &next, &v) == 0) {
        Endpoint ep;
        ep.ip = IpOf(next);
        ep.ifindex = static_cast<int>(v.ifindex);
        memcpy(ep.mac.data(), v.mac, 6);
        memcpy(ep.node_mac.data(), v.node_mac, 6);
        out.push_back(ep);
      }
      cur = next;
      prev = &cur;
    }
    return out;
  }

 private:
  int fd_;
};

const char* HookName(bpf_tc_attach_point point) {
  return point == BPF_TC_EGRESS ? "egress" : "ingress";
}


// The socket programs and the names their cgroup links are pinned under.
struct SockProgram {
  const char* pin;
  bpf_program* (*get)(bpf_sock_lb*);
};
const SockProgram kSockPrograms[] = {
    {"link_sock4_connect", [](bpf_sock_lb* s) { return s->progs.weft_sock4_connect; }},
    {"link_sock4_sendmsg", [](bpf_sock_lb* s) { return s->progs.weft_sock4_sendmsg; }},
    {"link_sock4_recvmsg", [](bpf_sock_lb* s) { return s->progs.weft_sock4_recvmsg; }},
    {"link_sock4_getpeername", [](bpf_sock_lb* s) { return s->progs.weft_sock4_getpeername; }},
    // IPv6 sockets to v4-mapped Service addresses (dual-stack applications).
    {"link_sock6_connect", [](bpf_sock_lb* s) { return s->progs.weft_sock6_connect; }},
    {"link_sock6_recvmsg", [](bpf_sock_lb* s) { return s->progs.weft_sock6_recvmsg; }},
    {"link_sock6_getpeername", [](bpf_sock_lb* s) { return s->progs.weft_sock6_getpeername; }},
};

// The cgroup a pinned cgroup link is attached to (its inode), or 0.
uint64_t LinkCgroupId(int link_fd) {
  bpf_link_info info;
  memset(&info, 0, sizeof(info));
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(link_fd, &info, &len) != 0) return 0;
  if (info.type != BPF_LINK_TYPE_CGROUP) return 0;
  return info.cgroup.cgroup_id;
}

class DatapathImpl : public Datapath {
 public:
  DatapathImpl(std::string pin_dir, bpf_lxc* lxc, bpf_netdev* netdev, bpf_sock_lb* sock)
      : pin_dir_(std::move(pin_dir)),
        lxc_(lxc),
        netdev_(netdev),
        sock_(sock),
        endpoints_(bpf_map__fd(lxc->maps.weft_endpoints_v1)),
        services_(NewBpfServiceMap(LbMapFds{
            .svc = bpf_map__fd(netdev->maps.weft_lb4_svc_v1),
            .slot = bpf_map__fd(netdev->maps.weft_lb4_slot_v1),
            .backend = bpf_map__fd(netdev->maps.weft_lb4_backend_v1),
            .maglev = bpf_map__fd(netdev->maps.weft_lb4_maglev_v1),
            .affinity = bpf_map__fd(netdev->maps.weft_lb4_affinity_v1),
            .config = bpf_map__fd(netdev->maps.weft_lb4_config_v1),
            .range = bpf_map__fd(netdev->maps.weft_lb4_range_v1),
        })) {}
  ~DatapathImpl() override {
    // Destroying the skeletons closes our fds; attached filters, pinned cgroup
    // links and pinned maps stay in the kernel, which is what keeps traffic
    // flowing across restarts.
    services_.reset();
    bpf_sock_lb__destroy(sock_);
    bpf_netdev__destroy(netdev_);
    bpf_lxc__destroy(lxc_);
  }

  absl::Status AttachFromContainer(int ifindex) override {
    if (auto s = EnsureClsact(ifindex); !s.ok()) return s;
    return Attach(ifindex, BPF_TC_INGRESS, bpf_program__fd(lxc_->progs.weft_from_container),
                  "weft_from_container");
  }
  absl::Status AttachNetdev(int ifindex, const NetdevOptions& options) override {
    if (auto s = ValidateNetdevOptions(options); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("attach native device ifindex ", ifindex, ": ", s.message()));
    }
    // Settings first: the egress program reads them for its first packet.
    netdev_info info;
    memset(&info, 0, sizeof(info));
    if (options.masquerade) {
      memcpy(&info.masq_addr4, options.masquerade_ipv4->bytes().data(), 4);
      info.flags |= WEFT_NETDEV_F_MASQUERADE;
    }
    if (options.encrypt_strict) info.flags |= WEFT_NETDEV_F_ENCRYPT_STRICT;
    __u32 key = static_cast<__u32>(ifindex);
    if (bpf_map_update_elem(bpf_map__fd(netdev_->maps.weft_netdev_v1), &key, &info, BPF_ANY) != 0) {
      return Errno(absl::StrCat("update netdev map for ifindex ", ifindex), errno);
    }
    if (auto s = EnsureClsact(ifindex); !s.ok()) return s;
    if (auto s = Attach(ifindex, BPF_TC_EGRESS, bpf_program__fd(netdev_->progs.weft_to_netdev),
                        "weft_to_netdev");
        !s.ok()) {
      return s;
    }
    return Attach(ifindex, BPF_TC_INGRESS, bpf_program__fd(netdev_->progs.weft_from_netdev),
                  "weft_from_netdev");
  }

  absl::Status AttachL3Ingress(int ifindex) override {
    if (auto s = EnsureClsact(ifindex); !s.ok()) return s;
    return Attach(ifindex, BPF_TC_INGRESS, bpf_program__fd(netdev_->progs.weft_from_l3dev),
                  "weft_from_l3dev");
  }

  absl::Status SetNonMasqueradeCidrs(const std::vector<net::IpPrefix>& cidrs) override {
    return ReplaceLpm4(bpf_map__fd(netdev_->maps.weft_nonmasq4_v1), cidrs, WEFT_NONMASQ4_MAX,
                       "non-masquerade", &nonmasq_);
  }

  absl::Status SetStrictEncryptionCidrs(const std::vector<net::IpPrefix>& cidrs) override {
    return ReplaceLpm4(bpf_map__fd(netdev_->maps.weft_strict4_v1), cidrs, WEFT_STRICT4_MAX,
                       "strict-encryption", &strict_);
  }

  absl::StatusOr<uint64_t> StrictEncryptionDrops() override {
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return Errno("count possible CPUs", -cpus);
    std::vector<__u64> per_cpu(static_cast<size_t>(cpus));
    __u32 key = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(netdev_->maps.weft_strict_drops_v1), &key,
                            per_cpu.data()) != 0) {
      return Errno("read the strict-mode drop counter", errno);
    }
    uint64_t total = 0;
    for (__u64 v : per_cpu) total += v;
    return total;
  }

  absl::Status Detach(int ifindex) override {
    for (bpf_tc_attach_point point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
      LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
      LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
      int err = bpf_tc_detach(&hook, &opts);
      if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
        return Errno(absl::StrCat("detach tc ", HookName(point), " of ifindex ", ifindex), -err);
      }
    }
    __u32 key = static_cast<__u32>(ifindex);
    if (bpf_map_delete_elem(bpf_map__fd(netdev_->maps.weft_netdev_v1), &key) != 0 &&
        errno != ENOENT) {
      return Errno(absl::StrCat("delete ifindex ", ifindex, " from netdev map"), errno);
    }
    return absl::OkStatus();
  }

  EndpointMap& endpoints() override { return endpoints_; }
  ServiceMap& services() override { return *services_; }

  absl::Status AttachSocketLb(const std::string& cgroup_path) override {
    int cg = open(cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) return Errno(absl::StrCat("open cgroup ", cgroup_path), errno);
    struct stat st;
    if (fstat(cg, &st) != 0) {
      int err = errno;
      close(cg);
      return Errno(absl::StrCat("stat cgroup ", cgroup_path), err);
    }
    absl::Status status;
    for (const SockProgram& p : kSockPrograms) {
      status = AttachSock(cg, static_cast<uint64_t>(st.st_ino), cgroup_path, p);
      if (!status.ok()) break;
    }
    close(cg);
    return status;
  }

  absl::Status DetachSocketLb() override {
    for (const SockProgram& p : kSockPrograms) {
      const std::string path = absl::StrCat(pin_dir_, "/", p.pin);
      int fd = bpf_obj_get(path.c_str());
      if (fd < 0) {
        if (errno == ENOENT) continue;
        return Errno(absl::StrCat("open pinned link ", path), errno);
      }
      bpf_link_detach(fd);
      close(fd);
      if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        return Errno(absl::StrCat("unpin ", path), errno);
      }
    }
    return absl::OkStatus();
  }

 private:
  // One socket program on the cgroup: the pinned link of a previous run is
  // pointed at the new program in place (no moment without translation);
  // a link to another cgroup is removed first.
  absl::Status AttachSock(int cgroup_fd, uint64_t cgroup_id, const std::string& cgroup_path,
                          const SockProgram& p) {
    const std::string path = absl::StrCat(pin_dir_, "/", p.pin);
    bpf_program* prog = p.get(sock_);
    int fd = bpf_obj_get(path.c_str());
    if (fd >= 0) {
      if (LinkCgroupId(fd) == cgroup_id) {
        int err = bpf_link_update(fd, bpf_program__fd(prog), nullptr);
        close(fd);
        if (err != 0) return Errno(absl::StrCat("update the link at ", path), -err);
        return absl::OkStatus();
      }
      bpf_link_detach(fd);
      close(fd);
      unlink(path.c_str());
    }
    bpf_link* link = bpf_program__attach_cgroup(prog, cgroup_fd);
    if (link == nullptr) {
      return Errno(absl::StrCat("attach ", bpf_program__name(prog), " to cgroup ", cgroup_path),
                   errno);
    }
    int err = bpf_link__pin(link, path.c_str());
    if (err != 0) {
      bpf_link__destroy(link);
      return Errno(absl::StrCat("pin the link of ", bpf_program__name(prog), " at ", path), -err);
    }
    // The pin keeps the link (and the attachment) alive after our fd closes.
    bpf_link__disconnect(link);
    bpf_link__destroy(link);
    return absl::OkStatus();
  }

  // The clsact qdisc holds both the ingress and the egress hook.
  absl::Status EnsureClsact(int ifindex) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
    int err = bpf_tc_hook_create(&hook);
    if (err != 0 && err != -EEXIST) {
      return Errno(absl::StrCat("create clsact on ifindex ", ifindex), -err);
    }
    return absl::OkStatus();
  }

  absl::Status Attach(int ifindex, bpf_tc_attach_point point, int prog_fd, const char* prog) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE,
                .handle = kTcHandle, .priority = kTcPriority);
    int err = bpf_tc_attach(&hook, &opts);
    if (err != 0) {
      return Errno(
          absl::StrCat("attach ", prog, " to tc ", HookName(point), " of ifindex ", ifindex), -err);
    }
    return absl::OkStatus();
  }

  const std::string pin_dir_;
  bpf_lxc* lxc_;
  bpf_netdev* netdev_;
  bpf_sock_lb* sock_;
  BpfEndpointMap endpoints_;
  std::unique_ptr<ServiceMap> services_;
  // The maps' contents as this process last wrote them (none yet: the pinned
  // maps may hold a previous run's sets).
  std::optional<std::vector<lpm4_key>> nonmasq_;
  std::optional<std::vector<lpm4_key>> strict_;
};

}  // namespace

absl::Status ValidateNetdevOptions(const NetdevOptions& options) {
  if (!options.masquerade) return absl::OkStatus();
  if (!options.masquerade_ipv4.has_value()) {
    return absl::InvalidArgumentError("masquerade needs the device's IPv4 address, none given");
  }
  if (!options.masquerade_ipv4->is_v4() || options.masquerade_ipv4->v4() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "masquerade needs the device's IPv4 address, got ", options.masquerade_ipv4->ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Datapath>> Datapath::Load(const std::string& pin_dir) {
  if (auto s = EnsureBpffs(pin_dir); !s.ok()) return s;
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = pin_dir.c_str());
  bpf_lxc* lxc = bpf_lxc__open_opts(&open_opts);
  if (lxc == nullptr) return Errno("open bpf_lxc", errno);
  if (int err = bpf_lxc__load(lxc); err != 0) {
    bpf_lxc__destroy(lxc);
    return Errno("load bpf_lxc (verifier or map pinning)", -err);
  }
  bpf_netdev* netdev = bpf_netdev__open_opts(&open_opts);
  if (netdev == nullptr) {
    bpf_lxc__destroy(lxc);
    return Errno("open bpf_netdev", errno);
  }
  if (int err = bpf_netdev__load(netdev); err != 0) {
    bpf_netdev__destroy(netdev);
    bpf_lxc__destroy(lxc);
    return Errno("load bpf_netdev (verifier or map pinning)", -err);
  }
  bpf_sock_lb* sock = bpf_sock_lb__open_opts(&open_opts);
  if (sock == nullptr) {
    bpf_netdev__destroy(netdev);
    bpf_lxc__destroy(lxc);
    return Errno("open bpf_sock_lb", errno);
  }
  if (int err = bpf_sock_lb__load(sock); err != 0) {
    bpf_sock_lb__destroy(sock);
    bpf_netdev__destroy(netdev);
    bpf_lxc__destroy(lxc);
    return Errno("load bpf_sock_lb (verifier or map pinning)", -err);
  }
  return std::unique_ptr<Datapath>(new DatapathImpl(pin_dir, lxc, netdev, sock));
}

absl::Status RemovePins(const std::string& pin_dir) {
  DIR* d = opendir(pin_dir.c_str());
  if (d == nullptr) return errno == ENOENT ? absl::OkStatus() : Errno("open " + pin_dir, errno);
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    unlink((pin_dir + "/" + n).c_str());
  }
  closedir(d);
  if (rmdir(pin_dir.c_str()) != 0 && errno != ENOENT) return Errno("remove " + pin_dir, errno);
  return absl::OkStatus();
}

}  // namespace weft::datapath
