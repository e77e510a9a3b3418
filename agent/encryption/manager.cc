#include "agent/encryption/manager.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "kubeprism/logging.h"

namespace weft::encryption {
namespace {

using kubeprism::Log;
using kubeprism::LogLevel;

absl::Time FileTime(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return absl::Now();
  return absl::TimeFromTimespec(st.st_mtim);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Manager>> Manager::Create(ManagerOptions options,
                                                         std::unique_ptr<wireguard::Device> device,
                                                         PublishKeyFn publish) {
  bool created = false;
  auto key = wireguard::LoadOrCreatePrivateKey(options.key_path, &created);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat("WireGuard key: ", key.status().message()));
  }
  absl::Time key_created = FileTime(options.key_path);
  Log(LogLevel::kInfo, absl::StrCat(created ? "made a new" : "reusing the", " WireGuard key pair (",
                                    options.key_path, "), public key ",
                                    wireguard::ToBase64(wireguard::PublicKey(*key))));
  return std::unique_ptr<Manager>(
      new Manager(std::move(options), std::move(device), std::move(publish), *key, key_created));
}

Manager::Manager(ManagerOptions options, std::unique_ptr<wireguard::Device> device,
                 PublishKeyFn publish, wireguard::Key private_key, absl::Time key_created)
    : options_(std::move(options)),
      device_name_(device->name()),
      backend_(std::string(device->kind())),
      publish_(std::move(publish)),
      device_(std::move(device)),
      private_key_(private_key),
      public_key_(wireguard::PublicKey(private_key)),
      key_created_(key_created) {}

absl::Status Manager::ApplyLocked() {
  wireguard::DeviceConfig config;
  config.private_key = private_key_;
  config.listen_port = static_cast<uint16_t>(options_.config.port);
  for (const auto& p : plan_.peers) config.peers.push_back(p.config);
  return device_->Apply(config);
}

Manager::Pass Manager::Reconcile(const std::vector<routing::NodeInfo>& nodes,
                                 const std::map<std::string, std::string>& keys) {
  Pass pass;
  absl::MutexLock l(&mu_);
  const int64_t period = options_.config.rotation_period_seconds;
  bool rotated_and_published = false;
  if (period > 0 && absl::Now() - key_created_ >= absl::Seconds(period)) {
    if (auto s = RotateLocked(&rotated_and_published); !s.ok()) {
      pass.problems.push_back(absl::StrCat("scheduled WireGuard key rotation: ", s.message()));
    }
  }
  plan_ = PlanPeers(options_.node_name, public_key_, nodes, keys,
                    static_cast<uint16_t>(options_.config.port));
  for (const auto& [node, value] : plan_.rejected) {
    std::string& last = rejected_[node];
    if (last != value) {
      last = value;
      ++rejected_total_;
      Log(LogLevel::kWarning, absl::StrCat("rejected WireGuard key annotation of node ", node));
    }
  }
  pass.problems.insert(pass.problems.end(), plan_.problems.begin(), plan_.problems.end());
  absl::Status applied = ApplyLocked();
  // Gone or not answering (not a config the device refused): open it again.
  const bool device_gone = absl::IsUnavailable(applied) || absl::IsNotFound(applied) ||
                           absl::IsDeadlineExceeded(applied);
  if (device_gone && options_.reopen) {
    // Gone or not answering: open it again (a new wireguard-go, a new link)
    // and configure it from scratch; the routes follow in the same pass.
    auto reopened = options_.reopen();
    if (reopened.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("WireGuard device ", device_name_, " (", applied.message(),
                                           "): opened again"));
      device_ = std::move(*reopened);
      applied = ApplyLocked();
    } else {
      applied = absl::Status(applied.code(), absl::StrCat(applied.message(), "; opening it again: ",
                                                          reopened.status().message()));
    }
  }
  if (!applied.ok()) {
    pass.problems.push_back(absl::StrCat("WireGuard device ", device_name_, ": ", applied.message()));
  }
  // The Node carries our key, or gets it (again: also after a rotation whose
  // publication failed, or when somebody changed or removed the annotation).
  // `keys` is the informer's copy: just after a publication it may still show
  // the old value; publishing the same key again is harmless (a merge patch).
  auto on_node = keys.find(options_.node_name);
  bool carried = on_node != keys.end() && on_node->second == wireguard::ToBase64(public_key_);
  if (!carried && !rotated_and_published) {
    if (auto s = PublishLocked(); !s.ok()) {
      pass.problems.push_back(absl::StrCat("publish the WireGuard public key on Node ",
                                           options_.node_name, ": ", s.message()));
    }
  }
  pass.plan = plan_;
  return pass;
}

absl::Status Manager::PublishLocked() {
  const std::string own = wireguard::ToBase64(public_key_);
  if (auto s = publish_(own); !s.ok()) return s;
  Log(LogLevel::kInfo, absl::StrCat("published WireGuard public key ", own));
  return absl::OkStatus();
}

absl::Status Manager::RotateLocked(bool* published) {
  *published = false;
  wireguard::Key next = wireguard::GeneratePrivateKey();
  // Stored first: a crash between the two steps restarts with the new key,
  // never with a device key that is on no disk.
  if (auto s = wireguard::StorePrivateKey(options_.key_path, next); !s.ok()) return s;
  private_key_ = next;
  public_key_ = wireguard::PublicKey(next);
  key_created_ = absl::Now();
  if (auto s = ApplyLocked(); !s.ok()) return s;
  Log(LogLevel::kInfo, "rotated the WireGuard key pair");
  if (auto s = PublishLocked(); !s.ok()) {
    // The next reconcile pass publishes it.
    return absl::Status(s.code(), absl::StrCat("publish the new public key: ", s.message()));
  }
  *published = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Manager::Rotate() {
  absl::MutexLock l(&mu_);
  bool published = false;
  if (auto s = RotateLocked(&published); !s.ok()) return s;
  return wireguard::ToBase64(public_key_);
}

std::string Manager::Summary() const {
  return absl::StrCat("WireGuard (", backend_, options_.config.strict_mode ? ", strict" : "", ")");
}

void Manager::FillStatus(weft::agent::v1::EncryptionStatus* status, uint64_t strict_drops) {
  absl::MutexLock l(&mu_);
  status->set_mode("WireGuard");
  status->set_backend(backend_);
  status->set_interface(device_name_);
  status->set_public_key(wireguard::ToBase64(public_key_));
  status->set_mtu(options_.mtu);
  status->set_strict_mode(options_.config.strict_mode);
  status->set_key_created_unix(absl::ToUnixSeconds(key_created_));
  status->set_rotation_period_seconds(options_.config.rotation_period_seconds);
  status->set_rejected_keys_total(rejected_total_);
  status->set_strict_mode_drops(strict_drops);
  for (const auto& n : plan_.pending) status->add_pending_nodes(n);
  for (const auto& p : plan_.problems) status->add_skipped(p);
  auto state = device_->Get();
  if (!state.ok()) {
    status->add_skipped(absl::StrCat("WireGuard device ", device_name_, ": ", state.status().message()));
    return;
  }
  status->set_listen_port(state->listen_port);
  for (const auto& want : plan_.peers) {
    auto* peer = status->add_peers();
    peer->set_node(want.node);
    peer->set_public_key(wireguard::ToBase64(want.config.public_key));
    for (const auto& have : state->peers) {
      if (!(have.public_key == want.config.public_key)) continue;
      if (have.endpoint) peer->set_endpoint(have.endpoint->ToString());
      for (const auto& ip : have.allowed_ips) peer->add_allowed_ips(ip.ToString());
      if (have.last_handshake != absl::InfinitePast()) {
        peer->set_last_handshake_unix(absl::ToUnixSeconds(have.last_handshake));
      }
      peer->set_rx_bytes(have.rx_bytes);
      peer->set_tx_bytes(have.tx_bytes);
    }
  }
}

}  // namespace weft::encryption
