#include "common/net/ip.h"

#include <arpa/inet.h>

#include "absl/numeric/int128.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace weft::net {
namespace {

absl::uint128 Mask(int bits, int length) {
  if (length == 0) return 0;
  absl::uint128 all = bits == 32 ? absl::uint128(0xffffffffu) : absl::Uint128Max();
  return (all << (bits - length)) & all;
}

}  // namespace

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  std::string s(text);
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return V4(ntohl(v4.s_addr));
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    absl::uint128 v = 0;
    for (uint8_t b : v6.s6_addr) v = (v << 8) | b;
    return V6(v);
  }
  return absl::InvalidArgumentError(absl::StrCat("invalid IP address \"", text, "\""));
}

IpAddress IpAddress::V4(uint32_t host_order) {
  IpAddress a;
  a.family_ = Family::kV4;
  a.value_ = host_order;
  return a;
}

IpAddress IpAddress::V6(absl::uint128 value) {
  IpAddress a;
  a.family_ = Family::kV6;
  a.value_ = value;
  return a;
}

std::array<uint8_t, 16> IpAddress::bytes() const {
  std::array<uint8_t, 16> out{};
  int n = is_v4() ? 4 : 16;
  absl::uint128 v = value_;
  for (int i = n - 1; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  auto b = bytes();
  inet_ntop(is_v4() ? AF_INET : AF_INET6, b.data(), buf, sizeof(buf));
  return buf;
}

absl::StatusOr<IpPrefix> IpPrefix::Parse(absl::string_view text) {
  auto slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid CIDR \"", text, "\": missing /prefix-length"));
  }
  auto addr = IpAddress::Parse(text.substr(0, slash));
  int length = 0;
  if (!addr.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CIDR \"", text, "\": bad address"));
  }
  if (!absl::SimpleAtoi(text.substr(slash + 1), &length) || length < 0 ||
      length > addr->bits()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid CIDR \"", text, "\": prefix length must be 0..", addr->bits()));
  }
  IpPrefix p = Of(*addr, length);
  if (p.address_ != *addr) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CIDR \"", text,
                                                   "\": host bits set (did you mean ",
                                                   p.ToString(), "?)"));
  }
  return p;
}

IpPrefix IpPrefix::Of(const IpAddress& address, int length) {
  IpPrefix p;
  absl::uint128 masked = address.value() & Mask(address.bits(), length);
  p.address_ = address.is_v4() ? IpAddress::V4(static_cast<uint32_t>(masked))
                               : IpAddress::V6(masked);
  p.length_ = length;
  return p;
}

bool IpPrefix::Contains(const IpAddress& a) const {
  if (a.family() != family()) return false;
  return (a.value() & Mask(a.bits(), length_)) == address_.value();
}

absl::uint128 IpPrefix::size() const {
  int host_bits = address_.bits() - length_;
  if (host_bits >= 127) return absl::uint128(1) << 127;
  return absl::uint128(1) << host_bits;
}

IpAddress IpPrefix::At(absl::uint128 n) const {
  absl::uint128 v = address_.value() + n;
  return address_.is_v4() ? IpAddress::V4(static_cast<uint32_t>(v)) : IpAddress::V6(v);
}

absl::StatusOr<Ipv4Address> Ipv4Address::From(const IpAddress& address) {
  if (!address.is_v4()) {
    return absl::InvalidArgumentError(absl::StrCat(address.ToString(), " is not an IPv4 address"));
  }
  return Ipv4Address(address.v4());
}

absl::StatusOr<Ipv4Address> Ipv4Address::Parse(absl::string_view text) {
  auto ip = IpAddress::Parse(text);
  if (!ip.ok()) return ip.status();
  return From(*ip);
}

std::string IpPrefix::ToString() const { return absl::StrCat(address_.ToString(), "/", length_); }

}  // namespace weft::net
