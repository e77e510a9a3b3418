// Time for a client to list 10,000 Services + 10,000 EndpointSlices from the lab
// API server, paged (limit=500) and in one page, against the same number of
// small GET /version round-trips as a per-request baseline.
//   bazel run -c opt //kubeprism/testing:lab_apiserver_bench
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "kubeprism/testing/lab_apiserver.h"
#include "kubeprism/testing/lab_test_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using weft::kubeprism::testing::HttpResult;
using weft::kubeprism::testing::LabApiServer;
using weft::kubeprism::testing::LabApiServerOptions;
using weft::kubeprism::testing::LabResource;
using weft::kubeprism::testing::LabTestClient;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Lists every page; returns the number of items, or -1 on error.
long ListAll(LabTestClient& client, const std::string& collection, int limit, int* requests) {
  long items = 0;
  std::string token;
  do {
    std::string path = collection;
    if (limit > 0) path += absl::StrCat("?limit=", limit);
    if (!token.empty()) path += "&continue=" + LabTestClient::Escape(token);
    HttpResult page = client.Get(path);
    ++*requests;
    if (page.code != 200) return -1;
    nlohmann::json list = nlohmann::json::parse(page.body, nullptr, false);
    if (list.is_discarded()) return -1;
    items += static_cast<long>(list["items"].size());
    token = list["metadata"].value("continue", "");
  } while (!token.empty());
  return items;
}

}  // namespace

int main() {
  constexpr int kEach = 10000;
  LabApiServerOptions options;
  options.state_dir = absl::StrCat("/tmp/lab-apiserver-bench-", getpid());
  auto server = LabApiServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  const LabResource services{"", "v1", "services", "Service", true};
  const LabResource slices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true};
  auto start = Clock::now();
  for (int i = 0; i < kEach; ++i) {
    const std::string ns = absl::StrCat("ns-", i % 50);
    const std::string name = absl::StrCat("svc-", i);
    nlohmann::json svc = {
        {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}},
        {"spec",
         {{"clusterIP", absl::StrCat("10.96.", i / 250, ".", i % 250)},
          {"ports", {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}, {"targetPort", 8080}}}}}}};
    nlohmann::json slice = {
        {"metadata",
         {{"name", name + "-abcde"},
          {"namespace", ns},
          {"labels", {{"kubernetes.io/service-name", name}}}}},
        {"addressType", "IPv4"},
        {"endpoints",
         {{{"addresses", {absl::StrCat("10.244.", i / 250, ".", i % 250)}},
           {"conditions", {{"ready", true}}},
           {"nodeName", absl::StrCat("node-", i % 20)}}}},
        {"ports", {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}}};
    if (!(*server)->Put(services, svc.dump()).ok() || !(*server)->Put(slices, slice.dump()).ok()) {
      std::fprintf(stderr, "put failed\n");
      return 1;
    }
  }
  const double put_ms = Ms(Clock::now() - start);

  auto admin = (*server)->IssueClientCert("admin", {"system:masters"});
  LabTestClient client((*server)->url(), (*server)->ca_pem());
  client.SetClientCert(admin->cert_pem, admin->key_pem);
  client.Get("/version");  // connect once

  int requests = 0;
  start = Clock::now();
  const long paged = ListAll(client, "/api/v1/services", 500, &requests) +
                     ListAll(client, "/apis/discovery.k8s.io/v1/endpointslices", 500, &requests);
  const double paged_ms = Ms(Clock::now() - start);

  int single_requests = 0;
  start = Clock::now();
  const long single = ListAll(client, "/api/v1/services", 0, &single_requests) +
                      ListAll(client, "/apis/discovery.k8s.io/v1/endpointslices", 0,
                              &single_requests);
  const double single_ms = Ms(Clock::now() - start);

  start = Clock::now();
  for (int i = 0; i < requests; ++i) client.Get("/version");
  const double baseline_ms = Ms(Clock::now() - start);

  std::printf("store %d objects via Put:            %8.1f ms\n", 2 * kEach, put_ms);
  std::printf("list %ld objects, limit=500 (%d req): %8.1f ms\n", paged, requests, paged_ms);
  std::printf("list %ld objects, one page each:      %8.1f ms\n", single, single_ms);
  std::printf("baseline: %d GET /version round-trips: %8.1f ms\n", requests, baseline_ms);
  std::printf("ratio paged list / baseline:           %8.1fx\n", paged_ms / baseline_ms);
  (*server)->Stop();
  std::error_code ignored;
  std::filesystem::remove_all(options.state_dir, ignored);
  return paged == 2 * kEach && single == 2 * kEach ? 0 : 1;
}
