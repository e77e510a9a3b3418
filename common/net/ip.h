// IP addresses and prefixes (IPv4 and IPv6) as plain values.
#ifndef WEFT_COMMON_NET_IP_H_
#define WEFT_COMMON_NET_IP_H_

#include <array>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"

namespace weft::net {

enum class Family { kV4, kV6 };

class IpAddress {
 public:
  IpAddress() = default;
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  static IpAddress V4(uint32_t host_order);
  static IpAddress V6(absl::uint128 value);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  // The address as an integer (IPv4 in the low 32 bits), host byte order.
  absl::uint128 value() const { return value_; }
  uint32_t v4() const { return static_cast<uint32_t>(value_); }
  // Network byte order; 4 bytes used for IPv4.
  std::array<uint8_t, 16> bytes() const;
  int bits() const { return is_v4() ? 32 : 128; }
  std::string ToString() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.value_ == b.value_;
  }
  friend bool operator!=(const IpAddress& a, const IpAddress& b) { return !(a == b); }
  friend bool operator<(const IpAddress& a, const IpAddress& b) {
    return a.family_ != b.family_ ? a.family_ < b.family_ : a.value_ < b.value_;
  }
  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& a) {
    return H::combine(std::move(h), a.family_, a.value_);
  }

 private:
  Family family_ = Family::kV4;
  absl::uint128 value_ = 0;
};

// An IPv4 address in 4 bytes (IpAddress takes 32), for tables that hold tens
// of thousands of them: the load balancer's frontends and backends.
class Ipv4Address {
 public:
  constexpr Ipv4Address() = default;
  constexpr explicit Ipv4Address(uint32_t host_order) : value_(host_order) {}
  // An IPv6 address (or text that is not an IPv4 address) is an error.
  static absl::StatusOr<Ipv4Address> From(const IpAddress& address);
  static absl::StatusOr<Ipv4Address> Parse(absl::string_view text);

  uint32_t value() const { return value_; }  // host byte order
  IpAddress ToIp() const { return IpAddress::V4(value_); }
  std::string ToString() const { return ToIp().ToString(); }

  friend bool operator==(Ipv4Address a, Ipv4Address b) { return a.value_ == b.value_; }
  friend bool operator!=(Ipv4Address a, Ipv4Address b) { return a.value_ != b.value_; }
  friend bool operator<(Ipv4Address a, Ipv4Address b) { return a.value_ < b.value_; }
  template <typename H>
  friend H AbslHashValue(H h, Ipv4Address a) {
    return H::combine(std::move(h), a.value_);
  }

 private:
  uint32_t value_ = 0;
};

class IpPrefix {
 public:
  IpPrefix() = default;
  // "10.244.0.0/16". Host bits must be zero (as Kubernetes requires for CIDRs).
  static absl::StatusOr<IpPrefix> Parse(absl::string_view text);
  // Masks host bits off; `length` must be valid for the family.
  static IpPrefix Of(const IpAddress& address, int length);

  const IpAddress& address() const { return address_; }
  Family family() const { return address_.family(); }
  int length() const { return length_; }
  bool Contains(const IpAddress& a) const;
  bool Contains(const IpPrefix& p) const { return p.length_ >= length_ && Contains(p.address_); }
  bool Overlaps(const IpPrefix& p) const { return Contains(p) || p.Contains(*this); }
  // Number of addresses, saturating at 2^127 for very short IPv6 prefixes.
  absl::uint128 size() const;
  // The n-th address of the prefix (n < size()).
  IpAddress At(absl::uint128 n) const;
  std::string ToString() const;

  friend bool operator==(const IpPrefix& a, const IpPrefix& b) {
    return a.address_ == b.address_ && a.length_ == b.length_;
  }
  friend bool operator!=(const IpPrefix& a, const IpPrefix& b) { return !(a == b); }

 private:
  IpAddress address_;
  int length_ = 0;
};

}  // namespace weft::net

#endif  // WEFT_COMMON_NET_IP_H_
