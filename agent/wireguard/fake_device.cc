#include "agent/wireguard/fake_device.h"

#include <algorithm>

#include "common/status_macros.h"

namespace weft::wireguard {

absl::StatusOr<DeviceState> FakeDevice::Get() { return state_; }

absl::Status FakeDevice::Apply(const DeviceConfig& config) {
  if (fail_apply_) {
    absl::Status s = *fail_apply_;
    fail_apply_.reset();
    return s;
  }
  ASSIGN_OR_RETURN(DevicePlan plan, PlanApply(*this, config));
  if (plan.empty()) return absl::OkStatus();
  if (plan.private_key) state_.public_key = PublicKey(*plan.private_key);
  if (plan.listen_port) state_.listen_port = *plan.listen_port;
  if (plan.fwmark) state_.fwmark = *plan.fwmark;
  auto& peers = state_.peers;
  for (const PeerChange& c : plan.peers) {
    auto it = std::find_if(peers.begin(), peers.end(),
                           [&](const PeerState& p) { return p.public_key == c.public_key; });
    switch (c.kind) {
      case PeerChange::Kind::kRemove:
        if (it != peers.end()) peers.erase(it);
        break;
      case PeerChange::Kind::kAdd:
        if (it == peers.end()) {
          peers.emplace_back();
          it = peers.end() - 1;
          it->public_key = c.public_key;
        }
        [[fallthrough]];
      case PeerChange::Kind::kUpdate:
        if (it == peers.end()) break;  // update_only: a vanished peer is not recreated
        if (c.endpoint) it->endpoint = c.endpoint;
        if (c.persistent_keepalive) it->persistent_keepalive = *c.persistent_keepalive;
        if (c.replace_allowed_ips) it->allowed_ips.clear();
        for (const auto& ip : c.allowed_ips) {
          // An allowed IP belongs to one peer: taking it moves it.
          for (PeerState& other : peers) {
            auto& v = other.allowed_ips;
            v.erase(std::remove(v.begin(), v.end(), ip), v.end());
          }
          it->allowed_ips.push_back(ip);
        }
        break;
    }
  }
  applied_.push_back(std::move(plan));
  return absl::OkStatus();
}

}  // namespace weft::wireguard
