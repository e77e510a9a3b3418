#include "agent/services/controller.h"

#include <malloc.h>

#include <algorithm>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "kubeprism/logging.h"

namespace weft::services {
namespace {

using kubeprism::Log;
using kubeprism::LogLevel;

// The informer's objects as cached: `held` keeps them alive while the
// returned pointers are used (a pass never copies the caches).
template <typename T>
std::vector<const T*> Cached(const kubeprism::Informer<T>& informer,
                             std::vector<std::shared_ptr<const T>>* held) {
  *held = informer.List();
  std::vector<const T*> out;
  out.reserve(held->size());
  for (const auto& p : *held) out.push_back(p.get());
  return out;
}

// As kube-proxy: the slices of another proxy's Services and of headless ones
// are not ours. (Another proxy's Services are listed: their addresses pass.)
constexpr char kNotOurSlices[] =
    "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";

// Decodes an object and keeps only what the planner reads: annotations, a
// Service's selector and labels but the proxy name go (a slice's Service name
// is taken from its labels first). Tens of thousands are cached, and EndpointSlices carry
// their Service's labels.
template <typename T, absl::StatusOr<T> (*Decode)(const nlohmann::json&)>
absl::StatusOr<T> Lean(const nlohmann::json& object) {
  absl::StatusOr<T> decoded = Decode(object);
  if (decoded.ok()) {
    kubeprism::StringMap kept;
    if (const std::string* proxy = kubeprism::FindKey(decoded->meta.labels, kServiceProxyNameLabel)) {
      kept.emplace_back(kServiceProxyNameLabel, *proxy);
    }
    decoded->meta.labels = std::move(kept);
    decoded->meta.annotations = {};
    if constexpr (std::is_same_v<T, kubeprism::Service>) decoded->selector = {};  // slices tell
  }
  return decoded;
}

}  // namespace

Controller::Controller(std::shared_ptr<kubeprism::Transport> transport, datapath::ServiceMap* map,
                       ControllerOptions options)
    : options_(std::move(options)), map_(map) {
  kubeprism::InformerOptions ours;
  ours.label_selector = kNotOurSlices;
  services_ = std::make_unique<kubeprism::Informer<kubeprism::Service>>(
      transport, kubeprism::kServices, Lean<kubeprism::Service, kubeprism::DecodeService>);
  slices_ = std::make_unique<kubeprism::Informer<kubeprism::EndpointSlice>>(
      transport, kubeprism::kEndpointSlices,
      Lean<kubeprism::EndpointSlice, kubeprism::DecodeEndpointSlice>, ours);
  auto wake = [this](const auto&) { Wake(); };
  services_->AddHandlers(
      {wake, [this](const kubeprism::Service&, const kubeprism::Service&) { Wake(); }, wake});
  slices_->AddHandlers(
      {wake, [this](const kubeprism::EndpointSlice&, const kubeprism::EndpointSlice&) { Wake(); },
       wake});
}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  {
    absl::MutexLock l(&mu_);
    if (started_) return;
    started_ = true;
  }
  services_->Start();
  slices_->Start();
  thread_ = std::thread([this] { Loop(); });
}

void Controller::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  thread_.join();
  services_->Stop();
  slices_->Stop();
}

void Controller::Wake() {
  absl::MutexLock l(&mu_);
  dirty_ = true;
}

void Controller::Loop() {
  absl::Time last = absl::InfinitePast();
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return dirty_ || stopping_; };
      // Until both caches are listed, look again every 100 ms.
      const absl::Duration wait = applied_ ? options_.resync : absl::Milliseconds(100);
      mu_.AwaitWithDeadline(absl::Condition(&woken), last + wait);
      if (stopping_) return;
      dirty_ = false;
    }
    SyncOnce();
    last = absl::Now();
  }
}

void Controller::SyncOnce() {
  if (!services_->WaitForSync(absl::ZeroDuration()) || !slices_->WaitForSync(absl::ZeroDuration())) {
    return;  // the maps keep what they hold
  }
  const absl::Time start = absl::Now();
  std::vector<datapath::LbService> want;
  std::vector<std::string> problems;
  {
    ServicePlan plan = Plan();
    want.reserve(plan.frontends.size());
    for (PlannedFrontend& f : plan.frontends) want.push_back(std::move(f.lb));
    problems = std::move(plan.problems);
  }  // the rest of the plan (names, nodes) is planned again for List
  if (auto s = map_->Replace(want); !s.ok()) {
    problems.push_back(absl::StrCat("Service datapath: ", s.message()));
  }
  // The frontends are there now: addresses of the ranges that are none are
  // refused (one that could not be written too, as its problem says).
  if (auto s = map_->SetServiceRanges(options_.service_ranges); !s.ok()) {
    problems.push_back(absl::StrCat("Service datapath: ", s.message()));
  }
  for (const auto* informer : {static_cast<const kubeprism::InformerBase*>(services_.get()),
                               static_cast<const kubeprism::InformerBase*>(slices_.get())}) {
    kubeprism::InformerStats stats = informer->Stats();
    if (stats.decode_errors > 0) {
      problems.push_back(absl::StrCat(stats.decode_errors, " ", informer->type().kind,
                                      " object(s) skipped as malformed, last: ",
                                      stats.last_decode_error));
    }
  }
  const absl::Duration took = absl::Now() - start;
  const int frontends = static_cast<int>(want.size());
  want = {};
  absl::MutexLock l(&mu_);
  if (!applied_) {
    Log(LogLevel::kInfo, absl::StrCat("Services: ", frontends, " frontends applied in ",
                                      absl::FormatDuration(took)));
  }
  if (problems != problems_) {
    for (const auto& p : problems) Log(LogLevel::kWarning, p);
  }
  applied_ = true;
  problems_ = std::move(problems);
  frontend_count_ = frontends;
  // A pass over thousands of Services allocates and frees megabytes (the
  // plan, the wanted frontends); glibc keeps freed memory in its arenas
  // unless asked to give it back, and a node's agent should not sit on its
  // peak.
  malloc_trim(0);
}

ServicePlan Controller::Plan() const {
  std::vector<std::shared_ptr<const kubeprism::Service>> services;
  std::vector<std::shared_ptr<const kubeprism::EndpointSlice>> slices;
  return PlanServices(Cached(*services_, &services), Cached(*slices_, &slices), options_.node);
}

std::vector<std::string> Controller::Problems() const {
  absl::MutexLock l(&mu_);
  return problems_;
}

bool Controller::applied() const {
  absl::MutexLock l(&mu_);
  return applied_;
}

int Controller::frontend_count() const {
  absl::MutexLock l(&mu_);
  return frontend_count_;
}

absl::Status Controller::List(weft::agent::v1::ListServicesResponse* out) const {
  auto held = map_->List();
  if (!held.ok()) return held.status();
  // What each frontend belongs to comes from planning the caches again (an
  // operator's command: not worth keeping 10,000 Services' names and nodes
  // between passes). A change since the last pass labels the datapath's
  // frontends by the newer plan; what `held` says is what packets see.
  const ServicePlan plan = Plan();
  absl::flat_hash_map<datapath::LbFrontendKey, const PlannedFrontend*> by_key;
  for (const PlannedFrontend& f : plan.frontends) by_key[f.lb.key] = &f;
  for (const datapath::LbService& s : *held) {
    auto* f = out->add_frontends();
    auto it = by_key.find(s.key);
    const PlannedFrontend* p = it == by_key.end() ? nullptr : it->second;
    absl::flat_hash_map<datapath::LbBackend, std::string> nodes;
    if (p) {
      f->set_service(p->service);
      f->set_port_name(p->port_name);
      f->set_kind(FrontendKindName(p->kind));
      for (size_t i = 0; i < p->lb.backends.size() && i < p->backend_nodes.size(); ++i) {
        nodes[p->lb.backends[i]] = p->backend_nodes[i];
      }
    }
    f->set_address(s.key.ip.ToString());
    f->set_port(s.key.port);
    f->set_protocol(datapath::LbProtoName(s.key.proto));
    f->set_scope(datapath::LbScopeName(s.key.scope));
    f->set_id(s.id);
    f->set_algorithm(datapath::LbAlgorithmName(s.algorithm));
    f->set_affinity_timeout_seconds(static_cast<int32_t>(s.affinity_timeout_s));
    f->set_source_nat(s.snat);
    f->set_pass(s.pass);
    for (const datapath::LbBackend& b : s.backends) {
      auto* be = f->add_backends();
      be->set_address(b.ip.ToString());
      be->set_port(b.port);
      auto n = nodes.find(b);
      if (n != nodes.end()) be->set_node(n->second);
    }
  }
  absl::MutexLock l(&mu_);
  for (const auto& p : problems_) out->add_skipped(p);
  return absl::OkStatus();
}

}  // namespace weft::services
