#include "agent/wireguard/device.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace weft::wireguard {
namespace {

bool PrefixLess(const net::IpPrefix& a, const net::IpPrefix& b) {
  if (a.address() != b.address()) return a.address() < b.address();
  return a.length() < b.length();
}

std::string PrefixKey(const net::IpPrefix& p) { return p.ToString(); }

}  // namespace

std::string Endpoint::ToString() const {
  if (ip.is_v4()) return absl::StrCat(ip.ToString(), ":", port);
  return absl::StrCat("[", ip.ToString(), "]:", port);
}

absl::StatusOr<Endpoint> Endpoint::Parse(absl::string_view text) {
  absl::string_view host, port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint \"", text, "\": expected [IPv6]:port"));
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    if (size_t zone = host.find('%'); zone != absl::string_view::npos) host = host.substr(0, zone);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint \"", text, "\": expected ip:port"));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  auto ip = net::IpAddress::Parse(host);
  if (!ip.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint \"", text, "\": ", ip.status().message()));
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint \"", text, "\": bad port"));
  }
  return Endpoint{*ip, static_cast<uint16_t>(port)};
}

std::string PeerName(const Key& public_key) { return ToBase64(public_key); }

std::vector<net::IpPrefix> CanonicalPrefixes(std::vector<net::IpPrefix> prefixes) {
  std::sort(prefixes.begin(), prefixes.end(), PrefixLess);
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  return prefixes;
}

absl::Status ValidateConfig(const DeviceConfig& config) {
  if (config.private_key.IsZero()) {
    return absl::InvalidArgumentError("WireGuard config without a private key");
  }
  const Key self = PublicKey(config.private_key);
  absl::flat_hash_set<Key> seen;
  absl::flat_hash_map<std::string, Key> owner;  // allowed IP -> peer
  for (const PeerConfig& p : config.peers) {
    if (p.public_key.IsZero()) {
      return absl::InvalidArgumentError("WireGuard peer with an all-zero public key");
    }
    if (p.public_key == self) {
      return absl::InvalidArgumentError(absl::StrCat("WireGuard peer ", PeerName(p.public_key),
                                                     " is this device's own public key"));
    }
    if (!seen.insert(p.public_key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("WireGuard peer ", PeerName(p.public_key), " is listed twice"));
    }
    if (p.persistent_keepalive < 0 || p.persistent_keepalive > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("WireGuard peer ", PeerName(p.public_key), ": persistent keepalive ",
                       p.persistent_keepalive, " is outside 0..65535 seconds"));
    }
    absl::flat_hash_set<std::string> own;
    for (const net::IpPrefix& ip : p.allowed_ips) {
      std::string k = PrefixKey(ip);
      if (!own.insert(k).second) continue;  // a duplicate within one peer is harmless
      auto [it, inserted] = owner.emplace(k, p.public_key);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(
            "allowed IP ", k, " is given to two WireGuard peers: ", PeerName(it->second), " and ",
            PeerName(p.public_key)));
      }
    }
  }
  return absl::OkStatus();
}

DevicePlan PlanDevice(const DeviceState& current, const DeviceConfig& desired) {
  DevicePlan plan;
  if (PublicKey(desired.private_key) != current.public_key) plan.private_key = desired.private_key;
  if (desired.listen_port != 0 && desired.listen_port != current.listen_port) {
    plan.listen_port = desired.listen_port;
  }
  if (desired.fwmark != current.fwmark) plan.fwmark = desired.fwmark;

  absl::flat_hash_map<Key, const PeerState*> have;
  for (const PeerState& p : current.peers) have[p.public_key] = &p;
  absl::flat_hash_set<Key> want;
  for (const PeerConfig& p : desired.peers) want.insert(p.public_key);

  for (const PeerState& p : current.peers) {
    if (want.contains(p.public_key)) continue;
    PeerChange c;
    c.kind = PeerChange::Kind::kRemove;
    c.public_key = p.public_key;
    plan.peers.push_back(std::move(c));
  }
  for (const PeerConfig& p : desired.peers) {
    auto it = have.find(p.public_key);
    PeerChange c;
    c.public_key = p.public_key;
    // Keep the config's order (minus duplicates) for a new peer: it is what
    // the operator wrote; order does not matter to WireGuard.
    std::vector<net::IpPrefix> wanted_ips;
    {
      absl::flat_hash_set<std::string> dup;
      for (const auto& ip : p.allowed_ips) {
        if (dup.insert(PrefixKey(ip)).second) wanted_ips.push_back(ip);
      }
    }
    if (it == have.end()) {
      c.kind = PeerChange::Kind::kAdd;
      c.endpoint = p.endpoint;
      if (p.persistent_keepalive != 0) c.persistent_keepalive = p.persistent_keepalive;
      c.allowed_ips = std::move(wanted_ips);
      plan.peers.push_back(std::move(c));
      continue;
    }
    const PeerState& cur = *it->second;
    c.kind = PeerChange::Kind::kUpdate;
    bool changed = false;
    if (p.endpoint && (!cur.endpoint || *cur.endpoint != *p.endpoint)) {
      c.endpoint = p.endpoint;
      changed = true;
    }
    if (p.persistent_keepalive != cur.persistent_keepalive) {
      c.persistent_keepalive = p.persistent_keepalive;
      changed = true;
    }
    if (CanonicalPrefixes(p.allowed_ips) != CanonicalPrefixes(cur.allowed_ips)) {
      c.replace_allowed_ips = true;
      c.allowed_ips = std::move(wanted_ips);
      changed = true;
    }
    if (changed) plan.peers.push_back(std::move(c));
  }
  return plan;
}

std::string DevicePlan::Summary() const {
  std::vector<std::string> parts;
  if (private_key) {
    parts.push_back(
        absl::StrCat("new private key (public ", PeerName(PublicKey(*private_key)), ")"));
  }
  if (listen_port) parts.push_back(absl::StrCat("listen port ", *listen_port));
  if (fwmark) parts.push_back(absl::StrCat("fwmark ", *fwmark));
  for (const PeerChange& c : peers) {
    switch (c.kind) {
      case PeerChange::Kind::kRemove:
        parts.push_back(absl::StrCat("remove peer ", PeerName(c.public_key)));
        break;
      case PeerChange::Kind::kAdd:
        parts.push_back(absl::StrCat("add peer ", PeerName(c.public_key)));
        break;
      case PeerChange::Kind::kUpdate: {
        std::vector<std::string> what;
        if (c.endpoint) what.push_back("endpoint");
        if (c.persistent_keepalive) what.push_back("keepalive");
        if (c.replace_allowed_ips) what.push_back("allowed IPs");
        parts.push_back(absl::StrCat("update peer ", PeerName(c.public_key), " (",
                                     absl::StrJoin(what, ", "), ")"));
        break;
      }
    }
  }
  return parts.empty() ? "no change" : absl::StrJoin(parts, ", ");
}

absl::StatusOr<DevicePlan> PlanApply(Device& device, const DeviceConfig& config) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("configure wireguard device ", device.name(), ": ", s.message()));
  }
  absl::StatusOr<DeviceState> current = device.Get();
  if (!current.ok()) return current.status();
  return PlanDevice(*current, config);
}

}  // namespace weft::wireguard
