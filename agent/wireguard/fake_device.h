// An in-memory Device for tests of code that configures WireGuard (the route
// and peer reconcilers): applies plans the way the real backends do (peers
// updated in place keep their handshake and counters), records every change,
// and can be told to fail.
#ifndef WEFT_AGENT_WIREGUARD_FAKE_DEVICE_H_
#define WEFT_AGENT_WIREGUARD_FAKE_DEVICE_H_

#include <optional>
#include <string>
#include <vector>

#include "agent/wireguard/device.h"

namespace weft::wireguard {

class FakeDevice : public Device {
 public:
  explicit FakeDevice(std::string name) : name_(std::move(name)) {}

  std::string name() const override { return name_; }
  absl::string_view kind() const override { return "fake"; }
  absl::StatusOr<DeviceState> Get() override;
  absl::Status Apply(const DeviceConfig& config) override;

  // The device's state; tests may edit it (e.g. set a handshake time).
  DeviceState& state() { return state_; }
  // Every non-empty plan Apply carried out, in order.
  const std::vector<DevicePlan>& applied() const { return applied_; }
  // The next Apply fails with `status` (once).
  void FailNextApply(absl::Status status) { fail_apply_ = std::move(status); }

 private:
  std::string name_;
  DeviceState state_;
  std::vector<DevicePlan> applied_;
  std::optional<absl::Status> fail_apply_;
};

}  // namespace weft::wireguard

#endif  // WEFT_AGENT_WIREGUARD_FAKE_DEVICE_H_
