#include "agent/ipam/allocator.h"


#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace weft::ipam {
namespace {

using nlohmann::json;

std::string Key(const Owner& o) { return absl::StrCat(o.container_id, "/", o.ifname); }

}  // namespace

absl::StatusOr<Allocator> Allocator::Create(std::vector<net::IpPrefix> pools) {
  bool v4 = false, v6 = false;
  for (const auto& p : pools) {
    bool& seen = p.family() == net::Family::kV4 ? v4 : v6;
    if (seen) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than one pod CIDR of the same family (", p.ToString(), ")"));
    }
    seen = true;
    if (p.size() < 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod CIDR ", p.ToString(), " is too small to allocate from"));
    }
  }
  return Allocator(std::move(pools));
}

const net::IpPrefix* Allocator::PoolFor(net::Family family) const {
  for (const auto& p : pools_) {
    if (p.family() == family) return &p;
  }
  return nullptr;
}

bool Allocator::Usable(const net::IpPrefix& pool, absl::uint128 offset) const {
  if (offset == 0) return false;  // network address
  if (pool.family() == net::Family::kV4 && offset == pool.size() - 1) return false;  // broadcast
  return true;
}

uint64_t Allocator::capacity(net::Family family) const {
  const net::IpPrefix* pool = PoolFor(family);
  if (pool == nullptr) return 0;
  absl::uint128 n = pool->size() - (family == net::Family::kV4 ? 2 : 1);
  return n > absl::uint128(UINT64_MAX) ? UINT64_MAX : static_cast<uint64_t>(n);
}

absl::StatusOr<Allocation> Allocator::Allocate(const Owner& owner, net::Family family) {
  for (const auto& [addr, o] : by_address_) {
    if (addr.family() == family && Key(o) == Key(owner)) return Allocation{addr, o};
  }
  const net::IpPrefix* pool = PoolFor(family);
  if (pool == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this node has no ", family == net::Family::kV4 ? "IPv4" : "IPv6", " pod CIDR"));
  }
  absl::uint128 size = pool->size();
  absl::uint128 start = cursor_[family] % size;
  // Bounded scan: at most in_use()+2 addresses are skipped before a free one, so
  // this is cheap even for a /64.
  absl::uint128 limit = size;
  for (absl::uint128 i = 0; i < limit; ++i) {
    absl::uint128 offset = (start + i) % size;
    if (!Usable(*pool, offset)) continue;
    net::IpAddress candidate = pool->At(offset);
    if (by_address_.count(candidate)) continue;
    by_address_[candidate] = owner;
    cursor_[family] = offset + 1;
    return Allocation{candidate, owner};
  }
  return absl::ResourceExhaustedError(absl::StrCat("pod CIDR ", pool->ToString(),
                                                   " has no free address (", in_use(),
                                                   " in use)"));
}

std::vector<Allocation> Allocator::Release(const std::string& container_id,
                                           const std::string& ifname) {
  std::vector<Allocation> out;
  for (auto it = by_address_.begin(); it != by_address_.end();) {
    if (it->second.container_id == container_id && it->second.ifname == ifname) {
      out.push_back({it->first, it->second});
      it = by_address_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<Allocation> Allocator::List() const {
  std::vector<Allocation> out;
  for (const auto& [addr, o] : by_address_) out.push_back({addr, o});
  return out;
}

std::string Allocator::SaveState() const {
  json allocations = json::array();
  for (const auto& [addr, o] : by_address_) {
    allocations.push_back({{"address", addr.ToString()},
                           {"containerID", o.container_id},
                           {"ifname", o.ifname},
                           {"podNamespace", o.pod_namespace},
                           {"podName", o.pod_name}});
  }
  json cursors = json::object();
  for (const auto& [family, c] : cursor_) {
    cursors[family == net::Family::kV4 ? "ipv4" : "ipv6"] = static_cast<uint64_t>(c);
  }
  return json{{"version", 1}, {"allocations", allocations}, {"cursors", cursors}}.dump(1);
}

absl::StatusOr<Allocator> Allocator::LoadState(std::vector<net::IpPrefix> pools,
                                               const std::string& text,
                                               std::vector<Allocation>* dropped) {
  auto created = Create(std::move(pools));
  if (!created.ok()) return created.status();
  Allocator a = std::move(created).value();
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1) {
    return absl::DataLossError("IPAM state is not valid JSON of version 1");
  }
  try {
    for (const auto& e : j.at("allocations")) {
      auto addr = net::IpAddress::Parse(e.at("address").get<std::string>());
      if (!addr.ok()) return absl::DataLossError(absl::StrCat("IPAM state: ", addr.status().message()));
      Owner o{e.at("containerID").get<std::string>(), e.at("ifname").get<std::string>(),
              e.value("podNamespace", ""), e.value("podName", "")};
      const net::IpPrefix* pool = a.PoolFor(addr->family());
      if (pool == nullptr || !pool->Contains(*addr)) {
        if (dropped) dropped->push_back({*addr, o});
        continue;
      }
      a.by_address_[*addr] = o;
    }
    if (auto c = j.find("cursors"); c != j.end()) {
      if (c->contains("ipv4")) a.cursor_[net::Family::kV4] = (*c)["ipv4"].get<uint64_t>();
      if (c->contains("ipv6")) a.cursor_[net::Family::kV6] = (*c)["ipv6"].get<uint64_t>();
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("IPAM state is malformed: ", e.what()));
  }
  return a;
}

}  // namespace weft::ipam
