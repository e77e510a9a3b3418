// Kubernetes Services without kube-proxy, on a real lab (`weft lab up`: real
// agents, real kernel, the lab's API server), checked with traffic:
//   - ClusterIP (two ports, targetPort by name through EndpointSlices) from
//     pods and from the nodes' hosts, translated at the socket (the
//     application sees the Service address);
//   - NodePort from outside the nodes to every node, external and
//     LoadBalancer addresses (tc translation, conntrack, reverse translation);
//   - sessionAffinity ClientIP; externalTrafficPolicy Local (client source
//     kept) and internalTrafficPolicy Local;
//   - endpoints scaled up and down under a stream of connections, terminating
//     endpoints used only when nothing is ready, no endpoints -> refused at
//     once, the Service deleted -> refused at once too (the Service range);
//   - UDP request/response (DNS-like) through a ClusterIP;
//   - an agent SIGKILLed and restarted: connections keep working throughout;
//   - a Service with an out-of-range port: that port skipped and reported,
//     the rest kept;
//   - another proxy's Service (service-proxy-name): passed, not served.
// Clients of pods and hosts are sockets created inside the node's cgroup
// (cgroup::SocketIn): the agent's socket programs sit on that cgroup, as they
// sit on the cgroup root of a real node. One lab for the suite; root, no
// sandbox, owns the kernel while it runs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/lab/state.h"
#include "common/netns/cgroup.h"
#include "common/netns/netns.h"
#include "common/netns/process.h"
#include "gtest/gtest.h"
#include "integration/lab_harness.h"
#include "integration/lab_sockets.h"
#include "kubeprism/client.h"
#include "kubeprism/resource_types.h"
#include "nlohmann/json.hpp"

namespace weft {
namespace {

using integration::AdminClient;
using integration::SockAddr;
using integration::CommandResult;
using integration::Fd;
using integration::ReadToEnd;
using integration::RunWeft;
using integration::SetTimeouts;
using integration::WaitFor;
using nlohmann::json;

constexpr absl::Duration kTimeout = absl::Seconds(2);

class ServicesLabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    lab_ = integration::UpSuiteLab("svc", {}).release();
    if (lab_->state) state_ = &*lab_->state;
  }

  static void TearDownTestSuite() {
    integration::DownSuiteLab(std::unique_ptr<integration::SuiteLab>(lab_));
    lab_ = nullptr;
    state_ = nullptr;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for namespaces, cgroups and BPF";
    ASSERT_NE(state_, nullptr) << "the lab did not come up";
    for (int i = 0; i < 2; ++i) {
      if (!netns::IsRunning(lab_->agents[Node(i).name].pid)) RestartAgent(i);
    }
  }

  void TearDown() override {
    if (state_ == nullptr) return;
    for (const auto& name : services_) {
      (void)Admin()->Delete(kubeprism::kServices, Ns(), name);
    }
    for (const auto& name : slices_) {
      (void)Admin()->Delete(kubeprism::kEndpointSlices, Ns(), name);
    }
    services_.clear();
    slices_.clear();
  }

  const lab::NodePlan& Node(int i) { return state_->plan.nodes[i]; }
  const std::string& Ns() { return state_->plan.pod_namespace; }
  const lab::PodPlan& Pod(const std::string& name) {
    return *state_->plan.FindPod(state_->plan.pod_namespace + "/" + name);
  }
  std::string PodIp(const std::string& name) { return state_->FindPod(Pod(name).key())->ip; }
  std::string PodNetns(const std::string& name) { return netns::PathOf(Pod(name).netns); }
  // The node (0 or 1) a pod runs on.
  int NodeOf(const std::string& pod) { return Pod(pod).node == Node(0).name ? 0 : 1; }
  // A cluster IP of the lab's Service range that the lab's own Services do not use.
  std::string ClusterIp(int n) {
    return net::IpAddress::V4(state_->plan.service_cidr.address().v4() + 100 + n).ToString();
  }
  std::unique_ptr<kubeprism::Client> Admin() { return AdminClient(*state_); }

  void CreateService(json spec, const std::string& name, json labels = json::object()) {
    json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", name}, {"namespace", Ns()}, {"labels", std::move(labels)}}},
                {"spec", std::move(spec)}};
    auto r = Admin()->Create(kubeprism::kServices, Ns(), svc);
    ASSERT_TRUE(r.ok()) << r.status();
    services_.insert(name);
  }

  // An endpoint of a lab pod: address, node, conditions.
  json Endpoint(const std::string& pod, bool ready = true, bool serving = true,
                bool terminating = false) {
    return {{"addresses", {PodIp(pod)}},
            {"nodeName", Pod(pod).node},
            {"conditions", {{"ready", ready}, {"serving", serving}, {"terminating", terminating}}}};
  }

  // Creates or replaces (merge patch: atomic for the agent) a hand-made slice.
  void PutSlice(const std::string& name, const std::string& service, json endpoints, json ports) {
    json slice = {{"apiVersion", "discovery.k8s.io/v1"},
                  {"kind", "EndpointSlice"},
                  {"metadata",
                   {{"name", name},
                    {"namespace", Ns()},
                    {"labels", {{"kubernetes.io/service-name", service}}}}},
                  {"addressType", "IPv4"},
                  {"endpoints", std::move(endpoints)},
                  {"ports", std::move(ports)}};
    if (slices_.count(name)) {
      auto r = Admin()->Patch(kubeprism::kEndpointSlices, Ns(), name, kubeprism::PatchType::kMerge,
                              {{"endpoints", slice["endpoints"]}, {"ports", slice["ports"]}});
      ASSERT_TRUE(r.ok()) << r.status();
      return;
    }
    auto r = Admin()->Create(kubeprism::kEndpointSlices, Ns(), slice);
    ASSERT_TRUE(r.ok()) << r.status();
    slices_.insert(name);
  }

  // What a client in node i's cgroup (and network namespace `netns`: a pod's,
  // or the node's own) reads from ip:port: the greeting, or "error: ...".
  std::string Greet(int node, const std::string& netns, const std::string& ip, int port,
                    std::string* peer = nullptr) {
    auto fd = cgroup::SocketIn(Node(node).cgroup, netns, AF_INET, SOCK_STREAM, 0);
    if (!fd.ok()) return absl::StrCat("error: ", fd.status().message());
    Fd s(*fd);
    SetTimeouts(s.get(), kTimeout);
    sockaddr_in a = SockAddr(ip, port);
    if (connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      return absl::StrCat("error: connect: ", strerror(errno));
    }
    if (peer) {
      sockaddr_in p{};
      socklen_t len = sizeof(p);
      getpeername(s.get(), reinterpret_cast<sockaddr*>(&p), &len);
      char buf[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &p.sin_addr, buf, sizeof(buf));
      *peer = absl::StrCat(buf, ":", ntohs(p.sin_port));
    }
    std::string got;
    if (!ReadToEnd(s.get(), &got)) return absl::StrCat("error: read: ", strerror(errno));
    return got;
  }
  std::string GreetFromPod(const std::string& pod, const std::string& ip, int port) {
    return Greet(NodeOf(pod), PodNetns(pod), ip, port);
  }
  std::string GreetFromHost(int node, const std::string& ip, int port) {
    return Greet(node, netns::PathOf(Node(node).name), ip, port);
  }
  // From the lab namespace: outside every node (no cgroup of ours).
  std::string GreetFromOutside(const std::string& ip, int port) {
    auto fd = integration::ConnectFrom(state_->plan.lab_netns, ip, port, kTimeout);
    if (!fd.ok()) return absl::StrCat("error: ", fd.status().message());
    std::string got;
    if (!ReadToEnd(fd->get(), &got)) return absl::StrCat("error: read: ", strerror(errno));
    return got;
  }

  // The agent has the frontend ip:port in its datapath with `backends` backends.
  bool Serves(int node, const std::string& ip, int port, size_t backends) {
    CommandResult r = RunWeft({"service", "list", "--socket", Node(node).socket_path(), "-o", "json"});
    if (!r.json.is_object()) return false;
    for (const json& f : r.json.value("frontends", json::array())) {
      if (f.value("address", "") == ip && f.value("port", 0) == port &&
          f.value("backends", json::array()).size() == backends) {
        return true;
      }
    }
    return false;
  }
  // Each node serves the NodePort on its own addresses.
  void WaitNodePort(int port, size_t backends) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(WaitFor([&] { return Serves(i, Node(i).internal_ip.ToString(), port, backends); },
                          absl::Seconds(10)))
          << "node " << i << " never served its NodePort " << port << ": "
          << RunWeft({"service", "list", "--socket", Node(i).socket_path()}).out;
    }
  }
  bool HasFrontend(int node, const std::string& ip, int port) {
    CommandResult r = RunWeft({"service", "list", "--socket", Node(node).socket_path(), "-o", "json"});
    for (const json& f : r.json.value("frontends", json::array())) {
      if (f.value("address", "") == ip && f.value("port", 0) == port) return true;
    }
    return false;
  }
  void WaitServed(const std::string& ip, int port, size_t backends) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(WaitFor([&] { return Serves(i, ip, port, backends); }, absl::Seconds(10)))
          << "node " << i << " never served " << ip << ":" << port << " with " << backends
          << " backends: "
          << RunWeft({"service", "list", "--socket", Node(i).socket_path()}).out;
    }
  }

  void KillAgent(int i) { integration::KillAgent(lab_->agents[Node(i).name]); }
  void RestartAgent(int i) {
    absl::Status s = integration::RestartSuiteAgent(lab_, Node(i));
    ASSERT_TRUE(s.ok()) << s;
  }

  std::set<std::string> services_, slices_;  // made by this test, deleted after it
  static integration::SuiteLab* lab_;
  static lab::LabState* state_;  // &lab_->state once it came up
};

integration::SuiteLab* ServicesLabTest::lab_ = nullptr;
lab::LabState* ServicesLabTest::state_ = nullptr;

// The greeting of each sample pod ("backend\n").
std::string Hello(const std::string& pod) { return pod + "\n"; }

TEST_F(ServicesLabTest, KubeProxyReplacementIsOnAndTheLabServicesAnswer) {
  for (int i = 0; i < 2; ++i) {
    CommandResult st = RunWeft({"status", "--socket", Node(i).socket_path(), "-o", "json"});
    ASSERT_TRUE(st.json.is_object()) << st.out << st.err;
    EXPECT_EQ(st.json.value("kubeProxyReplacement", ""), "True");
    EXPECT_FALSE(st.json.value("kubeProxyReplacementFeatures", json::array()).empty());
  }
  // The lab's report covers its own Services (ClusterIP backend, NodePort frontend).
  CommandResult report = RunWeft({"lab", "status", "--state-dir", lab_->state_dir, "-o", "json"});
  EXPECT_EQ(report.rc, 0) << report.out << report.err;
}

TEST_F(ServicesLabTest, ClusterIpWithTwoNamedPortsFromPodsAndHosts) {
  const std::string ip = ClusterIp(0);
  CreateService({{"clusterIP", ip},
                 {"ports",
                  {{{"name", "web"}, {"port", 80}, {"targetPort", "http"}},
                   {{"name", "cache"}, {"port", 81}, {"targetPort", "redis"}}}}},
                "t-two-ports");
  // targetPort by name: each slice says what the name means for its endpoints.
  PutSlice("t-two-ports-a", "t-two-ports", {Endpoint("backend")},
           {{{"name", "web"}, {"port", Pod("backend").port}, {"protocol", "TCP"}}});
  PutSlice("t-two-ports-b", "t-two-ports", {Endpoint("redis")},
           {{{"name", "cache"}, {"port", Pod("redis").port}, {"protocol", "TCP"}}});
  WaitServed(ip, 80, 1);
  WaitServed(ip, 81, 1);
  for (const std::string& pod : {"frontend", "backend", "redis"}) {
    EXPECT_EQ(GreetFromPod(pod, ip, 80), Hello("backend")) << "from pod " << pod;
    EXPECT_EQ(GreetFromPod(pod, ip, 81), Hello("redis")) << "from pod " << pod;
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(GreetFromHost(i, ip, 80), Hello("backend")) << "from node " << i;
    EXPECT_EQ(GreetFromHost(i, ip, 81), Hello("redis")) << "from node " << i;
  }
  // The application sees the Service, not the backend.
  std::string peer;
  EXPECT_EQ(Greet(0, PodNetns("frontend"), ip, 80, &peer), Hello("backend"));
  EXPECT_EQ(peer, absl::StrCat(ip, ":80"));
}

TEST_F(ServicesLabTest, NodePortExternalAndLoadBalancerAddressesFromOutside) {
  const std::string external = "198.51.100.7";
  const std::string lb = "198.51.100.8";
  CreateService({{"type", "LoadBalancer"},
                 {"clusterIP", ClusterIp(1)},
                 {"externalIPs", {external}},
                 {"ports", {{{"name", "web"}, {"port", 8088}, {"targetPort", 80},
                             {"nodePort", 30088}}}}},
                "t-lb");
  auto st = Admin()->Patch(kubeprism::kServices, Ns(), "t-lb", kubeprism::PatchType::kMerge,
                           {{"status", {{"loadBalancer", {{"ingress", {{{"ip", lb}}}}}}}}});
  ASSERT_TRUE(st.ok()) << st.status();
  PutSlice("t-lb", "t-lb", {Endpoint("frontend")},
           {{{"name", "web"}, {"port", Pod("frontend").port}, {"protocol", "TCP"}}});
  WaitNodePort(30088, 1);
  // A NodePort is served on every node, whichever node the endpoint is on.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(GreetFromOutside(Node(i).internal_ip.ToString(), 30088), Hello("frontend"))
        << "NodePort of node " << i;
  }
  // External and LoadBalancer addresses reach the cluster through a node (as a
  // router or a load balancer in front of it would send them).
  for (const std::string& addr : {external, lb}) {
    WaitServed(addr, 8088, 1);
    for (int i = 0; i < 2; ++i) {
      netns::SpawnOptions ip_route;
      ip_route.argv = {"ip", "-n", state_->plan.lab_netns, "route", "replace", addr + "/32",
                       "via", Node(i).internal_ip.ToString()};
      auto route = netns::RunProcess(ip_route, "", absl::Seconds(5));
      ASSERT_TRUE(route.ok() && route->exit_code == 0);
      EXPECT_EQ(GreetFromOutside(addr, 8088), Hello("frontend")) << addr << " via node " << i;
    }
    netns::SpawnOptions del;
    del.argv = {"ip", "-n", state_->plan.lab_netns, "route", "del", addr + "/32"};
    (void)netns::RunProcess(del, "", absl::Seconds(5));
  }
  // From inside, the same addresses are translated at the socket.
  EXPECT_EQ(GreetFromPod("backend", external, 8088), Hello("frontend"));
  EXPECT_EQ(GreetFromHost(1, Node(0).internal_ip.ToString(), 30088), Hello("frontend"));
}

TEST_F(ServicesLabTest, SessionAffinityKeepsAClientOnOneBackend) {
  const std::string ip = ClusterIp(2);
  CreateService({{"clusterIP", ip},
                 {"sessionAffinity", "ClientIP"},
                 {"sessionAffinityConfig", {{"clientIP", {{"timeoutSeconds", 600}}}}},
                 {"ports", {{{"name", "p"}, {"port", 80}}}}},
                "t-affinity");
  // Two backends on different ports (a Service may: each endpoint has its own).
  PutSlice("t-affinity-a", "t-affinity", {Endpoint("backend")},
           {{{"name", "p"}, {"port", Pod("backend").port}}});
  PutSlice("t-affinity-b", "t-affinity", {Endpoint("redis")},
           {{{"name", "p"}, {"port", Pod("redis").port}}});
  WaitServed(ip, 80, 2);
  for (const std::string& pod : {"frontend", "backend"}) {
    std::set<std::string> seen;
    for (int n = 0; n < 20; ++n) seen.insert(GreetFromPod(pod, ip, 80));
    EXPECT_EQ(seen.size(), 1u) << "from " << pod << ": " << absl::StrJoin(seen, "|");
  }
}

TEST_F(ServicesLabTest, TrafficPolicyLocal) {
  // externalTrafficPolicy Local: only nodes with an endpoint answer, and the
  // endpoint sees the client's own address.
  auto listener = integration::ListenIn(Pod("backend").netns, PodIp("backend"), 9090);
  ASSERT_TRUE(listener.ok()) << listener.status();
  std::atomic<bool> stop{false};
  std::string seen_peer;
  std::thread server([&] {
    while (!stop) {
      sockaddr_in p{};
      socklen_t len = sizeof(p);
      int c = accept(listener->get(), reinterpret_cast<sockaddr*>(&p), &len);
      if (c < 0) continue;
      char buf[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &p.sin_addr, buf, sizeof(buf));
      seen_peer = buf;
      (void)!write(c, "local\n", 6);
      close(c);
    }
  });
  CreateService({{"type", "NodePort"},
                 {"clusterIP", ClusterIp(3)},
                 {"externalTrafficPolicy", "Local"},
                 {"ports", {{{"name", "p"}, {"port", 80}, {"targetPort", 9090}, {"nodePort", 30099}}}}},
                "t-etp");
  PutSlice("t-etp", "t-etp", {Endpoint("backend")}, {{{"name", "p"}, {"port", 9090}}});
  WaitNodePort(30099, 1);
  const int with = NodeOf("backend");
  const int without = 1 - with;
  EXPECT_EQ(GreetFromOutside(Node(with).internal_ip.ToString(), 30099), "local\n");
  EXPECT_EQ(seen_peer, state_->plan.gateway.ToString()) << "the client's address was replaced";
  EXPECT_NE(GreetFromOutside(Node(without).internal_ip.ToString(), 30099), "local\n");
  stop = true;
  server.join();

  // internalTrafficPolicy Local: only the node with an endpoint serves it.
  const std::string ip = ClusterIp(4);
  CreateService({{"clusterIP", ip},
                 {"internalTrafficPolicy", "Local"},
                 {"ports", {{{"name", "p"}, {"port", 80}}}}},
                "t-itp");
  PutSlice("t-itp", "t-itp", {Endpoint("backend")}, {{{"name", "p"}, {"port", Pod("backend").port}}});
  EXPECT_TRUE(WaitFor([&] { return Serves(with, ip, 80, 1); }, absl::Seconds(10)));
  EXPECT_TRUE(WaitFor([&] { return Serves(without, ip, 80, 0); }, absl::Seconds(10)));
  EXPECT_EQ(GreetFromHost(with, ip, 80), Hello("backend"));
  EXPECT_EQ(GreetFromHost(without, ip, 80), "error: connect: Connection refused");
}

TEST_F(ServicesLabTest, ScaleUpAndDownUnderTrafficThenTerminatingThenNone) {
  const std::string ip = ClusterIp(5);
  CreateService({{"clusterIP", ip}, {"ports", {{{"name", "p"}, {"port", 80}}}}}, "t-scale");
  auto ports = [&](const std::string& pod) { return json{{{"name", "p"}, {"port", Pod(pod).port}}}; };
  PutSlice("t-scale-b", "t-scale", {Endpoint("backend")}, ports("backend"));
  WaitServed(ip, 80, 1);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::vector<std::string> failures;
  std::set<std::string> seen;
  std::thread client([&] {
    while (!stop) {
      std::string got = GreetFromPod("frontend", ip, 80);
      if (got == Hello("backend") || got == Hello("redis")) {
        ++ok;
        seen.insert(got);
      } else {
        failures.push_back(got);
      }
    }
  });
  WaitFor([&] { return ok > 20; }, absl::Seconds(10));
  PutSlice("t-scale-r", "t-scale", {Endpoint("redis")}, ports("redis"));  // up: 2
  WaitServed(ip, 80, 2);
  WaitFor([&] { return seen.size() == 2; }, absl::Seconds(10));
  PutSlice("t-scale-b", "t-scale", json::array(), ports("backend"));  // down: redis only
  WaitServed(ip, 80, 1);
  const int before = ok;
  WaitFor([&] { return ok > before + 20; }, absl::Seconds(10));
  stop = true;
  client.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  EXPECT_EQ(seen.size(), 2u) << "both backends served while both were there";
  for (int n = 0; n < 10; ++n) EXPECT_EQ(GreetFromPod("frontend", ip, 80), Hello("redis"));

  // Terminating but serving: used only while no endpoint is ready.
  PutSlice("t-scale-b", "t-scale", {Endpoint("backend", false, true, true)}, ports("backend"));
  WaitFor([&] { return Serves(0, ip, 80, 1); }, absl::Seconds(5));
  for (int n = 0; n < 10; ++n) EXPECT_EQ(GreetFromPod("frontend", ip, 80), Hello("redis"));
  PutSlice("t-scale-r", "t-scale", json::array(), ports("redis"));
  for (int n = 0; n < 10 && GreetFromPod("frontend", ip, 80) != Hello("backend"); ++n) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  WaitServed(ip, 80, 1);
  EXPECT_EQ(GreetFromPod("frontend", ip, 80), Hello("backend"));

  // No endpoint at all: refused at once, not a timeout.
  PutSlice("t-scale-b", "t-scale", json::array(), ports("backend"));
  WaitServed(ip, 80, 0);
  const absl::Time start = absl::Now();
  EXPECT_EQ(GreetFromPod("frontend", ip, 80), "error: connect: Connection refused");
  EXPECT_EQ(GreetFromHost(1, ip, 80), "error: connect: Connection refused");
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));

  // The Service deleted: an address of the Service range that no Service
  // has is refused at once (kubeProxyReplacement.serviceCIDRs).
  ASSERT_TRUE(Admin()->Delete(kubeprism::kServices, Ns(), "t-scale").ok());
  services_.erase("t-scale");
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(WaitFor([&] {
      CommandResult r = RunWeft({"service", "list", "--socket", Node(i).socket_path(), "-o", "json"});
      return r.json.is_object() && r.json.dump().find(ip) == std::string::npos;
    }, absl::Seconds(10)));
  }
  const absl::Time deleted = absl::Now();
  EXPECT_EQ(GreetFromPod("frontend", ip, 80), "error: connect: Connection refused");
  EXPECT_EQ(GreetFromHost(1, ip, 80), "error: connect: Connection refused");
  EXPECT_LT(absl::Now() - deleted, absl::Seconds(1));
}

TEST_F(ServicesLabTest, UdpRequestResponseSeesTheServiceAddress) {
  // A DNS-like UDP server in the backend pod: answers each datagram with "re:" + it.
  int fd = -1;
  ASSERT_TRUE(netns::RunIn(PodNetns("backend"), [&] {
                fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                sockaddr_in a = SockAddr(PodIp("backend"), 5353);
                return bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0
                           ? absl::OkStatus()
                           : absl::InternalError(strerror(errno));
              }).ok());
  Fd server_fd(fd);
  SetTimeouts(server_fd.get(), absl::Milliseconds(200));
  std::atomic<bool> stop{false};
  std::thread server([&] {
    char buf[512];
    while (!stop) {
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      ssize_t n = recvfrom(server_fd.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;
      std::string reply = "re:" + std::string(buf, static_cast<size_t>(n));
      sendto(server_fd.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  });
  const std::string ip = ClusterIp(6);
  CreateService({{"clusterIP", ip}, {"ports", {{{"name", "dns"}, {"port", 53}, {"protocol", "UDP"},
                                                {"targetPort", 5353}}}}},
                "t-udp");
  PutSlice("t-udp", "t-udp", {Endpoint("backend")}, {{{"name", "dns"}, {"port", 5353}, {"protocol", "UDP"}}});
  WaitServed(ip, 53, 1);
  for (const std::string& pod : {"frontend", "redis"}) {
    auto c = cgroup::SocketIn(Node(NodeOf(pod)).cgroup, PodNetns(pod), AF_INET, SOCK_DGRAM, 0);
    ASSERT_TRUE(c.ok()) << c.status();
    Fd client(*c);
    SetTimeouts(client.get(), kTimeout);
    sockaddr_in to = SockAddr(ip, 53);
    const std::string query = "query-from-" + pod;
    ASSERT_EQ(sendto(client.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof(to)),
              static_cast<ssize_t>(query.size()));
    char buf[512];
    sockaddr_in from{};
    socklen_t len = sizeof(from);
    ssize_t n = recvfrom(client.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
    ASSERT_GT(n, 0) << "no answer from " << pod << ": " << strerror(errno);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "re:" + query);
    char addr[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &from.sin_addr, addr, sizeof(addr));
    EXPECT_EQ(absl::StrCat(addr, ":", ntohs(from.sin_port)), absl::StrCat(ip, ":53"))
        << "the answer must come from the Service address";
  }
  stop = true;
  server.join();
}

TEST_F(ServicesLabTest, AgentRestartLeavesNoGap) {
  const std::string ip = ClusterIp(7);
  CreateService({{"clusterIP", ip}, {"ports", {{{"name", "p"}, {"port", 80}}}}}, "t-restart");
  PutSlice("t-restart", "t-restart", {Endpoint("backend")},
           {{{"name", "p"}, {"port", Pod("backend").port}}});
  WaitServed(ip, 80, 1);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::vector<std::string> failures;
  std::thread client([&] {
    while (!stop) {
      std::string got = GreetFromPod("frontend", ip, 80);
      if (got == Hello("backend")) {
        ++ok;
      } else {
        failures.push_back(got);
      }
    }
  });
  WaitFor([&] { return ok > 10; }, absl::Seconds(10));
  const int node = NodeOf("frontend");
  KillAgent(node);
  int during = ok;
  WaitFor([&] { return ok > during + 20; }, absl::Seconds(10));
  RestartAgent(node);
  ASSERT_TRUE(WaitFor([&] { return Serves(node, ip, 80, 1); }, absl::Seconds(15)));
  during = ok;
  WaitFor([&] { return ok > during + 20; }, absl::Seconds(10));
  stop = true;
  client.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  EXPECT_GT(ok, 50);
}

TEST_F(ServicesLabTest, BadPortIsSkippedAndReportedTheRestKept) {
  const std::string ip = ClusterIp(8);
  CreateService({{"clusterIP", ip},
                 {"ports",
                  {{{"name", "bad"}, {"port", 80}, {"nodePort", 99999}},
                   {{"name", "good"}, {"port", 81}}}},
                 {"type", "NodePort"}},
                "t-bad");
  PutSlice("t-bad", "t-bad", {Endpoint("backend")},
           {{{"name", "good"}, {"port", Pod("backend").port}},
            {{"name", "bad"}, {"port", Pod("backend").port}}});
  WaitServed(ip, 81, 1);
  EXPECT_EQ(GreetFromPod("frontend", ip, 81), Hello("backend"));
  CommandResult list = RunWeft({"service", "list", "--socket", Node(0).socket_path(), "-o", "json"});
  ASSERT_TRUE(list.json.is_object()) << list.out;
  EXPECT_NE(list.json.value("skipped", json::array()).dump().find("99999"), std::string::npos)
      << list.out;
  // The bad port is skipped whole: no frontend for it (nor its NodePort).
  EXPECT_FALSE(HasFrontend(0, ip, 80)) << list.out;
  EXPECT_TRUE(HasFrontend(0, Node(0).internal_ip.ToString(), 81) ||
              HasFrontend(0, ip, 81)) << list.out;
  // The other Services are untouched, and the agent stays up.
  EXPECT_TRUE(netns::IsRunning(lab_->agents[Node(0).name].pid));
}

TEST_F(ServicesLabTest, ServicesOfAnotherProxyAreLeftAlone) {
  // kube-proxy's rule: a Service labelled service.kubernetes.io/service-proxy-name
  // belongs to that proxy. Created first, so that the control Service being
  // served means the labelled one was seen too.
  const std::string theirs = ClusterIp(9), ours = ClusterIp(10);
  CreateService({{"clusterIP", theirs}, {"ports", {{{"name", "p"}, {"port", 80}}}}}, "t-theirs",
                {{"service.kubernetes.io/service-proxy-name", "another-proxy"}});
  auto ports = json{{{"name", "p"}, {"port", Pod("backend").port}}};
  PutSlice("t-theirs", "t-theirs", {Endpoint("backend")}, ports);
  CreateService({{"clusterIP", ours}, {"ports", {{{"name", "p"}, {"port", 80}}}}}, "t-ours");
  PutSlice("t-ours", "t-ours", {Endpoint("backend")}, ports);
  WaitServed(ours, 80, 1);
  EXPECT_EQ(GreetFromPod("frontend", ours, 80), Hello("backend"));
  // Theirs passes: listed without backends, neither translated nor refused
  // (nothing in the lab routes the Service range, so it does not connect).
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(Serves(i, theirs, 80, 0)) << "node " << i;
    CommandResult r = RunWeft({"service", "list", "--socket", Node(i).socket_path(), "-o", "json"});
    EXPECT_NE(r.json.dump().find("OtherProxy"), std::string::npos) << r.out;
  }
  const std::string got = GreetFromPod("frontend", theirs, 80);
  EXPECT_NE(got, Hello("backend"));
  EXPECT_NE(got, "error: connect: Connection refused");
}

}  // namespace
}  // namespace weft
