// The kube-proxy replacement's control loop: Service and EndpointSlice
// informers -> PlanServices -> the datapath's ServiceMap, on its own thread so
// that a Service change is applied without waiting for the agent's other work.
//
// As kube-proxy, the slices of Services labelled
// service.kubernetes.io/service-proxy-name (another proxy's) or
// service.kubernetes.io/headless are not listed. The caches keep only what
// the planner reads (no annotations, no labels but the proxy name), and a
// pass plans from them without copying.
//
// The Service ranges (ControllerOptions) are handed to the datapath after the
// first pass is applied: before that the frontends may not be there yet, and
// refusing their addresses would break a starting node's Services.
//
// Restart safety: nothing is written before both informers have listed once,
// so a restarted agent keeps serving what the pinned maps hold (the previous
// run's frontends) until it knows the cluster's Services; the first pass then
// rewrites only what changed meanwhile. An API server that goes away leaves
// the caches, and so the datapath, as they were.
#ifndef WEFT_AGENT_SERVICES_CONTROLLER_H_
#define WEFT_AGENT_SERVICES_CONTROLLER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/api/agent.pb.h"
#include "agent/datapath/datapath.h"
#include "agent/services/plan.h"
#include "kubeprism/informer.h"
#include "kubeprism/objects.h"
#include "kubeprism/transport.h"

namespace weft::services {

struct ControllerOptions {
  NodeContext node;
  // The cluster's Service ranges (kubeProxyReplacement.serviceCIDRs).
  std::vector<net::IpPrefix> service_ranges;
  // How often everything is planned and compared again without a change.
  absl::Duration resync = absl::Seconds(30);
};

class Controller {
 public:
  Controller(std::shared_ptr<kubeprism::Transport> transport, datapath::ServiceMap* map,
             ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  void Start();
  void Stop();  // idempotent; the datapath keeps what it has

  // Lines for `weft status`: skipped input and datapath errors of the last pass.
  std::vector<std::string> Problems() const;
  // The frontends as the datapath holds them, with the Service they belong to.
  absl::Status List(weft::agent::v1::ListServicesResponse* out) const;
  int frontend_count() const;
  // True once a pass has been applied (both informers listed).
  bool applied() const;

 private:
  void Loop();
  void SyncOnce();
  void Wake();
  // The informers' caches planned as they are now.
  ServicePlan Plan() const;

  const ControllerOptions options_;
  datapath::ServiceMap* const map_;
  std::unique_ptr<kubeprism::Informer<kubeprism::Service>> services_;
  std::unique_ptr<kubeprism::Informer<kubeprism::EndpointSlice>> slices_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool dirty_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool applied_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);
  int frontend_count_ ABSL_GUARDED_BY(mu_) = 0;  // in the last plan
};

}  // namespace weft::services

#endif  // WEFT_AGENT_SERVICES_CONTROLLER_H_
