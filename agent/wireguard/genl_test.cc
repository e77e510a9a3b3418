// Generic netlink messages of the kernel WireGuard API, checked byte by byte
// with an independent attribute walker, and hand-built kernel replies decoded.
// No privileges; the last tests ask this kernel for the family.
#include "agent/wireguard/genl.h"

#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include <cstring>
#include <random>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace weft::wireguard {
namespace {

net::IpPrefix P(const char* text) { return *net::IpPrefix::Parse(text); }
Endpoint E(const char* text) { return *Endpoint::Parse(text); }
Key K(uint8_t fill) {
  Key k;
  k.bytes.fill(fill);
  return k;
}

constexpr uint16_t kFamily = 0x1f;

// ---- An independent reader for what the encoder writes ----

struct TAttr {
  uint16_t raw_type = 0;
  std::vector<uint8_t> data;
  uint16_t type() const { return raw_type & NLA_TYPE_MASK; }
  bool nested() const { return (raw_type & NLA_F_NESTED) != 0; }
  uint16_t u16() const {
    uint16_t v = 0;
    EXPECT_EQ(data.size(), 2u);
    memcpy(&v, data.data(), std::min<size_t>(2, data.size()));
    return v;
  }
  uint32_t u32() const {
    uint32_t v = 0;
    EXPECT_EQ(data.size(), 4u);
    memcpy(&v, data.data(), std::min<size_t>(4, data.size()));
    return v;
  }
  std::string str() const { return std::string(data.begin(), data.end()); }
};

// Walks attributes, checking lengths and 4-byte alignment as it goes.
std::vector<TAttr> Walk(const uint8_t* p, size_t len) {
  std::vector<TAttr> out;
  size_t off = 0;
  while (off < len) {
    EXPECT_EQ(off % 4, 0u);
    EXPECT_GE(len - off, 4u);
    if (len - off < 4) break;
    uint16_t alen, type;
    memcpy(&alen, p + off, 2);
    memcpy(&type, p + off + 2, 2);
    EXPECT_GE(alen, 4);
    EXPECT_LE(alen, len - off);
    if (alen < 4 || alen > len - off) break;
    out.push_back({type, std::vector<uint8_t>(p + off + 4, p + off + alen)});
    size_t next = off + ((alen + 3u) & ~3u);
    // Padding is zero.
    for (size_t i = off + alen; i < next && i < len; ++i) EXPECT_EQ(p[i], 0) << "padding";
    off = next;
  }
  EXPECT_EQ(off, len) << "attributes do not fill the message exactly";
  return out;
}
std::vector<TAttr> Walk(const std::vector<uint8_t>& v) { return Walk(v.data(), v.size()); }

const TAttr* Find(const std::vector<TAttr>& attrs, uint16_t type) {
  for (const auto& a : attrs) {
    if (a.type() == type) return &a;
  }
  return nullptr;
}

struct GenlMessage {
  nlmsghdr header{};
  genlmsghdr genl{};
  std::vector<TAttr> attrs;
};

GenlMessage ReadGenl(const std::vector<uint8_t>& m) {
  GenlMessage g;
  EXPECT_GE(m.size(), NLMSG_HDRLEN + GENL_HDRLEN);
  if (m.size() < NLMSG_HDRLEN + GENL_HDRLEN) return g;
  memcpy(&g.header, m.data(), sizeof(g.header));
  memcpy(&g.genl, m.data() + NLMSG_HDRLEN, sizeof(g.genl));
  EXPECT_EQ(g.header.nlmsg_len, m.size());
  EXPECT_EQ(m.size() % 4, 0u);
  g.attrs = Walk(m.data() + NLMSG_HDRLEN + GENL_HDRLEN, m.size() - NLMSG_HDRLEN - GENL_HDRLEN);
  return g;
}

// One peer entry of a SET message, read back.
struct SetPeer {
  Key key;
  uint32_t flags = 0;
  bool has_flags = false;
  std::vector<uint8_t> endpoint;
  std::optional<uint16_t> keepalive;
  std::vector<net::IpPrefix> ips;
};

std::vector<SetPeer> ReadPeers(const GenlMessage& g) {
  std::vector<SetPeer> out;
  const TAttr* peers = Find(g.attrs, WGDEVICE_A_PEERS);
  if (peers == nullptr) return out;
  EXPECT_TRUE(peers->nested());
  for (const TAttr& entry : Walk(peers->data)) {
    EXPECT_EQ(entry.type(), 0);
    EXPECT_TRUE(entry.nested());
    SetPeer p;
    for (const TAttr& a : Walk(entry.data)) {
      switch (a.type()) {
        case WGPEER_A_PUBLIC_KEY:
          EXPECT_EQ(a.data.size(), 32u);
          memcpy(p.key.bytes.data(), a.data.data(), std::min<size_t>(32, a.data.size()));
          break;
        case WGPEER_A_FLAGS:
          p.flags = a.u32();
          p.has_flags = true;
          break;
        case WGPEER_A_ENDPOINT:
          p.endpoint = a.data;
          break;
        case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
          p.keepalive = a.u16();
          break;
        case WGPEER_A_ALLOWEDIPS:
          EXPECT_TRUE(a.nested());
          for (const TAttr& ip : Walk(a.data)) {
            EXPECT_EQ(ip.type(), 0);
            EXPECT_TRUE(ip.nested());
            auto f = Walk(ip.data);
            const TAttr* fam = Find(f, WGALLOWEDIP_A_FAMILY);
            const TAttr* addr = Find(f, WGALLOWEDIP_A_IPADDR);
            const TAttr* cidr = Find(f, WGALLOWEDIP_A_CIDR_MASK);
            EXPECT_TRUE(fam && addr && cidr);
            if (!fam || !addr || !cidr) continue;
            EXPECT_EQ(addr->data.size(), fam->u16() == AF_INET ? 4u : 16u);
            EXPECT_EQ(cidr->data.size(), 1u);
            absl::uint128 v = 0;
            for (uint8_t b : addr->data) v = (v << 8) | b;
            net::IpAddress a4 = fam->u16() == AF_INET ? net::IpAddress::V4(static_cast<uint32_t>(v))
                                                      : net::IpAddress::V6(v);
            p.ips.push_back(net::IpPrefix::Of(a4, cidr->data[0]));
          }
          break;
        default:
          ADD_FAILURE() << "unexpected peer attribute " << a.type();
      }
    }
    out.push_back(p);
  }
  return out;
}

// ---- Hand-built kernel replies ----

class Msg {
 public:
  Msg(uint16_t type, uint16_t flags) : buf_(NLMSG_HDRLEN, 0) {
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    memcpy(buf_.data(), &h, sizeof(h));
  }
  Msg& Genl(uint8_t cmd) {
    genlmsghdr g{cmd, 1, 0};
    Raw(&g, sizeof(g));
    return *this;
  }
  Msg& Attr(uint16_t type, const void* data, size_t len) {
    AttrHeader(static_cast<uint16_t>(4 + len), type);
    Raw(data, len);
    return *this;
  }
  // An attribute header alone (for lying lengths).
  void AttrHeader(uint16_t len, uint16_t type) {
    uint16_t h[2] = {len, type};
    const uint8_t* b = reinterpret_cast<const uint8_t*>(h);
    buf_.insert(buf_.end(), b, b + 4);
  }
  template <typename T>
  Msg& Val(uint16_t type, T v) {
    return Attr(type, &v, sizeof(v));
  }
  size_t Begin(uint16_t type) {
    size_t off = buf_.size();
    uint16_t zero = 0, t = type | NLA_F_NESTED;
    buf_.insert(buf_.end(), reinterpret_cast<uint8_t*>(&zero),
                reinterpret_cast<uint8_t*>(&zero) + 2);
    buf_.insert(buf_.end(), reinterpret_cast<uint8_t*>(&t), reinterpret_cast<uint8_t*>(&t) + 2);
    return off;
  }
  void End(size_t off) {
    uint16_t len = static_cast<uint16_t>(buf_.size() - off);
    memcpy(buf_.data() + off, &len, 2);
  }
  std::vector<uint8_t> Done() {
    uint32_t len = static_cast<uint32_t>(buf_.size());
    memcpy(buf_.data(), &len, 4);
    return buf_;
  }
  void Raw(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
    while (buf_.size() % 4 != 0) buf_.push_back(0);
  }

 private:
  std::vector<uint8_t> buf_;
};

void PutKernelAllowedIp(Msg& m, const net::IpPrefix& p) {
  size_t n = m.Begin(0);
  m.Val<uint16_t>(WGALLOWEDIP_A_FAMILY, p.address().is_v4() ? AF_INET : AF_INET6);
  auto b = p.address().bytes();
  m.Attr(WGALLOWEDIP_A_IPADDR, b.data(), p.address().is_v4() ? 4 : 16);
  m.Val<uint8_t>(WGALLOWEDIP_A_CIDR_MASK, static_cast<uint8_t>(p.length()));
  m.End(n);
}

std::vector<uint8_t> ErrorMessage(int error, const std::string& ext = "") {
  Msg m(NLMSG_ERROR, ext.empty() ? 0 : (NLM_F_CAPPED | NLM_F_ACK_TLVS));
  nlmsgerr e{};
  e.error = error;
  e.msg.nlmsg_len = 36;
  m.Raw(&e, sizeof(e));
  if (!ext.empty()) m.Attr(NLMSGERR_ATTR_MSG, ext.c_str(), ext.size() + 1);
  return m.Done();
}

std::vector<uint8_t> DoneMessage(int error) {
  Msg m(NLMSG_DONE, NLM_F_MULTI);
  m.Raw(&error, sizeof(error));
  return m.Done();
}

// ---- Tests ----

TEST(GenlEncodeTest, GetDeviceIsADumpForOneInterface) {
  auto m = EncodeGetDevice(kFamily, "wg0");
  GenlMessage g = ReadGenl(m);
  EXPECT_EQ(g.header.nlmsg_type, kFamily);
  EXPECT_EQ(g.header.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(g.genl.cmd, WG_CMD_GET_DEVICE);
  EXPECT_EQ(g.genl.version, WG_GENL_VERSION);
  ASSERT_EQ(g.attrs.size(), 1u);
  EXPECT_EQ(g.attrs[0].type(), WGDEVICE_A_IFNAME);
  EXPECT_EQ(g.attrs[0].str(), std::string("wg0\0", 4));  // NUL-terminated
}

TEST(GenlEncodeTest, GetFamilyAsksTheController) {
  GenlMessage g = ReadGenl(EncodeGetFamily("wireguard"));
  EXPECT_EQ(g.header.nlmsg_type, GENL_ID_CTRL);
  EXPECT_EQ(g.genl.cmd, CTRL_CMD_GETFAMILY);
  ASSERT_EQ(g.attrs.size(), 1u);
  EXPECT_EQ(g.attrs[0].type(), CTRL_ATTR_FAMILY_NAME);
  EXPECT_EQ(g.attrs[0].str(), std::string("wireguard\0", 10));

  Msg reply(GENL_ID_CTRL, 0);
  reply.Genl(CTRL_CMD_NEWFAMILY);
  reply.Attr(CTRL_ATTR_FAMILY_NAME, "wireguard", 10);
  reply.Val<uint16_t>(CTRL_ATTR_FAMILY_ID, 0x2a);
  auto id = DecodeFamilyId({reply.Done()});
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 0x2a);
  EXPECT_EQ(DecodeFamilyId({ErrorMessage(-ENOENT)}).status().code(), absl::StatusCode::kNotFound);
}

TEST(GenlEncodeTest, SetDeviceLaysOutDeviceAndPeerAttributes) {
  DevicePlan plan;
  plan.private_key = K(0x11);
  plan.listen_port = 51820;
  plan.fwmark = 0x1234;
  PeerChange remove;
  remove.kind = PeerChange::Kind::kRemove;
  remove.public_key = K(0x22);
  PeerChange update;
  update.kind = PeerChange::Kind::kUpdate;
  update.public_key = K(0x33);
  update.endpoint = E("192.0.2.7:51821");
  update.replace_allowed_ips = true;
  update.allowed_ips = {P("10.244.3.0/24")};
  PeerChange add;
  add.kind = PeerChange::Kind::kAdd;
  add.public_key = K(0x44);
  add.endpoint = E("[2001:db8::9]:443");
  add.persistent_keepalive = 25;
  add.allowed_ips = {P("10.244.4.0/24"), P("fd00:4::/64")};
  plan.peers = {remove, update, add};

  auto msgs = EncodeSetDevice(kFamily, "wg0", plan);
  ASSERT_EQ(msgs.size(), 1u);
  GenlMessage g = ReadGenl(msgs[0]);
  EXPECT_EQ(g.header.nlmsg_type, kFamily);
  EXPECT_EQ(g.header.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(g.genl.cmd, WG_CMD_SET_DEVICE);
  EXPECT_EQ(g.genl.version, WG_GENL_VERSION);
  ASSERT_NE(Find(g.attrs, WGDEVICE_A_IFNAME), nullptr);
  EXPECT_EQ(Find(g.attrs, WGDEVICE_A_IFNAME)->str(), std::string("wg0\0", 4));
  ASSERT_NE(Find(g.attrs, WGDEVICE_A_PRIVATE_KEY), nullptr);
  const Key private_key = K(0x11);
  EXPECT_EQ(Find(g.attrs, WGDEVICE_A_PRIVATE_KEY)->data,
            std::vector<uint8_t>(private_key.bytes.begin(), private_key.bytes.end()));
  EXPECT_EQ(Find(g.attrs, WGDEVICE_A_LISTEN_PORT)->u16(), 51820);  // host order, as NLA_U16
  EXPECT_EQ(Find(g.attrs, WGDEVICE_A_FWMARK)->u32(), 0x1234u);
  EXPECT_EQ(Find(g.attrs, WGDEVICE_A_FLAGS), nullptr);  // never REPLACE_PEERS

  std::vector<SetPeer> peers = ReadPeers(g);
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_EQ(peers[0].key, K(0x22));
  EXPECT_EQ(peers[0].flags, uint32_t{WGPEER_F_REMOVE_ME});
  EXPECT_TRUE(peers[0].ips.empty());
  EXPECT_TRUE(peers[0].endpoint.empty());

  EXPECT_EQ(peers[1].key, K(0x33));
  EXPECT_EQ(peers[1].flags, uint32_t{WGPEER_F_UPDATE_ONLY | WGPEER_F_REPLACE_ALLOWEDIPS});
  ASSERT_EQ(peers[1].endpoint.size(), sizeof(sockaddr_in));
  sockaddr_in sin;
  memcpy(&sin, peers[1].endpoint.data(), sizeof(sin));
  EXPECT_EQ(sin.sin_family, AF_INET);
  EXPECT_EQ(ntohs(sin.sin_port), 51821);
  EXPECT_EQ(ntohl(sin.sin_addr.s_addr), 0xc0000207u);  // 192.0.2.7
  // The raw bytes: family (host order), port and address (network order).
  EXPECT_EQ(peers[1].endpoint[2], 0xca);  // 51821 = 0xca6d
  EXPECT_EQ(peers[1].endpoint[3], 0x6d);
  EXPECT_EQ(peers[1].endpoint[4], 192);
  EXPECT_EQ(peers[1].endpoint[7], 7);
  EXPECT_EQ(peers[1].ips, std::vector<net::IpPrefix>{P("10.244.3.0/24")});

  EXPECT_EQ(peers[2].key, K(0x44));
  EXPECT_FALSE(peers[2].has_flags);  // a plain add
  ASSERT_EQ(peers[2].endpoint.size(), sizeof(sockaddr_in6));
  sockaddr_in6 sin6;
  memcpy(&sin6, peers[2].endpoint.data(), sizeof(sin6));
  EXPECT_EQ(sin6.sin6_family, AF_INET6);
  EXPECT_EQ(ntohs(sin6.sin6_port), 443);
  EXPECT_EQ(sin6.sin6_addr.s6_addr[0], 0x20);
  EXPECT_EQ(sin6.sin6_addr.s6_addr[15], 0x09);
  EXPECT_EQ(peers[2].keepalive, 25);
  EXPECT_EQ(peers[2].ips, (std::vector<net::IpPrefix>{P("10.244.4.0/24"), P("fd00:4::/64")}));
}

TEST(GenlEncodeTest, EmptyPlanSendsNothingAndKeyOnlyPlanHasNoPeers) {
  EXPECT_TRUE(EncodeSetDevice(kFamily, "wg0", DevicePlan{}).empty());
  DevicePlan plan;
  plan.listen_port = 1;
  auto msgs = EncodeSetDevice(kFamily, "wg0", plan);
  ASSERT_EQ(msgs.size(), 1u);
  GenlMessage g = ReadGenl(msgs[0]);
  EXPECT_EQ(Find(g.attrs, WGDEVICE_A_PEERS), nullptr);
  EXPECT_EQ(Find(g.attrs, WGDEVICE_A_PRIVATE_KEY), nullptr);
  EXPECT_EQ(Find(g.attrs, WGDEVICE_A_LISTEN_PORT)->u16(), 1);
}

TEST(GenlEncodeTest, LargePlansAreSplitAcrossMessages) {
  DevicePlan plan;
  plan.private_key = K(1);
  for (int i = 0; i < 60; ++i) {
    PeerChange c;
    c.kind = PeerChange::Kind::kAdd;
    c.public_key = K(static_cast<uint8_t>(10 + i));
    c.endpoint = Endpoint{net::IpAddress::V4(0xc0000200u + i), 51820};
    c.persistent_keepalive = 25;
    for (int j = 0; j < 3; ++j) {
      c.allowed_ips.push_back(
          net::IpPrefix::Of(net::IpAddress::V4(0x0a000000u + (i << 8) + j), 32));
    }
    plan.peers.push_back(c);
  }
  // One peer with more allowed IPs than fit in one message, updated in place.
  PeerChange big;
  big.kind = PeerChange::Kind::kUpdate;
  big.public_key = K(0xee);
  big.endpoint = E("192.0.2.250:51820");
  big.replace_allowed_ips = true;
  for (int j = 0; j < 100; ++j) {
    big.allowed_ips.push_back(net::IpPrefix::Of(net::IpAddress::V4(0x0b000000u + (j << 8)), 24));
  }
  plan.peers.push_back(big);

  constexpr size_t kMax = 1024;
  auto msgs = EncodeSetDevice(kFamily, "wg0", plan, kMax);
  ASSERT_GT(msgs.size(), 5u);
  std::vector<SetPeer> all;
  for (size_t i = 0; i < msgs.size(); ++i) {
    EXPECT_LE(msgs[i].size(), kMax) << "message " << i;
    GenlMessage g = ReadGenl(msgs[i]);
    EXPECT_EQ(g.header.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
    ASSERT_NE(Find(g.attrs, WGDEVICE_A_IFNAME), nullptr) << "message " << i;
    // Device settings only once, in the first message.
    EXPECT_EQ(Find(g.attrs, WGDEVICE_A_PRIVATE_KEY) != nullptr, i == 0) << "message " << i;
    EXPECT_EQ(Find(g.attrs, WGDEVICE_A_FLAGS), nullptr);
    auto peers = ReadPeers(g);
    EXPECT_FALSE(peers.empty()) << "message " << i;
    all.insert(all.end(), peers.begin(), peers.end());
  }
  // Reassemble: adjacent entries of one key are one peer.
  std::vector<SetPeer> merged;
  std::vector<int> parts;
  for (const SetPeer& p : all) {
    if (!merged.empty() && merged.back().key == p.key) {
      // A continuation: key, UPDATE_ONLY, allowed IPs; nothing else.
      EXPECT_EQ(p.flags, uint32_t{WGPEER_F_UPDATE_ONLY});
      EXPECT_TRUE(p.endpoint.empty());
      EXPECT_FALSE(p.keepalive.has_value());
      EXPECT_FALSE(p.ips.empty());
      merged.back().ips.insert(merged.back().ips.end(), p.ips.begin(), p.ips.end());
      ++parts.back();
    } else {
      merged.push_back(p);
      parts.push_back(1);
    }
  }
  ASSERT_EQ(merged.size(), plan.peers.size());
  for (size_t i = 0; i < merged.size(); ++i) {
    EXPECT_EQ(merged[i].key, plan.peers[i].public_key) << i;
    EXPECT_EQ(merged[i].ips, plan.peers[i].allowed_ips) << i;
  }
  EXPECT_EQ(merged.back().flags, uint32_t{WGPEER_F_UPDATE_ONLY | WGPEER_F_REPLACE_ALLOWEDIPS});
  EXPECT_GT(parts.back(), 1);   // the big peer was split
  EXPECT_EQ(parts.front(), 1);  // small peers are never split
}

TEST(GenlEncodeTest, NewLinkIsOfKindWireguard) {
  auto m = EncodeNewWireguardLink("wg0", 1420);
  nlmsghdr h;
  memcpy(&h, m.data(), sizeof(h));
  EXPECT_EQ(h.nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
  EXPECT_EQ(h.nlmsg_len, m.size());
  auto attrs = Walk(m.data() + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifinfomsg)),
                    m.size() - NLMSG_HDRLEN - NLMSG_ALIGN(sizeof(ifinfomsg)));
  ASSERT_NE(Find(attrs, IFLA_IFNAME), nullptr);
  EXPECT_EQ(Find(attrs, IFLA_IFNAME)->str(), std::string("wg0\0", 4));
  EXPECT_EQ(Find(attrs, IFLA_MTU)->u32(), 1420u);
  const TAttr* info = Find(attrs, IFLA_LINKINFO);
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->nested());
  auto inner = Walk(info->data);
  ASSERT_NE(Find(inner, IFLA_INFO_KIND), nullptr);
  EXPECT_EQ(Find(inner, IFLA_INFO_KIND)->str(), std::string("wireguard\0", 10));
}

// The dump a kernel sends for a device with three peers, the second one's
// allowed IPs continuing in the second message.
std::vector<std::vector<uint8_t>> KernelDump() {
  std::vector<std::vector<uint8_t>> out;
  Msg m1(kFamily, NLM_F_MULTI);
  m1.Genl(WG_CMD_GET_DEVICE);
  m1.Val<uint32_t>(WGDEVICE_A_IFINDEX, 7);
  m1.Attr(WGDEVICE_A_IFNAME, "wg0", 4);
  m1.Attr(WGDEVICE_A_PRIVATE_KEY, K(0x99).bytes.data(), 32);  // must not be used
  m1.Attr(WGDEVICE_A_PUBLIC_KEY, K(0x55).bytes.data(), 32);
  m1.Val<uint16_t>(WGDEVICE_A_LISTEN_PORT, 51820);
  m1.Val<uint32_t>(WGDEVICE_A_FWMARK, 0x42);
  size_t peers = m1.Begin(WGDEVICE_A_PEERS);
  {
    size_t p = m1.Begin(0);
    m1.Attr(WGPEER_A_PUBLIC_KEY, K(0xa1).bytes.data(), 32);
    m1.Attr(WGPEER_A_PRESHARED_KEY, K(0).bytes.data(), 32);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(51821);
    sin.sin_addr.s_addr = htonl(0xc0000201);
    m1.Attr(WGPEER_A_ENDPOINT, &sin, sizeof(sin));
    m1.Val<uint16_t>(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
    int64_t ts[2] = {1700000000, 500};
    m1.Attr(WGPEER_A_LAST_HANDSHAKE_TIME, ts, sizeof(ts));
    m1.Val<uint64_t>(WGPEER_A_RX_BYTES, 1000);
    m1.Val<uint64_t>(WGPEER_A_TX_BYTES, 2000);
    size_t ips = m1.Begin(WGPEER_A_ALLOWEDIPS);
    PutKernelAllowedIp(m1, P("10.244.1.0/24"));
    PutKernelAllowedIp(m1, P("fd00:1::/64"));
    m1.End(ips);
    m1.Val<uint32_t>(WGPEER_A_PROTOCOL_VERSION, 1);
    m1.End(p);
  }
  {
    size_t p = m1.Begin(0);
    m1.Attr(WGPEER_A_PUBLIC_KEY, K(0xb2).bytes.data(), 32);
    int64_t never[2] = {0, 0};
    m1.Attr(WGPEER_A_LAST_HANDSHAKE_TIME, never, sizeof(never));
    size_t ips = m1.Begin(WGPEER_A_ALLOWEDIPS);
    PutKernelAllowedIp(m1, P("10.244.2.0/24"));
    m1.End(ips);
    m1.End(p);
  }
  m1.End(peers);
  out.push_back(m1.Done());

  Msg m2(kFamily, NLM_F_MULTI);
  m2.Genl(WG_CMD_GET_DEVICE);
  m2.Attr(WGDEVICE_A_IFNAME, "wg0", 4);
  peers = m2.Begin(WGDEVICE_A_PEERS);
  {
    size_t p = m2.Begin(0);  // continuation of b2
    m2.Attr(WGPEER_A_PUBLIC_KEY, K(0xb2).bytes.data(), 32);
    size_t ips = m2.Begin(WGPEER_A_ALLOWEDIPS);
    PutKernelAllowedIp(m2, P("10.1.0.2/32"));
    m2.End(ips);
    m2.End(p);
  }
  {
    size_t p = m2.Begin(0);
    m2.Attr(WGPEER_A_PUBLIC_KEY, K(0xc3).bytes.data(), 32);
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(443);
    sin6.sin6_addr.s6_addr[0] = 0x20;
    sin6.sin6_addr.s6_addr[1] = 0x01;
    sin6.sin6_addr.s6_addr[15] = 0x03;
    m2.Attr(WGPEER_A_ENDPOINT, &sin6, sizeof(sin6));
    m2.End(p);
  }
  m2.End(peers);
  out.push_back(m2.Done());
  out.push_back(DoneMessage(0));
  return out;
}

TEST(GenlDecodeTest, MultiMessageDumpIsCoalesced) {
  auto state = DecodeGetDevice(KernelDump());
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->public_key, K(0x55));  // from the attribute, not derived
  EXPECT_EQ(state->listen_port, 51820);
  EXPECT_EQ(state->fwmark, 0x42u);
  ASSERT_EQ(state->peers.size(), 3u);
  const PeerState& a = state->peers[0];
  EXPECT_EQ(a.public_key, K(0xa1));
  EXPECT_EQ(a.endpoint, E("192.0.2.1:51821"));
  EXPECT_EQ(a.persistent_keepalive, 25);
  EXPECT_EQ(a.last_handshake, absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(500));
  EXPECT_EQ(a.rx_bytes, 1000u);
  EXPECT_EQ(a.tx_bytes, 2000u);
  EXPECT_EQ(a.allowed_ips, (std::vector<net::IpPrefix>{P("10.244.1.0/24"), P("fd00:1::/64")}));
  const PeerState& b = state->peers[1];
  EXPECT_EQ(b.public_key, K(0xb2));
  EXPECT_EQ(b.last_handshake, absl::InfinitePast());
  EXPECT_FALSE(b.endpoint.has_value());
  EXPECT_EQ(b.allowed_ips, (std::vector<net::IpPrefix>{P("10.244.2.0/24"), P("10.1.0.2/32")}));
  const PeerState& c = state->peers[2];
  EXPECT_EQ(c.public_key, K(0xc3));
  EXPECT_EQ(c.endpoint, E("[2001::3]:443"));
  EXPECT_TRUE(c.allowed_ips.empty());

  // The same dump in one receive buffer (several messages back to back).
  std::vector<uint8_t> joined;
  for (const auto& m : KernelDump()) joined.insert(joined.end(), m.begin(), m.end());
  auto again = DecodeGetDevice({joined});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->peers.size(), 3u);
}

TEST(GenlDecodeTest, ErrorsInTheDumpAreReported) {
  auto dump = KernelDump();
  dump.back() = DoneMessage(-ENODEV);
  auto s = DecodeGetDevice(dump);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "No such device")) << s.status();
  EXPECT_EQ(DecodeGetDevice({ErrorMessage(-EPERM)}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(DecodeGetDevice({}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeGetDevice({DoneMessage(0)}).status().code(), absl::StatusCode::kDataLoss);
}

TEST(GenlDecodeTest, TruncatedMessagesAreErrorsNotCrashes) {
  const auto dump = KernelDump();
  const std::vector<uint8_t>& m = dump[0];
  for (size_t len = 0; len < m.size(); ++len) {
    std::vector<uint8_t> cut(m.begin(), m.begin() + len);
    EXPECT_FALSE(DecodeGetDevice({cut}).ok()) << "cut at " << len;
    // With the header's length fixed up, the attributes themselves are cut.
    if (len >= NLMSG_HDRLEN + GENL_HDRLEN) {
      uint32_t l = static_cast<uint32_t>(len);
      memcpy(cut.data(), &l, 4);
      auto st = DecodeGetDevice({cut});
      // Cuts at an attribute boundary of the top level can decode (fewer
      // attributes); anything inside an attribute must fail.
      if (st.ok()) {
        EXPECT_LE(st->peers.size(), 2u);
      }
    }
  }
}

TEST(GenlDecodeTest, GarbageNeverCrashes) {
  std::mt19937 rng(20240607);  // fixed seed: reproducible
  const auto dump = KernelDump();
  int errors = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> m = dump[round % 2];
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    auto st = DecodeGetDevice({m});
    if (!st.ok()) ++errors;
  }
  EXPECT_GT(errors, 0);  // and no crash
}

TEST(GenlDecodeTest, MalformedAttributesAreNamed) {
  auto build = [](const std::function<void(Msg&)>& peer_body) {
    Msg m(kFamily, NLM_F_MULTI);
    m.Genl(WG_CMD_GET_DEVICE);
    size_t peers = m.Begin(WGDEVICE_A_PEERS);
    size_t p = m.Begin(0);
    peer_body(m);
    m.End(p);
    m.End(peers);
    return DecodeGetDevice({m.Done()}).status();
  };
  absl::Status no_key =
      build([](Msg& m) { m.Val<uint16_t>(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 1); });
  EXPECT_TRUE(absl::StrContains(no_key.message(), "without a public key")) << no_key;
  absl::Status short_key = build([](Msg& m) { m.Attr(WGPEER_A_PUBLIC_KEY, "abc", 3); });
  EXPECT_TRUE(absl::StrContains(short_key.message(), "public key has 3 bytes")) << short_key;
  absl::Status bad_family = build([](Msg& m) {
    m.Attr(WGPEER_A_PUBLIC_KEY, K(1).bytes.data(), 32);
    size_t ips = m.Begin(WGPEER_A_ALLOWEDIPS);
    size_t n = m.Begin(0);
    m.Val<uint16_t>(WGALLOWEDIP_A_FAMILY, AF_INET6);
    uint32_t v4 = 0;
    m.Attr(WGALLOWEDIP_A_IPADDR, &v4, 4);
    m.Val<uint8_t>(WGALLOWEDIP_A_CIDR_MASK, 24);
    m.End(n);
    m.End(ips);
  });
  EXPECT_TRUE(absl::StrContains(bad_family.message(), "4-byte address")) << bad_family;
  absl::Status bad_mask = build([](Msg& m) {
    m.Attr(WGPEER_A_PUBLIC_KEY, K(1).bytes.data(), 32);
    size_t ips = m.Begin(WGPEER_A_ALLOWEDIPS);
    PutKernelAllowedIp(m, P("10.0.0.0/8"));
    size_t n = m.Begin(0);
    m.Val<uint16_t>(WGALLOWEDIP_A_FAMILY, AF_INET);
    uint32_t v4 = 0;
    m.Attr(WGALLOWEDIP_A_IPADDR, &v4, 4);
    m.Val<uint8_t>(WGALLOWEDIP_A_CIDR_MASK, 33);
    m.End(n);
    m.End(ips);
  });
  EXPECT_TRUE(absl::StrContains(bad_mask.message(), "/33")) << bad_mask;
  absl::Status overlong = build([](Msg& m) { m.AttrHeader(200, WGPEER_A_PUBLIC_KEY); });
  EXPECT_EQ(overlong.code(), absl::StatusCode::kDataLoss) << overlong;
  EXPECT_TRUE(absl::StrContains(overlong.message(), "claims 200 bytes")) << overlong;
  absl::Status tiny = build([](Msg& m) { m.AttrHeader(2, WGPEER_A_PUBLIC_KEY); });
  EXPECT_EQ(tiny.code(), absl::StatusCode::kDataLoss) << tiny;
}

TEST(GenlErrorTest, NetlinkErrorsCarryErrnoTextAndExtendedAck) {
  EXPECT_TRUE(ParseNetlinkError(ErrorMessage(0)).ok());  // an ACK
  absl::Status nodev = ParseNetlinkError(ErrorMessage(-ENODEV));
  EXPECT_EQ(nodev.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(nodev.message(), "No such device (errno 19)")) << nodev;
  absl::Status ext = ParseNetlinkError(ErrorMessage(-EOPNOTSUPP, "Unknown device type"));
  EXPECT_EQ(ext.code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(absl::StrContains(ext.message(), "Unknown device type")) << ext;
  EXPECT_EQ(ParseNetlinkError(ErrorMessage(-EINVAL)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseNetlinkError(DoneMessage(-EEXIST)).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(ParseNetlinkError(DoneMessage(0)).ok());
  EXPECT_EQ(ParseNetlinkError({1, 2, 3}).code(), absl::StatusCode::kDataLoss);
  auto cut = ErrorMessage(-ENODEV);
  cut.resize(NLMSG_HDRLEN + 2);
  uint32_t l = static_cast<uint32_t>(cut.size());
  memcpy(cut.data(), &l, 4);
  EXPECT_EQ(ParseNetlinkError(cut).code(), absl::StatusCode::kDataLoss);
  auto lying = ErrorMessage(-ENODEV);
  l = 4096;
  memcpy(lying.data(), &l, 4);
  EXPECT_EQ(ParseNetlinkError(lying).code(), absl::StatusCode::kDataLoss);
}

TEST(KernelDeviceTest, OpenWithoutTheModuleIsAClearNotFound) {
  if (KernelWireguardAvailable().ok()) GTEST_SKIP() << "this kernel has the wireguard module";
  auto dev = KernelDevice::Open("wg0");
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.status().code(), absl::StatusCode::kNotFound) << dev.status();
  EXPECT_TRUE(absl::StrContains(
      dev.status().message(),
      "the wireguard kernel module is not available (generic netlink family \"wireguard\" not "
      "found)"))
      << dev.status();
  EXPECT_TRUE(absl::StrContains(dev.status().message(), "wg0")) << dev.status();
  EXPECT_TRUE(absl::IsNotFound(ResolveGenlFamily("wireguard").status()));
}

TEST(KernelDeviceTest, FamilyLookupWorksHereSoTheNotFoundIsReal) {
  // The controller resolves itself: the socket path works on this machine.
  auto ctrl = ResolveGenlFamily("nlctrl");
  ASSERT_TRUE(ctrl.ok()) << ctrl.status();
  EXPECT_EQ(*ctrl, GENL_ID_CTRL);
  EXPECT_EQ(KernelDevice::Open("bad/name").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace weft::wireguard
