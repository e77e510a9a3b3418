#include "agent/datapath/services.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "agent/datapath/lpm4_map.h"
#include "agent/datapath/maglev.h"
#include "bpf/maps/lb.h"

namespace weft::datapath {
namespace {

// At least ten table entries per backend (each owns 1/N of the table, within
// one entry).
constexpr size_t kMaglevMaxBackends = WEFT_LB4_MAGLEV_SIZE / 10;

absl::Status Errno(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

uint32_t Be32(net::Ipv4Address ip) { return htonl(ip.value()); }

lb4_key KeyOf(const LbFrontendKey& k) {
  lb4_key key;
  memset(&key, 0, sizeof(key));
  key.addr = Be32(k.ip);
  key.port = htons(k.port);
  key.proto = k.proto;
  key.scope = static_cast<__u8>(k.scope);
  return key;
}

LbFrontendKey FrontendOf(const lb4_key& key) {
  LbFrontendKey k;
  k.ip = net::Ipv4Address(ntohl(key.addr));
  k.port = ntohs(key.port);
  k.proto = key.proto;
  k.scope = key.scope == LB4_SCOPE_EXTERNAL ? LbScope::kExternal : LbScope::kSocket;
  return k;
}

lb4_backend BackendValue(const LbBackend& b) {
  lb4_backend v;
  memset(&v, 0, sizeof(v));
  v.addr = Be32(b.ip);
  v.port = htons(b.port);
  v.proto = b.proto;
  return v;
}

LbBackend BackendOf(const lb4_backend& v) {
  LbBackend b;
  b.ip = net::Ipv4Address(ntohl(v.addr));
  b.port = ntohs(v.port);
  b.proto = v.proto;
  return b;
}

lb4_slot_key SlotKey(uint32_t id, uint16_t gen, uint32_t index) {
  lb4_slot_key k;
  memset(&k, 0, sizeof(k));
  k.id = id;
  k.gen = gen;
  k.index = static_cast<__u16>(index);
  return k;
}

lb4_maglev_key MaglevKey(uint32_t id, uint16_t gen) {
  lb4_maglev_key k;
  memset(&k, 0, sizeof(k));
  k.id = id;
  k.gen = gen;
  return k;
}

// Walks every key of a hash map.
template <typename Key, typename Fn>
void ForEachKey(int fd, Fn fn) {
  Key cur, next;
  Key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    fn(next);
    cur = next;
    prev = &cur;
  }
}

class BpfServiceMap : public ServiceMap {
 public:
  explicit BpfServiceMap(const LbMapFds& fds) : fds_(fds) {}

  absl::Status Replace(const std::vector<LbService>& services) override {
    absl::MutexLock lock(&mu_);
    if (auto s = LoadOnce(); !s.ok()) return s;
    std::vector<std::string> errors;
    absl::flat_hash_set<LbFrontendKey> wanted;
    for (const LbService& svc : services) {
      if (!wanted.insert(svc.key).second) {
        errors.push_back(absl::StrCat(svc.key.ToString(), ": given twice"));
        continue;
      }
      if (auto s = UpsertLocked(svc); !s.ok()) errors.push_back(std::string(s.message()));
    }
    std::vector<LbFrontendKey> stale;
    for (const auto& [key, state] : frontends_) {
      if (!wanted.contains(key)) stale.push_back(key);
    }
    for (const LbFrontendKey& key : stale) {
      if (auto s = DeleteLocked(key); !s.ok()) errors.push_back(std::string(s.message()));
    }
    if (errors.empty()) return absl::OkStatus();
    return absl::InternalError(absl::StrJoin(errors, "; "));
  }

  absl::Status Upsert(const LbService& service) override {
    absl::MutexLock lock(&mu_);
    if (auto s = LoadOnce(); !s.ok()) return s;
    return UpsertLocked(service);
  }

  absl::Status Delete(const LbFrontendKey& key) override {
    absl::MutexLock lock(&mu_);
    if (auto s = LoadOnce(); !s.ok()) return s;
    return DeleteLocked(key);
  }

  absl::StatusOr<std::vector<LbService>> List() override {
    absl::MutexLock lock(&mu_);
    // Read from the kernel, not from our bookkeeping: this is what packets see.
    std::vector<LbService> out;
    std::vector<lb4_key> keys;
    ForEachKey<lb4_key>(fds_.svc, [&](const lb4_key& k) { keys.push_back(k); });
    for (const lb4_key& k : keys) {
      lb4_service v;
      if (bpf_map_lookup_elem(fds_.svc, &k, &v) != 0) continue;  // removed meanwhile
      auto svc = ReadService(k, v);
      if (!svc.ok()) return svc.status();
      out.push_back(*std::move(svc));
    }
    std::sort(out.begin(), out.end(),
              [](const LbService& a, const LbService& b) { return a.key < b.key; });
    return out;
  }

  absl::Status SetSnatAddress(const net::IpAddress& ipv4) override {
    if (!ipv4.is_v4()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Service source NAT needs an IPv4 address, got ", ipv4.ToString()));
    }
    lb4_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.snat_addr4 = htonl(ipv4.v4());
    __u32 zero = 0;
    if (bpf_map_update_elem(fds_.config, &zero, &cfg, BPF_ANY) != 0) {
      return Errno("update the load-balancer config map", errno);
    }
    return absl::OkStatus();
  }

  absl::Status SetServiceRanges(const std::vector<net::IpPrefix>& ranges) override {
    for (const net::IpPrefix& r : ranges) {
      if (r.family() != net::Family::kV4) {
        return absl::InvalidArgumentError(
            absl::StrCat("Service range ", r.ToString(), " is not IPv4"));
      }
    }
    absl::MutexLock lock(&mu_);
    return ReplaceLpm4(fds_.range, ranges, WEFT_LB4_RANGE_MAX, "Service range", &ranges_written_);
  }

 private:
  struct FrontendState {
    LbService service;                 // as written (id set)
    uint16_t gen = 0;
    std::vector<uint32_t> backend_ids;  // parallel to service.backends
  };
  struct BackendState {
    uint32_t id = 0;
    int refs = 0;
  };

  // A service as the kernel holds it.
  absl::StatusOr<LbService> ReadService(const lb4_key& k, const lb4_service& v,
                                        std::vector<uint32_t>* ids = nullptr) {
    LbService svc;
    svc.key = FrontendOf(k);
    svc.id = v.id;
    svc.affinity_timeout_s = (v.flags & LB4_F_AFFINITY) ? v.affinity_timeout_s : 0;
    svc.snat = (v.flags & LB4_F_SNAT) != 0;
    svc.algorithm = (v.flags & LB4_F_MAGLEV) ? LbAlgorithm::kMaglev : LbAlgorithm::kRandom;
    svc.pass = (v.flags & LB4_F_PASS) != 0;
    for (uint32_t i = 0; i < v.count; ++i) {
      lb4_slot_key sk = SlotKey(v.id, v.gen, i);
      __u32 backend_id = 0;
      lb4_backend b;
      if (bpf_map_lookup_elem(fds_.slot, &sk, &backend_id) != 0 ||
          bpf_map_lookup_elem(fds_.backend, &backend_id, &b) != 0) {
        return absl::DataLossError(absl::StrCat("frontend ", svc.key.ToString(), ": slot ", i,
                                                " of ", v.count, " is missing"));
      }
      svc.backends.push_back(BackendOf(b));
      if (ids) ids->push_back(backend_id);
    }
    return svc;
  }

  // Learns what the pinned maps hold (a previous run's services), once, and
  // removes what a crash in the middle of an update left behind.
  absl::Status LoadOnce() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (loaded_) return absl::OkStatus();
    std::vector<lb4_key> keys;
    ForEachKey<lb4_key>(fds_.svc, [&](const lb4_key& k) { keys.push_back(k); });
    absl::flat_hash_map<uint32_t, uint16_t> live_gen;  // frontend id -> generation
    for (const lb4_key& k : keys) {
      lb4_service v;
      if (bpf_map_lookup_elem(fds_.svc, &k, &v) != 0) continue;
      next_frontend_id_ = std::max(next_frontend_id_, v.id + 1);
      std::vector<uint32_t> ids;
      auto svc = ReadService(k, v, &ids);
      if (!svc.ok()) {
        // Unreadable: drop it; the next Replace writes it again.
        bpf_map_delete_elem(fds_.svc, &k);
        continue;
      }
      live_gen[v.id] = v.gen;
      FrontendState st;
      st.service = *std::move(svc);
      st.gen = v.gen;
      st.backend_ids = ids;
      for (size_t i = 0; i < ids.size(); ++i) {
        BackendState& b = backends_[st.service.backends[i]];
        b.id = ids[i];
        ++b.refs;
      }
      frontends_[st.service.key] = std::move(st);
    }
    // Backends nobody references, and ids to continue from.
    std::vector<__u32> orphans;
    ForEachKey<__u32>(fds_.backend, [&](__u32 id) {
      next_backend_id_ = std::max(next_backend_id_, id + 1);
      lb4_backend b;
      if (bpf_map_lookup_elem(fds_.backend, &id, &b) == 0) {
        auto it = backends_.find(BackendOf(b));
        if (it == backends_.end() || it->second.id != id) orphans.push_back(id);
      }
    });
    for (__u32 id : orphans) bpf_map_delete_elem(fds_.backend, &id);
    std::vector<lb4_slot_key> stale_slots;
    ForEachKey<lb4_slot_key>(fds_.slot, [&](const lb4_slot_key& k) {
      auto it = live_gen.find(k.id);
      if (it == live_gen.end() || it->second != k.gen) stale_slots.push_back(k);
    });
    for (const auto& k : stale_slots) bpf_map_delete_elem(fds_.slot, &k);
    std::vector<lb4_maglev_key> stale_tables;
    ForEachKey<lb4_maglev_key>(fds_.maglev, [&](const lb4_maglev_key& k) {
      auto it = live_gen.find(k.id);
      if (it == live_gen.end() || it->second != k.gen) stale_tables.push_back(k);
    });
    for (const auto& k : stale_tables) bpf_map_delete_elem(fds_.maglev, &k);
    loaded_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<uint32_t> AcquireBackend(const LbBackend& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = backends_.find(b);
    if (it != backends_.end()) {
      ++it->second.refs;
      return it->second.id;
    }
    const uint32_t id = next_backend_id_++;
    lb4_backend v = BackendValue(b);
    if (bpf_map_update_elem(fds_.backend, &id, &v, BPF_NOEXIST) != 0) {
      return Errno(absl::StrCat("add backend ", b.ToString()), errno);
    }
    backends_[b] = BackendState{id, 1};
    return id;
  }

  void ReleaseBackend(const LbBackend& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = backends_.find(b);
    if (it == backends_.end() || --it->second.refs > 0) return;
    __u32 id = it->second.id;
    bpf_map_delete_elem(fds_.backend, &id);
    backends_.erase(it);
  }

  // Forgets the affinity of clients of frontend `id` to the given backends.
  void DropAffinity(uint32_t id, const absl::flat_hash_set<uint32_t>& backend_ids) {
    std::vector<lb4_affinity_key> doomed;
    ForEachKey<lb4_affinity_key>(fds_.affinity, [&](const lb4_affinity_key& k) {
      if (k.id != id) return;
      lb4_affinity a;
      if (backend_ids.empty() ||
          (bpf_map_lookup_elem(fds_.affinity, &k, &a) == 0 && backend_ids.contains(a.backend_id))) {
        doomed.push_back(k);
      }
    });
    for (const auto& k : doomed) bpf_map_delete_elem(fds_.affinity, &k);
  }

  void DeleteGeneration(uint32_t id, uint16_t gen, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      lb4_slot_key k = SlotKey(id, gen, static_cast<uint32_t>(i));
      bpf_map_delete_elem(fds_.slot, &k);
    }
    lb4_maglev_key mk = MaglevKey(id, gen);
    bpf_map_delete_elem(fds_.maglev, &mk);
  }

  absl::Status UpsertLocked(const LbService& in) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (auto s = ValidateLbService(in); !s.ok()) return s;
    LbService svc = in;
    svc.id = 0;
    auto existing = frontends_.find(svc.key);
    if (existing != frontends_.end()) {
      svc.id = existing->second.service.id;
      if (existing->second.service == svc) return absl::OkStatus();  // nothing to do
    }
    const bool is_new = existing == frontends_.end();
    const uint32_t id = is_new ? next_frontend_id_++ : svc.id;
    const uint16_t old_gen = is_new ? 0 : existing->second.gen;
    const uint16_t gen = static_cast<uint16_t>(old_gen + 1);
    svc.id = id;

    // 1. Backends and the new generation's slots (and table), unseen so far.
    std::vector<uint32_t> ids;
    ids.reserve(svc.backends.size());
    auto undo = [&] {
      for (size_t i = 0; i < ids.size(); ++i) ReleaseBackend(svc.backends[i]);
      DeleteGeneration(id, gen, ids.size());
    };
    for (size_t i = 0; i < svc.backends.size(); ++i) {
      auto bid = AcquireBackend(svc.backends[i]);
      if (!bid.ok()) {
        undo();
        return absl::InternalError(absl::StrCat(svc.key.ToString(), ": ", bid.status().message()));
      }
      ids.push_back(*bid);
      lb4_slot_key sk = SlotKey(id, gen, static_cast<uint32_t>(i));
      __u32 v = *bid;
      if (bpf_map_update_elem(fds_.slot, &sk, &v, BPF_ANY) != 0) {
        int err = errno;
        undo();
        return Errno(absl::StrCat(svc.key.ToString(), ": write backend slot"), err);
      }
    }
    // Maglev spreads flows evenly only while every backend owns many entries
    // of the table; a larger frontend is picked from at random instead.
    const bool maglev = svc.algorithm == LbAlgorithm::kMaglev && !ids.empty() &&
                        ids.size() <= kMaglevMaxBackends;
    if (maglev) {
      std::vector<std::string> names;
      names.reserve(svc.backends.size());
      for (const LbBackend& b : svc.backends) names.push_back(b.ToString());
      std::vector<uint32_t> table = MaglevTable(names, WEFT_LB4_MAGLEV_SIZE);
      if (table.size() != WEFT_LB4_MAGLEV_SIZE) {
        undo();
        return absl::InternalError(absl::StrCat(svc.key.ToString(), ": no Maglev table"));
      }
      auto value = std::make_unique<lb4_maglev>();
      for (size_t i = 0; i < table.size(); ++i) value->backend_ids[i] = ids[table[i]];
      lb4_maglev_key mk = MaglevKey(id, gen);
      if (bpf_map_update_elem(fds_.maglev, &mk, value.get(), BPF_ANY) != 0) {
        int err = errno;
        undo();
        return Errno(absl::StrCat(svc.key.ToString(), ": write Maglev table"), err);
      }
    }

    // 2. The switch: one update of the frontend's entry.
    lb4_key key = KeyOf(svc.key);
    lb4_service v;
    memset(&v, 0, sizeof(v));
    v.id = id;
    v.gen = gen;
    v.count = static_cast<__u16>(ids.size());
    if (svc.affinity_timeout_s > 0) {
      v.flags |= LB4_F_AFFINITY;
      v.affinity_timeout_s = svc.affinity_timeout_s;
    }
    if (maglev) v.flags |= LB4_F_MAGLEV;
    if (svc.snat) v.flags |= LB4_F_SNAT;
    if (svc.pass) v.flags |= LB4_F_PASS;
    if (bpf_map_update_elem(fds_.svc, &key, &v, BPF_ANY) != 0) {
      int err = errno;
      undo();
      return Errno(absl::StrCat(svc.key.ToString(), ": write frontend"), err);
    }

    // 3. The old generation goes; so do backends nobody uses any more, and
    // affinities to backends this frontend dropped.
    if (!is_new) {
      FrontendState& old = existing->second;
      DeleteGeneration(id, old.gen, old.backend_ids.size());
      absl::flat_hash_set<uint32_t> kept(ids.begin(), ids.end());
      absl::flat_hash_set<uint32_t> dropped;
      for (uint32_t bid : old.backend_ids) {
        if (!kept.contains(bid)) dropped.insert(bid);
      }
      if (old.service.affinity_timeout_s > 0 && !dropped.empty()) DropAffinity(id, dropped);
      for (const LbBackend& b : old.service.backends) ReleaseBackend(b);
    }
    FrontendState st;
    st.service = svc;
    st.gen = gen;
    st.backend_ids = std::move(ids);
    frontends_[svc.key] = std::move(st);
    return absl::OkStatus();
  }

  absl::Status DeleteLocked(const LbFrontendKey& k) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = frontends_.find(k);
    if (it == frontends_.end()) return absl::OkStatus();
    lb4_key key = KeyOf(k);
    if (bpf_map_delete_elem(fds_.svc, &key) != 0 && errno != ENOENT) {
      return Errno(absl::StrCat(k.ToString(), ": delete frontend"), errno);
    }
    FrontendState& st = it->second;
    DeleteGeneration(st.service.id, st.gen, st.backend_ids.size());
    if (st.service.affinity_timeout_s > 0) DropAffinity(st.service.id, {});
    for (const LbBackend& b : st.service.backends) ReleaseBackend(b);
    frontends_.erase(it);
    return absl::OkStatus();
  }

  const LbMapFds fds_;
  absl::Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t next_frontend_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint32_t next_backend_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::optional<std::vector<lpm4_key>> ranges_written_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<LbFrontendKey, FrontendState> frontends_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<LbBackend, BackendState> backends_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status ValidateLbService(const LbService& s) {
  const std::string what = s.key.ToString();
  if (s.key.port == 0) return absl::InvalidArgumentError(what + ": no port");
  if (s.key.proto != kProtoTcp && s.key.proto != kProtoUdp) {
    return absl::InvalidArgumentError(what + ": only TCP and UDP are translated");
  }
  if (s.pass && (s.key.scope != LbScope::kSocket || !s.backends.empty())) {
    return absl::InvalidArgumentError(what + ": a pass-through frontend has socket scope and no "
                                             "backends");
  }
  if (s.backends.size() > WEFT_LB4_BACKENDS_PER_SVC) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", s.backends.size(),
                                                   " backends, more than the datapath holds (",
                                                   WEFT_LB4_BACKENDS_PER_SVC, ")"));
  }
  for (const LbBackend& b : s.backends) {
    if (b.port == 0 || b.proto != s.key.proto) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": backend ", b.ToString(),
                                                     " is not a port of ", LbProtoName(s.key.proto)));
    }
  }
  return absl::OkStatus();
}

std::unique_ptr<ServiceMap> NewBpfServiceMap(const LbMapFds& fds) {
  return std::make_unique<BpfServiceMap>(fds);
}

}  // namespace weft::datapath
