#include "agent/wireguard/genl.h"

#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "agent/wireguard/link.h"
#include "common/netns/netns.h"
#include "common/status_macros.h"

namespace weft::wireguard {
namespace {

constexpr size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }
constexpr size_t AttrSize(size_t payload) { return Align4(NLA_HDRLEN + payload); }
constexpr size_t kNestHeader = NLA_HDRLEN;

absl::StatusCode CodeForErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
      return absl::StatusCode::kNotFound;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case EPERM:
    case EACCES:
      return absl::StatusCode::kPermissionDenied;
    case EINVAL:
    case ERANGE:
      return absl::StatusCode::kInvalidArgument;
    case EOPNOTSUPP:
      return absl::StatusCode::kUnimplemented;
    case EAGAIN:
    case EBUSY:
    case ENOBUFS:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status Prefixed(const absl::Status& s, const std::string& what) {
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

// Builds one netlink message: header, family header, attributes (nestable).
class Builder {
 public:
  Builder(uint16_t type, uint16_t flags) {
    buf_.resize(NLMSG_HDRLEN);
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    memcpy(buf_.data(), &h, sizeof(h));
  }
  template <typename T>
  void Header(const T& t) {
    Put(&t, sizeof(t));
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    nlattr a{static_cast<uint16_t>(NLA_HDRLEN + len), type};
    Put(&a, sizeof(a));
    Put(data, len);
  }
  void U8(uint16_t type, uint8_t v) { Attr(type, &v, 1); }
  void U16(uint16_t type, uint16_t v) { Attr(type, &v, 2); }
  void U32(uint16_t type, uint32_t v) { Attr(type, &v, 4); }
  void Str(uint16_t type, const std::string& s) { Attr(type, s.c_str(), s.size() + 1); }
  size_t BeginNest(uint16_t type) {
    size_t off = buf_.size();
    nlattr a{0, static_cast<uint16_t>(type | NLA_F_NESTED)};
    Put(&a, sizeof(a));
    return off;
  }
  void EndNest(size_t off) {
    uint16_t len = static_cast<uint16_t>(buf_.size() - off);
    memcpy(buf_.data() + off, &len, sizeof(len));
  }
  size_t size() const { return buf_.size(); }
  std::vector<uint8_t> Finish() {
    uint32_t len = static_cast<uint32_t>(buf_.size());
    memcpy(buf_.data(), &len, sizeof(len));
    return std::move(buf_);
  }

 private:
  void Put(const void* p, size_t n) {
    size_t off = buf_.size();
    buf_.resize(off + Align4(n), 0);
    if (n > 0) memcpy(buf_.data() + off, p, n);
  }
  std::vector<uint8_t> buf_;
};

void PutGenl(Builder& b, uint8_t cmd, uint8_t version) {
  genlmsghdr g{};
  g.cmd = cmd;
  g.version = version;
  b.Header(g);
}

struct RawAttr {
  uint16_t type;  // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
  absl::string_view data;
};

// Strict attribute parsing: every byte must belong to a well-formed attribute.
absl::StatusOr<std::vector<RawAttr>> ParseAttrs(absl::string_view buf, absl::string_view where) {
  std::vector<RawAttr> out;
  size_t off = 0;
  while (off < buf.size()) {
    if (buf.size() - off < NLA_HDRLEN) {
      return absl::DataLossError(
          absl::StrCat(where, ": truncated attribute header (", buf.size() - off, " bytes left)"));
    }
    nlattr a;
    memcpy(&a, buf.data() + off, sizeof(a));
    if (a.nla_len < NLA_HDRLEN || a.nla_len > buf.size() - off) {
      return absl::DataLossError(absl::StrCat(where, ": attribute ", a.nla_type & NLA_TYPE_MASK,
                                              " claims ", a.nla_len, " bytes, ", buf.size() - off,
                                              " left"));
    }
    out.push_back({static_cast<uint16_t>(a.nla_type & NLA_TYPE_MASK),
                   buf.substr(off + NLA_HDRLEN, a.nla_len - NLA_HDRLEN)});
    off += std::min(Align4(a.nla_len), buf.size() - off);
  }
  return out;
}

template <typename T>
T Load(absl::string_view data) {
  T v;
  memcpy(&v, data.data(), sizeof(T));
  return v;
}

absl::Status WrongSize(absl::string_view where, absl::string_view what, size_t got) {
  return absl::DataLossError(absl::StrCat(where, ": ", what, " has ", got, " bytes"));
}

net::IpAddress IpFromBytes(absl::string_view raw) {
  absl::uint128 v = 0;
  for (unsigned char c : raw) v = (v << 8) | c;
  return raw.size() == 4 ? net::IpAddress::V4(static_cast<uint32_t>(v)) : net::IpAddress::V6(v);
}

std::string ExtAckMessage(absl::string_view msg, const nlmsghdr& h) {
  if ((h.nlmsg_flags & NLM_F_ACK_TLVS) == 0 || msg.size() < NLMSG_HDRLEN + sizeof(nlmsgerr)) {
    return "";
  }
  nlmsgerr e = Load<nlmsgerr>(msg.substr(NLMSG_HDRLEN));
  size_t payload = sizeof(nlmsgerr);
  if ((h.nlmsg_flags & NLM_F_CAPPED) == 0 && e.msg.nlmsg_len >= NLMSG_HDRLEN) {
    payload += e.msg.nlmsg_len - NLMSG_HDRLEN;
  }
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(payload);
  if (off >= msg.size()) return "";
  auto attrs = ParseAttrs(msg.substr(off), "extended ack");
  if (!attrs.ok()) return "";
  for (const RawAttr& a : *attrs) {
    if (a.type == NLMSGERR_ATTR_MSG)
      return std::string(a.data.data(), strnlen(a.data.data(), a.data.size()));
  }
  return "";
}

absl::Status ErrnoError(int err, const std::string& ext) {
  return absl::Status(CodeForErrno(err), absl::StrCat(strerror(err), " (errno ", err, ")",
                                                      ext.empty() ? "" : ": " + ext));
}

// The peer entry (type 0) in WGDEVICE_A_PEERS.
absl::StatusOr<PeerState> DecodePeer(absl::string_view data) {
  constexpr absl::string_view kWhere = "wireguard peer";
  ASSIGN_OR_RETURN(std::vector<RawAttr> attrs, ParseAttrs(data, kWhere));
  PeerState p;
  bool have_key = false;
  for (const RawAttr& a : attrs) {
    switch (a.type) {
      case WGPEER_A_PUBLIC_KEY:
        if (a.data.size() != kKeyLength) return WrongSize(kWhere, "public key", a.data.size());
        memcpy(p.public_key.bytes.data(), a.data.data(), kKeyLength);
        have_key = true;
        break;
      case WGPEER_A_ENDPOINT: {
        if (a.data.size() < sizeof(sa_family_t))
          return WrongSize(kWhere, "endpoint", a.data.size());
        sa_family_t family = Load<sa_family_t>(a.data);
        if (family == AF_INET) {
          if (a.data.size() < sizeof(sockaddr_in))
            return WrongSize(kWhere, "endpoint", a.data.size());
          sockaddr_in sin = Load<sockaddr_in>(a.data);
          p.endpoint =
              Endpoint{net::IpAddress::V4(ntohl(sin.sin_addr.s_addr)), ntohs(sin.sin_port)};
        } else if (family == AF_INET6) {
          if (a.data.size() < sizeof(sockaddr_in6))
            return WrongSize(kWhere, "endpoint", a.data.size());
          sockaddr_in6 sin6 = Load<sockaddr_in6>(a.data);
          p.endpoint = Endpoint{
              IpFromBytes(absl::string_view(reinterpret_cast<const char*>(&sin6.sin6_addr), 16)),
              ntohs(sin6.sin6_port)};
        }  // AF_UNSPEC (none yet) or unknown: no endpoint
        break;
      }
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
        if (a.data.size() != 2) return WrongSize(kWhere, "keepalive", a.data.size());
        p.persistent_keepalive = Load<uint16_t>(a.data);
        break;
      case WGPEER_A_LAST_HANDSHAKE_TIME: {
        if (a.data.size() != 16) return WrongSize(kWhere, "last handshake", a.data.size());
        int64_t sec = Load<int64_t>(a.data), nsec = Load<int64_t>(a.data.substr(8));
        if (sec != 0 || nsec != 0) {
          p.last_handshake = absl::FromUnixSeconds(sec) + absl::Nanoseconds(nsec);
        }
        break;
      }
      case WGPEER_A_RX_BYTES:
        if (a.data.size() != 8) return WrongSize(kWhere, "rx bytes", a.data.size());
        p.rx_bytes = Load<uint64_t>(a.data);
        break;
      case WGPEER_A_TX_BYTES:
        if (a.data.size() != 8) return WrongSize(kWhere, "tx bytes", a.data.size());
        p.tx_bytes = Load<uint64_t>(a.data);
        break;
      case WGPEER_A_ALLOWEDIPS: {
        ASSIGN_OR_RETURN(std::vector<RawAttr> entries, ParseAttrs(a.data, "allowed IPs"));
        for (const RawAttr& entry : entries) {
          ASSIGN_OR_RETURN(std::vector<RawAttr> fields, ParseAttrs(entry.data, "allowed IP"));
          std::optional<uint16_t> family;
          std::optional<absl::string_view> addr;
          std::optional<uint8_t> cidr;
          for (const RawAttr& f : fields) {
            if (f.type == WGALLOWEDIP_A_FAMILY) {
              if (f.data.size() != 2) return WrongSize("allowed IP", "family", f.data.size());
              family = Load<uint16_t>(f.data);
            } else if (f.type == WGALLOWEDIP_A_IPADDR) {
              addr = f.data;
            } else if (f.type == WGALLOWEDIP_A_CIDR_MASK) {
              if (f.data.size() != 1) return WrongSize("allowed IP", "cidr mask", f.data.size());
              cidr = static_cast<uint8_t>(f.data[0]);
            }
          }
          if (!family || !addr || !cidr) {
            return absl::DataLossError("allowed IP: family, address or mask missing");
          }
          const size_t want = *family == AF_INET ? 4 : *family == AF_INET6 ? 16 : 0;
          if (want == 0 || addr->size() != want) {
            return absl::DataLossError(absl::StrCat("allowed IP: family ", *family, " with a ",
                                                    addr->size(), "-byte address"));
          }
          if (*cidr > want * 8) {
            return absl::DataLossError(absl::StrCat("allowed IP: mask /", int{*cidr}));
          }
          p.allowed_ips.push_back(net::IpPrefix::Of(IpFromBytes(*addr), *cidr));
        }
        break;
      }
      default:  // preshared key, protocol version, newer attributes
        break;
    }
  }
  if (!have_key) return absl::DataLossError("wireguard peer without a public key");
  return p;
}

}  // namespace

// A netlink socket bound to one network namespace; one request at a time.
class NetlinkSocket {
 public:
  static absl::StatusOr<std::unique_ptr<NetlinkSocket>> Open(int protocol,
                                                             const std::string& netns_path) {
    int fd = -1;
    auto make = [&]() -> absl::Status {
      fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
      if (fd < 0) return absl::Status(CodeForErrno(errno), strerror(errno));
      return absl::OkStatus();
    };
    absl::Status s = netns_path.empty() ? make() : netns::RunIn(netns_path, make);
    if (!s.ok()) {
      return Prefixed(s, absl::StrCat("open netlink socket (protocol ", protocol, ")",
                                      netns_path.empty() ? "" : " in " + netns_path));
    }
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      int err = errno;
      close(fd);
      return absl::Status(CodeForErrno(err), absl::StrCat("bind netlink socket: ", strerror(err)));
    }
    return std::unique_ptr<NetlinkSocket>(new NetlinkSocket(fd));
  }
  ~NetlinkSocket() { close(fd_); }

  // Sends `msg`; returns the replies up to its ACK (a request; NLM_F_ACK is
  // added) or its NLMSG_DONE (a dump; the DONE message included). An error
  // reply becomes a Status prefixed with `what`.
  absl::StatusOr<std::vector<std::vector<uint8_t>>> Exchange(std::vector<uint8_t> msg,
                                                             const std::string& what) {
    nlmsghdr h;
    memcpy(&h, msg.data(), sizeof(h));
    const bool dump = (h.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
    if (!dump) h.nlmsg_flags |= NLM_F_ACK;
    h.nlmsg_seq = seq_++;
    memcpy(msg.data(), &h, sizeof(h));
    ssize_t sent;
    do {
      sent = send(fd_, msg.data(), msg.size(), 0);
    } while (sent < 0 && errno == EINTR);
    int send_err = errno;
    Wipe(msg);
    if (sent < 0) return Prefixed(ErrnoError(send_err, ""), what);

    std::vector<std::vector<uint8_t>> replies;
    std::vector<uint8_t> buf(1 << 15);
    // A device dump holds the private key: wipe the buffer on every way out.
    struct WipeOnExit {
      std::vector<uint8_t>& v;
      ~WipeOnExit() { Wipe(v); }
    } wipe_buf{buf};
    for (;;) {
      ssize_t n = recv(fd_, buf.data(), buf.size(), MSG_PEEK | MSG_TRUNC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        if (errno == EAGAIN) {
          return absl::DeadlineExceededError(absl::StrCat(what, ": no answer from the kernel"));
        }
        return Prefixed(ErrnoError(errno, ""), what);
      }
      if (static_cast<size_t>(n) > buf.size()) buf.resize(static_cast<size_t>(n));
      n = recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Prefixed(ErrnoError(errno, ""), what);
      size_t off = 0, len = static_cast<size_t>(n);
      while (off + NLMSG_HDRLEN <= len) {
        nlmsghdr r;
        memcpy(&r, buf.data() + off, sizeof(r));
        if (r.nlmsg_len < NLMSG_HDRLEN || r.nlmsg_len > len - off) break;
        std::vector<uint8_t> one(buf.begin() + off, buf.begin() + off + r.nlmsg_len);
        off += NLMSG_ALIGN(r.nlmsg_len);
        if (r.nlmsg_seq != h.nlmsg_seq) continue;
        if (r.nlmsg_type == NLMSG_ERROR) {
          absl::Status s = ParseNetlinkError(one);
          if (!s.ok()) return Prefixed(s, what);
          if (!dump) return replies;  // the ACK
          continue;
        }
        if (r.nlmsg_type == NLMSG_DONE) {
          absl::Status s = ParseNetlinkError(one);
          if (!s.ok()) return Prefixed(s, what);
          replies.push_back(std::move(one));
          if (dump) return replies;
          continue;
        }
        replies.push_back(std::move(one));
      }
    }
  }

 private:
  explicit NetlinkSocket(int fd) : fd_(fd) {}
  int fd_;
  uint32_t seq_ = 1;
};

absl::Status ParseNetlinkError(const std::vector<uint8_t>& message) {
  absl::string_view msg(reinterpret_cast<const char*>(message.data()), message.size());
  if (msg.size() < NLMSG_HDRLEN) {
    return absl::DataLossError(absl::StrCat("truncated netlink message (", msg.size(), " bytes)"));
  }
  nlmsghdr h = Load<nlmsghdr>(msg);
  if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > msg.size()) {
    return absl::DataLossError(
        absl::StrCat("netlink message claims ", h.nlmsg_len, " bytes, has ", msg.size()));
  }
  msg = msg.substr(0, h.nlmsg_len);
  if (h.nlmsg_type == NLMSG_ERROR) {
    if (msg.size() < NLMSG_HDRLEN + sizeof(int)) {
      return absl::DataLossError("truncated netlink error message");
    }
    int error = Load<int>(msg.substr(NLMSG_HDRLEN));
    if (error == 0) return absl::OkStatus();
    return ErrnoError(error < 0 ? -error : error, ExtAckMessage(msg, h));
  }
  if (h.nlmsg_type == NLMSG_DONE && msg.size() >= NLMSG_HDRLEN + sizeof(int)) {
    int error = Load<int>(msg.substr(NLMSG_HDRLEN));
    if (error < 0) return ErrnoError(-error, "");
  }
  return absl::OkStatus();
}

std::vector<uint8_t> EncodeGetFamily(absl::string_view family) {
  Builder b(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK);
  PutGenl(b, CTRL_CMD_GETFAMILY, 1);
  b.Str(CTRL_ATTR_FAMILY_NAME, std::string(family));
  return b.Finish();
}

absl::StatusOr<uint16_t> DecodeFamilyId(const std::vector<std::vector<uint8_t>>& replies) {
  for (const auto& m : replies) {
    RETURN_IF_ERROR(ParseNetlinkError(m));
    if (m.size() < NLMSG_HDRLEN + GENL_HDRLEN) continue;
    nlmsghdr h =
        Load<nlmsghdr>(absl::string_view(reinterpret_cast<const char*>(m.data()), m.size()));
    if (h.nlmsg_type != GENL_ID_CTRL || h.nlmsg_len > m.size()) continue;
    absl::string_view body(reinterpret_cast<const char*>(m.data()) + NLMSG_HDRLEN + GENL_HDRLEN,
                           h.nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN);
    ASSIGN_OR_RETURN(std::vector<RawAttr> attrs, ParseAttrs(body, "generic netlink family"));
    for (const RawAttr& a : attrs) {
      if (a.type == CTRL_ATTR_FAMILY_ID) {
        if (a.data.size() != 2) return WrongSize("generic netlink family", "id", a.data.size());
        return Load<uint16_t>(a.data);
      }
    }
  }
  return absl::DataLossError("the family reply holds no family id");
}

std::vector<uint8_t> EncodeGetDevice(uint16_t family_id, const std::string& ifname) {
  Builder b(family_id, NLM_F_REQUEST | NLM_F_DUMP);
  PutGenl(b, WG_CMD_GET_DEVICE, WG_GENL_VERSION);
  b.Str(WGDEVICE_A_IFNAME, ifname);
  return b.Finish();
}

namespace {

uint32_t FirstPartFlags(const PeerChange& c) {
  switch (c.kind) {
    case PeerChange::Kind::kRemove:
      return WGPEER_F_REMOVE_ME;
    case PeerChange::Kind::kUpdate:
      return WGPEER_F_UPDATE_ONLY | (c.replace_allowed_ips ? WGPEER_F_REPLACE_ALLOWEDIPS : 0);
    case PeerChange::Kind::kAdd:
      return 0;
  }
  return 0;
}

size_t EndpointSize(const Endpoint& e) {
  return e.ip.is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

size_t AllowedIpSize(const net::IpPrefix& p) {
  return kNestHeader + AttrSize(2) + AttrSize(p.address().is_v4() ? 4 : 16) + AttrSize(1);
}

// The bytes of a peer entry before its allowed IPs.
size_t PeerHeaderSize(const PeerChange& c, bool first_part, uint32_t flags) {
  size_t n = kNestHeader + AttrSize(kKeyLength);
  if (flags != 0) n += AttrSize(4);
  if (first_part && c.endpoint) n += AttrSize(EndpointSize(*c.endpoint));
  if (first_part && c.persistent_keepalive) n += AttrSize(2);
  return n;
}

void PutEndpoint(Builder& b, const Endpoint& e) {
  if (e.ip.is_v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(e.port);
    sin.sin_addr.s_addr = htonl(e.ip.v4());
    b.Attr(WGPEER_A_ENDPOINT, &sin, sizeof(sin));
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(e.port);
    auto bytes = e.ip.bytes();
    memcpy(&sin6.sin6_addr, bytes.data(), 16);
    b.Attr(WGPEER_A_ENDPOINT, &sin6, sizeof(sin6));
  }
}

void PutAllowedIp(Builder& b, const net::IpPrefix& p) {
  size_t nest = b.BeginNest(0);
  const bool v4 = p.address().is_v4();
  b.U16(WGALLOWEDIP_A_FAMILY, v4 ? AF_INET : AF_INET6);
  auto bytes = p.address().bytes();
  b.Attr(WGALLOWEDIP_A_IPADDR, bytes.data(), v4 ? 4 : 16);
  b.U8(WGALLOWEDIP_A_CIDR_MASK, static_cast<uint8_t>(p.length()));
  b.EndNest(nest);
}

}  // namespace

std::vector<std::vector<uint8_t>> EncodeSetDevice(uint16_t family_id, const std::string& ifname,
                                                  const DevicePlan& plan,
                                                  size_t max_message_bytes) {
  std::vector<std::vector<uint8_t>> out;
  if (plan.empty()) return out;
  const size_t max = std::max(max_message_bytes, kMinMaxMessageBytes);
  Builder msg(0, 0);
  size_t peers_nest = 0;
  bool in_peers = false, has_peer = false;
  auto start = [&](bool first) {
    msg = Builder(family_id, NLM_F_REQUEST | NLM_F_ACK);
    PutGenl(msg, WG_CMD_SET_DEVICE, WG_GENL_VERSION);
    msg.Str(WGDEVICE_A_IFNAME, ifname);
    if (first) {
      if (plan.private_key)
        msg.Attr(WGDEVICE_A_PRIVATE_KEY, plan.private_key->bytes.data(), kKeyLength);
      if (plan.listen_port) msg.U16(WGDEVICE_A_LISTEN_PORT, *plan.listen_port);
      if (plan.fwmark) msg.U32(WGDEVICE_A_FWMARK, *plan.fwmark);
    }
    in_peers = has_peer = false;
  };
  auto flush = [&]() {
    if (in_peers) msg.EndNest(peers_nest);
    out.push_back(msg.Finish());
  };
  start(/*first=*/true);
  for (const PeerChange& c : plan.peers) {
    const std::vector<net::IpPrefix>& ips = c.allowed_ips;
    size_t next = 0;
    bool first_part = true;
    do {
      const uint32_t flags = first_part ? FirstPartFlags(c) : uint32_t{WGPEER_F_UPDATE_ONLY};
      size_t need = PeerHeaderSize(c, first_part, flags) + (in_peers ? 0 : kNestHeader);
      if (next < ips.size()) need += kNestHeader + AllowedIpSize(ips[next]);
      if (has_peer && msg.size() + need > max) {
        flush();
        start(/*first=*/false);
      }
      if (!in_peers) {
        peers_nest = msg.BeginNest(WGDEVICE_A_PEERS);
        in_peers = true;
      }
      size_t peer = msg.BeginNest(0);
      msg.Attr(WGPEER_A_PUBLIC_KEY, c.public_key.bytes.data(), kKeyLength);
      if (flags != 0) msg.U32(WGPEER_A_FLAGS, flags);
      if (first_part && c.endpoint) PutEndpoint(msg, *c.endpoint);
      if (first_part && c.persistent_keepalive) {
        msg.U16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
                static_cast<uint16_t>(*c.persistent_keepalive));
      }
      if (next < ips.size()) {
        size_t nest = msg.BeginNest(WGPEER_A_ALLOWEDIPS);
        size_t added = 0;
        while (next < ips.size() && (added == 0 || msg.size() + AllowedIpSize(ips[next]) <= max)) {
          PutAllowedIp(msg, ips[next++]);
          ++added;
        }
        msg.EndNest(nest);
      }
      msg.EndNest(peer);
      has_peer = true;
      first_part = false;
    } while (next < ips.size());
  }
  flush();
  return out;
}

absl::StatusOr<DeviceState> DecodeGetDevice(const std::vector<std::vector<uint8_t>>& messages) {
  DeviceState state;
  bool saw_device = false;
  for (const auto& buf : messages) {
    absl::string_view all(reinterpret_cast<const char*>(buf.data()), buf.size());
    size_t off = 0;
    while (off < all.size()) {
      if (all.size() - off < NLMSG_HDRLEN) {
        return absl::DataLossError("wireguard device dump: truncated netlink header");
      }
      nlmsghdr h = Load<nlmsghdr>(all.substr(off));
      if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > all.size() - off) {
        return absl::DataLossError(absl::StrCat("wireguard device dump: message claims ",
                                                h.nlmsg_len, " bytes, ", all.size() - off,
                                                " left"));
      }
      absl::string_view msg = all.substr(off, h.nlmsg_len);
      off += std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), all.size() - off);
      if (h.nlmsg_type == NLMSG_ERROR || h.nlmsg_type == NLMSG_DONE) {
        RETURN_IF_ERROR(ParseNetlinkError(std::vector<uint8_t>(msg.begin(), msg.end())));
        continue;
      }
      if (msg.size() < NLMSG_HDRLEN + GENL_HDRLEN) {
        return absl::DataLossError(
            "wireguard device dump: message without a generic netlink header");
      }
      genlmsghdr g = Load<genlmsghdr>(msg.substr(NLMSG_HDRLEN));
      if (g.cmd != WG_CMD_GET_DEVICE) {
        return absl::DataLossError(
            absl::StrCat("wireguard device dump: unexpected command ", int{g.cmd}));
      }
      saw_device = true;
      ASSIGN_OR_RETURN(std::vector<RawAttr> attrs,
                       ParseAttrs(msg.substr(NLMSG_HDRLEN + GENL_HDRLEN), "wireguard device"));
      for (const RawAttr& a : attrs) {
        switch (a.type) {
          case WGDEVICE_A_PUBLIC_KEY:
            if (a.data.size() != kKeyLength) {
              return WrongSize("wireguard device", "public key", a.data.size());
            }
            memcpy(state.public_key.bytes.data(), a.data.data(), kKeyLength);
            break;
          case WGDEVICE_A_LISTEN_PORT:
            if (a.data.size() != 2)
              return WrongSize("wireguard device", "listen port", a.data.size());
            state.listen_port = Load<uint16_t>(a.data);
            break;
          case WGDEVICE_A_FWMARK:
            if (a.data.size() != 4) return WrongSize("wireguard device", "fwmark", a.data.size());
            state.fwmark = Load<uint32_t>(a.data);
            break;
          case WGDEVICE_A_PEERS: {
            ASSIGN_OR_RETURN(std::vector<RawAttr> peers, ParseAttrs(a.data, "wireguard peers"));
            for (const RawAttr& entry : peers) {
              ASSIGN_OR_RETURN(PeerState p, DecodePeer(entry.data));
              // A peer whose allowed IPs did not fit continues in the next
              // message with only its key and more allowed IPs.
              if (!state.peers.empty() && state.peers.back().public_key == p.public_key) {
                auto& ips = state.peers.back().allowed_ips;
                ips.insert(ips.end(), p.allowed_ips.begin(), p.allowed_ips.end());
              } else {
                state.peers.push_back(std::move(p));
              }
            }
            break;
          }
          default:  // ifindex, ifname, the private key (deliberately not read)
            break;
        }
      }
    }
  }
  if (!saw_device) return absl::DataLossError("wireguard device dump: no device message");
  return state;
}

std::vector<uint8_t> EncodeNewWireguardLink(const std::string& ifname, int mtu) {
  Builder b(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
  ifinfomsg ifi{};
  b.Header(ifi);
  b.Str(IFLA_IFNAME, ifname);
  if (mtu > 0) b.U32(IFLA_MTU, static_cast<uint32_t>(mtu));
  size_t info = b.BeginNest(IFLA_LINKINFO);
  b.Str(IFLA_INFO_KIND, "wireguard");
  b.EndNest(info);
  return b.Finish();
}

namespace {

constexpr char kNoModule[] =
    "the wireguard kernel module is not available (generic netlink family \"wireguard\" not "
    "found)";

absl::StatusOr<uint16_t> ResolveFamily(NetlinkSocket& socket, const std::string& name) {
  auto replies = socket.Exchange(EncodeGetFamily(name),
                                 absl::StrCat("resolve generic netlink family \"", name, "\""));
  if (!replies.ok()) {
    if (absl::IsNotFound(replies.status()) && name == kGenlFamilyName) {
      return absl::NotFoundError(kNoModule);
    }
    return replies.status();
  }
  return DecodeFamilyId(*replies);
}

}  // namespace

absl::StatusOr<uint16_t> ResolveGenlFamily(const std::string& name, const std::string& netns_path) {
  ASSIGN_OR_RETURN(std::unique_ptr<NetlinkSocket> socket,
                   NetlinkSocket::Open(NETLINK_GENERIC, netns_path));
  return ResolveFamily(*socket, name);
}

absl::Status KernelWireguardAvailable(const std::string& netns_path) {
  return ResolveGenlFamily(kGenlFamilyName, netns_path).status();
}

absl::Status CreateKernelLink(const std::string& ifname, int mtu, const std::string& netns_path) {
  RETURN_IF_ERROR(ValidateInterfaceName(ifname));
  const std::string what = absl::StrCat("create wireguard link ", ifname);
  ASSIGN_OR_RETURN(std::unique_ptr<NetlinkSocket> socket,
                   NetlinkSocket::Open(NETLINK_ROUTE, netns_path));
  auto replies = socket->Exchange(EncodeNewWireguardLink(ifname, mtu), what);
  if (replies.ok()) return absl::OkStatus();
  if (absl::IsUnimplemented(replies.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat(replies.status().message(), " (the kernel has no wireguard link type)"));
  }
  return replies.status();
}

KernelDevice::KernelDevice(std::string ifname, std::unique_ptr<NetlinkSocket> socket,
                           uint16_t family_id)
    : ifname_(std::move(ifname)), socket_(std::move(socket)), family_id_(family_id) {}

KernelDevice::~KernelDevice() = default;

absl::StatusOr<std::unique_ptr<KernelDevice>> KernelDevice::Open(const std::string& ifname,
                                                                 const std::string& netns_path) {
  RETURN_IF_ERROR(ValidateInterfaceName(ifname));
  const std::string what = absl::StrCat("open kernel wireguard device ", ifname);
  auto socket = NetlinkSocket::Open(NETLINK_GENERIC, netns_path);
  if (!socket.ok()) return Prefixed(socket.status(), what);
  auto family = ResolveFamily(**socket, kGenlFamilyName);
  if (!family.ok()) return Prefixed(family.status(), what);
  std::unique_ptr<KernelDevice> dev(new KernelDevice(ifname, std::move(*socket), *family));
  auto state = dev->Get();
  if (!state.ok()) return state.status();
  return dev;
}

absl::StatusOr<DeviceState> KernelDevice::Get() {
  const std::string what = absl::StrCat("read wireguard device ", ifname_);
  auto replies = socket_->Exchange(EncodeGetDevice(family_id_, ifname_), what);
  if (!replies.ok()) {
    if (absl::IsNotFound(replies.status())) {
      return absl::NotFoundError(
          absl::StrCat(replies.status().message(), " (no kernel wireguard device of that name)"));
    }
    return replies.status();
  }
  auto state = DecodeGetDevice(*replies);
  for (auto& m : *replies) Wipe(m);  // the dump holds the private key
  if (!state.ok()) return Prefixed(state.status(), what);
  return state;
}

absl::Status KernelDevice::Apply(const DeviceConfig& config) {
  ASSIGN_OR_RETURN(DevicePlan plan, PlanApply(*this, config));
  if (plan.empty()) return absl::OkStatus();
  std::vector<std::vector<uint8_t>> messages = EncodeSetDevice(family_id_, ifname_, plan);
  absl::Status result;
  for (size_t i = 0; i < messages.size() && result.ok(); ++i) {
    // A failure after the first message leaves part of the plan applied; the
    // next Apply plans again from what the device then has.
    auto replies = socket_->Exchange(
        messages[i], absl::StrCat("configure wireguard device ", ifname_, " (", plan.Summary(),
                                  "; message ", i + 1, " of ", messages.size(), ")"));
    if (!replies.ok()) result = replies.status();
  }
  for (auto& m : messages) Wipe(m);
  if (plan.private_key) OPENSSL_cleanse(plan.private_key->bytes.data(), kKeyLength);
  return result;
}

}  // namespace weft::wireguard
