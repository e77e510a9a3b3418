#include "kubeprism/testing/lab_apiserver.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kubeprism/testing/lab_test_client.h"

namespace weft::kubeprism::testing {
namespace {

using nlohmann::json;

const LabResource kServices{"", "v1", "services", "Service", true};
const LabResource kPods{"", "v1", "pods", "Pod", true};
const LabResource kNodes{"", "v1", "nodes", "Node", false};

std::string ServiceJson(const std::string& ns, const std::string& name, int port = 80) {
  return json{{"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"ports", {{{"port", port}}}}}}}
      .dump();
}

json Parse(const std::string& text) { return json::parse(text, nullptr, false); }

std::string Rv(const json& object) {
  return object["metadata"]["resourceVersion"].get<std::string>();
}

class LabApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(LabApiServerOptions options) {
    static std::atomic<int> counter{0};
    options.state_dir = absl::StrCat(::testing::TempDir(), "/lab-", getpid(), "-", ++counter);
    options.port = 0;
    if (options.bookmark_interval_ms == 1000) options.bookmark_interval_ms = 50;
    auto server = LabApiServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    auto admin = server_->IssueClientCert("admin", {"system:masters"});
    ASSERT_TRUE(admin.ok()) << admin.status();
    client_ = NewClient();
    client_->SetClientCert(admin->cert_pem, admin->key_pem);
  }

  std::unique_ptr<LabTestClient> NewClient() {
    return std::make_unique<LabTestClient>(server_->url(), server_->ca_pem());
  }

  // Collects watch lines until `count` events arrived (or the stream ends).
  std::vector<json> WatchEvents(const std::string& path, size_t count, long max_seconds = 10) {
    std::vector<json> events;
    client_->Watch(
        path,
        [&](const std::string& line) {
          events.push_back(Parse(line));
          return events.size() < count;
        },
        max_seconds);
    return events;
  }

  std::unique_ptr<LabApiServer> server_;
  std::unique_ptr<LabTestClient> client_;
};

TEST_F(LabApiServerTest, CreateGetUpdateConflictPatchDelete) {
  const std::string collection = "/api/v1/namespaces/default/services";
  HttpResult created = client_->Post(collection, ServiceJson("default", "web"));
  ASSERT_EQ(created.code, 201) << created.body << created.error;
  json object = Parse(created.body);
  EXPECT_EQ(object["kind"], "Service");
  EXPECT_EQ(object["apiVersion"], "v1");
  EXPECT_FALSE(object["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(object["metadata"]["creationTimestamp"].get<std::string>().empty());
  const std::string rv1 = Rv(object);

  HttpResult again = client_->Post(collection, ServiceJson("default", "web"));
  EXPECT_EQ(again.code, 409);
  EXPECT_EQ(Parse(again.body)["reason"], "AlreadyExists");

  HttpResult got = client_->Get(collection + "/web");
  ASSERT_EQ(got.code, 200);
  EXPECT_EQ(Parse(got.body), object);

  object["spec"]["ports"][0]["port"] = 8080;
  HttpResult updated = client_->Put(collection + "/web", object.dump());
  ASSERT_EQ(updated.code, 200) << updated.body;
  const std::string rv2 = Rv(Parse(updated.body));
  EXPECT_GT(std::stoll(rv2), std::stoll(rv1));
  EXPECT_EQ(Parse(updated.body)["metadata"]["uid"], object["metadata"]["uid"]);

  // The same stale object again: 409 Conflict with kube-apiserver's message.
  HttpResult conflict = client_->Put(collection + "/web", object.dump());
  EXPECT_EQ(conflict.code, 409);
  json status = Parse(conflict.body);
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["reason"], "Conflict");
  EXPECT_EQ(status["message"],
            "Operation cannot be fulfilled on services \"web\": the object has been modified; "
            "please apply your changes to the latest version and try again");

  // Empty resourceVersion: unconditional.
  object["metadata"].erase("resourceVersion");
  object["spec"]["ports"][0]["port"] = 9090;
  EXPECT_EQ(client_->Put(collection + "/web", object.dump()).code, 200);

  HttpResult patched =
      client_->Patch(collection + "/web", R"({"metadata":{"labels":{"app":"web"}}})");
  ASSERT_EQ(patched.code, 200) << patched.body;
  EXPECT_EQ(Parse(patched.body)["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(Parse(patched.body)["spec"]["ports"][0]["port"], 9090);
  EXPECT_EQ(client_->Patch(collection + "/web", R"({"metadata":{"resourceVersion":"1"}})").code,
            409);
  EXPECT_EQ(client_->Patch(collection + "/web", "{}", "application/apply-patch+yaml").code, 415);

  HttpResult deleted = client_->Delete(collection + "/web");
  ASSERT_EQ(deleted.code, 200);
  EXPECT_EQ(Parse(deleted.body)["metadata"]["name"], "web");
  HttpResult gone = client_->Get(collection + "/web");
  EXPECT_EQ(gone.code, 404);
  EXPECT_EQ(Parse(gone.body)["message"], "services \"web\" not found");
  EXPECT_EQ(client_->Delete(collection + "/web").code, 404);
}

TEST_F(LabApiServerTest, BadBodiesGet400And422) {
  const std::string collection = "/api/v1/namespaces/default/services";
  HttpResult bad = client_->Post(collection, "{not json");
  EXPECT_EQ(bad.code, 400);
  EXPECT_EQ(Parse(bad.body)["reason"], "BadRequest");
  HttpResult unnamed = client_->Post(collection, R"({"metadata":{},"spec":{}})");
  EXPECT_EQ(unnamed.code, 422);
  EXPECT_EQ(Parse(unnamed.body)["reason"], "Invalid");
  HttpResult generated = client_->Post(collection, R"({"metadata":{"generateName":"web-"}})");
  ASSERT_EQ(generated.code, 201);
  EXPECT_EQ(Parse(generated.body)["metadata"]["name"].get<std::string>().rfind("web-", 0), 0u);
  EXPECT_EQ(client_->Get("/api/v1/namespaces/default/nosuchthings").code, 404);
}

TEST_F(LabApiServerTest, ListPagingReturnsEveryObjectExactlyOnceAtOneSnapshot) {
  constexpr int kObjects = 2500;
  for (int i = 0; i < kObjects; ++i) {
    ASSERT_TRUE(server_->Put(kServices, ServiceJson(absl::StrCat("ns-", i % 7),
                                                    absl::StrCat("svc-", i)))
                    .ok());
  }
  std::set<std::string> seen;
  std::string token;
  std::string list_rv;
  int pages = 0;
  do {
    std::string path = "/api/v1/services?limit=300";
    if (!token.empty()) path += "&continue=" + LabTestClient::Escape(token);
    HttpResult page = client_->Get(path);
    ASSERT_EQ(page.code, 200) << page.body;
    json list = Parse(page.body);
    EXPECT_EQ(list["kind"], "ServiceList");
    if (list_rv.empty()) list_rv = list["metadata"]["resourceVersion"];
    EXPECT_EQ(list["metadata"]["resourceVersion"], list_rv);
    for (const json& item : list["items"]) {
      EXPECT_FALSE(item.contains("kind"));  // as kube-apiserver: list items carry no kind
      const std::string key = absl::StrCat(item["metadata"]["namespace"].get<std::string>(), "/",
                                           item["metadata"]["name"].get<std::string>());
      EXPECT_TRUE(seen.insert(key).second) << "duplicate " << key;
    }
    token = list["metadata"].value("continue", "");
    ++pages;
    // Changes between pages must not show up in this list.
    if (pages == 2) {
      ASSERT_TRUE(server_->Put(kServices, ServiceJson("ns-9", "late-arrival")).ok());
      ASSERT_TRUE(server_->Remove(kServices, "ns-6", "svc-2498").ok());
    }
  } while (!token.empty());
  EXPECT_EQ(seen.size(), static_cast<size_t>(kObjects));
  EXPECT_EQ(pages, (kObjects + 299) / 300);
  EXPECT_EQ(seen.count("ns-9/late-arrival"), 0u);
  EXPECT_EQ(seen.count("ns-6/svc-2498"), 1u);

  // One namespace only.
  HttpResult ns = client_->Get("/api/v1/namespaces/ns-3/services");
  ASSERT_EQ(ns.code, 200);
  const json ns_list = Parse(ns.body);
  EXPECT_FALSE(ns_list["items"].empty());
  for (const json& item : ns_list["items"]) EXPECT_EQ(item["metadata"]["namespace"], "ns-3");
}

TEST_F(LabApiServerTest, ExpiredContinueTokenGets410) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(server_->Put(kServices, ServiceJson("default", absl::StrCat("s", i))).ok());
  }
  HttpResult first = client_->Get("/api/v1/services?limit=3");
  const std::string token = Parse(first.body)["metadata"]["continue"];
  ASSERT_TRUE(server_->Put(kServices, ServiceJson("default", "newer")).ok());
  server_->Compact();
  HttpResult next = client_->Get("/api/v1/services?limit=3&continue=" + LabTestClient::Escape(token));
  EXPECT_EQ(next.code, 410);
  EXPECT_EQ(Parse(next.body)["reason"], "Expired");
}

TEST_F(LabApiServerTest, FieldAndLabelSelectors) {
  for (int i = 0; i < 6; ++i) {
    json pod = {{"metadata",
                 {{"name", absl::StrCat("p", i)},
                  {"namespace", "default"},
                  {"labels", {{"tier", i % 2 ? "db" : "web"}}}}},
                {"spec", {{"nodeName", absl::StrCat("node-", i % 3)}}}};
    ASSERT_TRUE(server_->Put(kPods, pod.dump()).ok());
  }
  HttpResult on_node = client_->Get("/api/v1/pods?fieldSelector=" +
                                    LabTestClient::Escape("spec.nodeName=node-1"));
  ASSERT_EQ(on_node.code, 200) << on_node.body;
  std::set<std::string> names;
  const json on_node_list = Parse(on_node.body);
  for (const json& item : on_node_list["items"]) names.insert(item["metadata"]["name"]);
  EXPECT_EQ(names, (std::set<std::string>{"p1", "p4"}));

  HttpResult by_label = client_->Get("/api/v1/namespaces/default/pods?labelSelector=" +
                                     LabTestClient::Escape("tier=db"));
  EXPECT_EQ(Parse(by_label.body)["items"].size(), 3u);
  HttpResult by_name = client_->Get("/api/v1/pods?fieldSelector=" +
                                    LabTestClient::Escape("metadata.name=p2"));
  EXPECT_EQ(Parse(by_name.body)["items"].size(), 1u);
}

TEST_F(LabApiServerTest, WatchReplaysEventsInResourceVersionOrder) {
  // resourceVersion=0 would mean "any": start from a real version.
  ASSERT_TRUE(server_->Put(kNodes, R"({"metadata":{"name":"n0"}})").ok());
  const int64_t start = server_->resource_version();
  const std::string collection = "/api/v1/namespaces/default/services";
  ASSERT_EQ(client_->Post(collection, ServiceJson("default", "a")).code, 201);
  ASSERT_EQ(client_->Patch(collection + "/a", R"({"spec":{"type":"NodePort"}})").code, 200);
  ASSERT_EQ(client_->Delete(collection + "/a").code, 200);
  ASSERT_TRUE(server_->Put(kNodes, R"({"metadata":{"name":"n1"}})").ok());  // other resource

  std::vector<json> events =
      WatchEvents(absl::StrCat("/api/v1/services?watch=true&resourceVersion=", start), 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[1]["type"], "MODIFIED");
  EXPECT_EQ(events[2]["type"], "DELETED");
  EXPECT_EQ(events[0]["object"]["kind"], "Service");
  int64_t last = start;
  for (const json& e : events) {
    const int64_t rv = std::stoll(Rv(e["object"]));
    EXPECT_GT(rv, last);
    last = rv;
  }
}

TEST_F(LabApiServerTest, WatchDeliversLiveEventsAndInitialState) {
  ASSERT_TRUE(server_->Put(kServices, ServiceJson("default", "existing")).ok());
  std::thread writer([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_TRUE(server_->Put(kServices, ServiceJson("default", "live")).ok());
    ASSERT_TRUE(server_->Remove(kServices, "default", "live").ok());
  });
  std::vector<json> events = WatchEvents("/api/v1/services?watch=1", 3);
  writer.join();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "existing");
  EXPECT_EQ(events[1]["type"], "ADDED");
  EXPECT_EQ(events[1]["object"]["metadata"]["name"], "live");
  EXPECT_EQ(events[2]["type"], "DELETED");
}

TEST_F(LabApiServerTest, WatchFromCompactedVersionGetsExpiredError) {
  ASSERT_TRUE(server_->Put(kNodes, R"({"metadata":{"name":"n0"}})").ok());
  const int64_t old = server_->resource_version();
  ASSERT_TRUE(server_->Put(kServices, ServiceJson("default", "a")).ok());
  ASSERT_TRUE(server_->Put(kServices, ServiceJson("default", "b")).ok());
  server_->Compact();
  std::vector<json> events =
      WatchEvents(absl::StrCat("/api/v1/services?watch=true&resourceVersion=", old), 5);
  ASSERT_EQ(events.size(), 1u);  // the server closes the stream after the error
  EXPECT_EQ(events[0]["type"], "ERROR");
  EXPECT_EQ(events[0]["object"]["code"], 410);
  EXPECT_EQ(events[0]["object"]["reason"], "Expired");
  HttpResult list = client_->Get(
      absl::StrCat("/api/v1/services?resourceVersionMatch=Exact&resourceVersion=", old));
  EXPECT_EQ(list.code, 410);
}

TEST_F(LabApiServerTest, BookmarksArriveAndTimeoutEndsTheStream) {
  const int64_t rv = server_->resource_version();
  std::vector<json> events;
  HttpResult result = client_->Watch(
      absl::StrCat("/api/v1/services?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&"
                   "resourceVersion=",
                   rv),
      [&](const std::string& line) {
        events.push_back(Parse(line));
        return true;
      },
      10);
  EXPECT_EQ(result.code, 200);
  EXPECT_TRUE(result.error.empty()) << result.error;  // a clean end of the chunked stream
  ASSERT_GE(events.size(), 2u);
  for (const json& e : events) {
    EXPECT_EQ(e["type"], "BOOKMARK");
    EXPECT_EQ(e["object"]["kind"], "Service");
    EXPECT_EQ(e["object"]["metadata"]["resourceVersion"], std::to_string(rv));
  }
}

TEST_F(LabApiServerTest, UnauthenticatedRequestsGet401) {
  auto anonymous = NewClient();
  HttpResult none = anonymous->Get("/api/v1/services");
  EXPECT_EQ(none.code, 401);
  EXPECT_EQ(Parse(none.body)["reason"], "Unauthorized");

  auto expired = server_->IssueClientCert("late", {}, -60);
  ASSERT_TRUE(expired.ok());
  auto with_expired = NewClient();
  with_expired->SetClientCert(expired->cert_pem, expired->key_pem);
  EXPECT_EQ(with_expired->Get("/api/v1/services").code, 401);

  LabApiServerOptions other_options;
  other_options.state_dir = absl::StrCat(::testing::TempDir(), "/other-ca-", getpid());
  auto other = LabApiServer::Start(other_options);
  ASSERT_TRUE(other.ok());
  auto foreign = (*other)->IssueClientCert("admin", {"system:masters"});
  ASSERT_TRUE(foreign.ok());
  auto with_foreign = NewClient();
  with_foreign->SetClientCert(foreign->cert_pem, foreign->key_pem);
  EXPECT_EQ(with_foreign->Get("/api/v1/services").code, 401);

  auto wrong_token = NewClient();
  wrong_token->SetToken("nope");
  EXPECT_EQ(wrong_token->Get("/api/v1/services").code, 401);
}

TEST_F(LabApiServerTest, TokenAuthenticationWorks) {
  server_->AddToken("s3cret", "robot", {"bots"});
  auto robot = NewClient();
  robot->SetToken("s3cret");
  EXPECT_EQ(robot->Get("/api/v1/services").code, 200);
}

TEST_F(LabApiServerTest, DeniedVerbGets403) {
  server_->AddToken("agent-token", "agent", {"weft:agents"});
  server_->SetRules({{"group:weft:agents", "list", "", "services"},
                     {"group:weft:agents", "watch", "", "services"},
                     {"admin", "*", "*", "*"}});
  auto agent = NewClient();
  agent->SetToken("agent-token");
  EXPECT_EQ(agent->Get("/api/v1/services").code, 200);
  HttpResult denied = agent->Post("/api/v1/namespaces/default/services",
                                  ServiceJson("default", "x"));
  EXPECT_EQ(denied.code, 403);
  EXPECT_EQ(Parse(denied.body)["reason"], "Forbidden");
  HttpResult list_denied = agent->Get("/apis/discovery.k8s.io/v1/endpointslices");
  EXPECT_EQ(list_denied.code, 403);
  EXPECT_EQ(Parse(list_denied.body)["message"],
            "endpointslices.discovery.k8s.io is forbidden: User \"agent\" cannot list resource "
            "\"endpointslices\" in API group \"discovery.k8s.io\" at the cluster scope");
  EXPECT_EQ(client_->Post("/api/v1/namespaces/default/services", ServiceJson("default", "x")).code,
            201);
}

TEST_F(LabApiServerTest, StopAndRestartKeepDataVersionAndPort) {
  ASSERT_TRUE(server_->Put(kServices, ServiceJson("default", "kept")).ok());
  const int port = server_->port();
  const int64_t rv = server_->resource_version();
  std::atomic<bool> watch_ended{false};
  std::thread watcher([&] {
    auto c = NewClient();
    auto admin = server_->IssueClientCert("admin", {});
    c->SetClientCert(admin->cert_pem, admin->key_pem);
    c->Watch(absl::StrCat("/api/v1/services?watch=true&resourceVersion=", rv),
             [](const std::string&) { return true; }, 30);
    watch_ended = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server_->Stop();
  watcher.join();
  EXPECT_TRUE(watch_ended);
  EXPECT_NE(client_->Get("/api/v1/services").code, 200);
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_EQ(server_->port(), port);
  EXPECT_EQ(server_->resource_version(), rv);
  HttpResult got = client_->Get("/api/v1/namespaces/default/services/kept");
  ASSERT_EQ(got.code, 200) << got.error;
  EXPECT_EQ(Rv(Parse(got.body)), std::to_string(rv));
}

TEST_F(LabApiServerTest, DropWatchesClosesOpenWatches) {
  std::atomic<int> lines{0};
  HttpResult result;
  std::thread watcher([&] {
    auto c = NewClient();
    auto admin = server_->IssueClientCert("admin", {});
    c->SetClientCert(admin->cert_pem, admin->key_pem);
    result = c->Watch("/api/v1/services?watch=true",
                      [&](const std::string&) {
                        ++lines;
                        return true;
                      },
                      30);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  server_->DropWatches();
  watcher.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_FALSE(result.error.empty());  // cut, not a clean end of stream
  EXPECT_EQ(client_->Get("/api/v1/services").code, 200);  // the server still serves
}

TEST_F(LabApiServerTest, PutRawItemAppearsVerbatimInLists) {
  ASSERT_TRUE(server_->Put(kServices, ServiceJson("default", "good")).ok());
  const std::string raw = R"({"metadata":{"name":"bad","namespace":"default"},"spec":"oops"})";
  ASSERT_TRUE(server_->PutRaw(kServices, "default", "bad", raw).ok());
  HttpResult list = client_->Get("/api/v1/namespaces/default/services");
  ASSERT_EQ(list.code, 200);
  EXPECT_NE(list.body.find(raw), std::string::npos) << list.body;
  EXPECT_EQ(Parse(list.body)["items"].size(), 2u);
  ASSERT_TRUE(server_->PutRaw(kServices, "default", "worse", "{not json").ok());
  HttpResult broken = client_->Get("/api/v1/namespaces/default/services");
  EXPECT_NE(broken.body.find("{not json"), std::string::npos);
}

TEST_F(LabApiServerTest, DiscoveryShowsServedGroupsOnly) {
  HttpResult apis = client_->Get("/apis");
  ASSERT_EQ(apis.code, 200);
  EXPECT_NE(apis.body.find("cilium.io"), std::string::npos);
  EXPECT_EQ(client_->Get("/apis/cilium.io/v2").code, 200);
  EXPECT_EQ(client_->Get("/api").code, 200);
  EXPECT_EQ(client_->Get("/api/v1").code, 200);

  LabApiServerOptions options;
  options.resources.clear();
  for (const LabResource& r : DefaultLabResources()) {
    if (r.group != "cilium.io") options.resources.push_back(r);
  }
  server_.reset();
  StartServer(options);
  EXPECT_EQ(client_->Get("/apis/cilium.io/v2").code, 404);
  EXPECT_EQ(client_->Get("/apis/cilium.io/v2/ciliumnetworkpolicies").code, 404);
  EXPECT_EQ(client_->Get("/apis").body.find("cilium.io"), std::string::npos);
}

TEST_F(LabApiServerTest, HiddenResourceLooksLikeAnAbsentCrd) {
  const LabResource cnp{"cilium.io", "v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy", true};
  const LabResource ccnp{"cilium.io", "v2", "ciliumclusterwidenetworkpolicies",
                         "CiliumClusterwideNetworkPolicy", false};
  server_->SetResourceHidden(cnp, true);
  server_->SetResourceHidden(ccnp, true);
  EXPECT_EQ(client_->Get("/apis/cilium.io/v2/ciliumnetworkpolicies").code, 404);
  EXPECT_EQ(client_->Get("/apis/cilium.io/v2").code, 404);
  EXPECT_EQ(client_->Get("/apis/cilium.io").code, 404);
  EXPECT_EQ(client_->Get("/apis").body.find("cilium.io"), std::string::npos);
  server_->SetResourceHidden(cnp, false);
  EXPECT_EQ(client_->Get("/apis/cilium.io/v2/ciliumnetworkpolicies").code, 200);
  EXPECT_EQ(client_->Get("/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies").code, 404);
}

TEST_F(LabApiServerTest, ClusterScopedAndGroupedResources) {
  EXPECT_EQ(client_->Post("/api/v1/nodes", R"({"metadata":{"name":"n1"}})").code, 201);
  EXPECT_EQ(client_->Get("/api/v1/nodes/n1").code, 200);
  const std::string slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
  HttpResult slice = client_->Post(
      slices, R"({"metadata":{"name":"web-abc","labels":{"kubernetes.io/service-name":"web"}},
                 "addressType":"IPv4","endpoints":[]})");
  ASSERT_EQ(slice.code, 201) << slice.body;
  EXPECT_EQ(Parse(slice.body)["apiVersion"], "discovery.k8s.io/v1");
  HttpResult cnp = client_->Post("/apis/cilium.io/v2/namespaces/default/ciliumnetworkpolicies",
                                 R"({"metadata":{"name":"p"},"spec":{}})");
  ASSERT_EQ(cnp.code, 201);
  // Custom resources keep kind/apiVersion in list items, like kube-apiserver.
  HttpResult list = client_->Get("/apis/cilium.io/v2/ciliumnetworkpolicies");
  EXPECT_EQ(Parse(list.body)["items"][0]["kind"], "CiliumNetworkPolicy");
}

}  // namespace
}  // namespace weft::kubeprism::testing
