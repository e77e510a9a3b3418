#include "agent/datapath/datapath.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
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

lpm4_key Lpm4KeyOf(const net::IpPrefix& p) {
  lpm4_key k;
  memset(&k, 0, sizeof(k));
  k.prefixlen = static_cast<__u32>(p.length());
  memcpy(&k.addr, p.address().bytes().data(), 4);
  return k;
}

bool SameKey(const lpm4_key& a, const lpm4_key& b) {
  return a.prefixlen == b.prefixlen && a.addr == b.addr;
}

// Makes the IPv4 prefixes in the LPM trie `fd` equal the IPv4 ones of `cidrs`.
// `last` is what this process last wrote (nullopt: unknown, e.g. a pinned map
// from a previous run); the same set again is no work. Adds before removing,
// so a prefix in both the old and the new set is never missing, not even for
// one packet.
absl::Status ReplaceLpm4(int fd, const std::vector<net::IpPrefix>& cidrs, size_t max_entries,
                         const char* what, std::optional<std::vector<lpm4_key>>* last) {
  std::vector<lpm4_key> want;
  for (const auto& p : cidrs) {
    if (p.family() == net::Family::kV4) want.push_back(Lpm4KeyOf(p));
  }
  if (*last && std::equal(want.begin(), want.end(), (*last)->begin(), (*last)->end(), SameKey)) {
    return absl::OkStatus();
  }
  if (want.size() > max_entries) {
    return absl::InvalidArgumentError(absl::StrCat(want.size(), " ", what,
                                                   " prefixes: more than the map holds (",
                                                   max_entries, ")"));
  }
  for (const auto& key : want) {
    __u32 value = 0;
    if (bpf_map_update_elem(fd, &key, &value, BPF_ANY) != 0) {
      return Errno(absl::StrCat("update the ", what, " map"), errno);
    }
  }
  std::vector<lpm4_key> stale;
  lpm4_key cur, next;
  lpm4_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (std::none_of(want.begin(), want.end(), [&](const lpm4_key& k) { return SameKey(k, next); })) {
      stale.push_back(next);
    }
    cur = next;
    prev = &cur;
  }
  for (auto& k : stale) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT) {
      return Errno(absl::StrCat("delete from the ", what, " map"), errno);
    }
  }
  *last = std::move(want);
  return absl::OkStatus();
}

class DatapathImpl : public Datapath {
 public:
  DatapathImpl(bpf_lxc* lxc, bpf_netdev* netdev)
      : lxc_(lxc), netdev_(netdev), endpoints_(bpf_map__fd(lxc->maps.weft_endpoints_v1)) {}
  ~DatapathImpl() override {
    // Destroying the skeletons closes our fds; attached filters and pinned maps
    // stay in the kernel, which is what keeps traffic flowing across restarts.
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

 private:
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

  bpf_lxc* lxc_;
  bpf_netdev* netdev_;
  BpfEndpointMap endpoints_;
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
  return std::unique_ptr<Datapath>(new DatapathImpl(lxc, netdev));
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
