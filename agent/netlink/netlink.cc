#include "agent/netlink/netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/net/mac.h"

namespace weft::netlink {
namespace {

absl::Status Errno(const std::string& what, int err) {
  std::string msg = absl::StrCat(what, ": ", strerror(err));
  switch (err) {
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case ENOENT:
    case ENODEV:
    case ESRCH:
    case EADDRNOTAVAIL:  // deleting an address the link does not have
      return absl::NotFoundError(msg);
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

constexpr size_t Align(size_t n) { return (n + 3) & ~size_t{3}; }

}  // namespace

// Builds one netlink request: header, family struct, attributes (nestable).
class Request {
 public:
  Request(uint16_t type, uint16_t flags) {
    buf_.resize(NLMSG_HDRLEN);
    auto* h = reinterpret_cast<nlmsghdr*>(buf_.data());
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | flags;
  }
  template <typename T>
  void Header(const T& t) {
    Put(&t, sizeof(t));
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    rtattr a{static_cast<unsigned short>(RTA_LENGTH(len)), type};
    Put(&a, sizeof(a));
    Put(data, len);
  }
  void AttrU8(uint16_t type, uint8_t v) { Attr(type, &v, 1); }
  void AttrU16(uint16_t type, uint16_t v) { Attr(type, &v, 2); }
  void AttrU32(uint16_t type, uint32_t v) { Attr(type, &v, 4); }
  void AttrStr(uint16_t type, const std::string& s) { Attr(type, s.c_str(), s.size() + 1); }
  void AttrIp(uint16_t type, const net::IpAddress& ip) {
    auto b = ip.bytes();
    Attr(type, b.data(), ip.is_v4() ? 4 : 16);
  }
  size_t BeginNest(uint16_t type) {
    size_t off = buf_.size();
    rtattr a{0, static_cast<unsigned short>(type | NLA_F_NESTED)};
    Put(&a, sizeof(a));
    return off;
  }
  void EndNest(size_t off) {
    reinterpret_cast<rtattr*>(buf_.data() + off)->rta_len = static_cast<unsigned short>(buf_.size() - off);
  }
  std::vector<uint8_t>& Finish() {
    reinterpret_cast<nlmsghdr*>(buf_.data())->nlmsg_len = static_cast<uint32_t>(buf_.size());
    return buf_;
  }

 private:
  void Put(const void* p, size_t n) {
    size_t off = buf_.size();
    buf_.resize(off + Align(n), 0);
    memcpy(buf_.data() + off, p, n);
  }
  std::vector<uint8_t> buf_;
};

namespace {

// Attributes that follow a family header of `hdr_len` bytes in a reply message.
std::vector<std::pair<uint16_t, absl::string_view>> Attrs(const uint8_t* data, size_t len) {
  std::vector<std::pair<uint16_t, absl::string_view>> out;
  size_t off = 0;
  while (off + sizeof(rtattr) <= len) {
    auto* a = reinterpret_cast<const rtattr*>(data + off);
    if (a->rta_len < sizeof(rtattr) || off + a->rta_len > len) break;
    out.push_back({static_cast<uint16_t>(a->rta_type & NLA_TYPE_MASK),
                   absl::string_view(reinterpret_cast<const char*>(data + off + RTA_LENGTH(0)),
                                     a->rta_len - RTA_LENGTH(0))});
    off += Align(a->rta_len);
  }
  return out;
}

template <typename T>
std::vector<std::pair<uint16_t, absl::string_view>> MessageAttrs(const std::vector<uint8_t>& msg) {
  size_t start = NLMSG_HDRLEN + Align(sizeof(T));
  if (msg.size() < start) return {};
  return Attrs(msg.data() + start, msg.size() - start);
}

template <typename T>
const T* Family(const std::vector<uint8_t>& msg) {
  return msg.size() >= NLMSG_HDRLEN + sizeof(T) ? reinterpret_cast<const T*>(msg.data() + NLMSG_HDRLEN)
                                                 : nullptr;
}

net::IpAddress IpFrom(absl::string_view raw) {
  absl::uint128 v = 0;
  for (unsigned char c : raw) v = (v << 8) | c;
  return raw.size() == 4 ? net::IpAddress::V4(static_cast<uint32_t>(v)) : net::IpAddress::V6(v);
}

std::vector<std::pair<uint16_t, absl::string_view>> NestedAttrs(absl::string_view nest) {
  return Attrs(reinterpret_cast<const uint8_t*>(nest.data()), nest.size());
}

std::array<uint8_t, 6> MacFrom(absl::string_view raw) {
  std::array<uint8_t, 6> mac{};
  memcpy(mac.data(), raw.data(), 6);
  return mac;
}

// IFLA_INFO_DATA of a "vxlan" link.
VxlanInfo ParseVxlan(absl::string_view data) {
  VxlanInfo v;
  for (const auto& [type, val] : NestedAttrs(data)) {
    if (type == IFLA_VXLAN_ID && val.size() == 4) {
      memcpy(&v.vni, val.data(), 4);
    } else if (type == IFLA_VXLAN_PORT && val.size() == 2) {
      uint16_t port_be;
      memcpy(&port_be, val.data(), 2);
      v.port = ntohs(port_be);
    } else if ((type == IFLA_VXLAN_LOCAL && val.size() == 4) ||
               (type == IFLA_VXLAN_LOCAL6 && val.size() == 16)) {
      v.local = IpFrom(val);
    } else if (type == IFLA_VXLAN_LINK && val.size() == 4) {
      memcpy(&v.underlay_index, val.data(), 4);
    } else if (type == IFLA_VXLAN_LEARNING && val.size() == 1) {
      v.learning = val[0] != 0;
    }
  }
  return v;
}

Link ParseLink(const std::vector<uint8_t>& msg) {
  Link l;
  const auto* ifi = Family<ifinfomsg>(msg);
  if (ifi == nullptr) return l;
  l.index = ifi->ifi_index;
  l.up = (ifi->ifi_flags & IFF_UP) != 0;
  for (const auto& [type, val] : MessageAttrs<ifinfomsg>(msg)) {
    if (type == IFLA_IFNAME) {
      l.name = std::string(val.data(), strnlen(val.data(), val.size()));
    } else if (type == IFLA_ADDRESS && val.size() == 6) {
      l.mac = MacFrom(val);
    } else if (type == IFLA_MTU && val.size() == 4) {
      memcpy(&l.mtu, val.data(), 4);
    } else if (type == IFLA_LINKINFO) {
      absl::string_view info_data;
      for (const auto& [t2, v2] : NestedAttrs(val)) {
        if (t2 == IFLA_INFO_KIND) l.kind = std::string(v2.data(), strnlen(v2.data(), v2.size()));
        if (t2 == IFLA_INFO_DATA) info_data = v2;
      }
      if (l.kind == "vxlan") l.vxlan = ParseVxlan(info_data);
    }
  }
  return l;
}

std::string RouteName(const RouteSpec& r) {
  std::string s = r.dst.ToString();
  if (r.gateway) absl::StrAppend(&s, " via ", r.gateway->ToString());
  if (r.oif) absl::StrAppend(&s, " dev #", r.oif);
  return s;
}

// Scoped switch of the calling thread's network namespace.
class NamespaceSwitch {
 public:
  static absl::StatusOr<std::unique_ptr<NamespaceSwitch>> Enter(const std::string& path) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return Errno("open /proc/thread-self/ns/net", errno);
    int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      int err = errno;
      close(self);
      return Errno(absl::StrCat("open network namespace ", path), err);
    }
    if (setns(target, CLONE_NEWNET) != 0) {
      int err = errno;
      close(self);
      close(target);
      return Errno(absl::StrCat("enter network namespace ", path), err);
    }
    close(target);
    return std::unique_ptr<NamespaceSwitch>(new NamespaceSwitch(self));
  }
  ~NamespaceSwitch() {
    setns(self_, CLONE_NEWNET);
    close(self_);
  }

 private:
  explicit NamespaceSwitch(int self) : self_(self) {}
  int self_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Netlink>> Netlink::Open() {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return Errno("open rtnetlink socket", errno);
  int one = 1;
  // Extended ACKs carry the kernel's own reason text; harmless when unsupported.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    int err = errno;
    close(fd);
    return Errno("bind rtnetlink socket", err);
  }
  return std::unique_ptr<Netlink>(new Netlink(fd));
}

absl::StatusOr<std::unique_ptr<Netlink>> Netlink::OpenInNamespace(const std::string& netns_path) {
  auto sw = NamespaceSwitch::Enter(netns_path);
  if (!sw.ok()) return sw.status();
  return Open();  // the socket belongs to the namespace it was created in
}

Netlink::~Netlink() { close(fd_); }

absl::Status Netlink::Exchange(std::vector<uint8_t>& msg, uint16_t flags, const std::string& what,
                              const std::function<bool(const nlmsghdr*, absl::Status*)>& on_reply) {
  auto* h = reinterpret_cast<nlmsghdr*>(msg.data());
  h->nlmsg_flags |= flags;
  h->nlmsg_seq = seq_++;
  if (send(fd_, msg.data(), msg.size(), 0) < 0) return Errno(what, errno);
  std::vector<uint8_t> buf(1 << 16);
  for (;;) {
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(what, errno);
    }
    for (auto* r = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(r, static_cast<size_t>(n));
         r = NLMSG_NEXT(r, n)) {
      if (r->nlmsg_seq != h->nlmsg_seq) continue;
      absl::Status status;
      if (on_reply(r, &status)) return status;
    }
  }
}

absl::Status Netlink::Transact(std::vector<uint8_t>& msg, const std::string& what) {
  return Exchange(msg, NLM_F_ACK, what, [&](const nlmsghdr* r, absl::Status* status) {
    if (r->nlmsg_type != NLMSG_ERROR) return false;
    int err = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(r))->error;
    *status = err == 0 ? absl::OkStatus() : Errno(what, -err);
    return true;
  });
}

absl::StatusOr<std::vector<std::vector<uint8_t>>> Netlink::Dump(std::vector<uint8_t>& msg,
                                                                 const std::string& what) {
  std::vector<std::vector<uint8_t>> out;
  absl::Status s = Exchange(msg, NLM_F_DUMP, what, [&](const nlmsghdr* r, absl::Status* status) {
    if (r->nlmsg_type == NLMSG_DONE) return true;
    if (r->nlmsg_type == NLMSG_ERROR) {
      int err = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(r))->error;
      if (err == 0) return false;
      *status = Errno(what, -err);
      return true;
    }
    const auto* p = reinterpret_cast<const uint8_t*>(r);
    out.emplace_back(p, p + r->nlmsg_len);
    return false;
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<Link> Netlink::GetOneLink(std::vector<uint8_t>& msg, const std::string& what) {
  std::optional<Link> link;
  absl::Status s = Exchange(msg, 0, what, [&](const nlmsghdr* r, absl::Status* status) {
    if (r->nlmsg_type == NLMSG_ERROR) {
      int err = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(r))->error;
      *status = err == 0 ? absl::OkStatus() : Errno(what, -err);
      return true;
    }
    if (r->nlmsg_type != RTM_NEWLINK) return false;
    const auto* p = reinterpret_cast<const uint8_t*>(r);
    link = ParseLink(std::vector<uint8_t>(p, p + r->nlmsg_len));
    return true;
  });
  if (!s.ok()) return s;
  if (!link) return absl::NotFoundError(absl::StrCat(what, ": no such device"));
  return *link;
}

absl::StatusOr<Link> Netlink::GetLink(const std::string& name) {
  Request req(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  req.Header(ifi);
  req.AttrStr(IFLA_IFNAME, name);
  return GetOneLink(req.Finish(), absl::StrCat("get link ", name));
}

absl::StatusOr<Link> Netlink::GetLink(int index) {
  Request req(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_index = index;
  req.Header(ifi);
  return GetOneLink(req.Finish(), absl::StrCat("link #", index));
}

absl::StatusOr<std::vector<Link>> Netlink::ListLinks() {
  Request req(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  req.Header(ifi);
  auto msgs = Dump(req.Finish(), "list links");
  if (!msgs.ok()) return msgs.status();
  std::vector<Link> out;
  for (const auto& m : *msgs) out.push_back(ParseLink(m));
  return out;
}

namespace {

// The common head of a request that creates a link of `kind`; returns the
// IFLA_LINKINFO nest for the caller to fill with IFLA_INFO_DATA and close.
size_t BeginNewLink(Request& req, const std::string& name, int mtu, const char* kind) {
  ifinfomsg ifi{};
  req.Header(ifi);
  req.AttrStr(IFLA_IFNAME, name);
  if (mtu > 0) req.AttrU32(IFLA_MTU, mtu);
  size_t info = req.BeginNest(IFLA_LINKINFO);
  req.AttrStr(IFLA_INFO_KIND, kind);
  return info;
}

}  // namespace

absl::Status Netlink::CreateVeth(const std::string& name, const std::string& peer_name, int mtu,
                                 int peer_netns_fd) {
  Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  size_t info = BeginNewLink(req, name, mtu, "veth");
  size_t data = req.BeginNest(IFLA_INFO_DATA);
  size_t peer = req.BeginNest(VETH_INFO_PEER);
  ifinfomsg peer_ifi{};
  req.Header(peer_ifi);
  req.AttrStr(IFLA_IFNAME, peer_name);
  if (mtu > 0) req.AttrU32(IFLA_MTU, mtu);
  if (peer_netns_fd >= 0) req.AttrU32(IFLA_NET_NS_FD, peer_netns_fd);
  req.EndNest(peer);
  req.EndNest(data);
  req.EndNest(info);
  return Transact(req.Finish(), absl::StrCat("create veth ", name, " <-> ", peer_name));
}

absl::Status Netlink::CreateVxlan(const std::string& name, uint32_t vni, int port,
                                  const net::IpAddress& local, int underlay_index, int mtu) {
  Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  size_t info = BeginNewLink(req, name, mtu, "vxlan");
  size_t data = req.BeginNest(IFLA_INFO_DATA);
  req.AttrU32(IFLA_VXLAN_ID, vni);
  req.AttrIp(local.is_v4() ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, local);
  if (underlay_index > 0) req.AttrU32(IFLA_VXLAN_LINK, underlay_index);
  req.AttrU16(IFLA_VXLAN_PORT, htons(static_cast<uint16_t>(port)));
  req.AttrU8(IFLA_VXLAN_LEARNING, 0);
  req.EndNest(data);
  req.EndNest(info);
  return Transact(req.Finish(), absl::StrCat("create vxlan ", name));
}

absl::Status Netlink::DeleteLink(const std::string& name) {
  Request req(RTM_DELLINK, 0);
  ifinfomsg ifi{};
  req.Header(ifi);
  req.AttrStr(IFLA_IFNAME, name);
  return Transact(req.Finish(), absl::StrCat("delete link ", name));
}

absl::Status Netlink::SetLinkUp(int index) {
  return ModifyLink(index, IFF_UP, [](Request&) {}, absl::StrCat("set link #", index, " up"));
}

absl::Status Netlink::SetMtu(int index, int mtu) {
  return ModifyLink(index, 0, [&](Request& r) { r.AttrU32(IFLA_MTU, mtu); },
                    absl::StrCat("set mtu ", mtu, " on link #", index));
}

absl::Status Netlink::RenameLink(int index, const std::string& name) {
  return ModifyLink(index, 0, [&](Request& r) { r.AttrStr(IFLA_IFNAME, name); },
                    absl::StrCat("rename link #", index, " to ", name));
}

absl::Status Netlink::SetMac(int index, const std::array<uint8_t, 6>& mac) {
  return ModifyLink(index, 0, [&](Request& r) { r.Attr(IFLA_ADDRESS, mac.data(), 6); },
                    absl::StrCat("set mac on link #", index));
}

absl::Status Netlink::ModifyLink(int index, unsigned set_flags,
                                 const std::function<void(Request&)>& attrs,
                                 const std::string& what) {
  Request req(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_index = index;
  ifi.ifi_flags = set_flags;
  ifi.ifi_change = set_flags;
  req.Header(ifi);
  attrs(req);
  return Transact(req.Finish(), what);
}

absl::Status Netlink::AddAddress(int index, const net::IpAddress& address, int prefix_length) {
  Request req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  ifaddrmsg ifa{};
  ifa.ifa_family = address.is_v4() ? AF_INET : AF_INET6;
  ifa.ifa_prefixlen = static_cast<unsigned char>(prefix_length);
  ifa.ifa_index = index;
  req.Header(ifa);
  req.AttrIp(IFA_LOCAL, address);
  req.AttrIp(IFA_ADDRESS, address);
  if (!address.is_v4()) {
    // Pods get their address before DAD could finish; skip it.
    req.AttrU32(IFA_FLAGS, IFA_F_NODAD);
  }
  return Transact(req.Finish(), absl::StrCat("add address ", address.ToString(), "/", prefix_length,
                                             " on link #", index));
}

absl::Status Netlink::DeleteAddress(int index, const net::IpAddress& address, int prefix_length) {
  Request req(RTM_DELADDR, 0);
  ifaddrmsg ifa{};
  ifa.ifa_family = address.is_v4() ? AF_INET : AF_INET6;
  ifa.ifa_prefixlen = static_cast<unsigned char>(prefix_length);
  ifa.ifa_index = index;
  req.Header(ifa);
  req.AttrIp(IFA_LOCAL, address);
  absl::Status s = Transact(req.Finish(), absl::StrCat("delete address ", address.ToString(), "/",
                                                       prefix_length, " on link #", index));
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

absl::StatusOr<std::vector<Address>> Netlink::ListAddresses(int index) {
  Request req(RTM_GETADDR, 0);
  ifaddrmsg ifa{};
  req.Header(ifa);
  auto msgs = Dump(req.Finish(), "list addresses");
  if (!msgs.ok()) return msgs.status();
  std::vector<Address> out;
  for (const auto& m : *msgs) {
    const auto* f = Family<ifaddrmsg>(m);
    if (f == nullptr || (index != 0 && static_cast<int>(f->ifa_index) != index)) continue;
    for (const auto& [type, val] : MessageAttrs<ifaddrmsg>(m)) {
      // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on
      // point-to-point links); IPv6 only sends IFA_ADDRESS.
      bool want = f->ifa_family == AF_INET ? type == IFA_LOCAL : type == IFA_ADDRESS;
      if (want && (val.size() == 4 || val.size() == 16)) {
        out.push_back({static_cast<int>(f->ifa_index), IpFrom(val), f->ifa_prefixlen});
      }
    }
  }
  return out;
}

namespace {

void FillRoute(Request& req, const RouteSpec& r, bool for_delete) {
  rtmsg rt{};
  rt.rtm_family = r.dst.family() == net::Family::kV4 ? AF_INET : AF_INET6;
  rt.rtm_dst_len = static_cast<unsigned char>(r.dst.length());
  rt.rtm_table = static_cast<unsigned char>(r.table < 256 ? r.table : static_cast<uint32_t>(RT_TABLE_UNSPEC));
  rt.rtm_protocol = r.protocol;
  rt.rtm_scope = for_delete ? RT_SCOPE_NOWHERE : (r.scope_link ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
  rt.rtm_type = RTN_UNICAST;
  if (r.onlink) rt.rtm_flags |= RTNH_F_ONLINK;
  req.Header(rt);
  req.AttrIp(RTA_DST, r.dst.address());
  if (r.table >= 256) req.AttrU32(RTA_TABLE, r.table);
  if (for_delete) return;
  if (r.gateway) req.AttrIp(RTA_GATEWAY, *r.gateway);
  if (r.oif) req.AttrU32(RTA_OIF, r.oif);
  if (r.prefsrc) req.AttrIp(RTA_PREFSRC, *r.prefsrc);
  if (r.mtu > 0) {
    size_t m = req.BeginNest(RTA_METRICS);
    req.AttrU32(RTAX_MTU, r.mtu);
    req.EndNest(m);
  }
}

}  // namespace

absl::Status Netlink::ReplaceRoute(const RouteSpec& route) {
  Request req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  FillRoute(req, route, false);
  return Transact(req.Finish(), absl::StrCat("replace route ", RouteName(route)));
}

absl::Status Netlink::DeleteRoute(const RouteSpec& route) {
  Request req(RTM_DELROUTE, 0);
  FillRoute(req, route, true);
  absl::Status s = Transact(req.Finish(), absl::StrCat("delete route ", RouteName(route)));
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

absl::StatusOr<std::vector<RouteSpec>> Netlink::ListRoutes(uint8_t protocol, uint32_t table) {
  std::vector<RouteSpec> out;
  for (int family : {AF_INET, AF_INET6}) {
    Request req(RTM_GETROUTE, 0);
    rtmsg rt{};
    rt.rtm_family = static_cast<unsigned char>(family);
    req.Header(rt);
    auto msgs = Dump(req.Finish(), "list routes");
    if (!msgs.ok()) return msgs.status();
    for (const auto& m : *msgs) {
      const auto* f = Family<rtmsg>(m);
      if (f == nullptr || f->rtm_protocol != protocol) continue;
      RouteSpec r;
      r.protocol = f->rtm_protocol;
      r.table = f->rtm_table;
      r.scope_link = f->rtm_scope == RT_SCOPE_LINK;
      r.onlink = (f->rtm_flags & RTNH_F_ONLINK) != 0;
      net::IpAddress dst = family == AF_INET ? net::IpAddress::V4(0) : net::IpAddress::V6(0);
      for (const auto& [type, val] : MessageAttrs<rtmsg>(m)) {
        if (type == RTA_DST) dst = IpFrom(val);
        if (type == RTA_GATEWAY) r.gateway = IpFrom(val);
        if (type == RTA_OIF && val.size() == 4) memcpy(&r.oif, val.data(), 4);
        if (type == RTA_TABLE && val.size() == 4) memcpy(&r.table, val.data(), 4);
        if (type == RTA_PREFSRC) r.prefsrc = IpFrom(val);
      }
      if (r.table != table) continue;
      r.dst = net::IpPrefix::Of(dst, f->rtm_dst_len);
      out.push_back(r);
    }
  }
  return out;
}

absl::Status Netlink::ReplaceNeighbor(int index, const net::IpAddress& address,
                                      const std::array<uint8_t, 6>& mac) {
  Request req(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
  ndmsg nd{};
  nd.ndm_family = address.is_v4() ? AF_INET : AF_INET6;
  nd.ndm_ifindex = index;
  nd.ndm_state = NUD_PERMANENT;
  req.Header(nd);
  req.AttrIp(NDA_DST, address);
  req.Attr(NDA_LLADDR, mac.data(), 6);
  return Transact(req.Finish(), absl::StrCat("add neighbour ", address.ToString(), " on link #", index));
}

bool Neighbor::permanent() const { return (state & NUD_PERMANENT) != 0; }

absl::Status Netlink::DeleteNeighbor(int index, const net::IpAddress& address) {
  Request req(RTM_DELNEIGH, 0);
  ndmsg nd{};
  nd.ndm_family = address.is_v4() ? AF_INET : AF_INET6;
  nd.ndm_ifindex = index;
  req.Header(nd);
  req.AttrIp(NDA_DST, address);
  absl::Status s = Transact(
      req.Finish(), absl::StrCat("delete neighbour ", address.ToString(), " on link #", index));
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

absl::StatusOr<std::vector<Neighbor>> Netlink::ListNeighbors(int index) {
  Request req(RTM_GETNEIGH, 0);
  ndmsg nd{};  // AF_UNSPEC: the ARP and ND tables
  req.Header(nd);
  auto msgs = Dump(req.Finish(), "list neighbours");
  if (!msgs.ok()) return msgs.status();
  std::vector<Neighbor> out;
  for (const auto& m : *msgs) {
    const auto* f = Family<ndmsg>(m);
    if (f == nullptr || (f->ndm_family != AF_INET && f->ndm_family != AF_INET6)) continue;
    if (index != 0 && f->ndm_ifindex != index) continue;
    Neighbor n;
    n.index = f->ndm_ifindex;
    n.state = f->ndm_state;
    bool has_dst = false;
    for (const auto& [type, val] : MessageAttrs<ndmsg>(m)) {
      if (type == NDA_DST && (val.size() == 4 || val.size() == 16)) {
        n.address = IpFrom(val);
        has_dst = true;
      }
      if (type == NDA_LLADDR && val.size() == 6) n.mac = MacFrom(val);
    }
    if (has_dst) out.push_back(n);
  }
  return out;
}

namespace {

std::string FdbName(int index, const std::array<uint8_t, 6>& mac) {
  return absl::StrCat("fdb entry ", net::MacToString(mac), " on link #", index);
}

}  // namespace

absl::Status Netlink::ReplaceFdb(int index, const std::array<uint8_t, 6>& mac,
                                 const net::IpAddress& dst) {
  Request req(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
  ndmsg nd{};
  nd.ndm_family = AF_BRIDGE;
  nd.ndm_ifindex = index;
  nd.ndm_state = NUD_PERMANENT;
  nd.ndm_flags = NTF_SELF;  // the VXLAN device's own table, not a bridge master's
  req.Header(nd);
  req.Attr(NDA_LLADDR, mac.data(), 6);
  req.AttrIp(NDA_DST, dst);
  return Transact(req.Finish(),
                  absl::StrCat("replace ", FdbName(index, mac), " dst ", dst.ToString()));
}

absl::Status Netlink::DeleteFdb(int index, const std::array<uint8_t, 6>& mac) {
  Request req(RTM_DELNEIGH, 0);
  ndmsg nd{};
  nd.ndm_family = AF_BRIDGE;
  nd.ndm_ifindex = index;
  nd.ndm_flags = NTF_SELF;
  req.Header(nd);
  req.Attr(NDA_LLADDR, mac.data(), 6);
  absl::Status s = Transact(req.Finish(), absl::StrCat("delete ", FdbName(index, mac)));
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

absl::StatusOr<std::vector<FdbEntry>> Netlink::ListFdb(int index) {
  Request req(RTM_GETNEIGH, 0);
  ndmsg nd{};
  nd.ndm_family = AF_BRIDGE;
  req.Header(nd);
  // The dump covers every device (those without an FDB of their own list their
  // unicast and multicast addresses); keep the one asked for.
  auto msgs = Dump(req.Finish(), absl::StrCat("list fdb of link #", index));
  if (!msgs.ok()) return msgs.status();
  std::vector<FdbEntry> out;
  for (const auto& m : *msgs) {
    const auto* f = Family<ndmsg>(m);
    if (f == nullptr || f->ndm_family != AF_BRIDGE || f->ndm_ifindex != index) continue;
    FdbEntry e;
    e.permanent = (f->ndm_state & NUD_PERMANENT) != 0;
    bool has_mac = false;
    for (const auto& [type, val] : MessageAttrs<ndmsg>(m)) {
      if (type == NDA_LLADDR && val.size() == 6) {
        e.mac = MacFrom(val);
        has_mac = true;
      }
      if (type == NDA_DST && (val.size() == 4 || val.size() == 16)) e.dst = IpFrom(val);
    }
    if (has_mac) out.push_back(e);
  }
  return out;
}

absl::Status WriteSysctl(const std::string& name, const std::string& value) {
  std::string path = "/proc/sys/" + absl::StrReplaceAll(name, {{".", "/"}});
  std::ofstream f(path);
  if (!f) return Errno(absl::StrCat("open ", path), errno);
  f << value;
  f.close();
  if (!f) return Errno(absl::StrCat("write ", name, "=", value), errno);
  return absl::OkStatus();
}

absl::Status EnsureSoleIpv4Address(Netlink& nl, int index, const net::IpAddress& want) {
  absl::StatusOr<std::vector<Address>> addrs = nl.ListAddresses(index);
  if (!addrs.ok()) return addrs.status();
  bool present = false;
  for (const auto& a : *addrs) {
    if (!a.address.is_v4()) continue;
    if (a.address == want && a.prefix_length == 32) {
      present = true;
      continue;
    }
    if (absl::Status s = nl.DeleteAddress(index, a.address, a.prefix_length); !s.ok()) return s;
  }
  if (present) return absl::OkStatus();
  return nl.AddAddress(index, want, 32);
}

}  // namespace weft::netlink
